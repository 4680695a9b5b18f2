"""Converters for element-wise activations: modules, their F./torch. functions and tensor methods.

A module node passes only the input, so converters read the module's own attributes when there is
one. In-place forms compute out of place, which `NodeContext.check_inplace` allows only when nothing else
reads the mutated tensor.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import NodeContext
from ..kernels import activation
from ..registry import register_converter

aten = torch.ops.aten


def _module_attribute(ctx: NodeContext, name: str, given: object) -> object:
    """The module's attribute `name` for a module node, else the call's argument `given`."""
    return getattr(ctx.module, name) if ctx.module is not None else given


@register_converter(nn.ReLU, F.relu, torch.relu, torch.relu_, "relu", "relu_", aten.relu.default)
def relu(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.relu, input)


@register_converter(nn.Hardtanh, nn.ReLU6, F.hardtanh, F.hardtanh_, aten.hardtanh.default)
def hardtanh(ctx, input, min_val=-1.0, max_val=1.0, inplace=False):
    ctx.check_inplace(inplace)
    min_val = _module_attribute(ctx, "min_val", min_val)
    max_val = _module_attribute(ctx, "max_val", max_val)
    if min_val > max_val:
        raise ctx.unsupported("min_val", f"min_val={min_val} must not be greater than max_val={max_val}")
    return ctx.emit_te(activation.hardtanh, input, min_val=float(min_val), max_val=float(max_val))


@register_converter(F.relu6)
def relu6(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.hardtanh, input, min_val=0.0, max_val=6.0)


@register_converter(nn.Sigmoid, torch.sigmoid, torch.sigmoid_, "sigmoid", "sigmoid_", aten.sigmoid.default)
def sigmoid(ctx, input):
    ctx.check_inplace()
    return ctx.emit_te(activation.sigmoid, input)


@register_converter(nn.Tanh, torch.tanh, torch.tanh_, "tanh", "tanh_", aten.tanh.default)
def tanh(ctx, input):
    ctx.check_inplace()
    return ctx.emit_te(activation.tanh, input)


@register_converter(nn.SiLU, F.silu, aten.silu.default)
def silu(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.silu, input)


@register_converter(nn.GELU, F.gelu, aten.gelu.default)
def gelu(ctx, input, approximate="none"):
    approximate = _module_attribute(ctx, "approximate", approximate)
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported("approximate", f"must be 'none' or 'tanh', got {approximate!r}")
    return ctx.emit_te(activation.gelu, input, approximate=approximate)


@register_converter(nn.Hardswish, F.hardswish, aten.hardswish.default)
def hardswish(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.hardswish, input)


@register_converter(nn.Hardsigmoid, F.hardsigmoid, aten.hardsigmoid.default)
def hardsigmoid(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.hardsigmoid, input)


@register_converter(nn.LeakyReLU, F.leaky_relu, F.leaky_relu_, aten.leaky_relu.default)
def leaky_relu(ctx, input, negative_slope=0.01, inplace=False):
    ctx.check_inplace(inplace)
    negative_slope = _module_attribute(ctx, "negative_slope", negative_slope)
    return ctx.emit_te(activation.leaky_relu, input, negative_slope=float(negative_slope))


@register_converter(nn.ELU, F.elu, F.elu_)
def elu(ctx, input, alpha=1.0, inplace=False):
    ctx.check_inplace(inplace)
    alpha = _module_attribute(ctx, "alpha", alpha)
    return ctx.emit_te(activation.elu, input, alpha=float(alpha))
