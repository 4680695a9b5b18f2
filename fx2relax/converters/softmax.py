"""Converters for softmax, log-softmax, softmin and Softmax2d: modules, F./torch. functions and tensor methods."""

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import math as math_kernels
from ..kernels import softmax as kernels
from ..registry import register_converter
from .common import normalize_dim

aten = torch.ops.aten


def _axis(ctx: NodeContext, input, dim, dtype) -> int:
    """The axis `dim` names; dim=None takes PyTorch's legacy implicit choice (it warns, the result
    is the same). A `dtype` other than the model's would cast first: refused."""
    if dtype is not None and dtype != getattr(torch, ctx.dtype):
        raise ctx.unsupported("dtype", f"casting to {dtype} is not supported (the model computes in {ctx.dtype})")
    rank = len(ctx.shape(input))
    if ctx.module is not None:
        dim = ctx.module.dim
    if dim is None:
        dim = 0 if rank in (0, 1, 3) else 1
    return normalize_dim(ctx, dim, rank, "dim")


def _emit(ctx: NodeContext, kernel, input, dim, dtype):
    """Emit `kernel` along the axis `dim` names (`_axis`)."""
    return ctx.emit_te(kernel, input, axis=_axis(ctx, input, dim, dtype))


@register_converter(nn.Softmax, F.softmax)
def softmax(ctx, input, dim=None, _stacklevel=3, dtype=None):
    return _emit(ctx, kernels.softmax, input, dim, dtype)


@register_converter(torch.softmax, "softmax", aten.softmax.int)
def softmax_function(ctx, input, dim, dtype=None):
    return _emit(ctx, kernels.softmax, input, dim, dtype)


@register_converter(nn.LogSoftmax, F.log_softmax)
def log_softmax(ctx, input, dim=None, _stacklevel=3, dtype=None):
    return _emit(ctx, kernels.log_softmax, input, dim, dtype)


@register_converter(torch.log_softmax, "log_softmax", aten.log_softmax.int)
def log_softmax_function(ctx, input, dim, dtype=None):
    return _emit(ctx, kernels.log_softmax, input, dim, dtype)


@register_converter(aten._softmax.default)
def softmax_aten(ctx, input, dim, half_to_float):
    if half_to_float:
        raise ctx.unsupported("half_to_float", "half precision is not supported")
    return _emit(ctx, kernels.softmax, input, dim, None)


@register_converter(aten._log_softmax.default)
def log_softmax_aten(ctx, input, dim, half_to_float):
    if half_to_float:
        raise ctx.unsupported("half_to_float", "half precision is not supported")
    return _emit(ctx, kernels.log_softmax, input, dim, None)


@register_converter(nn.Softmin, F.softmin)
def softmin(ctx, input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x), as F.softmin computes it (torch.export emits the same neg and softmax)."""
    axis = _axis(ctx, input, dim, dtype)
    return ctx.emit_te(kernels.softmax, ctx.emit_te(math_kernels.negative, input), axis=axis)


@register_converter(nn.Softmax2d)
def softmax2d(ctx, input):
    """Softmax over the channels (dim -3) of a 3-D or 4-D input; PyTorch refuses other ranks."""
    rank = len(ctx.shape(input))
    if rank not in (3, 4):
        raise ctx.shape_error(f"Softmax2d expects a 3-D or 4-D input, got {rank}-D", "input")
    return ctx.emit_te(kernels.softmax, input, axis=rank - 3)
