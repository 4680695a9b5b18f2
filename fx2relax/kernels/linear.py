"""Fully connected layers and matrix products.

Products are summed in float64 and rounded once: PyTorch's blocked float32 sums stay within ~1e-6
of the exact value, while a float32 running sum over 4096 terms drifts ~7e-6 from it, too close to
the 1e-5 bound (see reduction.py for the same choice).
"""

from __future__ import annotations

from tvm import te, tirx

ACCUMULATOR = "float64"

from .elementwise import broadcast_index, broadcast_shape


def wide_product(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    """lhs * rhs in the accumulator's precision (exact for float32 operands)."""
    return lhs.astype(ACCUMULATOR) * rhs.astype(ACCUMULATOR)


def round_with_bias(total: te.Tensor, dtype: str, bias: te.Tensor | None, axis: int, name: str) -> te.Tensor:
    """The float64 sums `total` ([..]) plus bias ([size of `axis`], or None) rounded once to `dtype`."""
    if bias is None:
        return te.compute(total.shape, lambda *i: total(*i).astype(dtype), name=name)
    return te.compute(
        total.shape, lambda *i: (total(*i) + bias[i[axis]].astype(ACCUMULATOR)).astype(dtype), name=name
    )


def linear(data: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y = x W^T + b.

    data: [*batch, in_features]; weight: [out_features, in_features]; bias: [out_features].
    Returns [*batch, out_features].
    """
    in_features = data.shape[-1]
    out_features = weight.shape[0]
    k = te.reduce_axis((0, in_features), name="k")
    total = te.compute(
        (*data.shape[:-1], out_features),
        lambda *i: te.sum(wide_product(data[(*i[:-1], k)], weight[i[-1], k]), axis=k),
        name="matmul_f64",
    )
    return round_with_bias(total, data.dtype, bias, -1, "linear")


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
        return te.sum(wide_product(left, right), axis=k)

    total = te.compute((*batch, *rows, *columns), product, name="matmul_f64")
    return round_with_bias(total, lhs.dtype, None, -1, "matmul")


def addmm(data: te.Tensor, lhs: te.Tensor, rhs: te.Tensor, beta: float, alpha: float) -> te.Tensor:
    """beta * data + alpha * (lhs @ rhs), as `torch.addmm`.

    data: broadcastable to [n, m]; lhs: [n, k]; rhs: [k, m]. Returns [n, m]. As in PyTorch, beta = 0
    ignores `data` and alpha = 0 the product, NaN and ±inf included.
    """
    n, m = lhs.shape[0], rhs.shape[1]
    k = te.reduce_axis((0, lhs.shape[1]), name="k")
    total = te.compute((n, m), lambda i, j: te.sum(wide_product(lhs[i, k], rhs[k, j]), axis=k), name="matmul_f64")

    def combine(i, j):
        terms = []
        if alpha != 0:
            terms.append(total[i, j] if alpha == 1 else tirx.const(alpha, ACCUMULATOR) * total[i, j])
        if beta != 0:
            added = data[broadcast_index(data.shape, (i, j))].astype(ACCUMULATOR)
            terms.append(added if beta == 1 else tirx.const(beta, ACCUMULATOR) * added)
        return sum(terms[1:], terms[0]).astype(lhs.dtype) if terms else tirx.const(0, lhs.dtype)

    return te.compute((n, m), combine, name="addmm")


def bilinear(lhs: te.Tensor, rhs: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y_o = x1^T A_o x2 + b_o, as `torch.nn.functional.bilinear`.

    lhs: [*batch, in1]; rhs: [*batch, in2]; weight: [out, in1, in2]; bias: [out] or None.
    Returns [*batch, out].
    """
    i = te.reduce_axis((0, weight.shape[1]), name="i")
    j = te.reduce_axis((0, weight.shape[2]), name="j")
    total = te.compute(
        (*lhs.shape[:-1], weight.shape[0]),
        lambda *n: te.sum(
            wide_product(lhs[(*n[:-1], i)], weight[n[-1], i, j]) * rhs[(*n[:-1], j)].astype(ACCUMULATOR), axis=[i, j]
        ),
        name="bilinear_f64",
    )
    return round_with_bias(total, lhs.dtype, bias, -1, "bilinear")
