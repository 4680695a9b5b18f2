"""Converters for pooling layers: max, average and adaptive pooling over the last one or two
axes, as modules and F. functions sharing one converter per op.

1-D pools run the 2-D kernels on a height of 1 (as PyTorch computes them), so every window
parameter is checked here as an (h, w) pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import pooling as kernels
from ..kernels import reduction
from ..registry import register_converter
from .common import NotComputed, pair, positive, static_dims

aten = torch.ops.aten


def _spatial_size(ctx: NodeContext, input, dims: int) -> list[int]:
    """The last `dims` sizes of a (C, *spatial) or (N, C, *spatial) input; leading axes may be symbolic."""
    shape = ctx.shape(input)
    names = "L" if dims == 1 else "H, W"
    if len(shape) not in (dims + 1, dims + 2):
        raise ctx.shape_error(
            f"expects a {dims + 1}-D (C, {names}) or {dims + 2}-D (N, C, {names}) input, got shape {shape}"
        )
    return static_dims(ctx, shape, range(len(shape) - dims, len(shape)), f"{dims}-D pooling")


def _single(ctx: NodeContext, value, parameter: str) -> int:
    """An int or a 1-sequence of ints (a 1-D pool's `_size_1_t`) as an int."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(values) != 1:
        raise ctx.shape_error(f"a 1-D pool takes one value, got {value!r}", parameter)
    return values[0]


def _window_pairs(ctx: NodeContext, dims: int, kernel_size, stride, padding, dilation):
    """(kernel, stride, padding, dilation) as (h, w) pairs; stride None or empty means kernel_size,
    and a 1-D pool's window has height 1."""
    if stride is None or (not isinstance(stride, int) and len(stride) == 0):
        stride = kernel_size
    if dims == 2:
        return pair(kernel_size), pair(stride), pair(padding), pair(dilation)
    names = ("kernel_size", "stride", "padding", "dilation")
    kernel, step, pad, spacing = (_single(ctx, v, n) for v, n in zip((kernel_size, stride, padding, dilation), names))
    return (1, kernel), (1, step), (0, pad), (1, spacing)


def _windows(ctx: NodeContext, dims: int, size, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked (h, w) pairs of (kernel, stride, padding, dilation) for an input of `size`.
    Refuses what PyTorch refuses at run time: padding over half the kernel, outputs below 1."""
    kernel, step, pad, spacing = _window_pairs(ctx, dims, kernel_size, stride, padding, dilation)
    positive(ctx, kernel, "kernel_size")
    positive(ctx, step, "stride")
    positive(ctx, spacing, "dilation")
    if any(p < 0 or p > k // 2 for p, k in zip(pad, kernel)):
        raise ctx.shape_error(
            f"pad should be at least zero and at most half of kernel size, got padding={padding}, "
            f"kernel_size={kernel_size}",
            "padding",
        )
    full_size = [1, *size] if dims == 1 else size
    out = [kernels.pool_output_size(*args, ceil_mode) for args in zip(full_size, kernel, step, pad, spacing)]
    if min(out) < 1:
        raise ctx.shape_error(
            f"input size {tuple(size)} gives output size {tuple(out[2 - dims:])}, which is too small "
            f"(kernel_size={kernel_size}, dilation={dilation}, padding={padding})",
            "kernel_size",
        )
    return kernel, step, pad, spacing


def _refuse_indices(ctx: NodeContext, return_indices: bool) -> None:
    if return_indices:
        raise ctx.unsupported("return_indices", "return_indices=True is not supported (only the pooled values are)")


def _max_pool(ctx: NodeContext, input, dims, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _refuse_indices(ctx, return_indices)
    size = _spatial_size(ctx, input, dims)
    kernel, stride, padding, dilation = _windows(ctx, dims, size, kernel_size, stride, padding, dilation, ceil_mode)
    if dims == 1:
        return ctx.emit_te(
            kernels.max_pool1d, input, kernel_size=kernel[1], stride=stride[1], padding=padding[1],
            dilation=dilation[1], ceil_mode=bool(ceil_mode),
        )
    return ctx.emit_te(
        kernels.max_pool2d, input,
        kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=bool(ceil_mode),
    )


@register_converter(nn.MaxPool1d, nn.MaxPool2d)
def max_pool(ctx, input):
    m = ctx.module
    dims = 1 if isinstance(m, nn.MaxPool1d) else 2
    return _max_pool(ctx, input, dims, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)


@register_converter(F.max_pool2d)
def max_pool2d_function(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(ctx, input, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@register_converter(F.max_pool1d)
def max_pool1d_function(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(ctx, input, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@register_converter(F.max_pool1d_with_indices, F.max_pool2d_with_indices)  # F.max_pool*d(..., return_indices=True)
def max_pool_with_indices(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True):
    _refuse_indices(ctx, True)


def _avg_pool(ctx: NodeContext, input, dims, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    if divisor_override is not None and divisor_override == 0:
        raise ctx.shape_error("divisor must be not zero", "divisor_override")
    size = _spatial_size(ctx, input, dims)
    kernel, stride, padding, _ = _windows(ctx, dims, size, kernel_size, stride, padding, 1, ceil_mode)
    options = dict(ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
    if dims == 1:
        return ctx.emit_te(
            kernels.avg_pool1d, input, kernel_size=kernel[1], stride=stride[1], padding=padding[1], **options
        )
    return ctx.emit_te(
        kernels.avg_pool2d, input, kernel_size=kernel, stride=stride, padding=padding, **options,
        divisor_override=None if divisor_override is None else int(divisor_override),
    )


@register_converter(nn.AvgPool2d)
def avg_pool2d(ctx, input):
    m = ctx.module
    return _avg_pool(ctx, input, 2, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override)


@register_converter(F.avg_pool2d)
def avg_pool2d_function(ctx, input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    return _avg_pool(ctx, input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


@register_converter(nn.AvgPool1d)
def avg_pool1d(ctx, input):
    m = ctx.module
    return _avg_pool(ctx, input, 1, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad)


@register_converter(F.avg_pool1d)
def avg_pool1d_function(ctx, input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(ctx, input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad)


def _adaptive_output_size(ctx: NodeContext, input, dims: int, output_size) -> tuple[int, ...]:
    """The output's last `dims` sizes; an int applies to every axis, a None entry (2-D) keeps the input's size."""
    size = _spatial_size(ctx, input, dims)
    requested = (output_size,) * dims if output_size is None or isinstance(output_size, int) else tuple(output_size)
    if len(requested) != dims:
        raise ctx.shape_error(f"must be an int or {dims} values, got {output_size!r}", "output_size")
    if dims == 1 and requested[0] is None:
        raise ctx.unsupported("output_size", "must be an int for 1-D adaptive pooling (PyTorch refuses None)")
    output = tuple(s if o is None else o for s, o in zip(size, requested))
    return positive(ctx, output, "output_size")


def _adaptive_avg_pool(ctx: NodeContext, input, dims: int, output_size, mean_at_one: bool = True):
    """Adaptive average pooling; `mean_at_one`: an all-1 output is the mean over the pooled axes, as
    F.adaptive_avg_pool* computes it (ATen's `_adaptive_avg_pool2d` kernel sums the window instead)."""
    output = _adaptive_output_size(ctx, input, dims, output_size)
    if mean_at_one and all(o == 1 for o in output):  # PyTorch's mean, summed as a whole
        rank = len(ctx.shape(input))
        return ctx.emit_te(reduction.reduce_mean, input, axes=list(range(rank - dims, rank)), keepdim=True)
    if dims == 1:
        return ctx.emit_te(kernels.adaptive_avg_pool1d, input, output_size=output[0])
    return ctx.emit_te(kernels.adaptive_avg_pool2d, input, output_size=output)


@register_converter(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
def adaptive_avg_pool(ctx, input):
    dims = 1 if isinstance(ctx.module, nn.AdaptiveAvgPool1d) else 2
    return _adaptive_avg_pool(ctx, input, dims, ctx.module.output_size)


@register_converter(F.adaptive_avg_pool2d, aten.adaptive_avg_pool2d.default)
def adaptive_avg_pool2d_function(ctx, input, output_size):
    return _adaptive_avg_pool(ctx, input, 2, output_size)


@register_converter(aten._adaptive_avg_pool2d.default)
def adaptive_avg_pool2d_kernel_aten(ctx, input, output_size):
    """The pooling kernel F.adaptive_avg_pool2d calls for outputs other than 1x1 (torch.export's decomposition)."""
    return _adaptive_avg_pool(ctx, input, 2, output_size, mean_at_one=False)


@register_converter(F.adaptive_avg_pool1d, aten.adaptive_avg_pool1d.default)
def adaptive_avg_pool1d_function(ctx, input, output_size):
    return _adaptive_avg_pool(ctx, input, 1, output_size)


def _adaptive_max_pool(ctx: NodeContext, input, dims: int, output_size, return_indices):
    _refuse_indices(ctx, return_indices)
    output = _adaptive_output_size(ctx, input, dims, output_size)
    if dims == 1:
        return ctx.emit_te(kernels.adaptive_max_pool1d, input, output_size=output[0])
    return ctx.emit_te(kernels.adaptive_max_pool2d, input, output_size=output)


@register_converter(nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
def adaptive_max_pool(ctx, input):
    dims = 1 if isinstance(ctx.module, nn.AdaptiveMaxPool1d) else 2
    return _adaptive_max_pool(ctx, input, dims, ctx.module.output_size, ctx.module.return_indices)


@register_converter(F.adaptive_max_pool2d)
def adaptive_max_pool2d_function(ctx, input, output_size, return_indices=False):
    return _adaptive_max_pool(ctx, input, 2, output_size, return_indices)


@register_converter(F.adaptive_max_pool1d)
def adaptive_max_pool1d_function(ctx, input, output_size, return_indices=False):
    return _adaptive_max_pool(ctx, input, 1, output_size, return_indices)


@register_converter(F.adaptive_max_pool1d_with_indices, F.adaptive_max_pool2d_with_indices)
def adaptive_max_pool_with_indices(ctx, input, output_size, return_indices=True):
    _refuse_indices(ctx, True)


@register_converter(aten.max_pool2d.default)
def max_pool2d_aten(ctx, input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _max_pool(ctx, input, 2, kernel_size, stride, padding, dilation, ceil_mode, False)


@register_converter(aten.max_pool2d_with_indices.default)
def max_pool2d_with_indices_aten(ctx, input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """(values, indices) as torch.export records max pooling; the indices are not computed, so a graph
    that reads them is refused where it does."""
    return _max_pool(ctx, input, 2, kernel_size, stride, padding, dilation, ceil_mode, False), NotComputed("the max pooling indices")


@register_converter(aten.adaptive_max_pool2d.default)
def adaptive_max_pool2d_aten(ctx, input, output_size):
    """(values, indices) as torch.export records adaptive max pooling (1-D too, on a height of 1);
    the indices are not computed."""
    return _adaptive_max_pool(ctx, input, 2, output_size, False), NotComputed("the adaptive max pooling indices")


@register_converter(aten.avg_pool2d.default)
def avg_pool2d_aten(ctx, input, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                    divisor_override=None):
    return _avg_pool(ctx, input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
