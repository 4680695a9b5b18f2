"""Converters for pooling layers."""

from torch import nn

from ..kernels import pooling as kernels
from ..registry import register_converter
from .common import pair, positive, static_dims


@register_converter(nn.MaxPool2d)
def max_pool2d(ctx, input):
    module = ctx.module
    if module.return_indices:
        raise ctx.unsupported("return_indices", "return_indices=True is not supported (only the pooled values are)")
    shape = ctx.shape(input)
    if len(shape) not in (3, 4):
        raise ctx.shape_error(f"expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {shape}")
    size = static_dims(ctx, shape, range(len(shape) - 2, len(shape)), "MaxPool2d")
    kernel = positive(ctx, pair(module.kernel_size), "kernel_size")
    stride = positive(ctx, pair(module.stride if module.stride is not None else module.kernel_size), "stride")
    dilation = positive(ctx, pair(module.dilation), "dilation")
    padding = pair(module.padding)
    for pad, k in zip(padding, kernel):
        if pad < 0 or pad > k // 2:
            raise ctx.shape_error(
                f"pad should be at least zero and at most half of kernel size, got padding={module.padding}, "
                f"kernel_size={module.kernel_size}",
                "padding",
            )
    out = [
        kernels.pool_output_size(s, k, st, p, d, module.ceil_mode)
        for s, k, st, p, d in zip(size, kernel, stride, padding, dilation)
    ]
    if min(out) < 1:
        raise ctx.shape_error(
            f"input size {tuple(size)} gives output size {tuple(out)}, which is too small "
            f"(kernel_size={module.kernel_size}, dilation={module.dilation}, padding={module.padding})",
            "kernel_size",
        )
    return ctx.emit_te(
        kernels.max_pool2d, input,
        kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=bool(module.ceil_mode),
    )
