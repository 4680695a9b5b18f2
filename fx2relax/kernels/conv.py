"""Convolutions (1-, 2- and 3-D, plain and transposed); their padding is kernels/padding.py's.

One N-d kernel per kind, for any number of trailing spatial axes; `conv1d` ... `conv3d` and
`conv_transpose1d` ... `conv_transpose3d` name it, so each PrimFunc reads as its PyTorch op.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .marks import mark
from .padding import pad

PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _add_bias(conv: te.Tensor, bias: te.Tensor | None, spatial: int) -> te.Tensor:
    """conv + bias over the channel axis (the one before the `spatial` trailing axes)."""
    if bias is None:
        return conv
    return te.compute(conv.shape, lambda *i: conv(*i) + bias[i[-spatial - 1]], name="bias_add")


def _pad(data: te.Tensor, padding: Sequence[Sequence[int]], padding_mode: str) -> te.Tensor:
    """The input padded as a convolution's `padding_mode` (one of PAD_MODES) says; "zeros" is
    constant padding with 0."""
    return pad(data, padding, "constant" if padding_mode == "zeros" else padding_mode)


def _convolution(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    padding_mode: str,
    name: str,
) -> te.Tensor:
    """k-D cross-correlation over the last k = len(stride) axes (see conv2d for the shapes)."""
    spatial = len(stride)
    padded = _pad(data, padding, padding_mode)
    batch, sizes = padded.shape[:-spatial - 1], padded.shape[-spatial:]
    out_channels, group_channels, *kernel = weight.shape
    out_sizes = [(size - d * (k - 1) - 1) // s + 1 for size, k, s, d in zip(sizes, kernel, stride, dilation)]
    out_per_group = out_channels // groups
    rc = te.reduce_axis((0, group_channels), name="rc")
    taps = [te.reduce_axis((0, k), name=f"r{axis}") for axis, k in enumerate(kernel)]

    def window_sum(*i):
        n, o, position = i[:-spatial - 1], i[-spatial - 1], i[-spatial:]
        channel = rc if groups == 1 else o // out_per_group * group_channels + rc
        source = [p * s + r * d for p, r, s, d in zip(position, taps, stride, dilation)]
        return te.sum(padded[(*n, channel, *source)] * weight[(o, rc, *taps)], axis=[rc, *taps])

    parameters = {"stride": list(stride), "padding": [p for pair in padding for p in pair], "dilation": list(dilation)}
    attrs = mark(name, **parameters, groups=groups, padding_mode=padding_mode)  # weight packing reads them back
    conv = te.compute((*batch, out_channels, *out_sizes), window_sum, name=name, attrs=attrs)
    return _add_bias(conv, bias, spatial)


def conv2d_packed(
    data: te.Tensor,
    packed_weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[Sequence[int]],
    dilation: Sequence[int],
    padding_mode: str = "zeros",
    groups: int = 1,
    out_channels: int | None = None,
    computed_width: int | None = None,
) -> te.Tensor:
    """conv2d with the weight pre-packed in blocks of `lanes` output channels, so the inner loop
    reads one vector of weights per (input channel of the group, kernel row, kernel column).

    data: [N, C, H, W]; packed_weight: [groups * B, C / groups, KH, KW, lanes], each group's
    O / groups output channels in B >= ceil(O / groups / lanes) blocks (packing.pack_conv2d_weight),
    the blocks past its channels padded with zero channels (each block lies
    in one group, so it reads one input value per tap: a broadcast); bias: [O] or None;
    out_channels: O (None: all the packed channels); computed_width: output columns to compute, OW or more (None: OW), so
    that a register tile of columns divides the row (Inception's 17: 18 as 3 x 6), the columns
    past OW reading the padded input's last column. The stage "conv2d_packed" computes every
    packed channel and computed column; where O or OW is fewer, the next stage keeps the real
    outputs (a group's padded channels skipped), so the extra ones never reach the output.
    Returns [N, O, OH, OW] as conv2d, summing over (c, kh, kw) in the same order.
    """
    padded = _pad(data, padding, padding_mode)
    batch, _, height, width = padded.shape
    blocks, group_channels, kernel_h, kernel_w, lanes = packed_weight.shape
    blocks_per_group = int(blocks) // groups
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    out_h = (height - dilation_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width - dilation_w * (kernel_w - 1) - 1) // stride_w + 1
    columns = out_w if computed_width is None else computed_width
    rc = te.reduce_axis((0, group_channels), name="rc")
    rh = te.reduce_axis((0, kernel_h), name="r0")
    rw = te.reduce_axis((0, kernel_w), name="r1")

    def channel(o: tirx.PrimExpr) -> tirx.PrimExpr:
        """The input channel an output channel's block reads at rc."""
        return rc if groups == 1 else o // lanes // blocks_per_group * group_channels + rc

    def column(w: tirx.PrimExpr) -> tirx.PrimExpr:
        """The input column output column w reads at rw (the last one past the real outputs)."""
        index = w * stride_w + rw * dilation_w
        return index if computed_width is None else tirx.min(index, width - 1)

    conv = te.compute(
        (batch, blocks * lanes, out_h, columns),
        lambda n, o, h, w: te.sum(
            padded[n, channel(o), h * stride_h + rh * dilation_h, column(w)]
            * packed_weight[o // lanes, rc, rh, rw, o % lanes],
            axis=[rc, rh, rw],
        ),
        name="conv2d_packed",
        attrs=mark("conv2d_packed", groups=groups),
    )
    real_channels = blocks * lanes if out_channels is None else out_channels
    per_group, computed_per_group = real_channels // groups, blocks_per_group * lanes

    def computed(o: tirx.PrimExpr) -> tirx.PrimExpr:
        """The computed channel of real output channel o (each group's padded ones skipped)."""
        return o if per_group == computed_per_group or groups == 1 else o // per_group * computed_per_group + o % per_group

    if real_channels < blocks * lanes or columns != out_w:
        conv = te.compute(
            (batch, real_channels, out_h, out_w), lambda n, o, h, w: conv(n, computed(o), h, w), name="conv2d_packed_outputs",
            attrs=mark("conv2d_packed_outputs"),  # layout and schedules find the real outputs by it
        )
    return _add_bias(conv, bias, 2)


def conv1d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    padding_mode: str = "zeros",
) -> te.Tensor:
    """1-D cross-correlation, as `torch.nn.functional.conv1d` after padding with `padding_mode`.

    data: [N, C, L] or unbatched [C, L]; weight: [O, C / groups, K]; bias: [O] or None;
    padding: ((left, right),). Returns [N, O, OL] (or [O, OL]) with
    OL = (L + left + right - dilation * (K - 1) - 1) // stride + 1.
    """
    return _convolution(data, weight, bias, stride, padding, dilation, groups, padding_mode, "conv1d")


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
    return _convolution(data, weight, bias, stride, padding, dilation, groups, padding_mode, "conv2d")


def conv3d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    padding_mode: str = "zeros",
) -> te.Tensor:
    """3-D cross-correlation, as `torch.nn.functional.conv3d` after padding with `padding_mode`.

    data: [N, C, D, H, W] or unbatched [C, D, H, W]; weight: [O, C / groups, KD, KH, KW];
    bias: [O] or None; padding: ((front, back), (top, bottom), (left, right)). Returns
    [N, O, OD, OH, OW] (or [O, OD, OH, OW]), each size as in conv2d.
    """
    return _convolution(data, weight, bias, stride, padding, dilation, groups, padding_mode, "conv3d")


def _transposed_convolution(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    name: str,
) -> te.Tensor:
    """k-D transposed convolution as a gather (see conv_transpose2d for the shapes).

    Input pixel x of an axis feeds output position x * stride - padding + tap * dilation; so output
    position p sums, over channels of its group and kernel taps, the input pixel
    (p + padding - tap * dilation) / stride when that division is exact and lands inside the input.
    Taps that hit no input pixel add nothing (not 0 * value), so NaN and ±inf spread as in PyTorch.
    """
    spatial = len(stride)
    batch, in_channels, sizes = data.shape[:-spatial - 1], data.shape[-spatial - 1], data.shape[-spatial:]
    _, out_per_group, *kernel = weight.shape
    in_per_group = in_channels // groups
    out_sizes = [
        (size - 1) * s - 2 * p + d * (k - 1) + extra + 1
        for size, k, s, p, extra, d in zip(sizes, kernel, stride, padding, output_padding, dilation)
    ]
    rc = te.reduce_axis((0, in_per_group), name="rc")
    taps = [te.reduce_axis((0, k), name=f"r{axis}") for axis, k in enumerate(kernel)]

    def gather(*i):
        n, o, position = i[:-spatial - 1], i[-spatial - 1], i[-spatial:]
        channel = rc if groups == 1 else o // out_per_group * in_per_group + rc
        offsets = [q + p - r * d for q, r, p, d in zip(position, taps, padding, dilation)]
        sources = [tirx.floordiv(offset, s) for offset, s in zip(offsets, stride)]
        hits = tirx.all(
            *(tirx.floormod(offset, s) == 0 for offset, s in zip(offsets, stride)),
            *(offset >= 0 for offset in offsets),
            *(source < size for source, size in zip(sources, sizes)),
        )
        product = data[(*n, channel, *sources)] * weight[(channel, o % out_per_group, *taps)]
        return te.sum(te.if_then_else(hits, product, tirx.const(0, data.dtype)), axis=[rc, *taps])

    conv = te.compute((*batch, out_per_group * groups, *out_sizes), gather, name=name)
    return _add_bias(conv, bias, spatial)


def conv_transpose1d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> te.Tensor:
    """1-D transposed convolution, as `torch.nn.functional.conv_transpose1d`.

    data: [N, C, L] or unbatched [C, L]; weight: [C, O / groups, K]; bias: [O] or None.
    Returns [N, O, OL] (or [O, OL]) with
    OL = (L - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1.
    """
    return _transposed_convolution(
        data, weight, bias, stride, padding, output_padding, dilation, groups, "conv_transpose1d"
    )


def conv_transpose2d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> te.Tensor:
    """2-D transposed convolution, as `torch.nn.functional.conv_transpose2d`.

    data: [N, C, H, W] or unbatched [C, H, W]; weight: [C, O / groups, KH, KW]; bias: [O] or None;
    stride, padding, output_padding, dilation: (h, w). Returns [N, O, OH, OW] (or [O, OH, OW]) with
    OH = (H - 1) * stride_h - 2 * padding_h + dilation_h * (KH - 1) + output_padding_h + 1, likewise OW.
    """
    return _transposed_convolution(
        data, weight, bias, stride, padding, output_padding, dilation, groups, "conv_transpose2d"
    )


def conv_transpose3d(
    data: te.Tensor,
    weight: te.Tensor,
    bias: te.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> te.Tensor:
    """3-D transposed convolution, as `torch.nn.functional.conv_transpose3d`.

    data: [N, C, D, H, W] or unbatched [C, D, H, W]; weight: [C, O / groups, KD, KH, KW];
    bias: [O] or None. Returns [N, O, OD, OH, OW] (or [O, OD, OH, OW]), each size as in
    conv_transpose2d.
    """
    return _transposed_convolution(
        data, weight, bias, stride, padding, output_padding, dilation, groups, "conv_transpose3d"
    )
