"""exp, log, sqrt, rsqrt, sin, cos, abs, neg, pow and clamp against PyTorch: float inputs with NaN/±inf,
integer inputs (promoted to float32 where PyTorch does), through torch.fx and torch.export."""

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import (
    Apply,
    ApplyBinary,
    ApplyTernary,
    assert_outputs_match,
    cached_build,
    check_against_torch,
    check_exported,
    int_tensors,
    tensors,
)

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


@settings(max_examples=10)
@given(exponent=st.sampled_from([2, 3, 3.0, -1, -2.0, 0.5, -0.5]), x=tensors((4, 33), special_values=True, low=-50, high=50))
def test_powers_pytorch_computes_without_pow_are_exact(exponent, x):
    # ATen's pow kernel computes these as products, a reciprocal or a square root: to the bit here too.
    check_against_torch(Apply(lambda x: torch.pow(x, exponent)), x, rtol=0, atol=0)


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


def _special_tensor(data, shape, dtype):
    """A tensor of `dtype`: floats with halves (rounding ties), -0.0, NaN and ±inf; small integers; bools."""
    if dtype == torch.bool:
        return data.draw(int_tensors(shape, 0, 1)).to(torch.bool)
    if not dtype.is_floating_point:
        return data.draw(int_tensors(shape, -20, 20, dtype))
    x = data.draw(tensors(shape, special_values=True, low=-6, high=6))
    halves = data.draw(int_tensors(shape, -12, 12)).to(torch.float32) / 2
    x = torch.where(data.draw(int_tensors(shape, 0, 1)).bool(), halves, x).to(dtype)
    x.view(-1)[0] = -0.0
    return x


def _check_traced(model, x, **tolerances):
    """check_against_torch for a float input of either dtype through torch.fx."""
    with torch.no_grad():
        expected = model(x.clone())
    mod = fx2relax.from_module(model, tuple(x.shape), dtype=str(x.dtype).removeprefix("torch."))
    assert_outputs_match(cached_build(mod)(x), expected, **tolerances)


def _check_exported_or_refused(model, x, **tolerances):
    """check_exported, or where PyTorch raises (an op on a dtype it does not take), fx2relax refuses."""
    try:
        with torch.no_grad():
            model(x.clone())
    except (RuntimeError, NotImplementedError):
        try:
            program = torch.export.export(model, (x,))
        except (RuntimeError, NotImplementedError):
            return  # PyTorch cannot capture it either
        with pytest.raises(fx2relax.UnsupportedParameterError):
            fx2relax.from_exported_program(program)
        return
    check_exported(model, x, **tolerances)


ROUNDING = ["floor", "ceil", "trunc", "fix", "round", "frac", "sign", "sgn", "signbit"]
DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool]


def _forms(name, **kwargs):
    """torch.X, Tensor.X and Tensor.X_ (in place, on the float copy `x * 1`) of the op `name`."""
    forms = {"torch": lambda x: getattr(torch, name)(x, **kwargs), "method": lambda x: getattr(x, name)(**kwargs)}
    if hasattr(torch.Tensor, name + "_"):
        forms["inplace"] = lambda x: getattr(x * 1, name + "_")(**kwargs)
    return forms


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(ROUNDING), dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    decimals=st.sampled_from([None, None, 0, 1, 2, 3, -1, -2, 40, -40]), data=st.data(),
)
def test_rounding_family(name, dtype, shape, decimals, data):
    """floor, ceil, trunc/fix, round (half to even; decimals as PyTorch's kernel), frac, sign/sgn and
    signbit are exact: NaN, ±inf, -0.0 and ties; integer tensors unchanged; PyTorch's errors refused."""
    kwargs = {"decimals": decimals} if name == "round" and decimals is not None else {}
    x = _special_tensor(data, shape, dtype)
    forms = _forms(name, **kwargs)
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    if dtype.is_floating_point:
        _check_traced(Apply(forms[form]), x, rtol=0, atol=0)
    _check_exported_or_refused(Apply(forms[form]), x, rtol=0, atol=0)


ELEMENTARY = ["reciprocal", "exp2", "log2", "log10", "log1p", "tan", "asin", "arcsin", "acos", "atan", "sinh", "cosh",
              "asinh", "acosh", "atanh", "arctanh", "erf"]


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(ELEMENTARY), dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data(),
)
def test_elementary_functions(name, dtype, shape, data):
    """The float functions within 1e-5 of PyTorch (its SLEEF/libm may differ by an ulp), NaN, ±inf,
    -0.0 and domain errors where PyTorch has them; integer and bool inputs give float32; in place on
    an integer tensor is PyTorch's error, refused."""
    x = _special_tensor(data, shape, dtype)
    if data.draw(st.booleans(), label="inside [-1, 1]") and dtype.is_floating_point:
        x = x / 6
    forms = _forms(name)
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    if dtype.is_floating_point:
        _check_traced(Apply(forms[form]), x)
    _check_exported_or_refused(Apply(forms[form] if form != "inplace" else lambda t: getattr(t.clone(), name + "_")()), x)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["isnan", "isinf", "isfinite", "isposinf", "isneginf"]), dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), method=st.booleans(), data=st.data(),
)
def test_float_classes(name, dtype, shape, method, data):
    """isnan, isinf, isfinite, isposinf and isneginf are exact bool tensors for every dtype."""
    x = _special_tensor(data, shape, dtype)
    form = _forms(name)["method" if method else "torch"]
    if dtype.is_floating_point:
        _check_traced(Apply(form), x, rtol=0, atol=0)
    _check_exported_or_refused(Apply(form), x, rtol=0, atol=0)


@settings(max_examples=12, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    nan=st.sampled_from([0.0, -1.5, 7]), posinf=st.sampled_from([None, 2.5, 1e40]), neginf=st.sampled_from([None, -3, -1e40]),
    form=st.sampled_from(["torch", "method", "inplace"]), data=st.data(),
)
def test_nan_to_num(dtype, shape, nan, posinf, neginf, form, data):
    """NaN, ±inf replaced exactly (defaults: 0 and the dtype's extremes); integer tensors unchanged."""
    x = _special_tensor(data, shape, dtype)
    model = _forms("nan_to_num", nan=nan, posinf=posinf, neginf=neginf)[form]
    if dtype.is_floating_point:
        _check_traced(Apply(model), x, rtol=0, atol=0)
    if form != "inplace":
        _check_exported_or_refused(Apply(model), x, rtol=0, atol=0)
