"""Converters for element-wise activations: modules, their F./torch. functions and tensor methods.

A module node passes only the input, so converters read the module's own attributes when there is
one. In-place forms compute out of place, which `NodeContext.check_inplace` allows only when nothing else
reads the mutated tensor.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .. import symbolic
from ..importer import NodeContext
from ..kernels import activation
from ..registry import register_converter
from .common import normalize_dim

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


@register_converter(nn.Softshrink, F.softshrink, aten.softshrink.default)
def softshrink(ctx, input, lambd=0.5):
    lambd = _module_attribute(ctx, "lambd", lambd)
    largest = torch.finfo(getattr(torch, ctx.dtype)).max
    if not 0 <= lambd <= largest:  # PyTorch raises for these (NaN too)
        raise ctx.unsupported("lambd", f"must be in [0, {largest}] for {ctx.dtype}, as PyTorch requires, got {lambd}")
    return ctx.emit_te(activation.softshrink, input, lambd=float(lambd))


@register_converter(nn.Hardshrink, F.hardshrink, "hardshrink", aten.hardshrink.default)
def hardshrink(ctx, input, lambd=0.5):
    lambd = _module_attribute(ctx, "lambd", lambd)
    return ctx.emit_te(activation.hardshrink, input, lambd=float(lambd))


@register_converter(nn.Threshold, F.threshold, torch.threshold, F.threshold_, aten.threshold.default)
def threshold(ctx, input, threshold=None, value=None, inplace=False):
    ctx.check_inplace(inplace)
    threshold = _module_attribute(ctx, "threshold", threshold)
    value = _module_attribute(ctx, "value", value)
    return ctx.emit_te(activation.threshold, input, threshold=float(threshold), value=float(value))


def _rrelu(ctx: NodeContext, input, lower: float, upper: float, training: bool):
    """RReLU in evaluation: leaky ReLU with slope (lower + upper) / 2, as PyTorch computes it. Training
    draws a random slope per element: refused."""
    lower = _module_attribute(ctx, "lower", lower)
    upper = _module_attribute(ctx, "upper", upper)
    if ctx.module is not None:
        training = ctx.module.training
    if training:
        raise ctx.unsupported("training", "RReLU in training mode draws random slopes; put the model in eval mode")
    if lower > upper:
        raise ctx.unsupported("lower", f"lower={lower} must not be greater than upper={upper}, as PyTorch requires")
    return ctx.emit_te(activation.leaky_relu, input, negative_slope=(float(lower) + float(upper)) / 2)


@register_converter(nn.RReLU, F.rrelu)
def rrelu(ctx, input, lower=1 / 8, upper=1 / 3, training=False, inplace=False):
    ctx.check_inplace(inplace)
    return _rrelu(ctx, input, lower, upper, training)


@register_converter(torch.rrelu, F.rrelu_, aten.rrelu.default)
def rrelu_function(ctx, input, lower=1 / 8, upper=1 / 3, training=False, generator=None):
    ctx.check_inplace()
    return _rrelu(ctx, input, lower, upper, training)  # the generator draws only in training


def _prelu(ctx: NodeContext, input, weight, parameter: str):
    """Check PReLU's weight as PyTorch does (0-D or 1-D, one slope or one per channel: axis 1 of an
    input of rank >= 2) and emit it; errors name `parameter`."""
    shape, weight_shape = ctx.shape(input), ctx.shape(weight)
    if len(weight_shape) > 1:
        raise ctx.shape_error(f"expects a 0-D or 1-D weight, got shape {weight_shape}", parameter)
    slopes = weight_shape[0] if weight_shape else 1
    channels = shape[1] if len(shape) >= 2 else 1
    if not symbolic.equal(slopes, 1) and (not shape or not symbolic.equal(slopes, channels)):
        raise ctx.shape_error(
            f"{slopes} slopes do not match the input's {channels} channels (axis 1 of shape {shape}; 1 for rank < 2)",
            parameter,
        )
    return ctx.emit_te(activation.prelu, input, weight)


@register_converter(nn.PReLU)
def prelu(ctx, input):
    return _prelu(ctx, input, ctx.module_param("weight"), "num_parameters")


@register_converter(F.prelu, "prelu", aten.prelu.default)
def prelu_function(ctx, input, weight):
    return _prelu(ctx, input, weight, "weight")


@register_converter(nn.GLU, F.glu, aten.glu.default)
def glu(ctx, input, dim=-1):
    dim = _module_attribute(ctx, "dim", dim)
    shape = ctx.shape(input)
    if not shape:
        raise ctx.shape_error("GLU does not take a 0-D input: it halves a dimension", "input")
    axis = normalize_dim(ctx, dim, len(shape), "dim")
    size = shape[axis]
    if not isinstance(size, int):
        raise ctx.shape_error(f"needs a static size along dim {dim} to halve, got shape {shape}", "dim")
    if size % 2:
        raise ctx.shape_error(f"halving dimension must be even, but dimension {dim} is size {size}", "dim")
    return ctx.emit_te(activation.glu, input, axis=axis)


@register_converter(aten.elu.default)
def elu_aten(ctx, input, alpha=1.0, scale=1.0, input_scale=1.0):
    """torch.export's ELU, which also carries SELU's scale and CELU's input scale."""
    return ctx.emit_te(activation.elu, input, alpha=float(alpha), scale=float(scale), input_scale=float(input_scale))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
"""SELU's constants, as PyTorch's ATen writes them."""


@register_converter(nn.SELU, F.selu, torch.selu, torch.selu_, aten.selu.default)
def selu(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.elu, input, alpha=SELU_ALPHA, scale=SELU_SCALE)


@register_converter(nn.CELU, F.celu, torch.celu, torch.celu_, aten.celu.default)
def celu(ctx, input, alpha=1.0, inplace=False):
    """ELU with input scale 1 / alpha (a double, as in ATen); alpha = 0 is PyTorch's ZeroDivisionError."""
    ctx.check_inplace(inplace)
    alpha = float(_module_attribute(ctx, "alpha", alpha))
    if alpha == 0:
        raise ctx.unsupported("alpha", "CELU's alpha must not be 0 (PyTorch raises ZeroDivisionError)")
    return ctx.emit_te(activation.elu, input, alpha=alpha, input_scale=1.0 / alpha)


@register_converter(nn.Softplus, F.softplus, aten.softplus.default)
def softplus(ctx, input, beta=1.0, threshold=20.0):
    beta = float(_module_attribute(ctx, "beta", beta))
    threshold = float(_module_attribute(ctx, "threshold", threshold))
    return ctx.emit_te(activation.softplus, input, beta=beta, threshold=threshold)


@register_converter(nn.Mish, F.mish, aten.mish.default)
def mish(ctx, input, inplace=False):
    ctx.check_inplace(inplace)
    return ctx.emit_te(activation.mish, input)


@register_converter(nn.LogSigmoid, F.logsigmoid, aten.log_sigmoid.default)
def log_sigmoid(ctx, input):
    return ctx.emit_te(activation.log_sigmoid, input)


@register_converter(nn.Softsign, F.softsign)
def softsign(ctx, input):
    return ctx.emit_te(activation.softsign, input)


@register_converter(nn.Tanhshrink, F.tanhshrink)
def tanhshrink(ctx, input):
    return ctx.emit_te(activation.tanhshrink, input)
