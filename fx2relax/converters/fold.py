"""Converters for `nn.Unfold` / `F.unfold` / aten.im2col and `nn.Fold` / `F.fold` / aten.col2im
(tnt, volo): sliding blocks of an image as columns, and columns summed back into an image.

kernel_size, dilation, padding and stride are ints or (h, w) pairs; an unbatched input (no N axis)
is computed as a batch of one. Everything PyTorch refuses at run time is refused at import.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext, is_tensor
from ..kernels import fold as kernels
from ..kernels.shape import reshape
from ..registry import register_converter
from .common import pair, positive, static_dims

aten = torch.ops.aten


def _pair(ctx: NodeContext, value: object, parameter: str) -> tuple[int, int]:
    """An int or a pair of ints as (h, w), else a clear refusal."""
    items = (value,) if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, (tuple, list)) else None
    if not items or len(items) > 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise ctx.unsupported(parameter, f"must be an int or a pair of ints, got {value!r}")
    return pair(tuple(int(v) for v in items))


def _window(ctx: NodeContext, kernel_size, dilation, padding, stride):
    """(kernel, dilation, padding, stride) as checked (h, w) pairs."""
    kernel = positive(ctx, _pair(ctx, kernel_size, "kernel_size"), "kernel_size")
    spacing = positive(ctx, _pair(ctx, dilation, "dilation"), "dilation")
    pad = _pair(ctx, padding, "padding")
    if min(pad) < 0:
        raise ctx.shape_error(f"must be non-negative, got {pad}", "padding")
    step = positive(ctx, _pair(ctx, stride, "stride"), "stride")
    return kernel, spacing, pad, step


def _blocks(ctx: NodeContext, size: tuple[int, int], kernel, spacing, pad, step) -> tuple[int, int]:
    """The number of blocks along each axis of an image of `size`, refused when it is not positive."""
    counts = tuple(kernels.blocks(size[a], kernel[a], spacing[a], pad[a], step[a]) for a in range(2))
    if min(counts) < 1:
        raise ctx.shape_error(
            f"an image of size {size} with kernel_size {kernel}, dilation {spacing}, padding {pad} and stride "
            f"{step} has no sliding block (calculated shape of the array of sliding blocks: {counts})",
            "kernel_size",
        )
    return counts


def _unfold(ctx: NodeContext, input, kernel_size, dilation, padding, stride):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    shape = ctx.shape(input)
    if len(shape) not in (3, 4):
        raise ctx.shape_error(f"expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {shape}", "input")
    kernel, spacing, pad, step = _window(ctx, kernel_size, dilation, padding, stride)
    size = tuple(static_dims(ctx, shape, range(len(shape) - 2, len(shape)), "unfold"))
    _blocks(ctx, size, kernel, spacing, pad, step)
    batched = ctx.emit_te(reshape, input, new_shape=[1, *shape]) if len(shape) == 3 else input
    columns = ctx.emit_te(kernels.unfold, batched, kernel_size=kernel, dilation=spacing, padding=pad, stride=step)
    return ctx.emit_te(reshape, columns, new_shape=ctx.shape(columns)[1:]) if len(shape) == 3 else columns


@register_converter(nn.Unfold)
def unfold_module(ctx, input):
    module = ctx.module
    return _unfold(ctx, input, module.kernel_size, module.dilation, module.padding, module.stride)


@register_converter(F.unfold)
def unfold_function(ctx, input, kernel_size, dilation=1, padding=0, stride=1):
    """Every kh × kw block (spaced by dilation, every stride, over the zero-padded image) as a column."""
    return _unfold(ctx, input, kernel_size, dilation, padding, stride)


@register_converter(aten.im2col.default)
def im2col(ctx, input, kernel_size, dilation, padding, stride):
    return _unfold(ctx, input, kernel_size, dilation, padding, stride)


def _fold(ctx: NodeContext, input, output_size, kernel_size, dilation, padding, stride):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    shape = ctx.shape(input)
    if len(shape) not in (2, 3):
        raise ctx.shape_error(f"expects a 2-D (C * kh * kw, L) or 3-D (N, C * kh * kw, L) input, got shape {shape}", "input")
    size = positive(ctx, _pair(ctx, output_size, "output_size"), "output_size")
    kernel, spacing, pad, step = _window(ctx, kernel_size, dilation, padding, stride)
    rows, length = static_dims(ctx, shape, range(len(shape) - 2, len(shape)), "fold")
    if rows % (kernel[0] * kernel[1]):
        raise ctx.shape_error(f"the input's {rows} rows are not a multiple of the kernel's {kernel[0] * kernel[1]} positions", "input")
    counts = _blocks(ctx, size, kernel, spacing, pad, step)
    if length != counts[0] * counts[1]:
        raise ctx.shape_error(
            f"the input's {length} columns are not the {counts[0]} × {counts[1]} = {counts[0] * counts[1]} blocks of an "
            f"image of size {size}", "output_size",
        )
    batched = ctx.emit_te(reshape, input, new_shape=[1, *shape]) if len(shape) == 2 else input
    image = ctx.emit_te(kernels.fold, batched, output_size=size, kernel_size=kernel, dilation=spacing, padding=pad, stride=step)
    return ctx.emit_te(reshape, image, new_shape=ctx.shape(image)[1:]) if len(shape) == 2 else image


@register_converter(nn.Fold)
def fold_module(ctx, input):
    module = ctx.module
    return _fold(ctx, input, module.output_size, module.kernel_size, module.dilation, module.padding, module.stride)


@register_converter(F.fold)
def fold_function(ctx, input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The columns of `F.unfold` summed back into an image of `output_size` (overlaps add up)."""
    return _fold(ctx, input, output_size, kernel_size, dilation, padding, stride)


@register_converter(aten.col2im.default)
def col2im(ctx, input, output_size, kernel_size, dilation, padding, stride):
    return _fold(ctx, input, output_size, kernel_size, dilation, padding, stride)
