"""Converters for dtype conversions: `x.long()`, `x.bool()`, `x.int()` and ATen's `_to_copy` / `to`.

A conversion is `Tensor.to(dtype)`'s: to bool is `x != 0`, float to integer truncates toward zero;
a conversion to the tensor's own dtype is the tensor itself. Devices other than the CPU are refused.
"""

from __future__ import annotations

import torch

from .. import dtypes
from ..importer import NodeContext, is_tensor
from ..kernels import elementwise
from ..registry import register_converter

aten = torch.ops.aten


def convert(ctx: NodeContext, input, dtype: object, parameter: str = "dtype"):
    """`input` as `dtype` (a torch.dtype, or None for unchanged)."""
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    if dtype is None:
        return input
    if not isinstance(dtype, torch.dtype) or dtypes.dtype_name(dtype) not in dtypes.TENSOR_DTYPES:
        raise ctx.unsupported(parameter, f"must be one of {', '.join(dtypes.TENSOR_DTYPES)}, got {dtype!r}")
    name = dtypes.dtype_name(dtype)
    if name == dtypes.value_dtype(input):
        return input
    return ctx.emit_te(elementwise.cast, input, dtype=name)


def _device(ctx: NodeContext, device: object, layout: object = None) -> None:
    if device is not None and torch.device(device).type != "cpu":
        raise ctx.unsupported("device", f"fx2relax runs on the CPU, got device={device!r}")
    if layout is not None and layout != torch.strided:
        raise ctx.unsupported("layout", f"only torch.strided is supported, got {layout!r}")


@register_converter(aten._to_copy.default)
def to_copy(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, memory_format=None):
    _device(ctx, device, layout)
    return convert(ctx, input, dtype)


@register_converter(aten.to.dtype)
def to_dtype(ctx, input, dtype, non_blocking=False, copy=False, memory_format=None):
    return convert(ctx, input, dtype)


@register_converter(aten.to.dtype_layout)
def to_dtype_layout(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, copy=False,
                    memory_format=None):
    _device(ctx, device, layout)
    return convert(ctx, input, dtype)


@register_converter(aten.to.device)
def to_device(ctx, input, device, dtype, non_blocking=False, copy=False, memory_format=None):
    _device(ctx, device)
    return convert(ctx, input, dtype)


@register_converter("long")
def long(ctx, input, memory_format=None):
    return convert(ctx, input, torch.int64)


@register_converter("int")
def int_(ctx, input, memory_format=None):
    return convert(ctx, input, torch.int32)


@register_converter("bool")
def bool_(ctx, input, memory_format=None):
    return convert(ctx, input, torch.bool)
