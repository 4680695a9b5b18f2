"""Converters for pooling layers: max, average and adaptive pooling over the last two axes,
as modules and F. functions sharing one converter per op."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import pooling as kernels
from ..kernels import reduction
from ..registry import register_converter
from .common import pair, positive, static_dims


def _spatial_size(ctx: NodeContext, input, what: str) -> list[int]:
    """(H, W) of a 3-D (C, H, W) or 4-D (N, C, H, W) input; the leading axes may be symbolic."""
    shape = ctx.shape(input)
    if len(shape) not in (3, 4):
        raise ctx.shape_error(f"expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {shape}")
    return static_dims(ctx, shape, range(len(shape) - 2, len(shape)), what)


def _windows(ctx: NodeContext, size, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked (kernel, stride, padding, dilation) pairs; stride None or empty means kernel_size.
    Refuses what PyTorch refuses at run time: padding over half the kernel, outputs below 1."""
    kernel = positive(ctx, pair(kernel_size), "kernel_size")
    stride = positive(ctx, pair(stride if stride is not None and stride != [] else kernel_size), "stride")
    dilation = positive(ctx, pair(dilation), "dilation")
    padding = pair(padding)
    for pad, k in zip(padding, kernel):
        if pad < 0 or pad > k // 2:
            raise ctx.shape_error(
                f"pad should be at least zero and at most half of kernel size, got padding={padding}, "
                f"kernel_size={kernel}",
                "padding",
            )
    out = [kernels.pool_output_size(*args, ceil_mode) for args in zip(size, kernel, stride, padding, dilation)]
    if min(out) < 1:
        raise ctx.shape_error(
            f"input size {tuple(size)} gives output size {tuple(out)}, which is too small "
            f"(kernel_size={kernel}, dilation={dilation}, padding={padding})",
            "kernel_size",
        )
    return kernel, stride, padding, dilation


def _max_pool2d(ctx: NodeContext, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    if return_indices:
        raise ctx.unsupported("return_indices", "return_indices=True is not supported (only the pooled values are)")
    size = _spatial_size(ctx, input, "max_pool2d")
    kernel, stride, padding, dilation = _windows(ctx, size, kernel_size, stride, padding, dilation, ceil_mode)
    return ctx.emit_te(
        kernels.max_pool2d, input,
        kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=bool(ceil_mode),
    )


@register_converter(nn.MaxPool2d)
def max_pool2d(ctx, input):
    m = ctx.module
    return _max_pool2d(ctx, input, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)


@register_converter(F.max_pool2d)
def max_pool2d_function(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool2d(ctx, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@register_converter(F.max_pool2d_with_indices)  # what F.max_pool2d(..., return_indices=True) traces to
def max_pool2d_with_indices(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True):
    return _max_pool2d(ctx, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def _avg_pool2d(ctx: NodeContext, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    if divisor_override is not None and divisor_override == 0:
        raise ctx.shape_error("divisor must be not zero", "divisor_override")
    size = _spatial_size(ctx, input, "avg_pool2d")
    kernel, stride, padding, _ = _windows(ctx, size, kernel_size, stride, padding, 1, ceil_mode)
    return ctx.emit_te(
        kernels.avg_pool2d, input, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad),
        divisor_override=None if divisor_override is None else int(divisor_override),
    )


@register_converter(nn.AvgPool2d)
def avg_pool2d(ctx, input):
    m = ctx.module
    return _avg_pool2d(ctx, input, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override)


@register_converter(F.avg_pool2d)
def avg_pool2d_function(ctx, input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    return _avg_pool2d(ctx, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _adaptive_output_size(ctx: NodeContext, input, output_size, what: str) -> tuple[list[int], tuple[int, int]]:
    """The input's (H, W) and the output (OH, OW); a None entry keeps the input's size."""
    size = _spatial_size(ctx, input, what)
    requested = (output_size, output_size) if output_size is None or isinstance(output_size, int) else tuple(output_size)
    if len(requested) != 2:
        raise ctx.shape_error(f"must be an int or a pair, got {output_size!r}", "output_size")
    output = tuple(s if o is None else o for s, o in zip(size, requested))
    return size, positive(ctx, output, "output_size")


def _adaptive_avg_pool2d(ctx: NodeContext, input, output_size):
    _, output = _adaptive_output_size(ctx, input, output_size, "adaptive_avg_pool2d")
    if output == (1, 1):  # PyTorch takes the mean over H and W here, summed as a whole
        rank = len(ctx.shape(input))
        return ctx.emit_te(reduction.reduce_mean, input, axes=[rank - 2, rank - 1], keepdim=True)
    return ctx.emit_te(kernels.adaptive_avg_pool2d, input, output_size=output)


@register_converter(nn.AdaptiveAvgPool2d)
def adaptive_avg_pool2d(ctx, input):
    return _adaptive_avg_pool2d(ctx, input, ctx.module.output_size)


@register_converter(F.adaptive_avg_pool2d)
def adaptive_avg_pool2d_function(ctx, input, output_size):
    return _adaptive_avg_pool2d(ctx, input, output_size)


def _adaptive_max_pool2d(ctx: NodeContext, input, output_size, return_indices):
    if return_indices:
        raise ctx.unsupported("return_indices", "return_indices=True is not supported (only the pooled values are)")
    _, output = _adaptive_output_size(ctx, input, output_size, "adaptive_max_pool2d")
    return ctx.emit_te(kernels.adaptive_max_pool2d, input, output_size=output)


@register_converter(nn.AdaptiveMaxPool2d)
def adaptive_max_pool2d(ctx, input):
    return _adaptive_max_pool2d(ctx, input, ctx.module.output_size, ctx.module.return_indices)


@register_converter(F.adaptive_max_pool2d)
def adaptive_max_pool2d_function(ctx, input, output_size, return_indices=False):
    return _adaptive_max_pool2d(ctx, input, output_size, return_indices)


@register_converter(F.adaptive_max_pool2d_with_indices)
def adaptive_max_pool2d_with_indices(ctx, input, output_size, return_indices=True):
    return _adaptive_max_pool2d(ctx, input, output_size, return_indices=True)
