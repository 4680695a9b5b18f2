"""Fully connected layers and matrix products."""

from __future__ import annotations

from tvm import te

from .elementwise import broadcast_index, broadcast_shape


def linear(data: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y = x W^T + b.

    data: [*batch, in_features]; weight: [out_features, in_features]; bias: [out_features].
    Returns [*batch, out_features].
    """
    in_features = data.shape[-1]
    out_features = weight.shape[0]
    k = te.reduce_axis((0, in_features), name="k")
    matmul = te.compute(
        (*data.shape[:-1], out_features),
        lambda *i: te.sum(data[(*i[:-1], k)] * weight[i[-1], k], axis=k),
        name="matmul",
    )
    if bias is None:
        return matmul
    return te.compute(matmul.shape, lambda *i: matmul(*i) + bias[i[-1]], name="bias_add")


def matmul(lhs: te.Tensor, rhs: te.Tensor) -> te.Tensor:
    """The matrix product of `torch.matmul`, batch axes broadcast.

    lhs: [*a, n, k] or a vector [k]; rhs: [*b, k, m] or a vector [k]. Returns
    [*broadcast(a, b), n, m], without n when lhs is a vector and without m when rhs is one
    (a 0-d tensor for vector · vector).
    """
    lhs_vector, rhs_vector = len(lhs.shape) == 1, len(rhs.shape) == 1
    lhs_batch = () if lhs_vector else tuple(lhs.shape[:-2])
    rhs_batch = () if rhs_vector else tuple(rhs.shape[:-2])
    batch = broadcast_shape(lhs_batch, rhs_batch)
    rows = () if lhs_vector else (lhs.shape[-2],)
    columns = () if rhs_vector else (rhs.shape[-1],)
    k = te.reduce_axis((0, lhs.shape[-1]), name="k")

    def product(*i):
        b, rest = i[:len(batch)], list(i[len(batch):])
        left = lhs[k] if lhs_vector else lhs[(*broadcast_index(lhs_batch, b), rest.pop(0), k)]
        right = rhs[k] if rhs_vector else rhs[(*broadcast_index(rhs_batch, b), k, rest.pop(0))]
        return te.sum(left * right, axis=k)

    return te.compute((*batch, *rows, *columns), product, name="matmul")


def bilinear(lhs: te.Tensor, rhs: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y_o = x1^T A_o x2 + b_o, as `torch.nn.functional.bilinear`.

    lhs: [*batch, in1]; rhs: [*batch, in2]; weight: [out, in1, in2]; bias: [out] or None.
    Returns [*batch, out].
    """
    i = te.reduce_axis((0, weight.shape[1]), name="i")
    j = te.reduce_axis((0, weight.shape[2]), name="j")
    product = te.compute(
        (*lhs.shape[:-1], weight.shape[0]),
        lambda *n: te.sum(lhs[(*n[:-1], i)] * weight[n[-1], i, j] * rhs[(*n[:-1], j)], axis=[i, j]),
        name="bilinear",
    )
    if bias is None:
        return product
    return te.compute(product.shape, lambda *n: product(*n) + bias[n[-1]], name="bias_add")
