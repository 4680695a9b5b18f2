"""Converters for reductions: sum and mean over one, several or all axes (torch. and method forms)."""

import torch

from ..importer import NodeContext
from ..kernels import reduction as kernels
from ..registry import register_converter
from .common import normalize_dim


def _axes(ctx: NodeContext, dim: object, rank: int) -> list[int]:
    """`dim` (an int, a sequence of ints, or None / empty for all axes) as sorted distinct axes."""
    if dim is None:
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not dims:  # PyTorch reduces over every axis for dim=[] too
        return list(range(rank))
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise ctx.unsupported("dim", f"must be an int or a sequence of ints, got {dim!r}")
    axes = [normalize_dim(ctx, d, rank, "dim") for d in dims]
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise ctx.shape_error(f"dim {repeated[0]} appears multiple times in the list of dims {dim!r}", "dim")
    return sorted(axes)


def _reduce(ctx: NodeContext, kernel, input, dim, keepdim, dtype):
    if dtype is not None and dtype != getattr(torch, ctx.dtype):
        raise ctx.unsupported("dtype", f"casting to {dtype} is not supported (the model computes in {ctx.dtype})")
    axes = _axes(ctx, dim, len(ctx.shape(input)))
    return ctx.emit_te(kernel, input, axes=axes, keepdim=bool(keepdim))


@register_converter(torch.sum, "sum")
def reduce_sum(ctx, input, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, kernels.reduce_sum, input, dim, keepdim, dtype)


@register_converter(torch.mean, "mean")
def reduce_mean(ctx, input, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, kernels.reduce_mean, input, dim, keepdim, dtype)
