"""Convolutions, and the spatial padding they use."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx


PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _source_index(index: tirx.Expr, before: int, size: int, mode: str) -> tirx.Expr:
    """Index into an axis of `size` read by padded position `index` (for the non-constant modes)."""
    shifted = index - before
    if mode == "replicate":
        return tirx.max(tirx.min(shifted, size - 1), 0)
    if mode == "reflect":
        mirrored = tirx.Select(shifted < 0, -shifted, shifted)
        return tirx.Select(mirrored >= size, 2 * (size - 1) - mirrored, mirrored)
    return tirx.floormod(shifted, size)  # circular


def pad2d(data: te.Tensor, padding: Sequence[Sequence[int]], mode: str = "zeros") -> te.Tensor:
    """Pad the last two axes of `data` ([*batch, H, W]) as PyTorch's padding modes do.

    padding: ((top, bottom), (left, right)); mode: "zeros", "reflect" (needs pad < size),
    "replicate" or "circular" (needs pad <= size). Returns [*batch, H + top + bottom, W + left + right].
    """
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return data
    height, width = data.shape[-2], data.shape[-1]
    out_shape = (*data.shape[:-2], height + top + bottom, width + left + right)

    if mode == "zeros":
        def padded(*i):
            y, x = i[-2] - top, i[-1] - left
            inside = tirx.all(y >= 0, y < height, x >= 0, x < width)
            return te.if_then_else(inside, data[(*i[:-2], y, x)], tirx.const(0, data.dtype))
    else:
        def padded(*i):
            y = _source_index(i[-2], top, height, mode)
            x = _source_index(i[-1], left, width, mode)
            return data[(*i[:-2], y, x)]

    return te.compute(out_shape, padded, name="pad")


def conv2d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    padding_mode: str = "zeros",
) -> te.Tensor:
    """2-D cross-correlation, as `torch.nn.functional.conv2d` after padding with `padding_mode`.

    data: [N, C, H, W] or unbatched [C, H, W]; weight: [O, C / groups, KH, KW]; bias: [O] or None;
    padding: ((top, bottom), (left, right)). Returns [N, O, OH, OW] (or [O, OH, OW]) with
    OH = (H + top + bottom - dilation_h * (KH - 1) - 1) // stride_h + 1, likewise OW.
    """
    padded = pad2d(data, padding, padding_mode)
    *batch, _, height, width = padded.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    out_h = (height - dilation_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width - dilation_w * (kernel_w - 1) - 1) // stride_w + 1
    out_per_group = out_channels // groups
    rc = te.reduce_axis((0, group_channels), name="rc")
    ry = te.reduce_axis((0, kernel_h), name="ry")
    rx = te.reduce_axis((0, kernel_w), name="rx")

    def window_sum(*i):
        *n, o, y, x = i
        channel = rc if groups == 1 else o // out_per_group * group_channels + rc
        pixel = padded[(*n, channel, y * stride_h + ry * dilation_h, x * stride_w + rx * dilation_w)]
        return te.sum(pixel * weight[o, rc, ry, rx], axis=[rc, ry, rx])

    conv = te.compute((*batch, out_channels, out_h, out_w), window_sum, name="conv2d")
    if bias is None:
        return conv
    return te.compute(conv.shape, lambda *i: conv(*i) + bias[i[-3]], name="bias_add")
