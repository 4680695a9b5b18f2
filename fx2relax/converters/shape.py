"""Converters for flatten and reshape."""

from torch import nn

from ..kernels import shape as kernels
from ..registry import register_converter
from .common import normalize_dim


@register_converter(nn.Flatten)
def flatten(ctx, input):
    rank = len(ctx.shape(input))
    start = normalize_dim(ctx, ctx.module.start_dim, rank, "start_dim")
    end = normalize_dim(ctx, ctx.module.end_dim, rank, "end_dim")
    if start > end:
        raise ctx.shape_error(
            f"start_dim={ctx.module.start_dim} comes after end_dim={ctx.module.end_dim} for a rank-{rank} input",
            "start_dim",
        )
    if start == end:
        return input
    return ctx.emit_te(kernels.flatten, input, start_dim=start, end_dim=end)
