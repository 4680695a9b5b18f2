"""nn.LSTM and nn.GRU against PyTorch: drawn sizes, layers, directions, batch_first, bias, the LSTM's
proj_size, batched or not, with or without initial states; every output of (output, (h_n, c_n)) and
(output, h_n); refusals at import."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch


class Recurrent(nn.Module):
    """Returns every output of the LSTM, picked from its nested tuple."""

    def __init__(self, **options):
        super().__init__()
        self.lstm = nn.LSTM(**options)

    def forward(self, x, h_0=None, c_0=None):
        output, (h_n, c_n) = self.lstm(x) if h_0 is None else self.lstm(x, (h_0, c_0))
        return output, h_n, c_n


class Gated(nn.Module):
    """Returns both outputs of the GRU."""

    def __init__(self, **options):
        super().__init__()
        self.gru = nn.GRU(**options)

    def forward(self, x, h_0=None):
        output, h_n = self.gru(x, h_0)
        return output, h_n


@st.composite
def lstm_cases(draw):
    hidden_size = draw(st.integers(1, 5))
    options = {
        "input_size": draw(st.integers(1, 4)),
        "hidden_size": hidden_size,
        "num_layers": draw(st.integers(1, 2)),
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bidirectional": draw(st.booleans()),
        "proj_size": draw(st.integers(0, hidden_size - 1)),
        "dropout": draw(st.sampled_from([0.0, 0.5])),  # none in eval mode
    }
    length, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batched = draw(st.booleans())
    if batched:
        shape = (batch, length, options["input_size"]) if options["batch_first"] else (length, batch, options["input_size"])
    else:
        shape = (length, options["input_size"])
    return options, shape, batched, batch, draw(st.booleans())


@settings(max_examples=12, deadline=None)
@given(case=lstm_cases())
def test_lstm_matches_torch(case):
    options, shape, batched, batch, with_states = case
    torch.manual_seed(0)
    model = Recurrent(**options)
    inputs = [torch.randn(shape)]
    if with_states:
        count = options["num_layers"] * (2 if options["bidirectional"] else 1)
        sizes = (options["proj_size"] or options["hidden_size"], options["hidden_size"])
        inputs += [torch.randn(count, batch, size) if batched else torch.randn(count, size) for size in sizes]
    check_against_torch(model, inputs)


@settings(max_examples=8, deadline=None)
@given(case=lstm_cases())
def test_gru_matches_torch(case):
    options, shape, batched, batch, with_state = case
    del options["proj_size"]  # an LSTM's alone
    torch.manual_seed(0)
    model = Gated(**options)
    inputs = [torch.randn(shape)]
    if with_state:
        count = options["num_layers"] * (2 if options["bidirectional"] else 1)
        inputs.append(torch.randn(count, batch, options["hidden_size"]) if batched else torch.randn(count, options["hidden_size"]))
    check_against_torch(model, inputs)


def test_lstm_with_a_symbolic_batch():
    model = Recurrent(input_size=3, hidden_size=4, bidirectional=True)
    check_against_torch(model, torch.randn(5, 2, 3), input_shape=(5, None, 3))


def test_lstm_output_alone():
    class LastOutput(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0][:, -1]

    check_against_torch(LastOutput(), torch.randn(2, 6, 3))


def test_lstm_training_dropout_between_layers_is_refused():
    model = Recurrent(input_size=3, hidden_size=4, num_layers=2, dropout=0.5).train()
    with pytest.raises(fx2relax.UnsupportedParameterError, match="dropout"):
        fx2relax.from_module(model, (5, 2, 3))


def test_lstm_of_a_symbolic_length_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="sequence length must be static"):
        fx2relax.from_module(Recurrent(input_size=3, hidden_size=4), (None, 2, 3))


def test_lstm_with_a_wrongly_shaped_state_is_refused():
    with pytest.raises(fx2relax.ShapeError, match=r"expected h_0 of shape \(1, 2, 4\)"):
        fx2relax.from_module(Recurrent(input_size=3, hidden_size=4), [(5, 2, 3), (1, 3, 4), (1, 2, 4)])


@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU])
def test_recurrent_layers_in_float64(layer):
    torch.manual_seed(0)
    model = layer(3, 4, num_layers=2, bidirectional=True).double().eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)[0].numpy()
    mod = fx2relax.from_module(Pick(model), (5, 2, 3), dtype="float64")
    np.testing.assert_allclose(fx2relax.build(mod)(x.numpy()), expected, rtol=1e-12, atol=1e-12)


class Pick(nn.Module):
    """The output sequence of a recurrent layer."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)[0]


def test_a_bare_lstm_returns_its_nested_tuple():
    torch.manual_seed(0)
    output, (h_n, c_n) = check_against_torch(nn.LSTM(3, 4, batch_first=True), torch.randn(2, 5, 3))
    assert output.shape == (2, 5, 4) and h_n.shape == c_n.shape == (1, 2, 4)
