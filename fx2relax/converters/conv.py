"""Converters for convolutions."""

from torch import nn

from ..kernels import conv as kernels
from ..registry import register_converter
from .common import pair, positive, static_dims


@register_converter(nn.Conv2d)
def conv2d(ctx, input):
    module = ctx.module
    shape = ctx.shape(input)
    if len(shape) not in (3, 4):
        raise ctx.shape_error(f"expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {shape}")
    channels, height, width = static_dims(ctx, shape, range(len(shape) - 3, len(shape)), "Conv2d")
    if channels != module.in_channels:
        raise ctx.shape_error(
            f"input has {channels} channels (shape {shape}) but the module has in_channels={module.in_channels}",
            "in_channels",
        )
    kernel = pair(module.kernel_size)
    stride = positive(ctx, pair(module.stride), "stride")
    dilation = positive(ctx, pair(module.dilation), "dilation")
    padding = _padding(ctx, module, kernel, dilation)
    mode = module.padding_mode
    if mode not in kernels.PAD_MODES:
        raise ctx.unsupported("padding_mode", f"{mode!r} is not one of {kernels.PAD_MODES}")
    for size, pads, axis in ((height, padding[0], "height"), (width, padding[1], "width")):
        if mode == "reflect" and max(pads) >= size:
            raise ctx.shape_error(f"reflect padding {pads} must be smaller than the input {axis} {size}", "padding")
        if mode == "circular" and max(pads) > size:
            raise ctx.shape_error(f"circular padding {pads} must not exceed the input {axis} {size}", "padding")
        span = dilation[0 if axis == "height" else 1] * (kernel[0 if axis == "height" else 1] - 1) + 1
        if size + sum(pads) < span:
            raise ctx.shape_error(
                f"the (dilated) kernel {axis} {span} is larger than the padded input {axis} {size + sum(pads)}",
                "kernel_size",
            )
    weight = ctx.module_param("weight")
    bias = ctx.module_param("bias") if module.bias is not None else None
    return ctx.emit_te(
        kernels.conv2d, input, weight, bias,
        stride=stride, padding=padding, dilation=dilation, groups=module.groups, padding_mode=mode,
    )


def _padding(ctx, module, kernel, dilation):
    """((top, bottom), (left, right)) from the module's int, pair, "valid" or "same" padding."""
    if module.padding == "valid":
        return ((0, 0), (0, 0))
    if module.padding == "same":  # PyTorch puts the odd extra pixel at the bottom/right
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((total // 2, total - total // 2) for total in totals)
    pad_h, pad_w = pair(module.padding)
    if pad_h < 0 or pad_w < 0:
        raise ctx.shape_error(f"negative padding {module.padding} is not supported", "padding")
    return ((pad_h, pad_h), (pad_w, pad_w))
