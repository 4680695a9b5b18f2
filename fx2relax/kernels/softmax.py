"""Softmax and log-softmax along one axis."""

from tvm import te, tirx

from .marks import mark
from .reduction import nan_max


def _with_axis(indices: tuple, value: object, axis: int) -> tuple:
    return (*indices[:axis], value, *indices[axis:])


def _drop_axis(indices: tuple, axis: int) -> tuple:
    return (*indices[:axis], *indices[axis + 1 :])


def log_softmax(data: te.Tensor, axis: int) -> te.Tensor:
    """x - max - log(sum(exp(x - max))) along `axis` (0 <= axis < rank), as PyTorch computes it.

    Like softmax, a NaN (or an inf - inf) in a slice gives a NaN slice; -inf elements give -inf.
    """
    shape = data.shape
    reduced_shape = [d for a, d in enumerate(shape) if a != axis]
    k = te.reduce_axis((0, shape[axis]), name="k")
    max_elem = te.compute(
        reduced_shape, lambda *i: nan_max(data[_with_axis(i, k, axis)], axis=k), name="T_log_softmax_maxelem"
    )
    k_sum = te.reduce_axis((0, shape[axis]), name="k_sum")
    exp_sum = te.compute(
        reduced_shape,
        lambda *i: te.sum(te.exp(data[_with_axis(i, k_sum, axis)] - max_elem(*i)), axis=k_sum),
        name="T_log_softmax_expsum",
    )
    return te.compute(
        shape,
        lambda *i: data(*i) - max_elem[_drop_axis(i, axis)] - te.log(exp_sum[_drop_axis(i, axis)]),
        name="T_log_softmax_norm",
    )


def softmax(data: te.Tensor, axis: int, zero_masked_slices: bool = False) -> te.Tensor:
    """exp(x - max) / sum(exp(x - max)) along `axis` (0 <= axis < rank), for a tensor of any shape.

    Subtracting the max keeps large logits finite; the NaN-propagating max makes a NaN (or an
    inf - inf) anywhere in a slice give a NaN slice, as PyTorch does. A slice of only -inf is NaN,
    or with `zero_masked_slices` all 0, as PyTorch's `_safe_softmax` in scaled_dot_product_attention.
    The last stage is marked "softmax" (compile's row schedule).
    """
    shape = data.shape
    reduced_shape = [d for a, d in enumerate(shape) if a != axis]
    k = te.reduce_axis((0, shape[axis]), name="k")
    max_elem = te.compute(
        reduced_shape, lambda *i: nan_max(data[_with_axis(i, k, axis)], axis=k), name="T_softmax_maxelem"
    )
    exp = te.compute(shape, lambda *i: te.exp(data(*i) - max_elem[_drop_axis(i, axis)]), name="T_softmax_exp")
    k_sum = te.reduce_axis((0, shape[axis]), name="k_sum")
    exp_sum = te.compute(
        reduced_shape, lambda *i: te.sum(exp[_with_axis(i, k_sum, axis)], axis=k_sum), name="T_softmax_expsum"
    )
    def norm(*i):
        value = exp(*i) / exp_sum[_drop_axis(i, axis)]
        if not zero_masked_slices:
            return value
        masked = max_elem[_drop_axis(i, axis)] == tirx.const(float("-inf"), data.dtype)
        return tirx.Select(masked, tirx.const(0, data.dtype), value)

    return te.compute(shape, norm, name="T_softmax_norm", attrs=mark("softmax"))
