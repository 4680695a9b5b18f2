"""Reductions (sum, mean over chosen axes), and the reducers whose NaN behaviour must match PyTorch's."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .elementwise import cast_value, expr_dtype, is_nan, not_equal


def _nan_max_combine(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    # Keep lhs when it is larger or NaN: a NaN anywhere wins, as in PyTorch's max reductions.
    return tirx.Select(tirx.Or(lhs > rhs, is_nan(lhs)), lhs, rhs)


def _nan_min_combine(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    return tirx.Select(tirx.Or(lhs < rhs, is_nan(lhs)), lhs, rhs)


def _negative_infinity(dtype: str) -> tirx.Expr:
    return tirx.const(float("-inf"), dtype) if "float" in dtype else tirx.min_value(dtype)


def _positive_infinity(dtype: str) -> tirx.Expr:
    return tirx.const(float("inf"), dtype) if "float" in dtype else tirx.max_value(dtype)


nan_max = te.comm_reducer(_nan_max_combine, _negative_infinity, name="nan_max")
"""Max reducer that propagates NaN (a plain `max` would drop it); identity is -inf (an integer's lowest)."""

nan_min = te.comm_reducer(_nan_min_combine, _positive_infinity, name="nan_min")
"""Min reducer that propagates NaN; identity is +inf (an integer's highest)."""


def reduction_index(rank: int, reduce_vars: dict, keepdim: bool, out: tuple) -> tuple:
    """The input index an output index `out` of a reduction over `reduce_vars` (axis → reduce axis)
    reads: kept axes take the output's index, reduced ones the reduce axis."""
    kept = iter(out)
    index = []
    for a in range(rank):
        if a in reduce_vars:
            if keepdim:
                next(kept)
            index.append(reduce_vars[a])
        else:
            index.append(next(kept))
    return tuple(index)


def accumulated_sum(data: te.Tensor, axes: Sequence[int], keepdim: bool, name: str, accumulator: str = "float64") -> te.Tensor:
    """Sum over `axes` accumulated in float64 (or `accumulator`, int64 for integers). PyTorch sums
    float32 pairwise; a float32 running sum over a 224x224 map already drifts ~7e-6 (relative)
    from it, too close to the 1e-5 bound."""
    reduce_vars = {a: te.reduce_axis((0, data.shape[a]), name=f"k{a}") for a in axes}
    out_shape = [1 if a in reduce_vars else d for a, d in enumerate(data.shape) if keepdim or a not in reduce_vars]

    def total(*out):
        index = reduction_index(len(data.shape), reduce_vars, keepdim, out)
        return te.sum(cast_value(data[index], accumulator), axis=list(reduce_vars.values()))

    return te.compute(out_shape, total, name=name)


def reduce_sum(data: te.Tensor, axes: Sequence[int], keepdim: bool, dtype: str | None = None) -> te.Tensor:
    """Sum over `axes` (distinct, 0 <= axis < rank; all axes for a full reduction), in `dtype`
    (default data's; integers and bools accumulate in int64).

    data: [d0, ..., dn]; returns the shape without the reduced axes, or with them as 1 if keepdim.
    NaN and inf - inf give NaN, as in PyTorch.
    """
    dtype = dtype or data.dtype
    accumulator = "float64" if "float" in dtype else "int64"
    total = accumulated_sum(data, axes, keepdim, "sum_f64" if accumulator == "float64" else "sum_i64", accumulator)
    return te.compute(total.shape, lambda *i: cast_value(total(*i), dtype), name="sum")


def reduce_mean(data: te.Tensor, axes: Sequence[int], keepdim: bool, dtype: str | None = None) -> te.Tensor:
    """Mean over `axes`: the float64 sum divided by the number of reduced elements, shapes as reduce_sum,
    in the float `dtype` (default data's)."""
    total = accumulated_sum(data, axes, keepdim, "mean_sum_f64")
    count = 1
    for a in axes:
        count = count * data.shape[a]
    count = tirx.Cast("float64", count)
    return te.compute(total.shape, lambda *i: (total(*i) / count).astype(dtype or data.dtype), name="mean")


def reduce_extreme(data: te.Tensor, axes: Sequence[int], keepdim: bool, largest: bool) -> te.Tensor:
    """amax (largest) or amin over `axes`, shapes as reduce_sum, data's dtype; a NaN anywhere in a
    reduced slice gives NaN, as in PyTorch."""
    reduce_vars = {a: te.reduce_axis((0, data.shape[a]), name=f"k{a}") for a in axes}
    out_shape = [1 if a in reduce_vars else d for a, d in enumerate(data.shape) if keepdim or a not in reduce_vars]
    reducer = nan_max if largest else nan_min

    def reduce(*out):
        value = data[reduction_index(len(data.shape), reduce_vars, keepdim, out)]
        return reducer(value, axis=list(reduce_vars.values()))

    return te.compute(out_shape, reduce, name="amax" if largest else "amin")


def cumulative_sum(data: te.Tensor, axis: int, dtype: str) -> te.Tensor:
    """Running sum along `axis` (0 <= axis < rank) in `dtype`: out[..., i, ...] = sum of data[..., :i+1, ...].

    Floats accumulate in float64 in index order, as PyTorch's CPU cumsum accumulates in double;
    integers and bools in int64. Same shape as data. O(n^2) along the axis: meant for sequence
    positions (attention masks, position ids), not long signals.
    """
    accumulator = "float64" if "float" in dtype else "int64"
    k = te.reduce_axis((0, data.shape[axis]), name="k")

    def running(*i):
        source = data[(*i[:axis], k, *i[axis + 1 :])]
        value = source.astype(accumulator) if expr_dtype(source) != "bool" else tirx.Select(
            source, tirx.const(1, accumulator), tirx.const(0, accumulator))
        return te.sum(tirx.Select(k <= i[axis], value, tirx.const(0, accumulator)), axis=k)

    total = te.compute(data.shape, running, name="cumsum_acc")
    return te.compute(data.shape, lambda *i: total(*i).astype(dtype), name="cumsum")


def any_all(data: te.Tensor, axes: Sequence[int], keepdim: bool, every: bool) -> te.Tensor:
    """Whether any (or with `every`, all) element over `axes` is non-zero (NaN counts as non-zero);
    shapes as reduce_sum; a bool tensor."""
    reduce_vars = {a: te.reduce_axis((0, data.shape[a]), name=f"k{a}") for a in axes}
    out_shape = [1 if a in reduce_vars else d for a, d in enumerate(data.shape) if keepdim or a not in reduce_vars]

    def reduce(*out):
        value = data[reduction_index(len(data.shape), reduce_vars, keepdim, out)]
        dtype = expr_dtype(value)
        truth = value if dtype == "bool" else not_equal(value, tirx.const(0, dtype))
        flag = tirx.Select(truth, tirx.const(1, "int32"), tirx.const(0, "int32"))
        axes_list = list(reduce_vars.values())
        return te.min(flag, axis=axes_list) if every else te.max(flag, axis=axes_list)

    flags = te.compute(out_shape, reduce, name="all_flags" if every else "any_flags")
    return te.compute(out_shape, lambda *i: tirx.NE(flags(*i), tirx.const(0, "int32")), name="all" if every else "any")


def _arg_extreme_reducer(largest: bool, floating: bool) -> te.CommReducer:
    """A reducer of (index, value) pairs keeping PyTorch's pick: a NaN before any number, then the
    largest (smallest) value, the lowest index among equals. Symmetric, so any reduction order gives
    the same pair. Its identity (the highest index, -inf or +inf) loses every comparison."""

    def combine(lhs: tuple, rhs: tuple) -> tuple:
        (lhs_index, lhs_value), (rhs_index, rhs_value) = lhs, rhs
        first = lhs_index < rhs_index
        beats = lhs_value > rhs_value if largest else lhs_value < rhs_value
        keep = tirx.Or(beats, tirx.And(lhs_value == rhs_value, first))
        if floating:
            lhs_nan, rhs_nan = is_nan(lhs_value), is_nan(rhs_value)
            keep = tirx.Select(lhs_nan, tirx.Or(tirx.Not(rhs_nan), first), tirx.And(tirx.Not(rhs_nan), keep))
        return tirx.Select(keep, lhs_index, rhs_index), tirx.Select(keep, lhs_value, rhs_value)

    def identity(index_dtype: str, value_dtype: str) -> tuple:
        value = _negative_infinity(value_dtype) if largest else _positive_infinity(value_dtype)
        return tirx.max_value(index_dtype), value

    return te.comm_reducer(combine, identity, name="argmax" if largest else "argmin")


def arg_extreme(data: te.Tensor, axis: int, keepdim: bool, largest: bool) -> te.Tensor:
    """The int64 index along `axis` of the largest (largest=False: smallest) value, as PyTorch's
    `max(dim)` / `argmax` pick it: the first NaN if any, else the first of equal extremes.

    data: [d0, ..., dn] → the shape without `axis` (kept as size 1 with keepdim).
    """
    k = te.reduce_axis((0, data.shape[axis]), name="k")
    out_shape = [1 if a == axis else d for a, d in enumerate(data.shape) if keepdim or a != axis]
    reducer = _arg_extreme_reducer(largest, "float" in str(data.dtype))

    def reduce(*out):
        value = data[reduction_index(len(data.shape), {axis: k}, keepdim, out)]
        return reducer((tirx.Cast("int64", k), value), axis=k)

    index, _ = te.compute(out_shape, reduce, name="argmax_pair" if largest else "argmin_pair")
    return te.compute(out_shape, lambda *i: index(*i), name="argmax" if largest else "argmin")
