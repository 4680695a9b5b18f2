"""Layout changes that move no arithmetic: reshape, flatten, permute, slicing, concatenation,
stacking, unsqueeze/squeeze, broadcasting and strided views of the row-major elements.

Every size may be an int or a PrimExpr (a symbolic batch); arguments are already checked and
normalised by the converters (non-negative axes, in-range indices).
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .. import symbolic
from .marks import mark


def flatten(data: te.Tensor, start_dim: int, end_dim: int) -> te.Tensor:
    """Merge axes start_dim..end_dim (0 <= start_dim <= end_dim < rank) into one.

    data: [*head, d_start, ..., d_end, *tail] → [*head, d_start * ... * d_end, *tail].
    Only the merged axes are re-indexed, so symbolic head or tail dimensions are fine.
    """
    shape = list(data.shape)
    merged = shape[start_dim : end_dim + 1]
    size = merged[0]
    for dim in merged[1:]:
        size = size * dim

    def source(*out):
        flat = out[start_dim]
        inner = []
        for dim in reversed(merged):
            inner.append(tirx.floormod(flat, dim))
            flat = tirx.floordiv(flat, dim)
        return data[(*out[:start_dim], *reversed(inner), *out[start_dim + 1 :])]

    return te.compute((*shape[:start_dim], size, *shape[end_dim + 1 :]), source, name="flatten")


def reshape(data: te.Tensor, new_shape: Sequence) -> te.Tensor:
    """Row-major reshape of `data` to `new_shape` (same number of elements), like `Tensor.reshape`."""
    old_shape = list(data.shape)

    def source(*out):
        flat = 0
        for index, dim in zip(out, new_shape):
            flat = flat * dim + index
        indices = []
        for dim in reversed(old_shape):
            indices.append(tirx.floormod(flat, dim))
            flat = tirx.floordiv(flat, dim)
        return data[tuple(reversed(indices))]

    return te.compute(tuple(new_shape), source, name="reshape")


def permute(data: te.Tensor, axes: Sequence[int]) -> te.Tensor:
    """Reorder the axes: output axis i is input axis axes[i] (a permutation of range(rank)).

    data: [d0, ..., dn] → [d_axes[0], ..., d_axes[n]].
    """

    def source(*out):
        index = [None] * len(axes)
        for out_axis, in_axis in enumerate(axes):
            index[in_axis] = out[out_axis]
        return data[tuple(index)]

    return te.compute([data.shape[a] for a in axes], source, name="permute")


def strided_slice(
    data: te.Tensor, begin: Sequence, step: Sequence[int], out_axes: Sequence[int | None], out_shape: Sequence
) -> te.Tensor:
    """Basic indexing (`x[1, ::2, None, 3:]`): input axis a reads `begin[a] + step[a] * out[out_axes[a]]`,
    or only `begin[a]` when out_axes[a] is None (an integer index drops the axis); output axes that
    no input axis maps to are new axes of size 1 (a None in the index).

    data: [d0, ..., dn] → out_shape; every read is in bounds (the converter clamps as PyTorch does).
    """

    def source(*out):
        index = []
        for axis, out_axis in enumerate(out_axes):
            index.append(begin[axis] if out_axis is None else begin[axis] + step[axis] * out[out_axis])
        return data[tuple(index)]

    return te.compute(tuple(out_shape), source, name="strided_slice")


def concatenate(tensors: Sequence[te.Tensor], axis: int) -> te.Tensor:
    """Join tensors along `axis`; their other sizes are equal.

    tensors: [*head, n_k, *tail] each → [*head, n_0 + ... + n_k, *tail]. Each element reads only the
    tensor it comes from (if_then_else evaluates one branch), so no read is out of bounds. The mark
    carries the axis and, when every size along it is static, the boundaries between the tensors
    (schedules.concat splits the axis there).
    """
    offsets = [0]
    for tensor in tensors:
        offsets.append(offsets[-1] + tensor.shape[axis])
    shape = list(tensors[0].shape)
    shape[axis] = offsets[-1]

    def source(*out):
        def read(k):
            index = list(out)
            index[axis] = out[axis] - offsets[k]
            return tensors[k][tuple(index)]

        value = read(len(tensors) - 1)
        for k in reversed(range(len(tensors) - 1)):
            value = tirx.if_then_else(out[axis] < offsets[k + 1], read(k), value)
        return value

    static = all(isinstance(offset, (int, tirx.IntImm)) for offset in offsets)
    details = {"offsets": [int(offset) for offset in offsets]} if static else {}
    return te.compute(shape, source, name="concatenate", attrs=mark("concatenate", axis=axis, **details))


def stack(tensors: Sequence[te.Tensor], axis: int) -> te.Tensor:
    """Stack equally shaped tensors along a new axis `axis` (0 <= axis <= rank).

    tensors: k tensors [*head, *tail] → [*head, k, *tail].
    """
    shape = list(tensors[0].shape)
    shape.insert(axis, len(tensors))

    def source(*out):
        index = out[:axis] + out[axis + 1 :]
        value = tensors[-1][index]
        for k in reversed(range(len(tensors) - 1)):
            value = tirx.if_then_else(out[axis] == k, tensors[k][index], value)
        return value

    return te.compute(shape, source, name="stack")


def unsqueeze(data: te.Tensor, axis: int) -> te.Tensor:
    """Insert an axis of size 1 at `axis` (0 <= axis <= rank): [*head, *tail] → [*head, 1, *tail]."""
    shape = list(data.shape)
    shape.insert(axis, 1)
    return te.compute(shape, lambda *out: data[out[:axis] + out[axis + 1 :]], name="unsqueeze")


def squeeze(data: te.Tensor, axes: Sequence[int]) -> te.Tensor:
    """Drop the size-1 axes `axes` (distinct, sorted): [d0, ..., dn] → the shape without them."""
    kept = [a for a in range(len(data.shape)) if a not in axes]

    def source(*out):
        index = [0] * len(data.shape)
        for out_axis, in_axis in enumerate(kept):
            index[in_axis] = out[out_axis]
        return data[tuple(index)]

    return te.compute([data.shape[a] for a in kept], source, name="squeeze")


def broadcast_to(data: te.Tensor, shape: Sequence) -> te.Tensor:
    """Expand `data` to `shape` as `Tensor.expand` does: data's axes align on the right of `shape`,
    and an axis of size 1 is repeated (it always reads index 0).

    data: [d0, ..., dn] → shape, with shape[-k] == d[-k] wherever d[-k] != 1.
    """
    offset = len(shape) - len(data.shape)

    def source(*out):
        return data[tuple(0 if symbolic.is_one(d) else out[offset + a] for a, d in enumerate(data.shape))]

    return te.compute(tuple(shape), source, name="broadcast_to")


def as_strided(data: te.Tensor, size: Sequence[int], stride: Sequence[int], offset: int) -> te.Tensor:
    """A strided view of data's row-major elements: out[i0, ..., ik] = flat[offset + sum_j i_j * stride[j]],
    flat being data read in row-major order (as PyTorch's contiguous storage).

    data: any static shape; size, stride: k ints; the converter checks every position read lies in
    [0, data's element count). Returns `size`.
    """
    sizes = [int(d) for d in data.shape]

    def source(*out):
        flat = offset
        for index, step in zip(out, stride):
            flat = flat + index * step
        indices = []
        for dim in reversed(sizes):
            indices.append(tirx.floormod(flat, dim))
            flat = tirx.floordiv(flat, dim)
        return data[tuple(reversed(indices))]

    return te.compute(tuple(size), source, name="as_strided")


def take(data: te.Tensor, indices: te.Tensor, axis: int) -> te.Tensor:
    """Gather along `axis` (`x[:, idx]` with an integer index tensor): out[*head, *i, *tail] reads
    data[*head, indices[*i], *tail].

    data: [*head, n, *tail], indices: any shape with values in [0, n) (the converter checks and
    wraps them) → [*head, *indices.shape, *tail].
    """
    rank = len(indices.shape)

    def source(*out):
        position = indices[out[axis : axis + rank]]
        return data[(*out[:axis], position, *out[axis + rank :])]

    shape = (*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :])
    return te.compute(shape, source, name="take")
