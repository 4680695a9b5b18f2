"""Floor division, trunc division, remainder and fmod against PyTorch, bit for bit: every form
(torch., method, operator, dunder, in place, ATen through torch.export), tensors and Python scalars
on either side, float32/float64 and integers, with NaN, ±inf, -0.0 and division by zero."""

import operator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, check_exported, int_tensors, tensors


def _inplace_floordiv(x, y):
    x = x * 1
    x //= y
    return x


def _inplace_mod(x, y):
    x = x * 1
    x %= y
    return x


FORMS = {
    "div_floor": lambda x, y: torch.div(x, y, rounding_mode="floor"),
    "method_div_floor": lambda x, y: x.div(y, rounding_mode="floor"),
    "floor_divide": torch.floor_divide,
    "method_floor_divide": lambda x, y: x.floor_divide(y),
    "method_floor_divide_": lambda x, y: (x * 1).floor_divide_(y),
    "operator_floordiv": operator.floordiv,
    "operator_ifloordiv": _inplace_floordiv,
    "dunder_floordiv": lambda x, y: x.__floordiv__(y),
    "dunder_rfloordiv": lambda x, y: y.__rfloordiv__(x),
    "div_trunc": lambda x, y: torch.div(x, y, rounding_mode="trunc"),
    "remainder": torch.remainder,
    "method_remainder": lambda x, y: x.remainder(y),
    "method_remainder_": lambda x, y: (x * 1).remainder_(y),
    "operator_mod": operator.mod,
    "operator_imod": _inplace_mod,
    "dunder_rmod": lambda x, y: y.__rmod__(x),
    "fmod": torch.fmod,
    "method_fmod": lambda x, y: x.fmod(y),
}
# Functions of (tensor, number) and (number, tensor): a Python scalar on either side.
SCALAR_FORMS = {
    "div_floor": lambda x, s: torch.div(x, s, rounding_mode="floor"),
    "floor_divide": lambda x, s: torch.floor_divide(x, s),
    "operator_floordiv": lambda x, s: x // s,
    "operator_rfloordiv": lambda x, s: s // x,
    "div_trunc": lambda x, s: x.div(s, rounding_mode="trunc"),
    "remainder": lambda x, s: torch.remainder(x, s),
    "remainder_of_scalar": lambda x, s: torch.remainder(s, x),
    "operator_mod": lambda x, s: x % s,
    "operator_rmod": lambda x, s: s % x,
    "fmod": lambda x, s: x.fmod(s),
}

# Values where floor division is delicate: signed zeros, infinities, NaN, a subnormal, halves, huge
# quotients (beyond 2**24, no fraction left), divisors that do not divide exactly (0.1, 0.3).
EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.0, 3.0, -7.0, 0.1, 0.3, 1e-30, 1e30, -1e30, 3.4e38,
         1.4e-45, float("inf"), float("-inf"), float("nan")]
SCALARS = st.one_of(
    st.sampled_from([0, 1, -2, 3, 0.0, -0.0, 0.5, -0.3, float("inf"), float("-inf"), float("nan")]),
    # No tiny nonzero divisors: |x / s| beyond float32's range is where PyTorch's vectorized fmod
    # gives NaN (see edge_pairs).
    st.floats(-10, 10, width=32).filter(lambda value: value == 0 or abs(value) > 1e-6),
)


def assert_bitwise_equal(actual: np.ndarray, expected: torch.Tensor) -> None:
    """Equal values, equal NaN positions and equal signs of zero: the same float bits (a NaN's sign
    and payload aside: IEEE leaves them to the hardware, and nothing in PyTorch reads them)."""
    expected = expected.numpy()
    np.testing.assert_array_equal(actual, expected)
    numbers = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(actual[numbers]), np.signbit(expected[numbers]), err_msg="sign of a zero differs")


def _check_exact(model, inputs):
    """check_against_torch with no tolerance, then the bits: -0.0 is not 0.0 here."""
    actual = check_against_torch(model, inputs, rtol=0, atol=0)
    with torch.no_grad():
        assert_bitwise_equal(actual, model(*[x.clone() for x in inputs]))


MODULO_FORMS = {name for name in FORMS if "mod" in name or "remainder" in name}


def edge_pairs(form: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair of EDGES as (x, y) grids. For remainder and fmod, pairs whose quotient |x / y|
    overflows float32 get y = 1: there PyTorch's vectorized fmod (SLEEF's fmodf, on all but the last
    elements of a longer tensor) returns NaN while its scalar fmod, and ours, are exact."""
    values = torch.tensor(EDGES)
    x, y = values[:, None].expand(-1, len(EDGES)).contiguous(), values[None, :].expand(len(EDGES), -1).contiguous()
    if form in MODULO_FORMS:
        quotient = x.double().abs() / y.double().abs()
        y = torch.where(x.isfinite() & (quotient > 3e38), torch.ones_like(y), y)
    return x, y


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_on_every_pair_of_edge_values(form):
    _check_exact(ApplyBinary(FORMS[form]), edge_pairs(form))


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast (sizes of 1 and fewer leading axes on either side)."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    dropped = draw(st.integers(0, len(shape) - 1))
    other = [1 if draw(st.booleans()) else d for d in shape[dropped:]]
    return (tuple(other), tuple(shape)) if draw(st.booleans()) else (tuple(shape), tuple(other))


@settings(max_examples=30)
@given(
    shapes=broadcast_pair(), form=st.sampled_from(sorted(FORMS)), dtype=st.sampled_from([torch.float32, torch.float64]),
    scale=st.sampled_from([1.0, 1e-3, 1e6]), data=st.data(),
)
def test_tensors_with_drawn_shapes_values_and_dtypes(shapes, form, dtype, scale, data):
    """Drawn values, divisors near zero and of any sign; scale makes large and tiny quotients."""
    if form in ("method_floor_divide_", "method_remainder_", "operator_ifloordiv", "operator_imod"):
        shapes = (torch.broadcast_shapes(*shapes), shapes[1])  # in place keeps the first operand's shape
    x = data.draw(tensors(shapes[0], special_values=True, low=-50, high=50), label="x").to(dtype) * scale
    y = data.draw(tensors(shapes[1], special_values=True, low=-4, high=4), label="y").to(dtype)
    y[y.abs() < 0.05] = 0.0
    model = ApplyBinary(FORMS[form])
    if dtype == torch.float64:
        actual = fx2relax.build(fx2relax.from_module(model, [tuple(x.shape), tuple(y.shape)], dtype="float64"))(x, y)
        assert_bitwise_equal(actual, model(x, y))
    else:
        _check_exact(model, [x, y])


@settings(max_examples=30)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), form=st.sampled_from(sorted(SCALAR_FORMS)),
       scalar=SCALARS, data=st.data())
def test_python_scalars_on_either_side(shape, form, scalar, data):
    x = data.draw(tensors(shape, special_values=True, low=-20, high=20), label="x")
    x[x.abs() < 0.05] = -0.0
    _check_exact(Apply(lambda t: SCALAR_FORMS[form](t, scalar)), [x])


INTEGER_FORMS = ["div_floor", "floor_divide", "operator_floordiv", "div_trunc", "remainder", "operator_mod", "fmod"]


@settings(max_examples=15)
@given(shapes=broadcast_pair(), form=st.sampled_from(INTEGER_FORMS), dtype=st.sampled_from([torch.int64, torch.int32]),
       data=st.data())
def test_integer_tensors(shapes, form, dtype, data):
    """Integers round down (floor) or toward zero (trunc, fmod), exactly; divisors are nonzero
    (PyTorch raises on an integer division by zero)."""
    x = data.draw(int_tensors(shapes[0], -20, 20, dtype), label="x")
    y = data.draw(int_tensors(shapes[1], -5, 5, dtype), label="y")
    y[y == 0] = 3
    check_exported(ApplyBinary(FORMS[form]), [x, y], rtol=0, atol=0)


@settings(max_examples=8)
@given(x=int_tensors((3, 4), -20, 20), scalar=st.sampled_from([2.5, -0.5, 3, -4]), form=st.sampled_from(sorted(SCALAR_FORMS)))
def test_integer_tensor_with_a_scalar_promotes_as_pytorch(x, scalar, form):
    """An int64 tensor // 2.5 is float32, // 3 stays int64 (scalars never 0 here: PyTorch raises)."""
    if form in ("operator_rfloordiv", "remainder_of_scalar", "operator_rmod"):
        x[x == 0] = 1
    check_exported(Apply(lambda t: SCALAR_FORMS[form](t, scalar)), x, rtol=0, atol=0)


@pytest.mark.parametrize("form", ["div_floor", "floor_divide", "operator_floordiv", "remainder", "operator_mod", "fmod"])
def test_aten_overloads_from_torch_export_on_edge_values(form):
    x, y = edge_pairs(form)
    model = ApplyBinary(FORMS[form])
    actual = check_exported(model, [x, y], rtol=0, atol=0)
    assert_bitwise_equal(actual, model(x, y))
    scalar_model = Apply(lambda t: SCALAR_FORMS[form](t, -1.5))  # |x / -1.5| stays in float32's range
    check_exported(scalar_model, x, rtol=0, atol=0)


@pytest.mark.parametrize("function", [lambda x, y: x // y, torch.remainder, torch.fmod])
def test_bool_operands_are_refused(function):
    model = ApplyBinary(lambda x, y: function(x > 0, y > 0))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="bool"):
        fx2relax.from_module(model, [(2, 3), (2, 3)])


class DividedByBuffer(torch.nn.Module):
    """An integer division by a constant buffer holding a zero."""

    def __init__(self):
        super().__init__()
        self.register_buffer("divisor", torch.tensor([2, 0, 3]))

    def forward(self, x):
        return x.long() % self.divisor


@pytest.mark.parametrize(
    "model",
    [
        Apply(lambda x: x.long() // 0), Apply(lambda x: x.long() % 0), Apply(lambda x: torch.fmod(x.long(), 0)),
        Apply(lambda x: torch.div(x.long(), 0, rounding_mode="trunc")), Apply(lambda x: 7 // x.long() * 0 // 0),
        DividedByBuffer(),
    ],
)
def test_integer_division_by_a_known_zero_is_refused(model):
    """PyTorch raises ZeroDivisionError; a divisor known at import to hold a zero is refused."""
    with pytest.raises(fx2relax.ShapeError, match="parameter 'other': integer division by zero"):
        fx2relax.from_module(model, (2, 3))
