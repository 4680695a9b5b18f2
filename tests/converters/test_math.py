"""exp, log, sqrt, rsqrt, sin, cos, abs, neg and pow against PyTorch: float inputs with NaN/±inf,
integer inputs (promoted to float32 where PyTorch does), through torch.fx and torch.export."""

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, check_exported, int_tensors, tensors

UNARY = {
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "sin": torch.sin,
    "cos": torch.cos, "abs": torch.abs, "neg": torch.neg,
}
METHODS = {
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(), "rsqrt": lambda x: x.rsqrt(),
    "sin": lambda x: x.sin(), "cos": lambda x: x.cos(), "abs": abs, "neg": operator.neg,
}


@settings(max_examples=10)
@given(name=st.sampled_from(sorted(UNARY)), x=tensors((3, 5), special_values=True, low=-4, high=4))
def test_unary_on_floats(name, x):
    x[0, 0], x[0, 1] = 0.0, -0.0
    check_exported(Apply(UNARY[name]), x)


@settings(max_examples=8)
@given(name=st.sampled_from(sorted(UNARY)), x=int_tensors((3, 5), -4, 4))
def test_unary_on_integers(name, x):
    check_exported(Apply(UNARY[name]), x)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_torch_level_forms(name):
    x = torch.tensor([[0.0, -0.0, 1.5, -2.0, float("nan"), float("inf"), float("-inf"), 1e-30]])
    check_against_torch(Apply(METHODS[name]), x)


@settings(max_examples=10)
@given(exponent=st.sampled_from([2, 3, 0.5, -1, -0.5, 0, 1.7, float("inf")]),
       x=tensors((3, 4), special_values=True, low=-3, high=3))
def test_pow_with_scalar_exponent(exponent, x):
    check_exported(Apply(lambda x: x ** exponent), x)
    check_against_torch(Apply(lambda x: torch.pow(x, exponent)), x)


@settings(max_examples=8)
@given(x=tensors((3, 4), special_values=True), y=tensors((4,), low=-2, high=2))
def test_pow_of_tensors_and_scalar_base(x, y):
    check_exported(ApplyBinary(lambda x, y: (x.abs() ** y, 2.0 ** y, torch.pow(x, y))), [x, y])


@settings(max_examples=6)
@given(x=int_tensors((3, 4), -3, 3), exponent=st.sampled_from([0, 1, 2, 3, 5]))
def test_integer_power_stays_integer(x, exponent):
    check_exported(Apply(lambda x: x ** exponent), x)


def test_integer_power_with_tensor_exponent_is_refused():
    program = torch.export.export(ApplyBinary(torch.pow), (torch.ones(3, dtype=torch.int64), torch.ones(3, dtype=torch.int64)))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'exponent': integer powers"):
        fx2relax.from_exported_program(program)
