"""Softmax and log-softmax along one axis."""

import numpy as np
from tvm import te, tirx

from .elementwise import is_nan
from .marks import mark
from .math import normal_exp_value

_FLUSHED = ("float32", "float64")
"""The dtypes whose softmax weights below the smallest normal number are 0 (normal_exp_value's)."""


def _with_axis(indices: tuple, value: object, axis: int) -> tuple:
    return (*indices[:axis], value, *indices[axis:])


def _drop_axis(indices: tuple, axis: int) -> tuple:
    return (*indices[:axis], *indices[axis + 1 :])


def _row_max(data: te.Tensor, axis: int, reduced_shape: list, name: str) -> te.Tensor:
    """The max along `axis`, a NaN counted as +inf: a slice with a NaN then gives NaN through
    x - max (inf - inf, NaN - inf) and the sum of exponentials, as in PyTorch. TVM's plain max
    reducer (identity the lowest finite value, not -inf), so the row schedule can split it into
    vector lanes; a slice of only -inf keeps its NaN result (its exponentials sum to 0)."""
    k = te.reduce_axis((0, data.shape[axis]), name="k")
    infinity = tirx.const(float("inf"), data.dtype)

    def row_max(*i):
        value = data[_with_axis(i, k, axis)]
        return te.max(tirx.Select(is_nan(value), infinity, value), axis=k)

    return te.compute(reduced_shape, row_max, name=name)


def log_softmax(data: te.Tensor, axis: int) -> te.Tensor:
    """x - max - log(sum(exp(x - max))) along `axis` (0 <= axis < rank), as PyTorch computes it.

    Like softmax, a NaN (or an inf - inf) in a slice gives a NaN slice; -inf elements give -inf.
    The sum's exponentials that would be denormal are 0 (normal_exp_value), which leaves the sum
    (at least 1) bit for bit as it was and makes no denormal.
    """
    shape = data.shape
    reduced_shape = [d for a, d in enumerate(shape) if a != axis]
    max_elem = _row_max(data, axis, reduced_shape, "T_log_softmax_maxelem")
    k_sum = te.reduce_axis((0, shape[axis]), name="k_sum")
    exp_sum = te.compute(
        reduced_shape,
        lambda *i: te.sum(normal_exp_value(data[_with_axis(i, k_sum, axis)] - max_elem(*i)), axis=k_sum),
        name="T_log_softmax_expsum",
    )
    return te.compute(
        shape,
        lambda *i: data(*i) - max_elem[_drop_axis(i, axis)] - te.log(exp_sum[_drop_axis(i, axis)]),
        name="T_log_softmax_norm",
    )


def softmax(data: te.Tensor, axis: int, zero_masked_slices: bool = False) -> te.Tensor:
    """exp(x - max) * (1 / sum(exp(x - max))) along `axis` (0 <= axis < rank), for a tensor of any
    shape: a multiply by the reciprocal of the sum, as PyTorch's CPU kernel does (not a division
    per element, which costs a vector divide each).

    Weights that would be denormal (below the smallest normal number, 1.2e-38 in float32) are 0,
    as oneDNN's softmax gives them: each denormal costs a microcode assist where it is made and in
    every product that reads it (Swin-T's windows, whose scores span hundreds: attention weights
    times values 9x slower). The sum does not change (it is at least 1, so the dropped exponentials
    vanish in it); a weight changes by less than 1.2e-38.

    Subtracting the max keeps large logits finite; a NaN (or an inf - inf) anywhere in a slice
    gives a NaN slice, as PyTorch does (`_row_max`). A slice of only -inf is NaN,
    or with `zero_masked_slices` all 0, as PyTorch's `_safe_softmax` in scaled_dot_product_attention.
    The last stage is marked "softmax" (compile's row schedule).
    """
    shape = data.shape
    reduced_shape = [d for a, d in enumerate(shape) if a != axis]
    max_elem = _row_max(data, axis, reduced_shape, "T_softmax_maxelem")
    exp = te.compute(
        shape, lambda *i: normal_exp_value(data(*i) - max_elem[_drop_axis(i, axis)]), name="T_softmax_exp"
    )
    k_sum = te.reduce_axis((0, shape[axis]), name="k_sum")
    exp_sum = te.compute(
        reduced_shape, lambda *i: te.sum(exp[_with_axis(i, k_sum, axis)], axis=k_sum), name="T_softmax_expsum"
    )
    smallest_normal = tirx.const(float(np.finfo(str(data.dtype)).tiny), data.dtype) if data.dtype in _FLUSHED else None

    def norm(*i):
        total = exp_sum[_drop_axis(i, axis)]
        numerator = exp(*i)
        if smallest_normal is not None:  # zeroed before the product, which would make the denormal
            numerator = tirx.Select(numerator < total * smallest_normal, tirx.const(0, data.dtype), numerator)
        value = numerator * (tirx.const(1, data.dtype) / total)
        if not zero_masked_slices:
            return value
        masked = total == tirx.const(0, data.dtype)  # only -inf: every exponential 0
        return tirx.Select(masked, tirx.const(0, data.dtype), value)

    return te.compute(shape, norm, name="T_softmax_norm", attrs=mark("softmax"))
