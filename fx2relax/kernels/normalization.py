"""Normalization: batch norm (running or batch statistics), layer norm, RMS norm, group norm, and division
by a p-norm (`F.normalize`).

Each kernel follows the operation order of PyTorch's CPU kernel, fused multiply-adds included;
statistics are accumulated in float64 (as PyTorch does for batch statistics; its layer and group
norm moments differ from these by an ulp or so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tvm import te, tirx

from .elementwise import is_nan
from .marks import mark
from .reduction import accumulated_sum, nan_max, reduction_index


def _element_count(data: te.Tensor, axes: Sequence[int]) -> tirx.PrimExpr:
    """The number of elements reduced over `axes`, as a float64 expression (symbolic sizes too)."""
    count = 1
    for a in axes:
        count = count * data.shape[a]
    return tirx.Cast("float64", count)


def _fused_multiply_add(a: tirx.PrimExpr, b: tirx.PrimExpr, c: tirx.PrimExpr, dtype: str) -> tirx.PrimExpr:
    """a * b + c rounded once to `dtype`, as the fused multiply-adds of PyTorch's CPU kernels
    (float32 products are exact in float64; rounding the float64 sum to float32 differs from a
    single rounding only in rare near-ties)."""
    return (a.astype("float64") * b.astype("float64") + c.astype("float64")).astype(dtype)


def _channel_affine(
    data: te.Tensor, mean: te.Tensor, invstd: te.Tensor, weight: te.Tensor | None, bias: te.Tensor | None,
    attrs: dict[str, object] | None = None,
) -> te.Tensor:
    """y = x * alpha + beta with alpha = weight * invstd, beta = bias - mean * alpha per channel (axis 1).

    PyTorch's CPU kernel computes exactly this, its compiler fusing both multiply-adds
    (mean, invstd, weight, bias: [C]). `attrs` go on the last stage.
    """
    dtype = data.dtype
    if weight is None:
        alpha = invstd
    else:
        alpha = te.compute(invstd.shape, lambda c: weight[c] * invstd[c], name="bn_alpha")

    zero = tirx.const(0, dtype)
    beta = te.compute(
        invstd.shape,
        lambda c: _fused_multiply_add(-mean[c], alpha[c], bias[c] if bias is not None else zero, dtype),
        name="bn_beta",
    )
    return te.compute(
        data.shape, lambda *i: _fused_multiply_add(data(*i), alpha[i[1]], beta[i[1]], dtype), name="batch_norm",
        attrs=attrs,
    )


def batch_norm(
    data: te.Tensor, running_mean: te.Tensor, running_var: te.Tensor, weight: te.Tensor | None,
    bias: te.Tensor | None, eps: float,
) -> te.Tensor:
    """Batch norm with running statistics (eval mode): (x - mean) / sqrt(var + eps) * weight + bias.

    data: [N, C, *spatial]; running_mean, running_var, weight, bias: [C] (weight, bias may be None).
    invstd = 1 / sqrt(var + eps) in the data's dtype, as PyTorch. Returns data's shape. The last
    stage is marked "batch_norm" with eps and which of weight and bias are given (compile folds it
    into a preceding convolution's weights).
    """
    eps_value = tirx.const(eps, data.dtype)
    invstd = te.compute(
        running_var.shape,
        lambda c: tirx.const(1, data.dtype) / te.sqrt(running_var[c] + eps_value),
        name="bn_invstd",
    )
    attrs = mark("batch_norm", eps=repr(float(eps)), weight=int(weight is not None), bias=int(bias is not None))
    return _channel_affine(data, running_mean, invstd, weight, bias, attrs)


def batch_norm_batch_stats(data: te.Tensor, weight: te.Tensor | None, bias: te.Tensor | None, eps: float) -> te.Tensor:
    """Batch norm with the batch's own statistics (no running stats): mean and biased variance over
    every axis but the channel axis 1, as PyTorch's CPU kernel: the mean summed in float64 and
    rounded, squared deviations from it in the data's dtype summed in float64, invstd in float64.

    data: [N, C, *spatial]; weight, bias: [C] or None. Returns data's shape.
    """
    axes = [a for a in range(len(data.shape)) if a != 1]
    count = _element_count(data, axes)
    total = accumulated_sum(data, axes, keepdim=False, name="bn_sum")
    mean = te.compute(total.shape, lambda c: (total[c] / count).astype(data.dtype), name="bn_mean")
    squared = te.compute(
        data.shape, lambda *i: (data(*i) - mean[i[1]]) * (data(*i) - mean[i[1]]), name="bn_squared_deviation"
    )
    variance_sum = accumulated_sum(squared, axes, keepdim=False, name="bn_variance_sum")
    invstd = te.compute(
        total.shape,
        lambda c: (tirx.const(1, "float64") / te.sqrt(variance_sum[c] / count + tirx.const(eps, "float64"))).astype(data.dtype),
        name="bn_invstd",
    )
    return _channel_affine(data, mean, invstd, weight, bias)


def _statistics(data: te.Tensor, axes: Sequence[int], eps: float, name: str) -> tuple[te.Tensor, te.Tensor]:
    """Mean and rstd = 1 / sqrt(biased variance + eps) over `axes`, kept as size-1 axes.

    Two passes in float64 (mean, then squared deviations from it), rounded to data's dtype; rstd
    in data's dtype, as PyTorch's layer and group norm kernels compute it from their moments.
    """
    count = _element_count(data, axes)
    total = accumulated_sum(data, axes, keepdim=True, name=f"{name}_sum")

    def reduced(i):
        return tuple(0 if a in axes else index for a, index in enumerate(i))

    def squared_deviation(*i):
        deviation = data(*i).astype("float64") - total[reduced(i)] / count
        return deviation * deviation

    squared = te.compute(data.shape, squared_deviation, name=f"{name}_squared_deviation")
    variance_sum = accumulated_sum(squared, axes, keepdim=True, name=f"{name}_variance_sum")
    mean = te.compute(total.shape, lambda *i: (total(*i) / count).astype(data.dtype), name=f"{name}_mean")
    rstd = te.compute(
        total.shape,
        lambda *i: tirx.const(1, data.dtype)
        / te.sqrt((variance_sum(*i) / count).astype(data.dtype) + tirx.const(eps, data.dtype)),
        name=f"{name}_rstd",
    )
    return mean, rstd


def layer_norm(
    data: te.Tensor, weight: te.Tensor | None, bias: te.Tensor | None, normalized_ndim: int, eps: float
) -> te.Tensor:
    """Layer norm over the last `normalized_ndim` axes, then elementwise weight and bias.

    As PyTorch's CPU kernel: y = (x - mean) * rstd * weight + bias, the last multiply-add fused.
    data: [*leading, *normalized_shape]; weight, bias: normalized_shape or None. Returns data's shape.
    The last stage is marked "layer_norm" (compile's row schedule).
    """
    rank = len(data.shape)
    axes = range(rank - normalized_ndim, rank)
    mean, rstd = _statistics(data, axes, eps, "layer_norm")

    def value(*i):
        row = tuple(0 if a in axes else index for a, index in enumerate(i))
        trailing = i[rank - normalized_ndim :]
        scale = weight[trailing] if weight is not None else tirx.const(1, data.dtype)
        offset = bias[trailing] if bias is not None else tirx.const(0, data.dtype)
        return _fused_multiply_add((data(*i) - mean[row]) * rstd[row], scale, offset, data.dtype)

    return te.compute(data.shape, value, name="layer_norm", attrs=mark("layer_norm"))


def rms_norm(data: te.Tensor, weight: te.Tensor | None, normalized_ndim: int, eps: float) -> te.Tensor:
    """RMS norm over the last `normalized_ndim` axes, as PyTorch computes it:
    y = x * rsqrt(mean(x ** 2) + eps) * weight, x ** 2 in data's dtype, its mean accumulated in float64.

    data: [*leading, *normalized_shape]; weight: normalized_shape or None. Returns data's shape.
    """
    rank = len(data.shape)
    axes = list(range(rank - normalized_ndim, rank))
    squared = te.compute(data.shape, lambda *i: data(*i) * data(*i), name="rms_norm_squared")
    total = accumulated_sum(squared, axes, keepdim=True, name="rms_norm_sum")
    count = _element_count(data, axes)
    rstd = te.compute(
        total.shape,
        lambda *i: tirx.const(1, data.dtype)
        / te.sqrt((total(*i) / count).astype(data.dtype) + tirx.const(eps, data.dtype)),
        name="rms_norm_rstd",
    )

    def value(*i):
        normalized = data(*i) * rstd[tuple(0 if a in axes else index for a, index in enumerate(i))]
        return normalized * weight[i[rank - normalized_ndim :]] if weight is not None else normalized

    return te.compute(data.shape, value, name="rms_norm")


def group_norm(data: te.Tensor, weight: te.Tensor | None, bias: te.Tensor | None, num_groups: int, eps: float) -> te.Tensor:
    """Group norm: channels (axis 1) split into `num_groups` groups, each normalized over its
    channels and every spatial axis, then a per-channel weight and bias.

    As PyTorch's CPU kernel: (x - mean) * rstd without weight and bias; with either,
    scale = rstd * weight[c] and y = x * scale + (bias[c] - scale * mean), multiply-adds fused.
    data: [N, C, *spatial] with C divisible by num_groups; weight, bias: [C] or None.
    Returns data's shape.
    """
    batch, channels, *spatial = data.shape
    group_size = int(channels) // num_groups
    grouped = te.compute(
        (batch, num_groups, group_size, *spatial),
        lambda n, g, c, *s: data[(n, g * group_size + c, *s)],
        name="group_norm_grouped",
    )
    mean, rstd = _statistics(grouped, range(2, len(grouped.shape)), eps, "group_norm")

    def group(n, c):
        return (n, c // group_size, *(0 for _ in grouped.shape[2:]))

    if weight is None and bias is None:
        return te.compute(
            data.shape,
            lambda n, c, *s: (data[(n, c, *s)] - mean[group(n, c)]) * rstd[group(n, c)],
            name="group_norm",
        )
    scale = te.compute(
        (batch, channels),
        lambda n, c: rstd[group(n, c)] * weight[c] if weight is not None else rstd[group(n, c)],
        name="group_norm_scale",
    )
    offset = te.compute(
        (batch, channels),
        lambda n, c: _fused_multiply_add(
            -scale[n, c], mean[group(n, c)], bias[c] if bias is not None else tirx.const(0, data.dtype), data.dtype
        ),
        name="group_norm_offset",
    )
    return te.compute(
        data.shape,
        lambda n, c, *s: _fused_multiply_add(data[(n, c, *s)], scale[n, c], offset[n, c], data.dtype),
        name="group_norm",
    )


def vector_norm(data: te.Tensor, ord: float, axes: Sequence[int], keepdim: bool) -> te.Tensor:
    """The `ord`-norm over `axes` as `Tensor.norm(p, dim)`: (sum |x|^p)^(1/p) accumulated in float64;
    p = 0 counts nonzeros (NaN included), p = ±inf is max/min |x|; NaN anywhere gives NaN.

    data: [d0, ..., dn] → the shape without `axes` (kept as size 1 with keepdim).
    """
    if math.isinf(ord):
        sign = 1 if ord > 0 else -1  # min |x| = -max(-|x|); the NaN-propagating max keeps NaN
        reduce_vars = {a: te.reduce_axis((0, data.shape[a]), name=f"k{a}") for a in axes}
        out_shape = [1 if a in reduce_vars else d for a, d in enumerate(data.shape) if keepdim or a not in reduce_vars]

        def extreme(*out):
            magnitude = te.abs(data[reduction_index(len(data.shape), reduce_vars, keepdim, out)])
            return nan_max(magnitude if sign > 0 else -magnitude, axis=list(reduce_vars.values()))

        found = te.compute(out_shape, extreme, name="norm_extreme")
        return te.compute(out_shape, lambda *i: found(*i) if sign > 0 else -found(*i), name="vector_norm")

    def power(*i):
        value = data(*i).astype("float64")
        if ord == 0:
            nonzero = tirx.Or(value != tirx.const(0, "float64"), is_nan(value))  # NaN != 0 is false in TIR
            return tirx.Select(nonzero, tirx.const(1, "float64"), tirx.const(0, "float64"))
        if ord == 1:
            return te.abs(value)
        if ord == 2:
            return value * value
        return te.power(te.abs(value), tirx.const(ord, "float64"))

    powers = te.compute(data.shape, power, name="norm_power")
    total = accumulated_sum(powers, axes, keepdim, "norm_sum")

    def root(*i):
        if ord in (0, 1):
            return total(*i).astype(data.dtype)
        if ord == 2:
            return te.sqrt(total(*i)).astype(data.dtype)
        return te.power(total(*i), tirx.const(1 / ord, "float64")).astype(data.dtype)

    return te.compute(total.shape, root, name="vector_norm")


def normalize(data: te.Tensor, ord: float, axes: Sequence[int], eps: float) -> te.Tensor:
    """`F.normalize`: data / max(norm, eps), the `ord`-norm over `axes` (see vector_norm); a NaN norm
    stays NaN (clamp_min propagates it). data: [d0, ..., dn] → the same shape."""
    norm = vector_norm(data, ord, axes, keepdim=True)
    floor = tirx.const(eps, data.dtype)

    def value(*i):
        row = tuple(0 if a in axes else index for a, index in enumerate(i))
        denominator = tirx.Select(is_nan(norm[row]), norm[row], tirx.max(norm[row], floor))
        return data(*i) / denominator

    return te.compute(data.shape, value, name="normalize")
