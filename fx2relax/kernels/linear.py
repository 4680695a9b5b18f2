"""Fully connected layers and matrix products."""

from __future__ import annotations

from tvm import te, tirx

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
        name="linear",
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


def addmm(data: te.Tensor, lhs: te.Tensor, rhs: te.Tensor, beta: float, alpha: float) -> te.Tensor:
    """beta * data + alpha * (lhs @ rhs), as `torch.addmm`.

    data: broadcastable to [n, m]; lhs: [n, k]; rhs: [k, m]. Returns [n, m]. As in PyTorch, beta = 0
    ignores `data` and alpha = 0 the product, NaN and ±inf included.
    """
    n, m = lhs.shape[0], rhs.shape[1]
    k = te.reduce_axis((0, lhs.shape[1]), name="k")
    total = te.compute((n, m), lambda i, j: te.sum(lhs[i, k] * rhs[k, j], axis=k), name="matmul")
    dtype = lhs.dtype

    def combine(i, j):
        terms = []
        if alpha != 0:
            terms.append(total[i, j] if alpha == 1 else tirx.const(alpha, dtype) * total[i, j])
        if beta != 0:
            added = data[broadcast_index(data.shape, (i, j))]
            terms.append(added if beta == 1 else tirx.const(beta, dtype) * added)
        return sum(terms[1:], terms[0]) if terms else tirx.const(0, dtype)

    return te.compute((n, m), combine, name="addmm")


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


PACK_WIDTH = 16
"""Output features per packed panel: one AVX-512 vector of float32 (two AVX2 ones)."""


def linear_packed(data: te.Tensor, packed_weight: te.Tensor, bias: te.Tensor | None, out_features: int) -> te.Tensor:
    """y = x W^T + b with W pre-packed in panels of PACK_WIDTH output features, so the inner loop
    reads PACK_WIDTH contiguous weights (one vector) per input feature.

    data: [*batch, K]; packed_weight: [ceil(N / PACK_WIDTH), K, PACK_WIDTH] with
    packed_weight[p, k, j] = W[p * PACK_WIDTH + j, k] (zero past N); bias: [N] or None.
    The stage "matmul_packed" computes all panels for the batch axes flattened into rows
    ([rows, panels * PACK_WIDTH]: one row axis, which a schedule tiles); the last stage keeps the
    first N outputs. Returns [*batch, N]. Sums run over k in order, as `linear`.
    """
    panels, in_features, width = packed_weight.shape
    batch = list(data.shape[:-1])
    rows = 1
    for size in batch:
        rows = rows * size

    def batch_index(row):
        index = []
        for size in reversed(batch):
            index.append(tirx.floormod(row, size))
            row = tirx.floordiv(row, size)
        return tuple(reversed(index))

    def row_of(index):
        row = 0
        for position, size in zip(index, batch):
            row = row * size + position
        return row

    k = te.reduce_axis((0, in_features), name="k")
    matmul = te.compute(
        (rows, panels * width),
        lambda row, n: te.sum(data[(*batch_index(row), k)] * packed_weight[n // width, k, n % width], axis=k),
        name="matmul_packed",
    )
    shape = (*batch, out_features)
    if bias is None:
        return te.compute(shape, lambda *i: matmul[row_of(i[:-1]), i[-1]], name="unpack")
    return te.compute(shape, lambda *i: matmul[row_of(i[:-1]), i[-1]] + bias[i[-1]], name="bias_add")
