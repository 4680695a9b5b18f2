"""Identity and the dropout family: the identity in eval mode (NaN/inf pass through), refused in
training mode or with an invalid probability; torch.export's assertions (checked at import where
their values are known then, computing nothing)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, int_tensors, tensors

PROBABILITIES = st.floats(0, 1)

MODULES = {
    "Identity": lambda p, inplace: nn.Identity(p),  # Identity takes and ignores any argument
    "Dropout": lambda p, inplace: nn.Dropout(p, inplace),
    "Dropout2d": lambda p, inplace: nn.Dropout2d(p, inplace),
    "Dropout3d": lambda p, inplace: nn.Dropout3d(p, inplace),
    "AlphaDropout": lambda p, inplace: nn.AlphaDropout(p, inplace),
    "FeatureAlphaDropout": lambda p, inplace: nn.FeatureAlphaDropout(p, inplace),
    "F.dropout": lambda p, inplace: Apply(lambda x: F.dropout(x, p, False, inplace)),
    "F.dropout2d": lambda p, inplace: Apply(lambda x: F.dropout2d(x, p=p, training=False)),
    "F.dropout3d": lambda p, inplace: Apply(lambda x: F.dropout3d(x, p, training=False, inplace=inplace)),
    "F.alpha_dropout": lambda p, inplace: Apply(lambda x: F.alpha_dropout(x, p)),
    "F.feature_alpha_dropout": lambda p, inplace: Apply(lambda x: F.feature_alpha_dropout(x, p, inplace=inplace)),
}


@given(data=st.data(), name=st.sampled_from(sorted(MODULES)), p=PROBABILITIES, inplace=st.booleans())
def test_identity_in_eval(data, name, p, inplace):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=5).map(tuple), label="shape")
    x = data.draw(tensors(shape, special_values=True), label="x")
    check_against_torch(MODULES[name](p, inplace), x)


@given(data=st.data(), p=PROBABILITIES, functional=st.booleans())
def test_dropout1d_in_eval(data, p, functional):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), label="shape")
    x = data.draw(tensors(shape, special_values=True), label="x")
    model = Apply(lambda t: F.dropout1d(t, p, training=False)) if functional else nn.Dropout1d(p)
    check_against_torch(model, x)


def test_dropout1d_refuses_other_ranks_as_pytorch_does():
    with pytest.raises(fx2relax.ShapeError, match="2-D or 3-D"):
        fx2relax.from_module(nn.Dropout1d().eval(), (2, 3, 4, 5))


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Dropout(0.2)).train(),
        nn.Sequential(nn.AlphaDropout(0.2)).train(),
        Apply(lambda x: F.dropout(x, 0.2)),  # F.dropout's training defaults to True
        Apply(lambda x: F.dropout2d(x, 0.2, True)),
    ],
)
def test_training_mode_is_refused(model):
    with pytest.raises(fx2relax.UnsupportedParameterError, match="training"):
        fx2relax.from_module(model, (2, 3, 4, 5))


def test_invalid_probability_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="'p'"):
        fx2relax.from_module(Apply(lambda x: F.dropout(x, 1.5, training=False)), (2, 3))


@given(data=st.data(), p=PROBABILITIES, mode=st.sampled_from(["batch", "row"]))
def test_torchvision_stochastic_depth_in_eval_is_the_identity(data, p, mode):
    from torchvision.ops import StochasticDepth  # calls stochastic_depth, which torchvision wraps for FX

    check_against_torch(nn.Sequential(StochasticDepth(p, mode), nn.ReLU()), data.draw(tensors((2, 3, 4))))


def test_torchvision_stochastic_depth_with_p_zero_is_the_identity_in_training_too():
    from torchvision.ops import StochasticDepth

    mod = fx2relax.from_module(nn.Sequential(StochasticDepth(0.0, "row")).train(), (2, 3))
    assert "call_tir" not in mod.script()


@pytest.mark.parametrize(
    "p, mode, training, match",
    [(0.5, "row", True, "parameter 'training'.*model.eval"), (1.5, "row", False, "parameter 'p'.*between 0 and 1"),
     (0.5, "col", False, "parameter 'mode'.*'col'")],
)
def test_torchvision_stochastic_depth_refusals(p, mode, training, match):
    from torchvision.ops import StochasticDepth

    model = nn.Sequential(StochasticDepth(p, mode)).train(training)
    with pytest.raises(fx2relax.UnsupportedParameterError, match=match):
        fx2relax.from_module(model, (2, 3))


# ---------------------------------------------------------------- the torch.export path: runtime assertions


class OneHot(nn.Module):
    """F.one_hot, which torch.export records with _assert_async checks of the class range."""

    def forward(self, x, classes):
        return F.one_hot(classes, x.shape[-1]).float() + x


@given(st.integers(1, 6), st.integers(1, 5), st.data())
@settings(max_examples=5)
def test_exported_runtime_assertions_compute_nothing(rows, classes, data):
    x = data.draw(tensors((rows, classes)))
    indices = data.draw(int_tensors((rows,), low=0, high=classes - 1))
    check_exported(OneHot(), [x, indices])


class ConstantAssertion(nn.Module):
    def __init__(self, holds: bool):
        super().__init__()
        self.holds = holds

    def forward(self, x):
        torch._assert_async(torch.tensor(self.holds), "the flag must be set")
        return x + 1


def test_exported_constant_assertion_that_holds_imports():
    """(A false constant assertion never reaches fx2relax: torch.export evaluates it while exporting.)"""
    check_exported(ConstantAssertion(True), torch.randn(3))


def test_exported_size_assertions_are_decided_at_import():
    class AtLeastTwo(nn.Module):
        def forward(self, x):
            torch._check(x.shape[0] >= 2)
            return x * 2

    batch = torch.export.Dim("batch", min=2, max=64)
    check_exported(AtLeastTwo(), torch.randn(3, 2), dynamic_shapes=({0: batch},))
