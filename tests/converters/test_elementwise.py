"""Element-wise arithmetic against PyTorch: broadcasting, tensor∘scalar and scalar∘tensor, every
alias (operator, torch., method, in-place), alpha, rounding_mode, NaN/±inf and sizes as operands."""

import operator

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, tensors

# Python scalars, including the ones TVM's simplifier would fold away (0) and IEEE specials.
SCALARS = st.one_of(
    st.sampled_from([0, 1, -2, 0.0, -0.0, 0.5, float("inf"), float("-inf"), float("nan")]),
    st.floats(-10, 10, width=32),
)
ALPHAS = st.one_of(st.sampled_from([1, 0, -1, 2]), st.floats(-3, 3, width=32))

BINARY_FORMS = {
    "add": {
        "operator": lambda x, y, alpha: x + y,
        "torch": lambda x, y, alpha: torch.add(x, y, alpha=alpha),
        "method": lambda x, y, alpha: x.add(y, alpha=alpha),
        "method_": lambda x, y, alpha: x.add_(y, alpha=alpha),
    },
    "sub": {
        "operator": lambda x, y, alpha: x - y,
        "torch": lambda x, y, alpha: torch.sub(x, y, alpha=alpha),
        "torch_subtract": lambda x, y, alpha: torch.subtract(x, other=y, alpha=alpha),
        "method": lambda x, y, alpha: x.sub(y, alpha=alpha),
        "method_": lambda x, y, alpha: x.sub_(y, alpha=alpha),
    },
    "mul": {
        "operator": lambda x, y, alpha: x * y,
        "torch": lambda x, y, alpha: torch.mul(x, y),
        "torch_multiply": lambda x, y, alpha: torch.multiply(input=x, other=y),
        "method": lambda x, y, alpha: x.mul(y),
        "method_": lambda x, y, alpha: x.mul_(y),
    },
    "div": {
        "operator": lambda x, y, alpha: x / y,
        "torch": lambda x, y, alpha: torch.div(x, y),
        "torch_trunc": lambda x, y, alpha: torch.div(x, y, rounding_mode="trunc"),
        "torch_true_divide": lambda x, y, alpha: torch.true_divide(x, y),
        "method": lambda x, y, alpha: x.div(y),
        "method_trunc": lambda x, y, alpha: x.div(y, rounding_mode="trunc"),
        "method_": lambda x, y, alpha: x.div_(y),
    },
}
OPS = st.sampled_from(sorted(BINARY_FORMS))


@st.composite
def broadcastable_shapes(draw):
    """(shape, other_shape, result_shape): the other has fewer leading axes and some axes of size 1,
    either operand may be the smaller one."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    dropped = draw(st.integers(0, len(shape) - 1))  # model inputs have at least one axis
    other = [1 if draw(st.booleans()) else d for d in shape[dropped:]]
    if draw(st.booleans()):
        shape, other = other, shape
    return tuple(shape), tuple(other)


def _result_is_input_shape(shape, other):
    return len(shape) >= len(other) and all(
        a == b or b == 1 for a, b in zip(shape[::-1], other[::-1])
    )


@given(data=st.data(), op=OPS, alpha=ALPHAS)
def test_tensor_with_tensor(data, op, alpha):
    shape, other_shape = data.draw(broadcastable_shapes(), label="shapes")
    forms = BINARY_FORMS[op]
    names = sorted(forms)
    if not _result_is_input_shape(shape, other_shape):  # PyTorch refuses to grow an in-place input
        names.remove("method_")
    form = data.draw(st.sampled_from(names), label="form")
    x = data.draw(tensors(shape, special_values=True), label="x")
    y = data.draw(tensors(other_shape, special_values=True), label="y")
    if op == "div" and data.draw(st.booleans(), label="zeros"):
        y[y.abs() < 1] = 0.0  # x / 0 and 0 / 0
    check_against_torch(ApplyBinary(lambda a, b: forms[form](a, b, alpha)), [x, y])


@given(data=st.data(), op=OPS, alpha=ALPHAS, scalar=SCALARS, scalar_first=st.booleans())
def test_tensor_with_python_scalar(data, op, alpha, scalar, scalar_first):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), label="shape")
    x = data.draw(tensors(shape, special_values=True), label="x")
    if scalar_first:  # only the operator form takes a Python number first: 2 - x
        function = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}[op]
        check_against_torch(Apply(lambda t: function(scalar, t)), x)
        return
    forms = BINARY_FORMS[op]
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    check_against_torch(Apply(lambda t: forms[form](t, scalar, alpha)), x)


@pytest.mark.parametrize("op", ["sub", "div", "mul", "add"])
def test_same_tensor_on_both_sides(op):
    """x - x and x / x are NaN for inf and NaN (and 0 / 0), whatever a simplifier would like."""
    x = torch.tensor([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 2.0, -3.5])
    check_against_torch(Apply(lambda t: BINARY_FORMS[op]["operator"](t, t, 1)), x)


def test_shapes_that_do_not_broadcast_are_refused():
    with pytest.raises(fx2relax.ShapeError, match="broadcast"):
        fx2relax.from_module(ApplyBinary(torch.add), [(2, 3), (4,)])


def test_inplace_that_would_grow_its_input_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="in place"):
        fx2relax.from_module(ApplyBinary(lambda x, y: x.mul_(y)), [(1, 3), (4, 3)])


def test_unknown_rounding_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="rounding_mode"):
        fx2relax.from_module(ApplyBinary(lambda x, y: torch.div(x, y, rounding_mode="round")), [(2, 3), (2, 3)])


@torch.fx.wrap
def leading_size(x: torch.Tensor) -> int:
    """x.size(0), hidden from FX so these tests need no `size` converter."""
    return x.shape[0]


@pytest.fixture
def leading_size_converter():
    """A converter for leading_size, registered for one test."""
    with fx2relax.REGISTRY.scope():
        fx2relax.register_converter(leading_size)(lambda ctx, x: ctx.shape(x)[0])
        yield


class ScaledBySize(nn.Module):
    """Arithmetic on sizes (computed in Python, symbolic with a symbolic batch) feeding tensors."""

    def forward(self, x):
        n = leading_size(x)
        scale = (n * 3 - 1 + n) * 2  # int/Expr arithmetic only: no tensor involved
        return x * scale - n, x / n


@pytest.mark.parametrize("batch", [1, 4])
def test_sizes_as_operands_with_a_symbolic_batch(batch, leading_size_converter):
    x = torch.randn(batch, 3)
    check_against_torch(ScaledBySize(), x, input_shape=(None, 3))


def test_size_arithmetic_is_computed_in_python(leading_size_converter):
    x = torch.randn(5, 3)
    check_against_torch(ScaledBySize(), x)


# ---------------------------------------------------------------- tuple arithmetic on sizes


@given(st.lists(st.integers(1, 3), min_size=2, max_size=4), st.booleans(), st.data())
def test_tuple_arithmetic_on_sizes(shape, symbolic, data):
    """`x.shape[:-1] + (2, -1)` and `(1,) * k + x.shape` build new shapes, a symbolic batch included."""
    shape = (*shape[:-1], 2 * shape[-1])
    repeat = data.draw(st.integers(0, 2))

    def reshape(x):
        split = x.reshape(x.shape[:-1] + (2, -1))
        return split.view((1,) * repeat + split.shape)

    input_shape = (None, *shape[1:]) if symbolic else None
    check_against_torch(Apply(reshape), data.draw(tensors(shape)), input_shape=input_shape)


def test_tuple_plus_tensor_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="tuple of sizes and a tensor"):
        fx2relax.from_module(Apply(lambda x: x.shape + x), (2, 3))
