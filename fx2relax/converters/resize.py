"""Converters for `F.interpolate` and nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d:
nearest, nearest-exact, linear, bilinear, bicubic, trilinear (onto kernels/resize.py) and area
(adaptive average pooling); and the ATen upsample ops torch.export records for them (`.vec` with
an output size or scale factors, `.default` with both), onto the same tables and kernels.

Index and weight tables are computed here, per spatial axis, with the formulas of PyTorch's CPU
kernels (aten/src/ATen/native/UpSample.h, cpu/UpSampleKernel.cpp) in the model's float type:
the scale is 1 / scale_factor when a scale factor was given (not recomputed), else in / out;
nearest reads floor(out * scale) (out itself at equal sizes, out // 2 at twice the size, in 2-D only); linear
modes read floor of the area-pixel source index with its clamped fraction as weight; bicubic reads
four clamped taps with A = -0.75 weights.

Antialiased bilinear / bicubic (`antialias=True`, `_upsample_*2d_aa`) follow PyTorch's separable
kernel (cpu/UpSampleKernel.cpp, `_compute_indices_min_size_weights_aa`): the width then the height
(an axis of unchanged size skipped), each output reading a window of inputs around its centre,
widened by the downsampling factor, with triangle or Keys cubic (A = -0.5) weights normalised to
sum 1. The tables mirror its float arithmetic, including the fused multiply-adds its vectorised
build computes the cubic filter with.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tvm import relax

from ..importer import NodeContext
from ..kernels import pooling as pooling_kernels
from ..kernels import resize as kernels
from ..registry import register_converter
from .common import static_dims

aten = torch.ops.aten
_MODE_RANKS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_NEAREST_MODES = ("nearest", "nearest-exact", "area")
_CUBIC_A = -0.75


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _output_sizes(ctx: NodeContext, sizes: list[int], size, scale_factor, recompute: bool) -> tuple[list[int], list]:
    """(output sizes, scale factors or Nones) by F.interpolate's rules for `size` / `scale_factor`."""
    spatial = len(sizes)
    if size is not None and scale_factor is not None:
        raise ctx.unsupported("scale_factor", "only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ctx.unsupported("recompute_scale_factor", "is not meaningful with an explicit size")
        outs = list(size) if isinstance(size, (tuple, list)) else [size] * spatial
        if len(outs) != spatial or not all(_is_int(s) for s in outs):
            raise ctx.unsupported("size", f"expected an int or {spatial} ints for spatial sizes {sizes}, got {size!r}")
        return [int(s) for s in outs], [None] * spatial
    if scale_factor is None:
        raise ctx.unsupported("size", "either size or scale_factor should be defined")
    factors = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * spatial
    if len(factors) != spatial or not all(isinstance(f, numbers.Real) and not isinstance(f, bool) for f in factors):
        raise ctx.unsupported("scale_factor", f"expected a number or {spatial} numbers for spatial sizes {sizes}, got {scale_factor!r}")
    outs = [int(s * float(f)) for s, f in zip(sizes, factors)]  # PyTorch truncates size * scale_factor
    return outs, [None] * spatial if recompute else [float(f) for f in factors]


def _scale(real: type, in_size: int, out_size: int, align_corners: bool, scale_factor: float | None):
    """area_pixel_compute_scale: the source step per output position, in the float type `real`."""
    if align_corners:
        return real(in_size - 1) / real(out_size - 1) if out_size > 1 else real(0)
    if scale_factor is not None and scale_factor > 0:
        return real(1.0 / scale_factor)
    return real(in_size) / real(out_size)


def _source_index(real: type, scale, out_index: int, align_corners: bool, cubic: bool):
    """area_pixel_compute_source_index: where output position `out_index` samples the input axis."""
    if align_corners:
        return real(scale * real(out_index))
    source = real(scale * real(real(out_index) + real(0.5))) - real(0.5)
    return real(0) if not cubic and source < 0 else source


def _floor_and_fraction(real: type, source, in_size: int) -> tuple[int, object]:
    """guard_index_and_lambda: the floor index (at most in_size - 1) and the fraction in [0, 1]."""
    index = min(math.floor(source), in_size - 1)
    return index, min(max(real(source - real(index)), real(0)), real(1))


def _cubic_weights(real: type, t) -> list:
    """get_cubic_upsample_coefficients with A = -0.75, evaluated in `real`."""
    a = real(_CUBIC_A)

    def near(x):  # |x| <= 1
        return ((a + real(2)) * x - (a + real(3))) * x * x + real(1)

    def far(x):  # 1 < |x| < 2
        return ((a * x - real(5) * a) * x + real(8) * a) * x - real(4) * a

    return [far(real(t + real(1))), near(t), near(real(real(1) - t)), far(real(real(1) - t + real(1)))]


def _axis_tables(real: type, mode: str, in_size: int, out_size: int, align_corners: bool, scale_factor, spatial: int):
    """(indices [out, taps] int64, weights [out, taps] or None) for one of `spatial` spatial axes."""
    scale = _scale(real, in_size, out_size, align_corners, scale_factor)
    indices, weights = [], []
    for i in range(out_size):
        if mode == "nearest" and spatial == 2 and out_size in (in_size, 2 * in_size):
            # PyTorch's 2-D nearest kernel (nearest_idx) special-cases these sizes, whatever the scale
            # factor; its 1-D and 3-D kernels do not
            indices.append([i if out_size == in_size else i >> 1])
        elif mode == "nearest":
            indices.append([min(math.floor(real(scale * real(i))), in_size - 1)])
        elif mode == "nearest-exact":
            source = _source_index(real, scale, i, False, cubic=False)
            indices.append([min(math.floor(source + real(0.5)), in_size - 1)])
        elif mode == "bicubic":
            source = _source_index(real, scale, i, align_corners, cubic=True)
            index, t = _floor_and_fraction(real, source, in_size)
            indices.append([max(min(index - 1 + j, in_size - 1), 0) for j in range(4)])
            weights.append(_cubic_weights(real, t))
        elif out_size == in_size:  # linear modes copy at equal sizes, whatever the scale factor
            indices.append([i, i])
            weights.append([real(1), real(0)])
        else:
            source = _source_index(real, scale, i, align_corners, cubic=False)
            index, fraction = _floor_and_fraction(real, source, in_size)
            indices.append([index, index + (1 if index < in_size - 1 else 0)])
            weights.append([real(1) - fraction, fraction])
    return np.array(indices, dtype="int64"), (np.array(weights, dtype=real) if weights else None)


def _fma(real: type, a, b, c):
    """a * b + c rounded once to `real` (the product of two floats is exact in a double)."""
    return real(float(a) * float(b) + float(c))


def _triangle_filter(real: type, x):
    x = abs(x)
    return real(real(1) - x) if x < 1 else real(0)


def _keys_cubic_filter(real: type, x):
    """PyTorch's antialiasing cubic filter (A = -0.5), each Horner step one fused multiply-add."""
    a, x = real(-0.5), abs(x)
    if x < 1:
        return _fma(real, _fma(real, a + real(2), x, -(a + real(3))) * x, x, real(1))
    if x < 2:
        return _fma(real, _fma(real, _fma(real, a, x, -(real(5) * a)), x, real(8) * a), x, -(real(4) * a))
    return real(0)


_ANTIALIAS_FILTERS = {"bilinear": (_triangle_filter, 2), "bicubic": (_keys_cubic_filter, 4)}


def _antialias_tables(real: type, mode: str, in_size: int, out_size: int, align_corners: bool, scale_factor):
    """(indices [out, taps] int64, weights [out, taps], counts [out] int64) of one axis's windows."""
    filter_fn, interp_size = _ANTIALIAS_FILTERS[mode]
    scale = _scale(real, in_size, out_size, align_corners, scale_factor)
    support = real(interp_size * 0.5 * float(scale)) if scale >= 1 else real(interp_size * 0.5)
    taps = math.ceil(support) * 2 + 1
    inverse = real(1.0 / float(scale)) if scale >= 1 else real(1)
    indices, weights, counts = [], [], []
    for i in range(out_size):
        center = real(float(scale) * (i + 0.5))
        start = max(int(float(real(center - support)) + 0.5), 0)
        count = min(max(min(int(float(real(center + support)) + 0.5), in_size) - start, 0), taps)
        window = [filter_fn(real, real((float(real(real(start + j) - center)) + 0.5) * float(inverse))) for j in range(count)]
        total = real(0)
        for w in window:
            total = real(total + w)
        if total != 0:
            window = [real(w / total) for w in window]
        indices.append([min(start + j, in_size - 1) for j in range(taps)])
        weights.append(window + [real(0)] * (taps - count))
        counts.append(count)
    return np.array(indices, dtype="int64"), np.array(weights, dtype=real), np.array(counts, dtype="int64")


def _interpolate(ctx: NodeContext, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """F.interpolate's argument rules, then `_resample`."""
    shape = ctx.shape(input)
    rank = len(shape)
    if mode not in (*_NEAREST_MODES, *_MODE_RANKS):
        raise ctx.unsupported("mode", f"{mode!r} is not supported (nearest, nearest-exact, area, linear, bilinear, bicubic, trilinear are)")
    if mode in _NEAREST_MODES:
        if align_corners is not None:
            raise ctx.unsupported(
                "align_corners", "can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    if antialias and (mode not in _ANTIALIAS_FILTERS or rank != 4):
        raise ctx.unsupported(
            "antialias", "is restricted to bilinear and bicubic modes and requires a 4-D input"
            + (" (lanczos is not supported)" if mode == "lanczos" else "")
        )
    if rank not in (3, 4, 5) or (mode in _MODE_RANKS and rank != _MODE_RANKS[mode]):
        needed = f"{_MODE_RANKS[mode]}-D" if mode in _MODE_RANKS else "3-D, 4-D or 5-D"
        raise ctx.shape_error(f"{mode} mode needs a {needed} input, got a {rank}-D input of shape {shape}", "input")
    sizes = static_dims(ctx, shape, range(2, rank), "interpolate")
    recompute = bool(recompute_scale_factor) or (mode == "area" and size is None)
    outs, factors = _output_sizes(ctx, sizes, size, scale_factor, recompute)
    return _resample(ctx, input, mode, sizes, outs, factors, align_corners, bool(antialias))


def _resample(ctx: NodeContext, input, mode: str, sizes: list[int], outs: list[int], factors: list, align_corners,
              antialias: bool = False):
    """Resample the spatial axes of `sizes` to `outs`; `factors` are the scale factors the source
    positions are computed from (None: in / out), as PyTorch's upsample kernels take them."""
    if min(outs) <= 0:
        raise ctx.shape_error(f"input and output sizes should be greater than 0, got input {sizes} and output {outs}", "size")
    if antialias:
        return _resample_antialiased(ctx, input, mode, sizes, outs, factors, align_corners)
    if mode == "area":
        if len(sizes) == 3:
            raise ctx.unsupported("mode", "'area' on a 5-D input (adaptive 3-D average pooling) is not supported")
        pool = pooling_kernels.adaptive_avg_pool1d if len(sizes) == 1 else pooling_kernels.adaptive_avg_pool2d
        return ctx.emit_te(pool, input, output_size=outs[0] if len(sizes) == 1 else outs)
    real = np.float64 if ctx.dtype == "float64" else np.float32
    tables = [_axis_tables(real, mode, s, o, align_corners, f, len(sizes)) for s, o, f in zip(sizes, outs, factors)]
    if mode in ("nearest", "nearest-exact"):
        return ctx.emit_te(kernels.nearest, input, [relax.const(index[:, 0], "int64") for index, _ in tables])
    indices = [relax.const(index, "int64") for index, _ in tables]
    weights = [relax.const(weight.astype(ctx.dtype), ctx.dtype) for _, weight in tables]
    return ctx.emit_te(kernels.interpolate, input, indices, weights)


def _resample_antialiased(ctx: NodeContext, input, mode: str, sizes: list[int], outs: list[int], factors: list,
                          align_corners: bool):
    """Antialiased bilinear / bicubic: one pass per changed axis, the last axis first (PyTorch's order)."""
    dtype = ctx.tensor_dtype(input)
    if dtype not in ("float32", "float64"):
        raise ctx.dtype_error(f"antialiased resampling supports float32 and float64 inputs, got {dtype}", "input")
    if outs[-1] == 1 and sizes[:-1] != outs[:-1]:
        raise ctx.unsupported(
            "size", f"antialiased resampling from {sizes} to {outs}: with an output width of 1, PyTorch's CPU kernel "
            "gives every row the first row's result, which fx2relax does not reproduce"
        )
    real = np.float64 if dtype == "float64" else np.float32
    rank = len(ctx.shape(input))
    result = input
    for axis in reversed(range(len(sizes))):
        if sizes[axis] == outs[axis]:
            continue
        indices, weights, counts = _antialias_tables(real, mode, sizes[axis], outs[axis], align_corners, factors[axis])
        result = ctx.emit_te(
            kernels.resample_axis, result, rank - len(sizes) + axis,
            relax.const(indices, "int64"), relax.const(weights, dtype), relax.const(counts, "int64"),
        )
    return result


@register_converter(F.interpolate)
def interpolate(ctx, input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    return _interpolate(ctx, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)


@register_converter(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def upsample(ctx, input):
    module = ctx.module
    return _interpolate(
        ctx, input, module.size, module.scale_factor, module.mode, module.align_corners,
        module.recompute_scale_factor, False,
    )


_ATEN_MODES = {  # ATen's upsample ops (.vec as F.interpolate calls them, .default as they decompose): mode, spatial axes
    **{op: ("nearest", 1) for op in (aten.upsample_nearest1d.vec, aten.upsample_nearest1d.default)},
    **{op: ("nearest", 2) for op in (aten.upsample_nearest2d.vec, aten.upsample_nearest2d.default)},
    **{op: ("nearest", 3) for op in (aten.upsample_nearest3d.vec, aten.upsample_nearest3d.default)},
    **{op: ("nearest-exact", 1) for op in (aten._upsample_nearest_exact1d.vec, aten._upsample_nearest_exact1d.default)},
    **{op: ("nearest-exact", 2) for op in (aten._upsample_nearest_exact2d.vec, aten._upsample_nearest_exact2d.default)},
    **{op: ("nearest-exact", 3) for op in (aten._upsample_nearest_exact3d.vec, aten._upsample_nearest_exact3d.default)},
    **{op: ("linear", 1) for op in (aten.upsample_linear1d.vec, aten.upsample_linear1d.default)},
    **{op: ("bilinear", 2) for op in (aten.upsample_bilinear2d.vec, aten.upsample_bilinear2d.default)},
    **{op: ("bicubic", 2) for op in (aten.upsample_bicubic2d.vec, aten.upsample_bicubic2d.default)},
    **{op: ("trilinear", 3) for op in (aten.upsample_trilinear3d.vec, aten.upsample_trilinear3d.default)},
}


_ANTIALIASED_OPS = {
    aten._upsample_bilinear2d_aa.vec: "bilinear", aten._upsample_bilinear2d_aa.default: "bilinear",
    aten._upsample_bicubic2d_aa.vec: "bicubic", aten._upsample_bicubic2d_aa.default: "bicubic",
}
_ATEN_MODES.update({op: (mode, 2) for op, mode in _ANTIALIASED_OPS.items()})


def _aten_sizes(ctx: NodeContext, input) -> tuple[str, list[int]]:
    """The mode of the node's upsample op and the input's spatial sizes, checked against its rank."""
    mode, spatial = _ATEN_MODES[ctx.target]
    shape = ctx.shape(input)
    if len(shape) != spatial + 2:
        raise ctx.shape_error(f"expects a {spatial + 2}-D input, got shape {shape}", "input")
    return mode, static_dims(ctx, shape, range(2, spatial + 2), "upsampling")


def _aten_output_size(ctx: NodeContext, output_size, spatial: int) -> list[int]:
    if not isinstance(output_size, (tuple, list)) or len(output_size) != spatial or not all(_is_int(s) for s in output_size):
        raise ctx.unsupported("output_size", f"expected {spatial} ints, got {output_size!r}")
    return [int(s) for s in output_size]


def _upsample_vec(ctx: NodeContext, input, output_size, scale_factors, align_corners):
    """An upsample .vec op: exactly one of `output_size` and `scale_factors` (then the output size
    is each input size times its factor, truncated, and the factors place the sources)."""
    mode, sizes = _aten_sizes(ctx, input)
    if (output_size is None) == (scale_factors is None):
        raise ctx.unsupported("scale_factors", "must specify exactly one of output_size and scale_factors")
    antialias = ctx.target in _ANTIALIASED_OPS
    if output_size is not None:
        outs = _aten_output_size(ctx, output_size, len(sizes))
        return _resample(ctx, input, mode, sizes, outs, [None] * len(sizes), align_corners, antialias)
    if not isinstance(scale_factors, (tuple, list)) or len(scale_factors) != len(sizes):
        raise ctx.unsupported("scale_factors", f"expected {len(sizes)} numbers, got {scale_factors!r}")
    outs, factors = _output_sizes(ctx, sizes, None, tuple(scale_factors), False)
    return _resample(ctx, input, mode, sizes, outs, factors, align_corners, antialias)


def _upsample_default(ctx: NodeContext, input, output_size, scales: tuple, align_corners):
    """An upsample .default op: the output size, and per axis an optional scale factor placing the sources."""
    mode, sizes = _aten_sizes(ctx, input)
    outs = _aten_output_size(ctx, output_size, len(sizes))
    for scale in scales:
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
            raise ctx.unsupported("scales", f"must be numbers or None, got {scales!r}")
    factors = [None if f is None else float(f) for f in scales]
    return _resample(ctx, input, mode, sizes, outs, factors, align_corners, ctx.target in _ANTIALIASED_OPS)


def _align_corners(ctx: NodeContext, align_corners) -> bool:
    if not isinstance(align_corners, bool):
        raise ctx.unsupported("align_corners", f"must be a bool, got {align_corners!r}")
    return align_corners


@register_converter(
    aten.upsample_nearest1d.vec, aten.upsample_nearest2d.vec, aten.upsample_nearest3d.vec,
    aten._upsample_nearest_exact1d.vec, aten._upsample_nearest_exact2d.vec, aten._upsample_nearest_exact3d.vec,
)
def upsample_nearest_vec(ctx, input, output_size, scale_factors):
    return _upsample_vec(ctx, input, output_size, scale_factors, None)


@register_converter(
    aten.upsample_linear1d.vec, aten.upsample_bilinear2d.vec, aten.upsample_bicubic2d.vec, aten.upsample_trilinear3d.vec
)
def upsample_interpolating_vec(ctx, input, output_size, align_corners, scale_factors):
    return _upsample_vec(ctx, input, output_size, scale_factors, _align_corners(ctx, align_corners))


@register_converter(aten.upsample_nearest1d.default, aten._upsample_nearest_exact1d.default)
def upsample_nearest1d(ctx, input, output_size, scales=None):
    return _upsample_default(ctx, input, output_size, (scales,), None)


@register_converter(aten.upsample_nearest2d.default, aten._upsample_nearest_exact2d.default)
def upsample_nearest2d(ctx, input, output_size, scales_h=None, scales_w=None):
    return _upsample_default(ctx, input, output_size, (scales_h, scales_w), None)


@register_converter(aten.upsample_nearest3d.default, aten._upsample_nearest_exact3d.default)
def upsample_nearest3d(ctx, input, output_size, scales_d=None, scales_h=None, scales_w=None):
    return _upsample_default(ctx, input, output_size, (scales_d, scales_h, scales_w), None)


@register_converter(aten.upsample_linear1d.default)
def upsample_linear1d(ctx, input, output_size, align_corners, scales=None):
    return _upsample_default(ctx, input, output_size, (scales,), _align_corners(ctx, align_corners))


@register_converter(aten.upsample_bilinear2d.default, aten.upsample_bicubic2d.default)
def upsample_2d(ctx, input, output_size, align_corners, scales_h=None, scales_w=None):
    return _upsample_default(ctx, input, output_size, (scales_h, scales_w), _align_corners(ctx, align_corners))


@register_converter(aten.upsample_trilinear3d.default)
def upsample_trilinear3d(ctx, input, output_size, align_corners, scales_d=None, scales_h=None, scales_w=None):
    return _upsample_default(ctx, input, output_size, (scales_d, scales_h, scales_w), _align_corners(ctx, align_corners))


@register_converter(aten._upsample_bilinear2d_aa.vec, aten._upsample_bicubic2d_aa.vec)
def upsample_antialiased_vec(ctx, input, output_size, align_corners, scale_factors):
    return _upsample_vec(ctx, input, output_size, scale_factors, _align_corners(ctx, align_corners))


@register_converter(aten._upsample_bilinear2d_aa.default, aten._upsample_bicubic2d_aa.default)
def upsample_antialiased(ctx, input, output_size, align_corners, scales_h=None, scales_w=None):
    return _upsample_default(ctx, input, output_size, (scales_h, scales_w), _align_corners(ctx, align_corners))
