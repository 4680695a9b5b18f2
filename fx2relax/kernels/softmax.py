"""Softmax along one axis."""

from tvm import te

from .reduction import nan_max


def softmax(data: te.Tensor, axis: int) -> te.Tensor:
    """exp(x - max) / sum(exp(x - max)) along `axis` (0 <= axis < rank), for a tensor of any shape.

    Subtracting the max keeps large logits finite; the NaN-propagating max makes a NaN (or an
    inf - inf) anywhere in a slice give a NaN slice, as PyTorch does.
    """
    shape = data.shape
    reduced_shape = [d for a, d in enumerate(shape) if a != axis]

    def with_axis(indices, value):
        return (*indices[:axis], value, *indices[axis:])

    k = te.reduce_axis((0, shape[axis]), name="k")
    max_elem = te.compute(
        reduced_shape, lambda *i: nan_max(data[with_axis(i, k)], axis=k), name="T_softmax_maxelem"
    )

    def drop_axis(indices):
        return (*indices[:axis], *indices[axis + 1 :])

    exp = te.compute(shape, lambda *i: te.exp(data(*i) - max_elem[drop_axis(i)]), name="T_softmax_exp")
    k_sum = te.reduce_axis((0, shape[axis]), name="k_sum")
    exp_sum = te.compute(reduced_shape, lambda *i: te.sum(exp[with_axis(i, k_sum)], axis=k_sum), name="T_softmax_expsum")
    return te.compute(shape, lambda *i: exp(*i) / exp_sum[drop_axis(i)], name="T_softmax_norm")
