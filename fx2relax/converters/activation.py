"""Converters for element-wise activations."""

from torch import nn

from ..kernels import activation
from ..registry import register_converter


@register_converter(nn.ReLU)
def relu(ctx, input):
    return ctx.emit_te(activation.relu, input)
