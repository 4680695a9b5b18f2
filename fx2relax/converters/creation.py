"""Converters for tensors made from sizes and scalars: arange, zeros/ones/full (and their _like and
new_ forms), scalar_tensor, and triu/tril; torch. functions, tensor methods and ATen overloads.

Sizes may be symbolic (`torch.arange(x.size(1))` with a dynamic sequence length). A dtype given
as None is PyTorch's default: float32 for a float fill, int64 for an int one, bool for a bool one.
Devices other than the CPU and layouts other than strided are refused.
"""

from __future__ import annotations

import math
import numbers

import torch
from tvm import sym, tirx

from .. import dtypes
from ..importer import NodeContext, is_tensor
from ..kernels import creation as kernels
from ..registry import register_converter

aten = torch.ops.aten


def _placement(ctx: NodeContext, device: object, layout: object, out: object = None) -> None:
    """Refuse a non-CPU device, a non-strided layout or an `out` tensor (what PyTorch makes would differ)."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    if device is not None and torch.device(device).type != "cpu":
        raise ctx.unsupported("device", f"fx2relax makes CPU tensors, got device={device!r}")
    if layout is not None and layout != torch.strided:
        raise ctx.unsupported("layout", f"only torch.strided is supported, got {layout!r}")


def _dtype(ctx: NodeContext, dtype: object, fill: object) -> str:
    """The dtype name for `dtype`, or PyTorch's inference from the fill value when None."""
    if dtype is None:
        if isinstance(fill, bool):
            return "bool"
        if isinstance(fill, numbers.Integral) or (isinstance(fill, tirx.Expr) and "int" in str(fill.ty.dtype)):
            return "int64"
        return dtypes.default_float()
    if not isinstance(dtype, torch.dtype) or dtypes.dtype_name(dtype) not in dtypes.TENSOR_DTYPES:
        raise ctx.unsupported("dtype", f"must be one of {', '.join(dtypes.TENSOR_DTYPES)}, got {dtype!r}")
    return dtypes.dtype_name(dtype)


def _size(ctx: NodeContext, size: object, parameter: str = "size") -> list:
    """A size argument (a sequence of ints or size expressions, or ints given one by one) as a list."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    dims = []
    for dim in size:
        if isinstance(dim, tirx.Expr) and "int" in str(dim.ty.dtype):
            dims.append(dim)
        elif isinstance(dim, numbers.Integral) and not isinstance(dim, bool) and dim >= 0:
            dims.append(int(dim))
        else:
            raise ctx.unsupported(parameter, f"sizes must be non-negative integers, got {size!r}")
    return dims


def _fill(ctx: NodeContext, value: object, parameter: str = "fill_value") -> object:
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        return value
    raise ctx.unsupported(parameter, f"must be a Python number, got {type(value).__name__} {value!r}")


def _full(ctx: NodeContext, shape: list, value: object, dtype: str):
    if not dtypes.is_floating(dtype) and isinstance(value, float) and not math.isfinite(value):
        raise ctx.unsupported("fill_value", f"a {dtype} tensor cannot hold {value!r}")
    if dtype != "bool" and not dtypes.is_floating(dtype):
        value = int(value)
    return ctx.emit_te(kernels.full, shape=shape, fill_value=value, dtype=dtype)


@register_converter(torch.full, aten.full.default, any_dtype=("fill_value",))
def full(ctx, size, fill_value, *, out=None, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False):
    _placement(ctx, device, layout, out)
    value = _fill(ctx, fill_value)
    return _full(ctx, _size(ctx, (size,)), value, _dtype(ctx, dtype, value))


@register_converter(torch.zeros, aten.zeros.default)
def zeros(ctx, *size, out=None, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False, names=None):
    _placement(ctx, device, layout, out)
    return _full(ctx, _size(ctx, size), 0, _dtype(ctx, dtype, 0.0))


@register_converter(torch.ones, aten.ones.default)
def ones(ctx, *size, out=None, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False, names=None):
    _placement(ctx, device, layout, out)
    return _full(ctx, _size(ctx, size), 1, _dtype(ctx, dtype, 1.0))


def _like(ctx: NodeContext, input, value, dtype, layout, device, memory_format=None):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    _placement(ctx, device, layout)
    name = dtypes.value_dtype(input) if dtype is None else _dtype(ctx, dtype, value)
    return _full(ctx, list(ctx.shape(input)), _fill(ctx, value), name)


@register_converter(torch.full_like, aten.full_like.default, any_dtype=("input", "fill_value"))
def full_like(ctx, input, fill_value, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False,
              memory_format=None):
    return _like(ctx, input, fill_value, dtype, layout, device)


@register_converter(torch.zeros_like, aten.zeros_like.default, any_dtype=("input",))
def zeros_like(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False, memory_format=None):
    return _like(ctx, input, 0, dtype, layout, device)


@register_converter(torch.ones_like, aten.ones_like.default, any_dtype=("input",))
def ones_like(ctx, input, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False, memory_format=None):
    return _like(ctx, input, 1, dtype, layout, device)


def _new(ctx: NodeContext, input, size, value, dtype, layout, device):
    """x.new_full(size, value): a new tensor with x's dtype (unless given)."""
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    _placement(ctx, device, layout)
    name = dtypes.value_dtype(input) if dtype is None else _dtype(ctx, dtype, value)
    return _full(ctx, _size(ctx, size), _fill(ctx, value), name)


@register_converter("new_full", aten.new_full.default, any_dtype=("input", "fill_value"))
def new_full(ctx, input, size, fill_value, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False):
    return _new(ctx, input, (size,), fill_value, dtype, layout, device)


@register_converter("new_zeros", aten.new_zeros.default, any_dtype=("input",))
def new_zeros(ctx, input, *size, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False):
    return _new(ctx, input, size, 0, dtype, layout, device)


@register_converter("new_ones", aten.new_ones.default, any_dtype=("input",))
def new_ones(ctx, input, *size, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False):
    return _new(ctx, input, size, 1, dtype, layout, device)


@register_converter(torch.scalar_tensor, aten.scalar_tensor.default, any_dtype=("s",))
def scalar_tensor(ctx, s, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad=False):
    """A 0-d tensor holding `s` (float32 by default, as PyTorch)."""
    _placement(ctx, device, layout)
    value = _fill(ctx, s, "s")
    return _full(ctx, [], value, dtypes.default_float() if dtype is None else _dtype(ctx, dtype, value))


def _number(ctx: NodeContext, value: object, parameter: str) -> object:
    """An arange bound: a Python number or an integer size expression."""
    if isinstance(value, tirx.Expr) and "int" in str(value.ty.dtype):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    raise ctx.unsupported(parameter, f"must be a number, got {type(value).__name__} {value!r}")


@register_converter(torch.arange, aten.arange.default, aten.arange.start, aten.arange.start_step)
def arange(ctx, start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, pin_memory=None,
           requires_grad=False):
    """[start, start + step, ...) below `end` (one argument: [0, start)). The length is PyTorch's
    ceil((end - start) / step); a symbolic end (a dynamic size) must have integer start and step."""
    _placement(ctx, device, layout, out)
    if end is None:
        start, end = 0, start
    start, end, step = (_number(ctx, v, name) for v, name in ((start, "start"), (end, "end"), (step, "step")))
    if isinstance(step, (int, float)) and step == 0:
        raise ctx.shape_error("step must be nonzero", "step")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    name = _dtype(ctx, dtype, 0.0 if is_float else 0)
    symbolic = [v for v in (start, end, step) if isinstance(v, tirx.Expr)]
    if symbolic:
        if is_float:
            raise ctx.unsupported("end", "a symbolic arange needs integer start, end and step")
        if not isinstance(step, int):
            raise ctx.unsupported("step", "a symbolic arange needs an integer step")
        begin, stop = (tirx.const(v, "int64") if isinstance(v, int) else v for v in (start, end))
        span = stop - begin if step > 0 else begin - stop
        length = sym.Analyzer().simplify(tirx.ceildiv(span, abs(step)))  # sizes are positive: end > start
        if isinstance(length, tirx.IntImm):
            length = int(length.value)
    else:
        length = math.ceil((end - start) / step)
        if length < 0:
            raise ctx.shape_error(f"upper bound and larger bound inconsistent with step sign (start={start}, end={end}, "
                                  f"step={step})", "step")
    return ctx.emit_te(kernels.arange, length=length, start=start, step=step, dtype=name)


def _triangle(ctx: NodeContext, input, diagonal, upper: bool, out=None):
    ctx.check_inplace()
    _placement(ctx, None, None, out)
    if not is_tensor(input) or len(ctx.shape(input)) < 2:
        raise ctx.shape_error(f"expects a tensor of at least 2 dimensions, got {input!r}", "input")
    if isinstance(diagonal, bool) or not isinstance(diagonal, numbers.Integral):
        raise ctx.unsupported("diagonal", f"must be an int, got {diagonal!r}")
    return ctx.emit_te(kernels.triangle, input, diagonal=int(diagonal), upper=upper)


@register_converter(torch.triu, "triu", "triu_", aten.triu.default, any_dtype=("input",))
def triu(ctx, input, diagonal=0, *, out=None):
    return _triangle(ctx, input, diagonal, upper=True, out=out)


@register_converter(torch.tril, "tril", "tril_", aten.tril.default, any_dtype=("input",))
def tril(ctx, input, diagonal=0, *, out=None):
    return _triangle(ctx, input, diagonal, upper=False, out=out)
