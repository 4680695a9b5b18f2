"""exp, log, sqrt, rsqrt, sin, cos, abs, neg, pow and clamp against PyTorch: float inputs with NaN/±inf,
integer inputs (promoted to float32 where PyTorch does), through torch.fx and torch.export."""

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, ApplyBinary, ApplyTernary, check_against_torch, check_exported, int_tensors, tensors

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


CLAMP_FORMS = {
    "torch": lambda low, high: lambda x: torch.clamp(x, low, high),
    "keyword": lambda low, high: lambda x: torch.clamp(x, min=low, max=high),
    "method": lambda low, high: lambda x: x.clamp(low, high),
    "clip": lambda low, high: lambda x: x.clip(low, high),
    "inplace": lambda low, high: lambda x: (x * 1).clamp_(low, high),
}


@st.composite
def clamp_bounds(draw):
    """(min, max): numbers (min > max allowed), at most one None."""
    bound = st.one_of(st.none(), st.floats(-3, 3, allow_nan=False), st.sampled_from([float("inf"), float("-inf")]))
    low, high = draw(bound), draw(bound)
    return (low, high) if low is not None or high is not None else (draw(st.floats(-3, 3)), None)


@settings(max_examples=15)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    bounds=clamp_bounds(),
    form=st.sampled_from(sorted(CLAMP_FORMS)),
    data=st.data(),
)
def test_clamp_with_numbers(shape, bounds, form, data):
    x = data.draw(tensors(shape, special_values=True), label="x")
    check_against_torch(Apply(CLAMP_FORMS[form](*bounds)), x)


@settings(max_examples=10)
@given(
    shapes=st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), min_size=3, max_size=3),
    which=st.sampled_from(["min", "max", "both", "clamp_min", "clamp_max"]),
    data=st.data(),
)
def test_clamp_with_broadcast_tensor_bounds(shapes, which, data):
    """Tensor bounds broadcast with the input; NaN in a bound gives NaN, min > max gives max."""
    try:
        torch.broadcast_shapes(*shapes)
    except RuntimeError:
        shapes = [shapes[0]] * 3
    x, low, high = (data.draw(tensors(s, special_values=True)) for s in shapes)
    model = {
        "min": lambda a, lo, hi: torch.clamp(a, min=lo),
        "max": lambda a, lo, hi: a.clamp(max=hi),
        "both": lambda a, lo, hi: torch.clamp(a, lo, hi),
        "clamp_min": lambda a, lo, hi: a.clamp_min(lo),
        "clamp_max": lambda a, lo, hi: torch.clamp_max(a, hi),
    }[which]
    check_exported(ApplyTernary(model), (x, low, high))


@settings(max_examples=8)
@given(x=int_tensors((3, 4), -10, 10), low=st.integers(-6, 2), high=st.integers(-2, 6))
def test_clamp_on_integers(x, low, high):
    check_exported(Apply(lambda t: t.clamp(low, high)), x)


def test_clamp_refusals():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="min"):
        fx2relax.from_module(Apply(lambda x: x.clamp()), (2, 3))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="NaN"):
        fx2relax.from_module(Apply(lambda x: x.clamp(float("nan"))), (2, 3))
