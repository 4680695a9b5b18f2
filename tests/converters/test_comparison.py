"""Comparisons, logical and bitwise ops, where, masked_fill, minimum/maximum against PyTorch: every
dtype pair (type promotion), scalar operands, NaN/±inf, through torch.fx (from_module) and
torch.export (the ATen overloads)."""

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import Apply, ApplyBinary, bool_tensors, check_against_torch, check_exported, int_tensors, tensors

SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((4,), ())]
COMPARISONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


def draw_tensor(data, shape, dtype, special_values=True):
    """A tensor of `dtype` (small integers so that equal values occur; NaN/inf for floats)."""
    if dtype == torch.bool:
        return data.draw(bool_tensors(shape))
    if dtype.is_floating_point:
        return data.draw(tensors(shape, special_values=special_values, low=-2, high=2)).to(dtype).round()
    return data.draw(int_tensors(shape, -2, 2, dtype))


DTYPE_PAIRS = st.sampled_from([
    (torch.float32, torch.float32), (torch.int64, torch.int64), (torch.int64, torch.float32),
    (torch.int32, torch.int64), (torch.bool, torch.bool), (torch.bool, torch.int64), (torch.float64, torch.float64),
])


@settings(max_examples=15)
@given(data=st.data(), op=st.sampled_from(COMPARISONS), dtypes=DTYPE_PAIRS, shapes=st.sampled_from(SHAPES))
def test_comparison_of_tensors(data, op, dtypes, shapes):
    x, y = (draw_tensor(data, shape, dtype) for shape, dtype in zip(shapes, dtypes))
    check_exported(ApplyBinary(op), [x, y])


@settings(max_examples=15)
@given(data=st.data(), op=st.sampled_from(COMPARISONS), dtype=st.sampled_from([torch.float32, torch.int64]),
       other=st.sampled_from([0, 1, -1.5, 0.5, float("nan"), float("inf")]))
def test_comparison_with_scalar(data, op, dtype, other):
    x = draw_tensor(data, (3, 4), dtype)
    check_exported(Apply(lambda x: op(x, other)), x)


@pytest.mark.parametrize("function", [
    lambda x: x < 0.5,
    lambda x: torch.ge(x, x * 0.5),
    lambda x: x.eq(0).logical_not(),
    lambda x: (x > 0) & (x < 1),
    lambda x: (x > 0) | ~(x < -1),
    lambda x: (x > 0) ^ (x > 1),
    lambda x: torch.logical_xor(x > 0, x),
    lambda x: torch.where(x > 0, x, 0.0),
    lambda x: torch.where(x > 0, 1.0, -x),
    lambda x: x.masked_fill(x < 0, float("-inf")),
    lambda x: torch.minimum(x, 1 - x),
    lambda x: torch.maximum(x, torch.zeros(1)),
])
def test_torch_level_forms(function):
    x = torch.tensor([[0.5, -1.0, float("nan"), 2.0], [0.0, float("inf"), -0.25, 1.5], [3.0, -2.0, 1.0, float("-inf")]])
    check_against_torch(Apply(function), x)


@settings(max_examples=15)
@given(data=st.data(), op=st.sampled_from(["and", "or", "xor"]),
       dtypes=st.sampled_from([(torch.bool, torch.bool), (torch.int64, torch.int64), (torch.int32, torch.int64)]))
def test_bitwise(data, op, dtypes):
    x, y = (draw_tensor(data, (3, 4), dtype) for dtype in dtypes)
    function = {"and": operator.and_, "or": operator.or_, "xor": operator.xor}[op]
    check_exported(ApplyBinary(function), [x, y])


@settings(max_examples=10)
@given(data=st.data(), dtype=st.sampled_from([torch.bool, torch.int64, torch.float32]))
def test_logical_and_not(data, dtype):
    x, y = draw_tensor(data, (3, 4), dtype), draw_tensor(data, (3, 4), dtype)
    check_exported(ApplyBinary(lambda x, y: (torch.logical_and(x, y), torch.logical_or(x, y), torch.logical_not(x))), [x, y])


class Where(torch.nn.Module):
    def forward(self, condition, x, y):
        return torch.where(condition, x, y)


@settings(max_examples=10)
@given(data=st.data(), dtypes=DTYPE_PAIRS, shapes=st.sampled_from(SHAPES))
def test_where(data, dtypes, shapes):
    condition = data.draw(bool_tensors((3, 1)))
    x, y = (draw_tensor(data, shape, dtype) for shape, dtype in zip(shapes, dtypes))
    try:
        torch.broadcast_shapes(condition.shape, x.shape, y.shape)
    except RuntimeError:
        condition = data.draw(bool_tensors(()))
    check_exported(Where(), [condition, x, y])


@settings(max_examples=10)
@given(data=st.data(), dtype=st.sampled_from([torch.float32, torch.int64, torch.bool]),
       value=st.sampled_from([0, 1, -3, 2.5, float("-inf")]))
def test_masked_fill(data, dtype, value):
    x = draw_tensor(data, (2, 3, 4), dtype)
    mask = data.draw(bool_tensors((3, 1)))
    if not dtype.is_floating_point and value == float("-inf"):
        value = -7
    check_exported(ApplyBinary(lambda x, m: x.masked_fill(m, value)), [x, mask])


@settings(max_examples=10)
@given(data=st.data(), dtypes=st.sampled_from([(torch.float32, torch.float32), (torch.int64, torch.int64),
                                               (torch.int64, torch.float32)]))
def test_minimum_maximum_keep_nan(data, dtypes):
    x, y = (draw_tensor(data, (3, 4), dtype) for dtype in dtypes)
    check_exported(ApplyBinary(lambda x, y: (torch.minimum(x, y), torch.maximum(y, x))), [x, y])
