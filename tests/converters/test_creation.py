"""arange, zeros/ones/full and their _like / new_ forms, scalar_tensor, triu/tril against PyTorch:
default and explicit dtypes, float steps, symbolic lengths, through torch.fx and torch.export."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, bool_tensors, check_against_torch, check_exported, tensors

ARANGES = [
    lambda x: torch.arange(x.size(1)),
    lambda x: torch.arange(2, x.size(1) + 3, 2) * 1.5,
    lambda x: torch.arange(0.5, 3.0, 0.25) + x.size(0),
    lambda x: torch.arange(x.size(1) * 2, 1, -3, dtype=torch.float64),
    lambda x: torch.arange(-1.0, 1.0, 0.1) * x.size(0),
]


@pytest.mark.parametrize("function", ARANGES)
def test_arange(function):
    x = torch.randn(2, 5)
    check_against_torch(Apply(function), x)
    check_exported(Apply(function), x)


FILLS = [
    lambda x: torch.zeros(2, x.size(1)) + x,
    lambda x: torch.ones((x.size(0), 1), dtype=torch.int64) + x.size(1),
    lambda x: torch.full((3,), float("-inf")),
    lambda x: torch.full((2, 2), 7),
    lambda x: torch.full((2,), True),
    lambda x: torch.zeros_like(x, dtype=torch.bool),
    lambda x: torch.ones_like(x) * x,
    lambda x: torch.full_like(x, float("nan")),
    lambda x: x.new_ones((2, 3)),
    lambda x: x.new_zeros(4, dtype=torch.int32),
    lambda x: x.new_full((1, x.size(1)), 2.5),
    lambda x: torch.scalar_tensor(3) + x,
]


@pytest.mark.parametrize("function", FILLS)
def test_fills(function):
    x = torch.randn(2, 5)
    check_against_torch(Apply(function), x)
    check_exported(Apply(function), x)


@settings(max_examples=10)
@given(data=st.data(), diagonal=st.integers(-3, 3), upper=st.booleans(), dtype=st.sampled_from(["float", "bool"]))
def test_triu_tril(data, diagonal, upper, dtype):
    shape = data.draw(st.sampled_from([(4, 4), (3, 5), (2, 3, 4)]))
    x = data.draw(tensors(shape, special_values=True) if dtype == "float" else bool_tensors(shape))
    check_exported(Apply(lambda x: torch.triu(x, diagonal) if upper else torch.tril(x, diagonal)), x)


def test_causal_mask_from_a_dynamic_length():
    x = torch.randn(2, 6)
    seq = torch.export.Dim("seq", min=2, max=32)
    program = torch.export.export(Apply(lambda x: torch.ones(x.size(1), x.size(1), dtype=torch.bool).tril() & (x[0] > 0)),
                                  (x,), dynamic_shapes=({1: seq},))
    run = fx2relax.build(fx2relax.from_exported_program(program))
    for length in (3, 7):
        y = torch.randn(2, length)
        assert (run(y) == (torch.ones(length, length, dtype=torch.bool).tril() & (y[0] > 0)).numpy()).all()


def test_a_device_other_than_the_cpu_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'device'"):
        fx2relax.from_module(Apply(lambda x: x + torch.zeros(x.size(1), device="cuda")), (2, 3))
