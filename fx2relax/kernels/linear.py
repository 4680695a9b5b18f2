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
