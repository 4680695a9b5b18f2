"""The two pieces of torchvision's shifted-window attention (Swin) that are not ops of their own;
the rest of it runs on the shape, padding, roll, linear, matmul, normalize and softmax kernels."""

from __future__ import annotations

import math

from tvm import te, tirx


def zero_key_bias(bias: te.Tensor) -> te.Tensor:
    """Swin v2's qkv bias with its key third set to 0 (the k projection has no bias).

    bias: [3 * C] → [3 * C].
    """
    third = bias.shape[0] // 3
    zero = tirx.const(0, bias.dtype)
    return te.compute(bias.shape, lambda i: tirx.Select(tirx.all(i >= third, i < 2 * third), zero, bias[i]), name="zero_key_bias")


def cosine_logit_scale(logit_scale: te.Tensor) -> te.Tensor:
    """exp(min(logit_scale, log(100))), Swin v2's per-head temperature; NaN stays NaN as in clamp.

    logit_scale: any shape ([num_heads, 1, 1]) → the same shape.
    """
    ceiling = tirx.const(math.log(100.0), logit_scale.dtype)

    def value(*i):
        x = logit_scale(*i)
        return te.exp(tirx.Select(x > ceiling, ceiling, x))

    return te.compute(logit_scale.shape, value, name="cosine_logit_scale")
