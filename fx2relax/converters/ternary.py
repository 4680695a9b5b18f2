"""Converters for addcmul and addcdiv (torch. functions and methods, in place too)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from tvm import relax

from ..importer import NodeContext, is_tensor
from ..kernels import elementwise
from ..kernels import ternary as kernels
from ..registry import register_converter
from .elementwise import _grows


def _emit(ctx: NodeContext, kernel, input, tensor1, tensor2, value):
    inplace = ctx.check_inplace()
    for operand, name in ((input, "input"), (tensor1, "tensor1"), (tensor2, "tensor2")):
        if not is_tensor(operand):
            raise ctx.unsupported(name, f"must be a tensor, got {type(operand).__name__} {operand!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ctx.unsupported("value", f"must be a real number, got {value!r}")
    try:
        shape = elementwise.broadcast_shape(
            elementwise.broadcast_shape(ctx.shape(input), ctx.shape(tensor1)), ctx.shape(tensor2)
        )
    except ValueError as error:
        raise ctx.shape_error(
            f"shapes {ctx.shape(input)}, {ctx.shape(tensor1)} and {ctx.shape(tensor2)} do not broadcast: {error}", "tensor1"
        ) from None
    if inplace and _grows(ctx.shape(input), shape):
        raise ctx.shape_error(f"in place, the result (shape {shape}) must keep the input's shape {ctx.shape(input)}", "tensor1")
    return ctx.emit_te(kernel, input, tensor1, tensor2, relax.const(np.array(value, dtype=ctx.dtype)))


@register_converter(torch.addcmul, "addcmul", "addcmul_")
def addcmul(ctx, input, tensor1, tensor2, *, value=1):
    return _emit(ctx, kernels.addcmul, input, tensor1, tensor2, value)


@register_converter(torch.addcdiv, "addcdiv", "addcdiv_")
def addcdiv(ctx, input, tensor1, tensor2, *, value=1):
    return _emit(ctx, kernels.addcdiv, input, tensor1, tensor2, value)
