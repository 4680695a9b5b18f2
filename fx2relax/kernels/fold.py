"""`F.unfold` (im2col: every sliding block of a batched image as a column) and `F.fold` (col2im:
the columns summed back into the image), with kernel size, dilation, padding and stride per axis.

A column row is `c * kh * kw + i * kw + j` (channel, then kernel row and column), a column is
`oh * out_w + ow` (block row, then block column), as PyTorch lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .elementwise import expr_dtype

Pair = Sequence[int]


def blocks(size: int, kernel: int, dilation: int, padding: int, stride: int) -> int:
    """How many sliding blocks fit along an axis of `size`: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def unfold(data: te.Tensor, kernel_size: Pair, dilation: Pair, padding: Pair, stride: Pair) -> te.Tensor:
    """im2col. data: [N, C, H, W] → [N, C * kh * kw, out_h * out_w] (out_* as `blocks`); positions in
    the zero padding read 0."""
    kernel = kernel_size
    batch, channels, height, width = data.shape
    height, width = int(height), int(width)
    out_h = blocks(height, kernel[0], dilation[0], padding[0], stride[0])
    out_w = blocks(width, kernel[1], dilation[1], padding[1], stride[1])
    patch = kernel[0] * kernel[1]

    def element(n, row, column):
        c, i, j = row // patch, row % patch // kernel[1], row % kernel[1]
        y = column // out_w * stride[0] - padding[0] + i * dilation[0]
        x = column % out_w * stride[1] - padding[1] + j * dilation[1]
        inside = tirx.all(y >= 0, y < height, x >= 0, x < width)
        value = data[n, c, tirx.Select(inside, y, tirx.const(0, expr_dtype(y))), tirx.Select(inside, x, tirx.const(0, expr_dtype(x)))]
        return tirx.Select(inside, value, tirx.const(0, data.dtype))

    return te.compute((batch, channels * patch, out_h * out_w), element, name="unfold")


def fold(data: te.Tensor, output_size: Pair, kernel_size: Pair, dilation: Pair, padding: Pair, stride: Pair) -> te.Tensor:
    """col2im. data: [N, C * kh * kw, L] with L = out_h * out_w blocks of an image of `output_size`
    (H, W) → [N, C, H, W]: each pixel sums the column entries of every block covering it.

    Written as a gather over the kernel offsets (i, j) in PyTorch's order (i, then j), each adding the
    entry of the block that offset places on the pixel, if there is one; PyTorch's col2im adds the
    same entries to a zero image in the same order, so the float sums agree bit for bit.
    """
    kernel = kernel_size
    batch, rows, _ = data.shape
    height, width = output_size
    out_h = blocks(height, kernel[0], dilation[0], padding[0], stride[0])
    out_w = blocks(width, kernel[1], dilation[1], padding[1], stride[1])
    patch = kernel[0] * kernel[1]
    i = te.reduce_axis((0, kernel[0]), name="i")
    j = te.reduce_axis((0, kernel[1]), name="j")

    def pixel(n, c, y, x):
        offset_y = y + padding[0] - i * dilation[0]
        offset_x = x + padding[1] - j * dilation[1]
        block_y, block_x = tirx.floordiv(offset_y, stride[0]), tirx.floordiv(offset_x, stride[1])
        covered = tirx.all(
            offset_y >= 0, offset_x >= 0, tirx.floormod(offset_y, stride[0]) == 0, tirx.floormod(offset_x, stride[1]) == 0,
            block_y < out_h, block_x < out_w,
        )
        column = block_y * out_w + block_x
        column = tirx.Select(covered, column, tirx.const(0, expr_dtype(column)))
        value = data[n, c * patch + i * kernel[1] + j, column]
        return te.sum(tirx.Select(covered, value, tirx.const(0, data.dtype)), axis=[i, j])

    return te.compute((batch, int(rows) // patch, height, width), pixel, name="fold")
