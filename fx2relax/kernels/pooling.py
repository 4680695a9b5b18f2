"""Pooling over the last two (spatial) axes."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .marks import mark
from .reduction import nan_max


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length (aten pooling_output_shape), including its ceil_mode rule:
    a last window that would start inside the right padding is dropped."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def windows_stay_inside(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> bool:
    """Whether every one of `out` windows lies inside the unpadded axis, so no bounds check is needed."""
    return pad == 0 and (out - 1) * stride + dilation * (kernel - 1) < size


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
    always_inside = windows_stay_inside(height, out_h, kernel_h, stride_h, pad_h, dilation_h) and windows_stay_inside(
        width, out_w, kernel_w, stride_w, pad_w, dilation_w
    )

    def window_max(*i):
        *n, y, x = i
        in_y = y * stride_h + ry * dilation_h - pad_h
        in_x = x * stride_w + rx * dilation_w - pad_w
        if always_inside:  # no per-element test in the fused loops
            return nan_max(data[(*n, in_y, in_x)], axis=[ry, rx])
        inside = tirx.all(in_y >= 0, in_y < height, in_x >= 0, in_x < width)
        value = te.if_then_else(inside, data[(*n, in_y, in_x)], tirx.const(float("-inf"), data.dtype))
        return nan_max(value, axis=[ry, rx])

    return te.compute((*data.shape[:-2], out_h, out_w), window_max, name="max_pool2d", attrs=mark("max_pool2d"))


def avg_pool2d(
    data: te.Tensor,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> te.Tensor:
    """Mean over windows of the last two axes, as PyTorch's CPU avg_pool2d (same summation order).

    data: [*batch, H, W]; kernel_size, stride, padding: (h, w) pairs. Returns [*batch, OH, OW]
    with sizes from `pool_output_size`. The divisor is divisor_override if given; else with
    count_include_pad the window clipped to the padded input (a ceil_mode window hanging past the
    right padding counts only up to it), without it the window clipped to the input.
    """
    height, width = int(data.shape[-2]), int(data.shape[-1])
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    out_h = pool_output_size(height, kernel_h, stride_h, pad_h, 1, ceil_mode)
    out_w = pool_output_size(width, kernel_w, stride_w, pad_w, 1, ceil_mode)
    ry = te.reduce_axis((0, kernel_h), name="ry")
    rx = te.reduce_axis((0, kernel_w), name="rx")

    def window_sum(*i):
        *n, y, x = i
        in_y, in_x = y * stride_h + ry - pad_h, x * stride_w + rx - pad_w
        inside = tirx.all(in_y >= 0, in_y < height, in_x >= 0, in_x < width)
        return te.sum(te.if_then_else(inside, data[(*n, in_y, in_x)], tirx.const(0, data.dtype)), axis=[ry, rx])

    sums = te.compute((*data.shape[:-2], out_h, out_w), window_sum, name="avg_pool2d_sum", attrs=mark("avg_pool2d"))

    def divisor(y, x):
        if divisor_override is not None:
            return tirx.const(divisor_override, "int32")
        start_y, start_x = y * stride_h - pad_h, x * stride_w - pad_w
        end_y = tirx.min(start_y + kernel_h, height + pad_h)
        end_x = tirx.min(start_x + kernel_w, width + pad_w)
        if count_include_pad:
            return (end_y - start_y) * (end_x - start_x)
        rows = tirx.min(end_y, height) - tirx.max(start_y, 0)
        columns = tirx.min(end_x, width) - tirx.max(start_x, 0)
        return rows * columns

    return te.compute(
        sums.shape, lambda *i: sums(*i) / divisor(i[-2], i[-1]).astype(data.dtype), name="avg_pool2d"
    )


def _adaptive_window(index: tirx.PrimExpr, in_size: int, out_size: int) -> tuple[tirx.PrimExpr, tirx.PrimExpr]:
    """Start and length of adaptive window `index`: [floor(i * In / Out), ceil((i + 1) * In / Out))."""
    start = tirx.floordiv(index * in_size, out_size)
    end = tirx.floordiv((index + 1) * in_size + out_size - 1, out_size)
    return start, end - start


def _largest_adaptive_window(in_size: int, out_size: int) -> int:
    return max(-(-(i + 1) * in_size // out_size) - i * in_size // out_size for i in range(out_size))


def _adaptive_pool2d(data: te.Tensor, output_size: Sequence[int], reduce, name: str) -> te.Tensor:
    """Reduce each adaptive window with `reduce(value, inside, axes)`; reduce axes span the
    largest window, `inside` masks the positions past the current window's end."""
    height, width = int(data.shape[-2]), int(data.shape[-1])
    out_h, out_w = output_size
    ry = te.reduce_axis((0, _largest_adaptive_window(height, out_h)), name="ry")
    rx = te.reduce_axis((0, _largest_adaptive_window(width, out_w)), name="rx")

    def window(*i):
        *n, y, x = i
        (start_y, window_h), (start_x, window_w) = _adaptive_window(y, height, out_h), _adaptive_window(x, width, out_w)
        inside = tirx.all(ry < window_h, rx < window_w)
        return reduce(data[(*n, start_y + ry, start_x + rx)], inside, [ry, rx])

    return te.compute((*data.shape[:-2], out_h, out_w), window, name=name)


def adaptive_avg_pool2d(data: te.Tensor, output_size: Sequence[int]) -> te.Tensor:
    """Mean over adaptive windows of the last two axes, as PyTorch's CPU kernel: the window
    summed row by row, then divided by its height and then by its width.

    data: [*batch, H, W]; output_size: (OH, OW). Returns [*batch, OH, OW].
    """
    height, width = int(data.shape[-2]), int(data.shape[-1])
    out_h, out_w = output_size
    zero = tirx.const(0, data.dtype)
    sums = _adaptive_pool2d(
        data, output_size, lambda value, inside, axes: te.sum(te.if_then_else(inside, value, zero), axis=axes),
        "adaptive_avg_pool2d_sum",
    )

    def mean(*i):
        window_h = _adaptive_window(i[-2], height, out_h)[1]
        window_w = _adaptive_window(i[-1], width, out_w)[1]
        return sums(*i) / window_h.astype(data.dtype) / window_w.astype(data.dtype)

    return te.compute(sums.shape, mean, name="adaptive_avg_pool2d")


def adaptive_max_pool2d(data: te.Tensor, output_size: Sequence[int]) -> te.Tensor:
    """Max over adaptive windows of the last two axes; a NaN in a window gives NaN.

    data: [*batch, H, W]; output_size: (OH, OW). Returns [*batch, OH, OW].
    """
    lowest = tirx.const(float("-inf"), data.dtype)
    return _adaptive_pool2d(
        data, output_size, lambda value, inside, axes: nan_max(te.if_then_else(inside, value, lowest), axis=axes),
        "adaptive_max_pool2d",
    )


def _pool_length(pool2d, data: te.Tensor, **params) -> te.Tensor:
    """`pool2d` applied to [*batch, L] seen as [*batch, 1, L] (as PyTorch's 1-D pools do); returns [*batch, OL]."""
    rows = te.compute(
        (*data.shape[:-1], 1, data.shape[-1]), lambda *i: data[(*i[:-2], i[-1])], name="unsqueeze_height"
    )
    pooled = pool2d(rows, **params)
    return te.compute(
        (*pooled.shape[:-2], pooled.shape[-1]), lambda *i: pooled[(*i[:-1], 0, i[-1])], name="squeeze_height"
    )


def max_pool1d(
    data: te.Tensor, kernel_size: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> te.Tensor:
    """Max over (dilated) windows of the last axis, as `max_pool2d` on a height of 1.

    data: [*batch, L]; returns [*batch, OL] with OL from `pool_output_size`. NaN propagates.
    """
    return _pool_length(
        max_pool2d, data, kernel_size=(1, kernel_size), stride=(1, stride), padding=(0, padding),
        dilation=(1, dilation), ceil_mode=ceil_mode,
    )


def avg_pool1d(
    data: te.Tensor, kernel_size: int, stride: int, padding: int, ceil_mode: bool, count_include_pad: bool
) -> te.Tensor:
    """Mean over windows of the last axis: PyTorch computes avg_pool1d as avg_pool2d on a height of 1.

    data: [*batch, L]; returns [*batch, OL] with OL from `pool_output_size`.
    """
    return _pool_length(
        avg_pool2d, data, kernel_size=(1, kernel_size), stride=(1, stride), padding=(0, padding),
        ceil_mode=ceil_mode, count_include_pad=count_include_pad, divisor_override=None,
    )


def adaptive_avg_pool1d(data: te.Tensor, output_size: int) -> te.Tensor:
    """Adaptive mean over the last axis, as PyTorch's adaptive_avg_pool2d on a height of 1.

    data: [*batch, L]; returns [*batch, output_size].
    """
    return _pool_length(adaptive_avg_pool2d, data, output_size=(1, output_size))


def adaptive_max_pool1d(data: te.Tensor, output_size: int) -> te.Tensor:
    """Adaptive max over the last axis (NaN propagates). data: [*batch, L]; returns [*batch, output_size]."""
    return _pool_length(adaptive_max_pool2d, data, output_size=(1, output_size))
