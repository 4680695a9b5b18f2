"""Converters for normalization layers: batch norm (eval mode), layer norm, RMS norm and group norm,
as modules and as F. functions (whose statistics and weights arrive as tensors or None), and
F.normalize (division by a p-norm)."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import dtypes, symbolic
from ..importer import NodeContext
from ..kernels import normalization as kernels
from ..registry import register_converter
from .common import NotComputed, normalize_dim, static_dims

aten = torch.ops.aten

_BATCH_NORM_RANKS = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}


def _check_vector(ctx: NodeContext, value, length: int, parameter: str) -> None:
    """Refuse a per-channel tensor argument (running_mean, weight...) that is not [length]."""
    if value is not None and ctx.shape(value) != (length,):
        raise ctx.shape_error(f"should contain {length} elements, got shape {ctx.shape(value)}", parameter)


def _batch_norm(ctx: NodeContext, input, running_mean, running_var, weight, bias, eps: float):
    """Emit batch norm with running statistics, or with the batch's own when both are None
    (callers refuse one without the other)."""
    shape = ctx.shape(input)
    if len(shape) < 2:
        raise ctx.shape_error(f"expects an input of shape (N, C, *), got shape {shape}")
    (channels,) = static_dims(ctx, shape, range(1, 2), "batch norm")
    for value, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias")):
        _check_vector(ctx, value, channels, name)
    if running_mean is None and running_var is None:
        values_per_channel = [d for a, d in enumerate(shape) if a != 1]
        if all(isinstance(d, int) for d in values_per_channel) and math.prod(values_per_channel) == 1:
            raise ctx.shape_error(
                f"expected more than 1 value per channel to compute batch statistics, got input shape {shape}"
            )
        return ctx.emit_te(kernels.batch_norm_batch_stats, input, weight, bias, eps=float(eps))
    return ctx.emit_te(kernels.batch_norm, input, running_mean, running_var, weight, bias, eps=float(eps))


@register_converter(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def batch_norm_module(ctx, input):
    module = ctx.module
    if module.training:
        raise ctx.unsupported(
            "training",
            "the module is in training mode (batch statistics, running-stat updates); call model.eval() before importing",
        )
    shape = ctx.shape(input)
    ranks = _BATCH_NORM_RANKS[type(module)]
    if len(shape) not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ctx.shape_error(f"expects a {expected} input, got a {len(shape)}-D input of shape {shape}")
    if isinstance(shape[1], int) and shape[1] != module.num_features:
        raise ctx.shape_error(
            f"input has {shape[1]} channels (shape {shape}) but the module has num_features={module.num_features}",
            "num_features",
        )
    tensors = [ctx.module_param(name) for name in ("running_mean", "running_var", "weight", "bias")]
    return _batch_norm(ctx, input, *tensors, eps=module.eps)


@register_converter(F.batch_norm)
def batch_norm_function(ctx, input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    if training and not (running_mean is None and running_var is None):
        raise ctx.unsupported(
            "training", "training=True with running statistics updates them in place; pass training=False (eval mode)"
        )
    if not training and (running_mean is None or running_var is None):
        raise ctx.unsupported("running_mean", "running_mean and running_var must be given when training=False")
    return _batch_norm(ctx, input, running_mean, running_var, weight, bias, eps)


def _normalized_ndim(ctx: NodeContext, input, normalized_shape, weights: dict) -> int:
    """The number of trailing axes `normalized_shape` names, after checking it against the input's
    shape and the shape of each tensor in `weights` (parameter name → tensor or None)."""
    if not isinstance(normalized_shape, (tuple, list, torch.Size)):
        raise ctx.unsupported(
            "normalized_shape", f"must be a tuple or list of ints (as PyTorch requires), got {normalized_shape!r}"
        )
    normalized_shape = tuple(normalized_shape)
    shape = ctx.shape(input)
    count = len(normalized_shape)
    if 0 < count <= len(shape):
        static_dims(ctx, shape, range(len(shape) - count, len(shape)), f"normalized_shape={list(normalized_shape)}")
    if count == 0 or count > len(shape) or tuple(shape[len(shape) - count :]) != normalized_shape:
        raise ctx.shape_error(
            f"given normalized_shape={list(normalized_shape)}, expected an input of shape "
            f"[*, {', '.join(map(str, normalized_shape))}], got shape {shape}",
            "normalized_shape",
        )
    for name, value in weights.items():
        if value is not None and ctx.shape(value) != normalized_shape:
            raise ctx.shape_error(f"has shape {ctx.shape(value)}, expected normalized_shape {normalized_shape}", name)
    return count


def _layer_norm(ctx: NodeContext, input, normalized_shape, weight, bias, eps: float):
    count = _normalized_ndim(ctx, input, normalized_shape, {"weight": weight, "bias": bias})
    return ctx.emit_te(kernels.layer_norm, input, weight, bias, normalized_ndim=count, eps=float(eps))


@register_converter(nn.LayerNorm)
def layer_norm_module(ctx, input):
    module = ctx.module
    weight = ctx.module_param("weight")
    bias = ctx.module_param("bias")
    return _layer_norm(ctx, input, module.normalized_shape, weight, bias, module.eps)


@register_converter(F.layer_norm)
def layer_norm_function(ctx, input, normalized_shape, weight=None, bias=None, eps=1e-05):
    return _layer_norm(ctx, input, normalized_shape, weight, bias, eps)


def _rms_norm(ctx: NodeContext, input, normalized_shape, weight, eps):
    """RMS norm; eps None is the input dtype's machine epsilon, as in PyTorch."""
    count = _normalized_ndim(ctx, input, normalized_shape, {"weight": weight})
    if eps is None:
        eps = torch.finfo(getattr(torch, dtypes.value_dtype(input))).eps
    elif not isinstance(eps, numbers.Real) or isinstance(eps, bool):
        raise ctx.unsupported("eps", f"must be a float or None, got {eps!r}")
    return ctx.emit_te(kernels.rms_norm, input, weight, normalized_ndim=count, eps=float(eps))


@register_converter(nn.RMSNorm)
def rms_norm_module(ctx, input):
    module = ctx.module
    return _rms_norm(ctx, input, module.normalized_shape, ctx.module_param("weight"), module.eps)


@register_converter(F.rms_norm, torch.rms_norm, aten.rms_norm.default)
def rms_norm_function(ctx, input, normalized_shape, weight=None, eps=None):
    return _rms_norm(ctx, input, normalized_shape, weight, eps)


def _group_norm(ctx: NodeContext, input, num_groups: int, weight, bias, eps: float):
    shape = ctx.shape(input)
    if len(shape) < 2:
        raise ctx.shape_error(f"expects an input of shape (N, C, *), got shape {shape}")
    (channels,) = static_dims(ctx, shape, range(1, 2), "group norm")
    if num_groups <= 0 or channels % num_groups != 0:
        raise ctx.shape_error(
            f"expected the number of channels in the input to be divisible by num_groups, got input of shape "
            f"{shape} and num_groups={num_groups}",
            "num_groups",
        )
    values = [shape[0] * channels // num_groups, *shape[2:]]  # PyTorch's own check, batch included
    if all(isinstance(d, int) for d in values) and math.prod(values) == 1:
        raise ctx.shape_error(
            f"expected more than 1 value per group, got input shape {shape} and num_groups={num_groups}", "num_groups"
        )
    for value, name in ((weight, "weight"), (bias, "bias")):
        _check_vector(ctx, value, channels, name)
    return ctx.emit_te(kernels.group_norm, input, weight, bias, num_groups=num_groups, eps=float(eps))


@register_converter(nn.GroupNorm)
def group_norm_module(ctx, input):
    module = ctx.module
    shape = ctx.shape(input)
    if len(shape) >= 2 and isinstance(shape[1], int) and shape[1] != module.num_channels:
        raise ctx.shape_error(
            f"input has {shape[1]} channels (shape {shape}) but the module has num_channels={module.num_channels}",
            "num_channels",
        )
    weight = ctx.module_param("weight")
    bias = ctx.module_param("bias")
    return _group_norm(ctx, input, module.num_groups, weight, bias, module.eps)


@register_converter(F.group_norm)
def group_norm_function(ctx, input, num_groups, weight=None, bias=None, eps=1e-05):
    return _group_norm(ctx, input, num_groups, weight, bias, eps)


@register_converter(aten.layer_norm.default)
def layer_norm_aten(ctx, input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True):
    """ATen's layer_norm: F.layer_norm's arguments and a cudnn flag that does not change the result."""
    return _layer_norm(ctx, input, normalized_shape, weight, bias, eps)


@register_converter(aten._native_batch_norm_legit_no_training.default)
def batch_norm_no_training(ctx, input, weight, bias, running_mean, running_var, momentum, eps):
    """torch.export's eval-mode batch norm: (output, saved mean, saved inverse std); the saved
    statistics are empty in eval mode and come back as None."""
    if running_mean is None or running_var is None:
        raise ctx.unsupported("running_mean", "running_mean and running_var must be given in eval mode")
    return _batch_norm(ctx, input, running_mean, running_var, weight, bias, eps), None, None


@register_converter(aten.batch_norm.default)
def batch_norm_aten(ctx, input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    return batch_norm_function(ctx, input, running_mean, running_var, weight, bias, training, momentum, eps)


@register_converter(aten._native_batch_norm_legit.no_stats)
def batch_norm_batch_stats_aten(ctx, input, weight, bias, training, momentum, eps):
    """torch.export's batch norm without running statistics (BatchNorm with track_running_stats=False):
    normalised by the batch's own mean and biased variance; the saved statistics are not computed."""
    out = batch_norm_function(ctx, input, None, None, weight, bias, training, momentum, eps)
    return out, NotComputed("batch norm's saved mean"), NotComputed("batch norm's saved inverse std")


@register_converter(aten.group_norm.default)
def group_norm_aten(ctx, input, num_groups, weight=None, bias=None, eps=1e-05, cudnn_enabled=True):
    """ATen's group_norm: F.group_norm's arguments and a cudnn flag that does not change the result."""
    return _group_norm(ctx, input, num_groups, weight, bias, eps)


@register_converter(aten.native_group_norm.default)
def native_group_norm(ctx, input, weight, bias, N, C, HxW, group, eps):  # noqa: N803 (ATen's names)
    """Group norm as core ATen records it: (output, mean, rstd) with the batch, channel and spatial
    sizes spelled out (checked against the input's); the saved mean and rstd are not computed."""
    shape = ctx.shape(input)
    if len(shape) >= 2:
        for name, given, actual in (("N", N, shape[0]), ("C", C, shape[1]), ("HxW", HxW, symbolic.product(shape[2:]))):
            if not symbolic.equal(given, actual):
                raise ctx.shape_error(f"is {given} but the input of shape {shape} has {actual}", name)
    out = _group_norm(ctx, input, group, weight, bias, eps)
    return out, NotComputed("group norm's saved mean"), NotComputed("group norm's saved inverse std")


@register_converter(F.normalize)
def normalize(ctx, input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(‖x‖_p, eps) over `dim` (an int or a tuple of ints), any real p (0 and ±inf too)."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    for value, name in ((p, "p"), (eps, "eps")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ctx.unsupported(name, f"must be a real number, got {value!r}")
    rank = len(ctx.shape(input))
    dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
    if not dims or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        raise ctx.unsupported("dim", f"must be an int or a non-empty tuple of ints, got {dim!r}")
    axes = sorted({normalize_dim(ctx, int(d), rank, "dim") for d in dims})
    if len(axes) != len(dims):
        raise ctx.shape_error(f"dim {dim!r} names an axis twice", "dim")
    return ctx.emit_te(kernels.normalize, input, ord=float(p), axes=axes, eps=float(eps))
