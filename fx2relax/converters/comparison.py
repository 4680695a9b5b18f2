"""Converters for comparisons, logical and bitwise ops, where / masked_fill, minimum / maximum:
operators (`x < y`, `a & b`, `~m`), torch. functions, tensor methods and ATen overloads.

Operands are promoted as PyTorch does (an int64 tensor compared with a float is compared as float);
comparisons and logical ops give bool tensors. The comparison operators also compare sizes
(`x.dim() == 3`) when neither operand is a tensor, giving a Python bool.
"""

from __future__ import annotations

import math
import numbers
import operator

import torch

from .. import dtypes
from ..importer import NodeContext, is_tensor
from ..kernels import comparison as kernels
from ..registry import register_converter
from .elementwise import broadcast_operands, scalar
from .sizes import size_comparison

aten = torch.ops.aten


def _operand(ctx: NodeContext, value: object, parameter: str) -> None:
    if not (is_tensor(value) or isinstance(value, numbers.Real)):
        raise ctx.unsupported(parameter, f"expected a tensor or a real number, got {type(value).__name__} {value!r}")


def _compare(ctx: NodeContext, op: str, python_op, input, other):
    if not (is_tensor(input) or is_tensor(other)):
        return size_comparison(ctx, python_op, input, other)
    if ctx.check_inplace():
        raise ctx.unsupported("input", "in-place comparisons (x.lt_(y)) are not supported; use the out-of-place form")
    _operand(ctx, input, "input")
    _operand(ctx, other, "other")
    broadcast_operands(ctx, input, other)
    dtype = dtypes.result_type(input, other)
    return ctx.emit_te(kernels.compare, scalar(input, dtype), scalar(other, dtype), op=op, dtype=dtype)


@register_converter(operator.eq, torch.eq, "eq", aten.eq.Tensor, aten.eq.Scalar, any_dtype=("input", "other"))
def eq(ctx, input, other):
    return _compare(ctx, "eq", operator.eq, input, other)


@register_converter(operator.ne, torch.ne, torch.not_equal, "ne", "not_equal", aten.ne.Tensor, aten.ne.Scalar, any_dtype=("input", "other"))
def ne(ctx, input, other):
    return _compare(ctx, "ne", operator.ne, input, other)


@register_converter(operator.lt, torch.lt, torch.less, "lt", "less", aten.lt.Tensor, aten.lt.Scalar, any_dtype=("input", "other"))
def lt(ctx, input, other):
    return _compare(ctx, "lt", operator.lt, input, other)


@register_converter(
    operator.le, torch.le, torch.less_equal, "le", "less_equal", aten.le.Tensor, aten.le.Scalar,
    any_dtype=("input", "other"),
)
def le(ctx, input, other):
    return _compare(ctx, "le", operator.le, input, other)


@register_converter(operator.gt, torch.gt, torch.greater, "gt", "greater", aten.gt.Tensor, aten.gt.Scalar, any_dtype=("input", "other"))
def gt(ctx, input, other):
    return _compare(ctx, "gt", operator.gt, input, other)


@register_converter(
    operator.ge, torch.ge, torch.greater_equal, "ge", "greater_equal", aten.ge.Tensor, aten.ge.Scalar,
    any_dtype=("input", "other"),
)
def ge(ctx, input, other):
    return _compare(ctx, "ge", operator.ge, input, other)


def _logical(ctx: NodeContext, op: str, input, other):
    ctx.check_inplace()
    for name, value in (("input", input), ("other", other)):
        if not is_tensor(value):
            raise ctx.unsupported(name, f"expected a tensor, got {type(value).__name__} {value!r}")
    broadcast_operands(ctx, input, other)
    return ctx.emit_te(kernels.logical, input, other, op=op)


@register_converter(torch.logical_and, "logical_and", "logical_and_", aten.logical_and.default, any_dtype=("input", "other"))
def logical_and(ctx, input, other):
    return _logical(ctx, "logical_and", input, other)


@register_converter(torch.logical_or, "logical_or", "logical_or_", aten.logical_or.default, any_dtype=("input", "other"))
def logical_or(ctx, input, other):
    return _logical(ctx, "logical_or", input, other)


@register_converter(torch.logical_xor, "logical_xor", "logical_xor_", aten.logical_xor.default, any_dtype=("input", "other"))
def logical_xor(ctx, input, other):
    return _logical(ctx, "logical_xor", input, other)


@register_converter(torch.logical_not, "logical_not", "logical_not_", aten.logical_not.default, any_dtype=("input",))
def logical_not(ctx, input):
    ctx.check_inplace()
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    return ctx.emit_te(kernels.logical_not, input)


def _bitwise(ctx: NodeContext, op: str, python_op, input, other):
    if not (is_tensor(input) or is_tensor(other)):
        return python_op(input, other)  # Python bools or ints (flags, sizes)
    ctx.check_inplace()
    for name, value in (("input", input), ("other", other)):
        if not (is_tensor(value) or isinstance(value, (bool, int))):
            raise ctx.unsupported(name, f"expected an integer or bool tensor or number, got {type(value).__name__} {value!r}")
    broadcast_operands(ctx, input, other)
    dtype = dtypes.result_type(input, other)
    if dtypes.is_floating(dtype):
        raise ctx.unsupported("other", f"bitwise ops need integer or bool operands, got {dtype} (PyTorch's error)")
    return ctx.emit_te(kernels.bitwise, scalar(input, dtype), scalar(other, dtype), op=op, dtype=dtype)


@register_converter(
    operator.and_, operator.iand, torch.bitwise_and, "bitwise_and", "bitwise_and_", "__and__",
    aten.bitwise_and.Tensor, aten.bitwise_and.Scalar, aten.__and__.Tensor, aten.__and__.Scalar, any_dtype=("input", "other"),
)
def bitwise_and(ctx, input, other):
    return _bitwise(ctx, "bitwise_and", operator.and_, input, other)


@register_converter(
    operator.or_, operator.ior, torch.bitwise_or, "bitwise_or", "bitwise_or_", "__or__",
    aten.bitwise_or.Tensor, aten.bitwise_or.Scalar, aten.__or__.Tensor, aten.__or__.Scalar, any_dtype=("input", "other"),
)
def bitwise_or(ctx, input, other):
    return _bitwise(ctx, "bitwise_or", operator.or_, input, other)


@register_converter(
    operator.xor, operator.ixor, torch.bitwise_xor, "bitwise_xor", "bitwise_xor_", "__xor__",
    aten.bitwise_xor.Tensor, aten.bitwise_xor.Scalar, aten.__xor__.Tensor, aten.__xor__.Scalar, any_dtype=("input", "other"),
)
def bitwise_xor(ctx, input, other):
    return _bitwise(ctx, "bitwise_xor", operator.xor, input, other)


@register_converter(operator.invert, torch.bitwise_not, "bitwise_not", "bitwise_not_", aten.bitwise_not.default, any_dtype=("input",))
def bitwise_not(ctx, input):
    if not is_tensor(input):
        if isinstance(input, int):
            return ~input
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    ctx.check_inplace()
    if dtypes.is_floating(dtypes.value_dtype(input)):
        raise ctx.unsupported("input", f"~ needs an integer or bool tensor, got {dtypes.value_dtype(input)}")
    return ctx.emit_te(kernels.bitwise_not, input)


def _where(ctx: NodeContext, condition, input, other, dtype: str | None = None):
    if not is_tensor(condition):
        raise ctx.unsupported("condition", f"expected a tensor, got {type(condition).__name__} {condition!r}")
    _operand(ctx, input, "input")
    _operand(ctx, other, "other")
    broadcast_operands(ctx, condition, input, other)
    if dtype is None:
        dtype = dtypes.result_type(input, other) if (is_tensor(input) or is_tensor(other)) else dtypes.dtype_name(
            torch.result_type(torch.tensor(input), other))
    return ctx.emit_te(kernels.where, condition, scalar(input, dtype), scalar(other, dtype), dtype=dtype)


@register_converter(
    torch.where, aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar,
    any_dtype=("condition", "input", "other"),
)
def where(ctx, condition, input=None, other=None):
    """condition ? input : other (torch.where(condition) alone, nonzero's form, is refused)."""
    if input is None and other is None:
        raise ctx.unsupported("input", "torch.where(condition) gives data-dependent shapes; pass input and other")
    return _where(ctx, condition, input, other)


@register_converter("where", any_dtype=("input", "condition", "other"))
def where_method(ctx, input, condition, other):
    """x.where(condition, y) is torch.where(condition, x, y)."""
    return _where(ctx, condition, input, other)


@register_converter(
    torch.masked_fill, "masked_fill", "masked_fill_", aten.masked_fill.Scalar, aten.masked_fill.Tensor,
    any_dtype=("input", "mask", "value"),
)
def masked_fill(ctx, input, mask, value):
    """input with `value` where `mask` is True; the result keeps input's dtype (value is converted)."""
    ctx.check_inplace()
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    if not is_tensor(mask) or dtypes.value_dtype(mask) != "bool":
        raise ctx.unsupported("mask", f"expected a bool tensor, got {mask!r}")
    if is_tensor(value) and ctx.shape(value) != ():
        raise ctx.shape_error(f"a tensor value must be 0-dimensional, got shape {ctx.shape(value)}", "value")
    shape = broadcast_operands(ctx, input, mask)
    if shape != ctx.shape(input):
        raise ctx.shape_error(f"the mask (shape {ctx.shape(mask)}) must broadcast to the input's shape {ctx.shape(input)}", "mask")
    dtype = dtypes.value_dtype(input)
    if not dtypes.is_floating(dtype) and isinstance(value, float) and not math.isfinite(value):
        raise ctx.unsupported("value", f"a {dtype} tensor cannot hold {value!r} (PyTorch's error)")
    return ctx.emit_te(kernels.where, mask, scalar(value, dtype), input, dtype=dtype)


def _extremum(ctx: NodeContext, kernel, input, other):
    ctx.check_inplace()
    for name, value in (("input", input), ("other", other)):
        if not is_tensor(value):
            raise ctx.unsupported(name, f"expected a tensor, got {type(value).__name__} {value!r}")
    broadcast_operands(ctx, input, other)
    dtype = dtypes.result_type(input, other)
    return ctx.emit_te(kernel, input, other, dtype=dtype)


@register_converter(torch.minimum, "minimum", aten.minimum.default, aten.min.other, any_dtype=("input", "other"))
def minimum(ctx, input, other):
    """The element-wise minimum; NaN if either is NaN."""
    return _extremum(ctx, kernels.minimum, input, other)


@register_converter(torch.maximum, "maximum", aten.maximum.default, aten.max.other, any_dtype=("input", "other"))
def maximum(ctx, input, other):
    """The element-wise maximum; NaN if either is NaN."""
    return _extremum(ctx, kernels.maximum, input, other)
