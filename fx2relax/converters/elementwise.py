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

from ..importer import NodeContext
from ..kernels import elementwise
from ..registry import register_converter


def _is_tensor(value: object) -> bool:
    return isinstance(value, relax.Expr) and isinstance(value.ty, relax.TensorType)


def _check_operand(ctx: NodeContext, value: object, parameter: str) -> None:
    """Tensors, real Python numbers and integer/float PrimExprs are operands; anything else is refused."""
    if _is_tensor(value) or isinstance(value, tirx.Expr):
        return
    if isinstance(value, numbers.Real):
        return
    raise ctx.unsupported(parameter, f"expected a tensor or a real number, got {type(value).__name__} {value!r}")


def _scalar(ctx: NodeContext, value: object) -> object:
    """A Python number as a 0-d constant of the model's dtype (see kernels/elementwise.py why)."""
    if isinstance(value, numbers.Real):
        return relax.const(np.array(value, dtype=ctx.dtype), ctx.dtype)
    return value


def _binary(ctx: NodeContext, kernel, input, other, python_op, **params):
    """Emit `kernel` on the operands after checking their broadcast, or compute in Python when
    neither operand is a tensor."""
    inplace = ctx.check_inplace()
    _check_operand(ctx, input, "input")
    _check_operand(ctx, other, "other")
    if not (_is_tensor(input) or _is_tensor(other)):
        return python_op(input, other)
    if _is_tensor(input) and _is_tensor(other):
        try:
            shape = elementwise.broadcast_shape(ctx.shape(input), ctx.shape(other))
        except ValueError as error:
            raise ctx.shape_error(
                f"shapes {ctx.shape(input)} and {ctx.shape(other)} do not broadcast: {error}", "other"
            ) from None
        if inplace and _grows(ctx.shape(input), shape):
            raise ctx.shape_error(
                f"in place, the result (shape {shape}) must keep the input's shape {ctx.shape(input)}", "other"
            )
    return ctx.emit_te(kernel, _scalar(ctx, input), _scalar(ctx, other), **params)


def _grows(shape: tuple, result: tuple) -> bool:
    """Whether broadcasting turned `shape` into a larger `result` (an in-place op cannot)."""
    return len(result) > len(shape) or any(
        isinstance(d, int) and d == 1 and not (isinstance(r, int) and r == 1) for d, r in zip(shape, result)
    )


def _with_alpha(op, alpha):
    return lambda a, b: op(a, b if alpha == 1 else alpha * b)


def _alpha(ctx: NodeContext, alpha: object) -> relax.Expr | None:
    """torch.add/sub's `alpha` as a 0-d constant, or None for 1 (then the kernel skips the product)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ctx.unsupported("alpha", f"must be a real number, got {alpha!r}")
    return None if alpha == 1 else _scalar(ctx, alpha)


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


@register_converter(operator.add, torch.add, "add", "add_")
def add(ctx, input, other, alpha=1):
    if isinstance(input, (tuple, list)) or isinstance(other, (tuple, list)):
        return _sequences(ctx, input, other, operator.add)
    scale = _alpha(ctx, alpha)
    return _binary(ctx, elementwise.add, input, other, _with_alpha(operator.add, alpha), alpha=scale)


@register_converter(operator.sub, torch.sub, torch.subtract, "sub", "sub_", "subtract", "subtract_")
def sub(ctx, input, other, alpha=1):
    scale = _alpha(ctx, alpha)
    return _binary(ctx, elementwise.subtract, input, other, _with_alpha(operator.sub, alpha), alpha=scale)


@register_converter(operator.mul, torch.mul, torch.multiply, "mul", "mul_", "multiply", "multiply_")
def mul(ctx, input, other):
    if isinstance(input, (tuple, list)) or isinstance(other, (tuple, list)):
        return _sequences(ctx, input, other, operator.mul)
    return _binary(ctx, elementwise.multiply, input, other, operator.mul)


@register_converter(
    operator.truediv, torch.div, torch.divide, torch.true_divide,
    "div", "div_", "divide", "divide_", "true_divide", "true_divide_",
)
def div(ctx, input, other, rounding_mode=None):
    if rounding_mode not in (None, "trunc"):
        raise ctx.unsupported(
            "rounding_mode", f"{rounding_mode!r} is not supported (only None and 'trunc' are computed exactly)"
        )
    if not (_is_tensor(input) or _is_tensor(other)):
        if rounding_mode is not None or isinstance(input, tirx.Expr) or isinstance(other, tirx.Expr):
            raise ctx.unsupported(
                "other", f"dividing the non-tensors {input} / {other} is only computed for plain numbers"
            )
    return _binary(ctx, elementwise.divide, input, other, operator.truediv, rounding_mode=rounding_mode)
