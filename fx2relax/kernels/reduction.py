"""Reductions (sum, mean over chosen axes), and the reducers whose NaN behaviour must match PyTorch's."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx


def _nan_max_combine(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    # Keep lhs when it is larger or NaN: a NaN anywhere wins, as in PyTorch's max reductions.
    return tirx.Select(tirx.Or(lhs > rhs, te.isnan(lhs)), lhs, rhs)


def _negative_infinity(dtype: str) -> tirx.Expr:
    return tirx.const(float("-inf"), dtype)


nan_max = te.comm_reducer(_nan_max_combine, _negative_infinity, name="nan_max")
"""Max reducer that propagates NaN (a plain `max` would drop it); identity is -inf."""


def accumulated_sum(data: te.Tensor, axes: Sequence[int], keepdim: bool, name: str) -> te.Tensor:
    """Sum over `axes` accumulated in float64. PyTorch sums float32 pairwise; a float32 running sum
    over a 224x224 map already drifts ~7e-6 (relative) from it, too close to the 1e-5 bound."""
    reduce_vars = {a: te.reduce_axis((0, data.shape[a]), name=f"k{a}") for a in axes}
    out_shape = [1 if a in reduce_vars else d for a, d in enumerate(data.shape) if keepdim or a not in reduce_vars]

    def total(*out):
        kept = iter(out)
        index = []
        for a in range(len(data.shape)):
            if a in reduce_vars:
                if keepdim:
                    next(kept)
                index.append(reduce_vars[a])
            else:
                index.append(next(kept))
        return te.sum(data[tuple(index)].astype("float64"), axis=list(reduce_vars.values()))

    return te.compute(out_shape, total, name=name)


def reduce_sum(data: te.Tensor, axes: Sequence[int], keepdim: bool) -> te.Tensor:
    """Sum over `axes` (distinct, 0 <= axis < rank; all axes for a full reduction).

    data: [d0, ..., dn]; returns the shape without the reduced axes, or with them as 1 if keepdim.
    NaN and inf - inf give NaN, as in PyTorch.
    """
    total = accumulated_sum(data, axes, keepdim, "sum_f64")
    return te.compute(total.shape, lambda *i: total(*i).astype(data.dtype), name="sum")


def reduce_mean(data: te.Tensor, axes: Sequence[int], keepdim: bool) -> te.Tensor:
    """Mean over `axes`: the float64 sum divided by the number of reduced elements, shapes as reduce_sum."""
    total = accumulated_sum(data, axes, keepdim, "mean_sum_f64")
    count = 1
    for a in axes:
        count = count * data.shape[a]
    count = tirx.Cast("float64", count)
    return te.compute(total.shape, lambda *i: (total(*i) / count).astype(data.dtype), name="mean")
