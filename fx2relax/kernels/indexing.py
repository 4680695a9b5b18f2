"""Reads at computed positions: embedding lookups, gather along an axis, and advanced indexing with
integer index tensors (`x[idx]`, `x[:, rows, cols]`).

Index tensors come from the graph (token ids, positions), so their values are known only at run
time. PyTorch raises on an index out of range; a kernel cannot, so every read is clamped into the
tensor (never out of bounds) and a float result is NaN where an index was out of range, which
makes the bad input visible instead of silently reading a neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .elementwise import broadcast_index, broadcast_shape, expr_dtype


def _checked(index: tirx.Expr, size: tirx.Expr, negative: bool) -> tuple[tirx.Expr, tirx.Expr]:
    """(position clamped into [0, size), whether `index` was in range). With `negative`, -size <= index < 0
    counts from the end, as in Python indexing."""
    index = index.astype("int64")
    size = tirx.Cast("int64", size)
    if negative:
        index = tirx.Select(index < 0, index + size, index)
    valid = tirx.And(index >= 0, index < size)
    clamped = tirx.max(tirx.min(index, size - 1), tirx.const(0, "int64"))
    return clamped, valid


def _flag_invalid(value: tirx.Expr, valid: tirx.Expr) -> tirx.Expr:
    """`value`, or NaN where its index was out of range (floats only; integers keep the clamped read)."""
    dtype = expr_dtype(value)
    if "float" not in dtype:
        return value
    return tirx.Select(valid, value, tirx.const(float("nan"), dtype))


def embedding(weight: te.Tensor, indices: te.Tensor) -> te.Tensor:
    """Rows of `weight` picked by `indices`: weight [num, dim], indices [*] (integer) → [*, dim].
    An index outside [0, num) gives a row of NaN (PyTorch raises)."""

    def row(*i):
        position, valid = _checked(indices[i[:-1]], weight.shape[0], negative=False)
        return _flag_invalid(weight[position, i[-1]], valid)

    return te.compute((*indices.shape, weight.shape[1]), row, name="embedding")


def gather(data: te.Tensor, axis: int, index: te.Tensor) -> te.Tensor:
    """out[i] = data[i with axis `axis` replaced by index[i]] (torch.gather). data and index have the
    same rank, index no larger than data on the other axes; returns index's shape in data's dtype."""

    def read(*i):
        position, valid = _checked(index(*i), data.shape[axis], negative=False)
        return _flag_invalid(data[(*i[:axis], position, *i[axis + 1 :])], valid)

    return te.compute(index.shape, read, name="gather")


def advanced_index(data: te.Tensor, indices: Sequence[te.Tensor | None]) -> te.Tensor:
    """`data[indices]` with integer index tensors (None: a full slice of that axis), PyTorch's
    `aten.index.Tensor`: the index tensors broadcast together to [*b]; when they sit on adjacent
    axes the result is [*before, *b, *after], otherwise [*b, *sliced axes]. Negative indices count
    from the end. data: [d0, ..., dn], len(indices) <= rank.
    """
    rank = len(data.shape)
    slots = list(indices) + [None] * (rank - len(indices))
    indexed = [a for a, t in enumerate(slots) if t is not None]
    shape: tuple = ()
    for a in indexed:
        shape = broadcast_shape(shape, slots[a].shape) if shape else tuple(slots[a].shape)
    adjacent = indexed == list(range(indexed[0], indexed[-1] + 1))
    sliced = [a for a in range(rank) if slots[a] is None]
    if adjacent:
        before = [a for a in sliced if a < indexed[0]]
        after = [a for a in sliced if a > indexed[-1]]
        out_shape = (*[data.shape[a] for a in before], *shape, *[data.shape[a] for a in after])
    else:
        before, after = [], sliced
        out_shape = (*shape, *[data.shape[a] for a in sliced])

    def read(*out):
        broadcast = out[len(before) : len(before) + len(shape)]
        position = {a: out[k] for k, a in enumerate(before)}
        position.update({a: out[len(before) + len(shape) + k] for k, a in enumerate(after)})
        valid = tirx.const(True, "bool")
        for a in indexed:
            tensor = slots[a]
            clamped, ok = _checked(tensor[broadcast_index(tensor.shape, broadcast)], data.shape[a], negative=True)
            position[a] = clamped
            valid = tirx.And(valid, ok)
        return _flag_invalid(data[tuple(position[a] for a in range(rank))], valid)

    return te.compute(out_shape, read, name="advanced_index")
