"""Layout changes that move no arithmetic: flatten and reshape."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx



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
