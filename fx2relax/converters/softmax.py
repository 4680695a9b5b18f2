"""Converters for softmax."""

from torch import nn

from ..kernels import softmax as kernels
from ..registry import register_converter
from .common import normalize_dim


@register_converter(nn.Softmax)
def softmax(ctx, input):
    rank = len(ctx.shape(input))
    dim = ctx.module.dim
    if dim is None:  # PyTorch's legacy implicit choice (it warns; the result is the same)
        dim = 0 if rank in (0, 1, 3) else 1
    return ctx.emit_te(kernels.softmax, input, axis=normalize_dim(ctx, dim, rank, "dim"))
