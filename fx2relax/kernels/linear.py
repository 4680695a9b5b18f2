"""Fully connected layers."""

from __future__ import annotations

from tvm import te


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


PACK_WIDTH = 16
"""Output features per packed panel: one AVX-512 vector of float32 (two AVX2 ones)."""


def linear_packed(data: te.Tensor, packed_weight: te.Tensor, bias: te.Tensor | None, out_features: int) -> te.Tensor:
    """y = x W^T + b with W pre-packed in panels of PACK_WIDTH output features, so the inner loop
    reads PACK_WIDTH contiguous weights (one vector) per input feature.

    data: [*batch, K]; packed_weight: [ceil(N / PACK_WIDTH), K, PACK_WIDTH] with
    packed_weight[p, k, j] = W[p * PACK_WIDTH + j, k] (zero past N); bias: [N] or None.
    The stage "matmul_packed" computes all panels ([*batch, panels * PACK_WIDTH]); the last stage
    keeps the first N outputs. Returns [*batch, N]. Sums run over k in order, as `linear`.
    """
    panels, in_features, width = packed_weight.shape
    k = te.reduce_axis((0, in_features), name="k")
    matmul = te.compute(
        (*data.shape[:-1], panels * width),
        lambda *i: te.sum(data[(*i[:-1], k)] * packed_weight[i[-1] // width, k, i[-1] % width], axis=k),
        name="matmul_packed",
    )
    shape = (*data.shape[:-1], out_features)
    if bias is None:
        return te.compute(shape, lambda *i: matmul(*i), name="unpack")
    return te.compute(shape, lambda *i: matmul(*i) + bias[i[-1]], name="bias_add")
