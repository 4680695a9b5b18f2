"""Pooling over the last two (spatial) axes."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx


from .reduction import nan_max


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length (aten pooling_output_shape), including its ceil_mode rule:
    a last window that would start inside the right padding is dropped."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def max_pool2d(
    data: te.Tensor,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    ceil_mode: bool,
) -> te.Tensor:
    """Max over (dilated) windows of the last two axes, padding with -inf, as PyTorch's max_pool2d.

    data: [*batch, H, W]; kernel_size, stride, padding, dilation: (h, w) pairs. Returns
    [*batch, OH, OW] with sizes from `pool_output_size`. A NaN in a window gives NaN.
    """
    height, width = int(data.shape[-2]), int(data.shape[-1])
    (kernel_h, kernel_w), (stride_h, stride_w) = kernel_size, stride
    (pad_h, pad_w), (dilation_h, dilation_w) = padding, dilation
    out_h = pool_output_size(height, kernel_h, stride_h, pad_h, dilation_h, ceil_mode)
    out_w = pool_output_size(width, kernel_w, stride_w, pad_w, dilation_w, ceil_mode)
    ry = te.reduce_axis((0, kernel_h), name="ry")
    rx = te.reduce_axis((0, kernel_w), name="rx")

    def window_max(*i):
        *n, y, x = i
        in_y = y * stride_h + ry * dilation_h - pad_h
        in_x = x * stride_w + rx * dilation_w - pad_w
        inside = tirx.all(in_y >= 0, in_y < height, in_x >= 0, in_x < width)
        value = te.if_then_else(inside, data[(*n, in_y, in_x)], tirx.const(float("-inf"), data.dtype))
        return nan_max(value, axis=[ry, rx])

    return te.compute((*data.shape[:-2], out_h, out_w), window_max, name="max_pool2d")
