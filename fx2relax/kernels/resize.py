"""Resampling of trailing spatial axes (`F.interpolate`): each output position reads a few input
positions per axis, weighted, by index and weight tables that the converter computes with
PyTorch's own float32 formulas (so every floor lands where PyTorch's does).

The weighted sum nests as PyTorch's separable CPU kernel: for the first spatial axis the sum over
its taps of (weight * the same sum over the next axis), each sum taken tap by tap.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx


def nearest(data: te.Tensor, indices: Sequence[te.Tensor]) -> te.Tensor:
    """Nearest-neighbour gather: out[*batch, i1, ..., ik] = data[*batch, indices[0][i1], ..., indices[k-1][ik]].

    data: [*batch, S1, ..., Sk]; indices: k int64 tensors [O_j] with values in [0, S_j).
    Returns [*batch, O1, ..., Ok].
    """
    spatial = len(indices)
    batch = data.shape[: len(data.shape) - spatial]
    out_shape = (*batch, *(table.shape[0] for table in indices))

    def source(*i):
        positions = i[len(batch):]
        return data[(*i[: len(batch)], *(table[p] for table, p in zip(indices, positions)))]

    return te.compute(out_shape, source, name="resize_nearest")


def interpolate(data: te.Tensor, indices: Sequence[te.Tensor], weights: Sequence[te.Tensor]) -> te.Tensor:
    """Separable weighted resampling (linear, bilinear, trilinear, bicubic).

    data: [*batch, S1, ..., Sk]; indices[j]: int64 [O_j, taps] with values in [0, S_j);
    weights[j]: [O_j, taps] in data's dtype. Returns [*batch, O1, ..., Ok] where each output is
    sum_t1 weights[0][i1, t1] * (... sum_tk weights[k-1][ik, tk] * data[*batch, indices[0][i1, t1], ...]).
    """
    spatial = len(indices)
    batch = data.shape[: len(data.shape) - spatial]
    out_shape = (*batch, *(table.shape[0] for table in indices))

    def source(*i):
        head, positions = i[: len(batch)], i[len(batch):]

        def combine(axis: int, chosen: tuple):
            if axis == spatial:
                return data[(*head, *chosen)]
            total = None
            for tap in range(int(indices[axis].shape[1])):
                term = combine(axis + 1, (*chosen, indices[axis][positions[axis], tap])) * weights[axis][positions[axis], tap]
                total = term if total is None else total + term
            return total

        return combine(0, ())

    return te.compute(out_shape, source, name="resize_interpolate")


def resample_axis(data: te.Tensor, axis: int, indices: te.Tensor, weights: te.Tensor, counts: te.Tensor) -> te.Tensor:
    """One pass of antialiased resampling along `axis`: a weighted sum over a window of taps.

    data: [..., S, ...] with S at `axis`; indices, weights: [O, taps] (window positions in [0, S),
    weights in data's dtype); counts: int64 [O], the taps of each window (the rest are padding).
    Returns data with S replaced by O, each output the sum over its first counts[o] taps, tap by
    tap from the first, of data * weight (PyTorch's order; padding never read, so a NaN or inf
    outside the window stays out).
    """
    out_shape = (*data.shape[:axis], indices.shape[0], *data.shape[axis + 1:])

    def source(*i):
        position = i[axis]

        def tap(t: int):
            return data[(*i[:axis], indices[position, t], *i[axis + 1:])] * weights[position, t]

        total = tap(0)
        for t in range(1, int(indices.shape[1])):
            total = total + tirx.Select(t < counts[position], tap(t), tirx.const(-0.0, data.dtype))
        return total

    return te.compute(out_shape, source, name="resample_axis")
