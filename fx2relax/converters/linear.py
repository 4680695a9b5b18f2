"""Converters for fully connected layers."""

from torch import nn

from ..kernels import linear as kernels
from ..registry import register_converter


@register_converter(nn.Linear)
def linear(ctx, input):
    module = ctx.module
    shape = ctx.shape(input)
    if shape[-1] != module.in_features:
        raise ctx.shape_error(
            f"input has {shape[-1]} features (shape {shape}) but the module has in_features={module.in_features}",
            "in_features",
        )
    weight = ctx.module_param("weight")
    bias = ctx.module_param("bias") if module.bias is not None else None
    return ctx.emit_te(kernels.linear, input, weight, bias)
