"""Converters for normalization layers: batch norm (eval mode), layer norm and group norm,
as modules and as F. functions (whose statistics and weights arrive as tensors or None)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import normalization as kernels
from ..registry import register_converter
from .common import static_dims

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


def _layer_norm(ctx: NodeContext, input, normalized_shape, weight, bias, eps: float):
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
    for value, name in ((weight, "weight"), (bias, "bias")):
        if value is not None and ctx.shape(value) != normalized_shape:
            raise ctx.shape_error(f"has shape {ctx.shape(value)}, expected normalized_shape {normalized_shape}", name)
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
