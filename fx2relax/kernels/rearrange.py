"""Ops that move or copy values without arithmetic: roll (cyclic shifts), flip, repeat (tiling) and
repeat_interleave.

Sizes may be ints or PrimExprs (a symbolic batch); shifts are ints, already summed per axis by
the converter.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx


def wrapped_index(index: tirx.PrimExpr, size: tirx.PrimExpr) -> tirx.PrimExpr:
    """`index` mod `size` for an index at most one `size` below 0 or past the end, by comparisons:
    TVM's lowering (FlattenBuffer's simplification) rewrote the floormod of a shifted index, read in
    loops that a schedule fused, into a wrong one ((i // 28 + 25) % 28 and (i % 28 + 25) % 28 into
    (i + 700) % 784 and (i + 700) % 28: a 2-D roll of 28 x 28 read the wrong columns)."""
    return tirx.Select(index < 0, index + size, tirx.Select(index >= size, index - size, index))


def shifted_index(index: tirx.PrimExpr, shift: int, size: tirx.PrimExpr) -> tirx.PrimExpr:
    """(`index` - `shift`) mod `size` for an index in [0, size): the shift reduced to one period and
    wrapped by comparisons (`wrapped_index`) where the size is static, a floormod where it is symbolic."""
    if isinstance(size, (int, tirx.IntImm)):
        return wrapped_index(index - shift % int(size), size)
    return tirx.floormod(index - shift, size)


def roll(data: te.Tensor, shifts: Sequence[int]) -> te.Tensor:
    """Shift each axis cyclically, as `torch.roll` with dims: out[..., i, ...] = data[..., (i - shift) mod n, ...].

    data: [d0, ..., dn]; shifts: one int per axis (0 leaves the axis). Returns the same shape.
    """

    def source(*out):
        return data[tuple(i if s == 0 else shifted_index(i, s, d) for i, s, d in zip(out, shifts, data.shape))]

    return te.compute(data.shape, source, name="roll")


def roll_flat(data: te.Tensor, shift: int) -> te.Tensor:
    """`torch.roll` without dims: roll the row-major flattened tensor by `shift`, same shape back.

    data: [d0, ..., dn] → [d0, ..., dn].
    """
    shape = list(data.shape)
    total = 1
    for dim in shape:
        total = total * dim

    def source(*out):
        flat = 0
        for index, dim in zip(out, shape):
            flat = flat * dim + index
        flat = shifted_index(flat, shift, total)
        indices = []
        for dim in reversed(shape):
            indices.append(tirx.floormod(flat, dim))
            flat = tirx.floordiv(flat, dim)
        return data[tuple(reversed(indices))]

    return te.compute(shape, source, name="roll")


def repeat(data: te.Tensor, repeats: Sequence) -> te.Tensor:
    """`Tensor.repeat`: tile `data` `repeats[k]` times along axis k (len(repeats) >= rank; data's axes
    align on the right, leading new axes have size 1).

    data: [d0, ..., dn] → [r0 * 1, ..., r_k * d_k, ...].
    """
    offset = len(repeats) - len(data.shape)
    sizes = [1] * offset + list(data.shape)
    shape = [r * d for r, d in zip(repeats, sizes)]

    def source(*out):
        return data[tuple(tirx.floormod(out[offset + a], d) for a, d in enumerate(data.shape))]

    return te.compute(shape, source, name="repeat")


def unfold(data: te.Tensor, axis: int, size: int, step: int) -> te.Tensor:
    """`Tensor.unfold`: the windows of `size` every `step` along `axis`, as a new last axis.

    data: [*head, L, *tail] → [*head, (L - size) // step + 1, *tail, size] with
    out[*h, w, *t, k] = data[*h, w * step + k, *t].
    """
    shape = list(data.shape)
    windows = (shape[axis] - size) // step + 1

    def source(*out):
        index = list(out[:-1])
        index[axis] = out[axis] * step + out[-1]
        return data[tuple(index)]

    return te.compute((*shape[:axis], windows, *shape[axis + 1 :], size), source, name="unfold")


def flip(data: te.Tensor, axes: Sequence[int]) -> te.Tensor:
    """Reverse the order along each of `axes` (distinct, 0 <= axis < rank), as `torch.flip`.

    data: [d0, ..., dn] → the same shape.
    """

    def source(*out):
        return data[tuple(d - 1 - i if a in axes else i for a, (i, d) in enumerate(zip(out, data.shape)))]

    return te.compute(data.shape, source, name="flip")


def repeat_interleave(data: te.Tensor, axis: int, repeats: int) -> te.Tensor:
    """Repeat each element `repeats` times in place along `axis`: out[..., i, ...] = data[..., i // repeats, ...].

    data: [d0, ..., d_axis, ..., dn] → [d0, ..., d_axis * repeats, ..., dn].
    """
    shape = [d * repeats if a == axis else d for a, d in enumerate(data.shape)]

    def source(*out):
        return data[tuple(tirx.floordiv(i, repeats) if a == axis else i for a, i in enumerate(out))]

    return te.compute(shape, source, name="repeat_interleave")
