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


@register_converter(aten._to_copy.default, any_dtype=("input",))
def to_copy(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, memory_format=None):
    _device(ctx, device, layout)
    return convert(ctx, input, dtype)


@register_converter(aten.to.dtype, any_dtype=("input",))
def to_dtype(ctx, input, dtype, non_blocking=False, copy=False, memory_format=None):
    return convert(ctx, input, dtype)


@register_converter(aten.to.dtype_layout, any_dtype=("input",))
def to_dtype_layout(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, copy=False,
                    memory_format=None):
    _device(ctx, device, layout)
    return convert(ctx, input, dtype)


@register_converter(aten.to.device, any_dtype=("input",))
def to_device(ctx, input, device, dtype, non_blocking=False, copy=False, memory_format=None):
    _device(ctx, device)
    return convert(ctx, input, dtype)


@register_converter("to", any_dtype=("input", "args"))
def to(ctx, input, *args, device=None, dtype=None, non_blocking=False, copy=False, memory_format=None):
    """`x.to(dtype)`, `x.to(device, dtype)`, `x.to(other)` (other's dtype); a CPU device changes nothing."""
    target = dtype
    for arg in args:
        if isinstance(arg, torch.dtype):
            target = arg
        elif is_tensor(arg):
            target = dtypes.torch_dtype(dtypes.value_dtype(arg))
        elif isinstance(arg, (str, torch.device)):
            _device(ctx, arg)
        elif not isinstance(arg, bool):  # non_blocking, copy given by position
            raise ctx.unsupported("args", f"x.to({arg!r}) is not understood")
    _device(ctx, device)
    return convert(ctx, input, target)


@register_converter("float", any_dtype=("input",))
def float_(ctx, input, memory_format=None):
    return convert(ctx, input, torch.float32)


@register_converter("double", any_dtype=("input",))
def double(ctx, input, memory_format=None):
    return convert(ctx, input, torch.float64)


@register_converter("type_as", any_dtype=("input", "other"))
def type_as(ctx, input, other):
    """`x.type_as(other)`: x converted to other's dtype."""
    if not is_tensor(other):
        raise ctx.unsupported("other", f"must be a tensor, got {type(other).__name__}")
    return convert(ctx, input, dtypes.torch_dtype(dtypes.value_dtype(other)))


@register_converter("type", any_dtype=("input",))
def type_(ctx, input, dtype=None, non_blocking=False):
    if not isinstance(dtype, torch.dtype):
        raise ctx.unsupported("dtype", f"only x.type(torch.<dtype>) is supported, got {dtype!r}")
    return convert(ctx, input, dtype)


@register_converter("long", any_dtype=("input",))
def long(ctx, input, memory_format=None):
    return convert(ctx, input, torch.int64)


@register_converter("int", any_dtype=("input",))
def int_(ctx, input, memory_format=None):
    return convert(ctx, input, torch.int32)


@register_converter("bool", any_dtype=("input",))
def bool_(ctx, input, memory_format=None):
    return convert(ctx, input, torch.bool)


@register_converter("item", any_dtype=("input",))
def item(ctx, input):
    """`x.item()`: a Python number at import time. It is one only for a number the walk already holds
    (the torch.compile backend binds module attributes dynamo passes as 0-d tensors to their value);
    a tensor's value is known only at run time, so reading one is refused."""
    if isinstance(input, (bool, int, float)):
        return input
    raise ctx.unsupported("input", "reading a tensor's value as a Python number (.item()) needs its value at import "
                                   "time; it is known only at run time")
