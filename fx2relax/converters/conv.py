"""Converters for convolutions: nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d and their F. functions.

A module converter reads its attributes and calls the same checks as the function form, where
weight and bias arrive as tensors (constants, inputs or computed) and sizes as Python values.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import conv as kernels
from ..registry import register_converter
from .common import positive, static_dims

aten = torch.ops.aten

_CONV_KERNELS = {1: kernels.conv1d, 2: kernels.conv2d, 3: kernels.conv3d}
_TRANSPOSED_KERNELS = {1: kernels.conv_transpose1d, 2: kernels.conv_transpose2d, 3: kernels.conv_transpose3d}
_AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_LAYOUTS = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}


def _sizes(ctx: NodeContext, value: object, spatial: int, parameter: str) -> tuple[int, ...]:
    """An int, or a sequence of 1 or `spatial` ints, as `spatial` ints (PyTorch expands a single one)."""
    values = (value,) if isinstance(value, int) else tuple(value) if isinstance(value, Sequence) else None
    if values is not None and len(values) == 1:
        values = values * spatial
    if values is None or len(values) != spatial or not all(type(v) is int for v in values):
        raise ctx.unsupported(parameter, f"expected an int or {spatial} ints, got {value!r}")
    return values


def _input_dims(ctx: NodeContext, input, spatial: int, what: str) -> tuple[tuple, int, list[int]]:
    """(shape, channels, spatial sizes) of a batched or unbatched input; channels and sizes static."""
    shape = ctx.shape(input)
    if len(shape) not in (spatial + 1, spatial + 2):
        layout = _LAYOUTS[spatial]
        raise ctx.shape_error(
            f"expects a {spatial + 1}-D {layout} or {spatial + 2}-D (N, {layout[1:]} input, got shape {shape}"
        )
    channels, *sizes = static_dims(ctx, shape, range(len(shape) - spatial - 1, len(shape)), what)
    return shape, channels, sizes


def _weight_dims(ctx: NodeContext, weight, spatial: int, what: str) -> tuple[int, ...]:
    """The static shape of a (spatial + 2)-D weight."""
    shape = ctx.shape(weight)
    if len(shape) != spatial + 2:
        raise ctx.shape_error(f"the weight must be {spatial + 2}-D, got shape {shape}", "weight")
    return tuple(static_dims(ctx, shape, range(len(shape)), what))


def _groups(ctx: NodeContext, groups: object) -> int:
    if type(groups) is not int or groups <= 0:
        raise ctx.shape_error(f"must be a positive int, got {groups!r}", "groups")
    return groups


def _check_bias(ctx: NodeContext, bias, out_channels: int) -> None:
    if bias is not None and ctx.shape(bias) != (out_channels,):
        raise ctx.shape_error(
            f"expected a bias of shape ({out_channels},) for {out_channels} output channels, got {ctx.shape(bias)}",
            "bias",
        )


def _channel_parameter(ctx: NodeContext) -> str:
    """Channel mismatches name the module's `in_channels`, or the function's `weight`."""
    return "in_channels" if ctx.module is not None else "weight"


def _padding(ctx: NodeContext, padding: object, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """((before, after), ...) per spatial axis from int, sequence, "valid" or "same" padding."""
    spatial = len(kernel)
    if padding == "valid":
        return ((0, 0),) * spatial
    if padding == "same":  # PyTorch puts the odd extra pixel at the end (bottom/right)
        if any(s != 1 for s in stride):
            raise ctx.shape_error(f"padding='same' is not supported for strided convolutions (stride={stride})", "padding")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((total // 2, total - total // 2) for total in totals)
    if isinstance(padding, str):
        raise ctx.unsupported("padding", f"{padding!r} is not 'valid', 'same' or a size")
    pads = _sizes(ctx, padding, spatial, "padding")
    if any(p < 0 for p in pads):
        raise ctx.shape_error(f"negative padding {padding} is not supported", "padding")
    return tuple((p, p) for p in pads)


def _convolve(ctx: NodeContext, spatial: int, input, weight, bias, stride, padding, dilation, groups,
              padding_mode: str = "zeros"):
    """Check a Conv{spatial}d's shapes and parameters against PyTorch's rules, then emit its kernel."""
    what = f"Conv{spatial}d"
    shape, channels, sizes = _input_dims(ctx, input, spatial, what)
    out_channels, group_channels, *kernel = _weight_dims(ctx, weight, spatial, what)
    groups = _groups(ctx, groups)
    if out_channels % groups:
        raise ctx.shape_error(f"the weight's {out_channels} output channels are not divisible by groups={groups}", "groups")
    if channels != group_channels * groups:
        raise ctx.shape_error(
            f"input has {channels} channels (shape {shape}) but the weight (shape {(out_channels, group_channels, *kernel)}) "
            f"with groups={groups} expects in_channels={group_channels * groups}",
            _channel_parameter(ctx),
        )
    _check_bias(ctx, bias, out_channels)
    stride = positive(ctx, _sizes(ctx, stride, spatial, "stride"), "stride")
    dilation = positive(ctx, _sizes(ctx, dilation, spatial, "dilation"), "dilation")
    padding = _padding(ctx, padding, kernel, stride, dilation)
    if padding_mode not in kernels.PAD_MODES:
        raise ctx.unsupported("padding_mode", f"{padding_mode!r} is not one of {kernels.PAD_MODES}")
    for axis, size, pads, k, d in zip(_AXES[spatial], sizes, padding, kernel, dilation):
        if padding_mode == "reflect" and max(pads) >= size:
            raise ctx.shape_error(f"reflect padding {pads} must be smaller than the input {axis} {size}", "padding")
        if padding_mode == "circular" and max(pads) > size:
            raise ctx.shape_error(f"circular padding {pads} must not exceed the input {axis} {size}", "padding")
        span = d * (k - 1) + 1
        if size + sum(pads) < span:
            raise ctx.shape_error(
                f"the (dilated) kernel {axis} {span} is larger than the padded input {axis} {size + sum(pads)}",
                "kernel_size" if ctx.module is not None else "weight",
            )
    return ctx.emit_te(
        _CONV_KERNELS[spatial], input, weight, bias,
        stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
    )


@register_converter(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def conv(ctx, input):
    module = ctx.module
    bias = ctx.module_param("bias")
    return _convolve(
        ctx, len(module.kernel_size), input, ctx.module_param("weight"), bias,
        module.stride, module.padding, module.dilation, module.groups, module.padding_mode,
    )


@register_converter(F.conv1d, aten.conv1d.default)
def conv1d(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolve(ctx, 1, input, weight, bias, stride, padding, dilation, groups)


@register_converter(F.conv2d, aten.conv2d.default)  # torch.conv2d is the same object
def conv2d(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolve(ctx, 2, input, weight, bias, stride, padding, dilation, groups)


@register_converter(F.conv3d, aten.conv3d.default)
def conv3d(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convolve(ctx, 3, input, weight, bias, stride, padding, dilation, groups)


def _output_padding_for_size(ctx: NodeContext, output_size: object, rank: int, min_sizes: list[int], stride) -> tuple[int, ...]:
    """The output_padding giving ConvTranspose's forward(output_size=...), by PyTorch's rule: the
    last `spatial` entries must lie in [min_size, min_size + stride - 1] per axis."""
    spatial = len(min_sizes)
    if not isinstance(output_size, Sequence) or len(output_size) not in (spatial, rank):
        raise ctx.shape_error(f"must have {spatial} or {rank} elements, got {output_size!r}", "output_size")
    requested = tuple(output_size)[-spatial:]
    if not all(type(s) is int for s in requested):
        raise ctx.unsupported("output_size", f"the spatial sizes must be static ints, got {output_size!r}")
    max_sizes = [m + s - 1 for m, s in zip(min_sizes, stride)]
    if any(not lo <= size <= hi for size, lo, hi in zip(requested, min_sizes, max_sizes)):
        raise ctx.shape_error(
            f"requested an output size of {list(requested)}, but valid sizes range from {min_sizes} to {max_sizes}",
            "output_size",
        )
    return tuple(size - lo for size, lo in zip(requested, min_sizes))


def _convolve_transposed(ctx: NodeContext, spatial: int, input, weight, bias, stride, padding, output_padding,
                         groups, dilation, output_size=None):
    """Check a ConvTranspose{spatial}d's shapes and parameters against PyTorch's rules, then emit its kernel."""
    what = f"ConvTranspose{spatial}d"
    shape, channels, sizes = _input_dims(ctx, input, spatial, what)
    in_channels, out_per_group, *kernel = _weight_dims(ctx, weight, spatial, what)
    groups = _groups(ctx, groups)
    if in_channels % groups:
        raise ctx.shape_error(f"the weight's {in_channels} input channels are not divisible by groups={groups}", "groups")
    if channels != in_channels:
        raise ctx.shape_error(
            f"input has {channels} channels (shape {shape}) but the weight (shape {(in_channels, out_per_group, *kernel)}) "
            f"expects in_channels={in_channels}",
            _channel_parameter(ctx),
        )
    _check_bias(ctx, bias, out_per_group * groups)
    stride = positive(ctx, _sizes(ctx, stride, spatial, "stride"), "stride")
    dilation = positive(ctx, _sizes(ctx, dilation, spatial, "dilation"), "dilation")
    padding = _sizes(ctx, padding, spatial, "padding")
    if any(p < 0 for p in padding):
        raise ctx.shape_error(f"negative padding {padding} is not supported", "padding")
    min_sizes = [(size - 1) * s - 2 * p + d * (k - 1) + 1 for size, s, p, d, k in zip(sizes, stride, padding, dilation, kernel)]
    if output_size is not None:
        output_padding = _output_padding_for_size(ctx, output_size, len(shape), min_sizes, stride)
    output_padding = _sizes(ctx, output_padding, spatial, "output_padding")
    for extra, s, d in zip(output_padding, stride, dilation):
        if extra < 0 or not (extra < s or extra < d):
            raise ctx.shape_error(
                f"output padding must be non-negative and smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}",
                "output_padding",
            )
    for axis, size, smallest, extra in zip(_AXES[spatial], sizes, min_sizes, output_padding):
        if smallest + extra < 1:
            raise ctx.shape_error(
                f"the output {axis} would be {smallest + extra} for an input {axis} {size}: too small", "padding"
            )
    return ctx.emit_te(
        _TRANSPOSED_KERNELS[spatial], input, weight, bias,
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups,
    )


@register_converter(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv_transpose(ctx, input, output_size=None):
    module = ctx.module
    if module.padding_mode != "zeros":
        raise ctx.unsupported("padding_mode", f"{module.padding_mode!r}: PyTorch's transposed convolutions only pad with 'zeros'")
    bias = ctx.module_param("bias")
    return _convolve_transposed(
        ctx, len(module.kernel_size), input, ctx.module_param("weight"), bias, module.stride, module.padding,
        module.output_padding, module.groups, module.dilation, output_size,
    )


@register_converter(F.conv_transpose1d)
def conv_transpose1d(ctx, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolve_transposed(ctx, 1, input, weight, bias, stride, padding, output_padding, groups, dilation)


@register_converter(F.conv_transpose2d)
def conv_transpose2d(ctx, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolve_transposed(ctx, 2, input, weight, bias, stride, padding, output_padding, groups, dilation)


@register_converter(F.conv_transpose3d)
def conv_transpose3d(ctx, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolve_transposed(ctx, 3, input, weight, bias, stride, padding, output_padding, groups, dilation)


@register_converter(aten.convolution.default)
def convolution(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """ATen's one convolution op: a convolution of as many spatial axes as the weight has beyond two."""
    if transposed:
        raise ctx.unsupported("transposed", "aten.convolution with transposed=True is not supported yet; "
                              "use torch.export without decompositions (aten.conv_transpose2d)")
    spatial = len(ctx.shape(weight)) - 2
    if spatial not in _CONV_KERNELS:
        raise ctx.shape_error(f"the weight must be 3-D to 5-D, got shape {ctx.shape(weight)}", "weight")
    return _convolve(ctx, spatial, input, weight, bias, stride, padding, dilation, groups)
