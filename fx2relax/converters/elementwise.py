"""Converters for element-wise arithmetic: `a + b` (operator), torch.add, Tensor.add and friends.

Operands may be tensors, Python numbers, or scalar PrimExprs (sizes such as `x.size(0)`); when
neither is a tensor the result is computed here in Python, so `x.view(x.size(0) * 2, -1)` keeps a
(possibly symbolic) size.
"""

import numbers
import operator

import numpy as np
import torch
from tvm import relax, tirx

from .. import dtypes, symbolic
from ..importer import NodeContext
from ..kernels import elementwise
from ..kernels import math as math_kernels
from ..registry import register_converter
from .common import is_size

aten = torch.ops.aten


def _is_tensor(value: object) -> bool:
    return isinstance(value, relax.Expr) and isinstance(value.ty, relax.TensorType)


def _check_operand(ctx: NodeContext, value: object, parameter: str) -> None:
    """Tensors, real Python numbers and integer/float PrimExprs are operands; anything else is refused."""
    if _is_tensor(value) or isinstance(value, tirx.Expr):
        return
    if isinstance(value, numbers.Real):
        return
    raise ctx.unsupported(parameter, f"expected a tensor or a real number, got {type(value).__name__} {value!r}")


def scalar(value: object, dtype: str) -> object:
    """A Python number as a 0-d constant of `dtype` (see kernels/elementwise.py why); other operands
    (tensors, size expressions) unchanged."""
    if isinstance(value, numbers.Real):
        return relax.const(np.array(value, dtype=dtype), dtype)
    return value


def broadcast_operands(ctx: NodeContext, *operands: object) -> tuple:
    """The broadcast shape of the tensor operands, or a ShapeError naming the one that does not fit."""
    shape: tuple = ()
    for name, operand in zip(("input", "other", "third"), operands):
        if _is_tensor(operand):
            try:
                shape = elementwise.broadcast_shape(shape, ctx.shape(operand))
            except ValueError as error:
                shapes = [ctx.shape(o) for o in operands if _is_tensor(o)]
                raise ctx.shape_error(f"shapes {', '.join(map(str, shapes))} do not broadcast: {error}", name) from None
    return shape


def binary(ctx: NodeContext, kernel, input, other, python_op, dtype: str | None = None, **params):
    """Emit `kernel` on the operands in their promoted dtype (or `dtype`) after checking their
    broadcast, or compute in Python when neither operand is a tensor."""
    inplace = ctx.check_inplace()
    _check_operand(ctx, input, "input")
    _check_operand(ctx, other, "other")
    if not (_is_tensor(input) or _is_tensor(other)):
        return python_op(input, other)
    shape = broadcast_operands(ctx, input, other)
    if inplace and _is_tensor(input) and _grows(ctx.shape(input), shape):
        raise ctx.shape_error(
            f"in place, the result (shape {shape}) must keep the input's shape {ctx.shape(input)}", "other"
        )
    dtype = dtype or dtypes.result_type(input, other)
    if inplace and _is_tensor(input) and dtype != dtypes.value_dtype(input):
        raise ctx.unsupported(
            "other", f"in place, the result type {dtype} can't be cast to the input's {dtypes.value_dtype(input)}"
        )
    return ctx.emit_te(kernel, scalar(input, dtype), scalar(other, dtype), dtype=dtype, **params)


def refuse_integer_division_by_zero(ctx: NodeContext, divisor: object, dtype: str) -> None:
    """Refuse an integer division (//, %, fmod, trunc) by a divisor known now to hold a zero (a number
    or a constant buffer): PyTorch raises ZeroDivisionError, the kernels would return a number."""
    if dtypes.is_floating(dtype) or dtype == "bool":
        return
    values = ctx.constant(divisor) if _is_tensor(divisor) else divisor
    if isinstance(values, (numbers.Real, np.ndarray)) and not np.all(values):
        raise ctx.shape_error("integer division by zero is an error in PyTorch (ZeroDivisionError)", "other")


def _grows(shape: tuple, result: tuple) -> bool:
    """Whether broadcasting turned `shape` into a larger `result` (an in-place op cannot)."""
    return len(result) > len(shape) or any(
        isinstance(d, int) and d == 1 and not (isinstance(r, int) and r == 1) for d, r in zip(shape, result)
    )


def _with_alpha(op, alpha):
    return lambda a, b: op(a, b if alpha == 1 else alpha * b)


def _alpha(ctx: NodeContext, alpha: object, input: object, other: object) -> relax.Expr | None:
    """torch.add/sub's `alpha` as a 0-d constant of the result's dtype, or None for 1 (then the kernel
    skips the product). A float alpha on integer operands is PyTorch's error."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ctx.unsupported("alpha", f"must be a real number, got {alpha!r}")
    if alpha == 1:
        return None
    dtype = dtypes.result_type(input, other) if (_is_tensor(input) or _is_tensor(other)) else "float64"
    if isinstance(alpha, float) and not dtypes.is_floating(dtype):
        raise ctx.unsupported("alpha", f"a float alpha ({alpha}) needs floating operands, got {dtype}")
    return scalar(alpha, dtype)


def _sequences(ctx: NodeContext, input, other, combine):
    """`x.shape[:-1] + (-1,)`, `(1,) * rank`: Python's tuple (and list) arithmetic on sizes, whose
    items may be symbolic; a sequence with a tensor is refused."""
    for value, name in ((input, "input"), (other, "other")):
        if _is_tensor(value):
            raise ctx.unsupported(name, "arithmetic between a tuple of sizes and a tensor is not supported")
    try:
        return combine(tuple(input) if isinstance(input, tuple) else input, tuple(other) if isinstance(other, tuple) else other)
    except TypeError as error:
        raise ctx.unsupported("other", f"{type(input).__name__} and {type(other).__name__}: {error}") from None


@register_converter(operator.add, operator.iadd, torch.add, "add", "add_", aten.add.Tensor, aten.add.Scalar, any_dtype=("input", "other"))
def add(ctx, input, other, alpha=1):
    if isinstance(input, (tuple, list)) or isinstance(other, (tuple, list)):
        return _sequences(ctx, input, other, operator.add)
    scale = _alpha(ctx, alpha, input, other)
    return binary(ctx, elementwise.add, input, other, _with_alpha(operator.add, alpha), alpha=scale)


@register_converter(
    operator.sub, operator.isub, torch.sub, torch.subtract, "sub", "sub_", "subtract", "subtract_",
    aten.sub.Tensor, aten.sub.Scalar, any_dtype=("input", "other"),
)
def sub(ctx, input, other, alpha=1):
    if (_is_tensor(input) and dtypes.value_dtype(input) == "bool") or (_is_tensor(other) and dtypes.value_dtype(other) == "bool"):
        raise ctx.unsupported("other", "subtracting bool tensors is an error in PyTorch; use logical_xor or ~")
    scale = _alpha(ctx, alpha, input, other)
    return binary(ctx, elementwise.subtract, input, other, _with_alpha(operator.sub, alpha), alpha=scale)


@register_converter(torch.rsub, aten.rsub.Tensor, aten.rsub.Scalar, any_dtype=("input", "other"))
def rsub(ctx, input, other, alpha=1):
    """other - alpha * input."""
    return sub(ctx, other, input, alpha)


@register_converter(
    operator.mul, operator.imul, torch.mul, torch.multiply, "mul", "mul_", "multiply", "multiply_",
    aten.mul.Tensor, aten.mul.Scalar, any_dtype=("input", "other"),
)
def mul(ctx, input, other):
    if isinstance(input, (tuple, list)) or isinstance(other, (tuple, list)):
        return _sequences(ctx, input, other, operator.mul)
    return binary(ctx, elementwise.multiply, input, other, operator.mul)


@register_converter(
    operator.truediv, operator.itruediv, torch.div, torch.divide, torch.true_divide,
    "div", "div_", "divide", "divide_", "true_divide", "true_divide_",
    aten.div.Tensor, aten.div.Scalar, aten.div.Tensor_mode, aten.div.Scalar_mode, any_dtype=("input", "other"),
)
def div(ctx, input, other, rounding_mode=None):
    if rounding_mode not in (None, "trunc", "floor"):
        raise ctx.unsupported("rounding_mode", f"must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if not (_is_tensor(input) or _is_tensor(other)):
        symbolic_sizes = isinstance(input, tirx.Expr) or isinstance(other, tirx.Expr)
        if rounding_mode is None and symbolic_sizes and is_size(input) and is_size(other) and not symbolic.equal(other, 0):
            return symbolic.Ratio(input, other)  # for math.ceil and friends (converters/sizes.py)
        if rounding_mode is not None or symbolic_sizes:
            raise ctx.unsupported(
                "other", f"dividing the non-tensors {input} / {other} is only computed for plain numbers"
            )
        return operator.truediv(input, other)
    dtype = dtypes.result_type(input, other)
    if rounding_mode is not None:
        refuse_integer_division_by_zero(ctx, other, dtype)
    if rounding_mode == "floor":
        if dtype == "bool":
            raise ctx.unsupported("other", "floor division of bool tensors is an error in PyTorch")
        return binary(ctx, math_kernels.floor_divide, input, other, operator.floordiv, dtype=dtype)
    if rounding_mode is None:
        dtype = dtypes.float_result(dtype)  # int / int is a float, as in Python
    return binary(ctx, elementwise.divide, input, other, operator.truediv, dtype=dtype, rounding_mode=rounding_mode)


@register_converter(
    torch.floor_divide, "floor_divide", "floor_divide_", "__floordiv__",
    aten.floor_divide.default, aten.floor_divide.Scalar, any_dtype=("input", "other"),
)
def floor_divide(ctx, input, other):
    """`a // b` on tensors: floor division, as div(rounding_mode="floor"), exactly PyTorch's on floats."""
    return div(ctx, input, other, rounding_mode="floor")


@register_converter("__rfloordiv__", any_dtype=("input", "other"))
def rfloordiv(ctx, input, other):
    """`x.__rfloordiv__(y)` is y // x."""
    return div(ctx, other, input, rounding_mode="floor")
