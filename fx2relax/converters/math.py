"""Converters for element-wise math: exp, log, sqrt, rsqrt, sin, cos, abs, neg, pow, clamp, remainder
and fmod, the rounding family (floor, ceil, trunc/fix, round, frac, sign/sgn, signbit), as torch.
functions, tensor methods, operators (`-x`, `x ** 2`, `abs(x)`, `x % y`) and ATen overloads. (Floor
division is div's rounding mode, in elementwise.py.)

Result dtypes follow PyTorch: the float-valued functions of an integer tensor are float32 (the
default dtype), abs, neg and the rounding family keep the input's dtype (an integer tensor's floor
is itself; a bool tensor's is PyTorch's error), signbit is bool, and pow, remainder and fmod
promote their operands.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np
import torch

from .. import dtypes
from ..importer import NodeContext, is_tensor
from ..kernels import math as kernels
from ..registry import register_converter
from .elementwise import binary, broadcast_operands, refuse_integer_division_by_zero, scalar

aten = torch.ops.aten


def _tensor(ctx: NodeContext, value: object, parameter: str = "input") -> str:
    """The dtype of a tensor argument; anything else is refused naming the parameter."""
    if not is_tensor(value):
        raise ctx.unsupported(parameter, f"expected a tensor, got {type(value).__name__} {value!r}")
    return dtypes.value_dtype(value)


def _float_function(ctx: NodeContext, kernel, input, **params):
    """A float-valued function (exp, log, sqrt, ...): integer and bool inputs give the default float
    (in place, PyTorch's error: the float result can't be written back)."""
    inplace = ctx.check_inplace()
    input_dtype = _tensor(ctx, input)
    dtype = dtypes.float_result(input_dtype)
    if inplace and dtype != input_dtype:
        raise ctx.unsupported("input", f"in place, the result type {dtype} can't be cast to the input's {input_dtype}")
    return ctx.emit_te(kernel, input, dtype=dtype, **params)


@register_converter(torch.exp, torch.exp_, "exp", "exp_", aten.exp.default, any_dtype=("input",))
def exp(ctx, input):
    return _float_function(ctx, kernels.exp, input)


@register_converter(torch.log, torch.log_, "log", "log_", aten.log.default, any_dtype=("input",))
def log(ctx, input):
    return _float_function(ctx, kernels.log, input)


@register_converter(torch.sqrt, torch.sqrt_, "sqrt", "sqrt_", aten.sqrt.default, any_dtype=("input",))
def sqrt(ctx, input):
    return _float_function(ctx, kernels.sqrt, input)


@register_converter(torch.rsqrt, torch.rsqrt_, "rsqrt", "rsqrt_", aten.rsqrt.default, any_dtype=("input",))
def rsqrt(ctx, input):
    return _float_function(ctx, kernels.rsqrt, input)


@register_converter(torch.sin, torch.sin_, "sin", "sin_", aten.sin.default, any_dtype=("input",))
def sin(ctx, input):
    return _float_function(ctx, kernels.sin, input)


@register_converter(torch.cos, torch.cos_, "cos", "cos_", aten.cos.default, any_dtype=("input",))
def cos(ctx, input):
    return _float_function(ctx, kernels.cos, input)


def _register_elementary(function: str, *aliases: str) -> None:
    """Register kernels.elementary's `function` for torch.X, Tensor.X, their in-place forms and
    aten.X.default, for X the function and its aliases (torch.arcsin is asin)."""

    def convert(ctx, input):
        return _float_function(ctx, kernels.elementary, input, function=function)

    convert.__name__ = convert.__qualname__ = function
    convert.__doc__ = f"torch.{function}: a float function (integer and bool inputs give the default float)."
    targets: list = []
    for name in (function, *aliases):
        targets += [name, name + "_", *(getattr(torch, form) for form in (name, name + "_") if hasattr(torch, form))]
        targets += [getattr(aten, name).default] if hasattr(aten, name) else []
    register_converter(*targets, any_dtype=("input",))(convert)


for _function, *_aliases in (
    ("reciprocal",), ("exp2",), ("log2",), ("log10",), ("log1p",), ("tan",), ("asin", "arcsin"), ("acos", "arccos"),
    ("atan", "arctan"), ("sinh",), ("cosh",), ("asinh", "arcsinh"), ("acosh", "arccosh"), ("atanh", "arctanh"), ("erf",),
):
    _register_elementary(_function, *_aliases)


def _register_float_class(test: str) -> None:
    """Register kernels.float_class's `test` (isnan, isinf, ...) for torch.X, Tensor.X and aten.X.default."""

    def convert(ctx, input):
        _tensor(ctx, input)
        return ctx.emit_te(kernels.float_class, input, test=test)

    convert.__name__ = convert.__qualname__ = test
    convert.__doc__ = f"torch.{test}: a bool tensor (integer and bool inputs are finite numbers)."
    register_converter(getattr(torch, test), test, getattr(aten, test).default, any_dtype=("input",))(convert)


for _test in kernels.FLOAT_CLASSES:
    _register_float_class(_test)


@register_converter(torch.abs, torch.abs_, torch.absolute, operator.abs, "abs", "abs_", "absolute", aten.abs.default, any_dtype=("input",))
def absolute(ctx, input):
    ctx.check_inplace()
    if _tensor(ctx, input) == "bool":
        raise ctx.unsupported("input", "abs of a bool tensor is an error in PyTorch")
    return ctx.emit_te(kernels.absolute, input)


@register_converter(torch.neg, torch.negative, operator.neg, "neg", "neg_", "negative", aten.neg.default, any_dtype=("input",))
def neg(ctx, input):
    ctx.check_inplace()
    if _tensor(ctx, input) == "bool":
        raise ctx.unsupported("input", "negating a bool tensor is an error in PyTorch; use ~ or logical_not")
    return ctx.emit_te(kernels.negative, input)


@register_converter(torch.square, "square", aten.square.default, any_dtype=("input",))
def square(ctx, input):
    ctx.check_inplace()
    dtype = _tensor(ctx, input)
    return ctx.emit_te(kernels.square, input, dtype="int64" if dtype == "bool" else dtype)


@register_converter(
    torch.pow, operator.pow, operator.ipow, "pow", "pow_",
    aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor, aten.pow.Scalar, any_dtype=("input", "exponent"),
)
def pow(ctx, input, exponent):
    """input ** exponent; either may be a Python number (not both: that is Python's own pow)."""
    ctx.check_inplace()
    for name, value in (("input", input), ("exponent", exponent)):
        if not (is_tensor(value) or (isinstance(value, numbers.Real))):
            raise ctx.unsupported(name, f"expected a tensor or a real number, got {type(value).__name__} {value!r}")
    if not (is_tensor(input) or is_tensor(exponent)):
        return operator.pow(input, exponent)
    broadcast_operands(ctx, input, exponent)
    dtype = dtypes.result_type(input, exponent)
    if not is_tensor(exponent) and not isinstance(exponent, bool):
        if exponent == 2:
            return ctx.emit_te(kernels.square, input, dtype=dtype)
        if dtypes.is_floating(dtype) and float(exponent) in kernels.SCALAR_POWERS:
            return ctx.emit_te(kernels.scalar_power, input, exponent=float(exponent), dtype=dtype)
        if not dtypes.is_floating(dtype):
            if not (isinstance(exponent, int) and 0 <= exponent <= 64):
                raise ctx.unsupported("exponent", f"an integer tensor's power must be an int in [0, 64], got {exponent!r}")
            return ctx.emit_te(kernels.int_power, input, exponent=int(exponent), dtype=dtype)
    if not dtypes.is_floating(dtype):
        raise ctx.unsupported("exponent", "integer powers with a tensor exponent are not supported (only float ones)")
    return ctx.emit_te(kernels.power, scalar(input, dtype), scalar(exponent, dtype), dtype=dtype)


def _bound(ctx: NodeContext, value: object, dtype: str, parameter: str) -> object:
    """A clamp bound: None, a tensor of the input's dtype, or a number that fits it (NaN refused)."""
    if value is None:
        return None
    if is_tensor(value):
        if dtypes.value_dtype(value) != dtype:
            raise ctx.unsupported(parameter, f"a {dtypes.value_dtype(value)} bound on a {dtype} input is not supported")
        return value
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ctx.unsupported(parameter, f"expected a number, a tensor or None, got {type(value).__name__} {value!r}")
    if not dtypes.is_floating(dtype) and not isinstance(value, numbers.Integral):
        raise ctx.unsupported(parameter, f"a float bound {value!r} on a {dtype} input is not supported (type promotion)")
    if value != value:
        raise ctx.unsupported(parameter, "a NaN bound is not supported")
    return scalar(value, dtype)


def _clamp(ctx: NodeContext, input, min, max):
    dtype = _tensor(ctx, input)
    if dtype == "bool":
        raise ctx.unsupported("input", "clamp of a bool tensor is not supported")
    if min is None and max is None:
        raise ctx.unsupported("min", "at least one of min and max must be given, as PyTorch requires")
    inplace = ctx.check_inplace()
    low, high = _bound(ctx, min, dtype, "min"), _bound(ctx, max, dtype, "max")
    shape = broadcast_operands(ctx, input, *(b for b in (min, max) if b is not None))
    if inplace and tuple(shape) != tuple(ctx.shape(input)):
        raise ctx.shape_error(f"in place, the result (shape {shape}) must keep the input's shape {ctx.shape(input)}")
    return ctx.emit_te(kernels.clamp, input, low, high)


@register_converter(
    torch.clamp, torch.clip, torch.clamp_, "clamp", "clamp_", "clip", "clip_",
    aten.clamp.default, aten.clamp.Tensor, any_dtype=("input", "min", "max"),
)
def clamp(ctx, input, min=None, max=None):
    """input clamped to [min, max] (numbers or broadcasting tensors, either None); NaN as in PyTorch."""
    return _clamp(ctx, input, min, max)


@register_converter(torch.clamp_min, "clamp_min", "clamp_min_", aten.clamp_min.default, any_dtype=("input", "min"))
def clamp_min(ctx, input, min):
    return _clamp(ctx, input, min, None)


@register_converter(torch.clamp_max, "clamp_max", "clamp_max_", aten.clamp_max.default, any_dtype=("input", "max"))
def clamp_max(ctx, input, max):
    return _clamp(ctx, input, None, max)


def _modulo(ctx: NodeContext, kernel, input, other):
    """remainder or fmod of two operands (one a tensor, the other maybe a number) in their promoted
    dtype; bool operands are PyTorch's error."""
    if not (is_tensor(input) or is_tensor(other)):
        raise ctx.unsupported("input", f"expected a tensor operand, got {input!r} and {other!r}")
    dtype = dtypes.result_type(input, other)
    if dtype == "bool":
        raise ctx.unsupported("other", f"{kernel.__name__} of bool tensors is an error in PyTorch")
    refuse_integer_division_by_zero(ctx, other, dtype)
    return binary(ctx, kernel, input, other, operator.mod)


@register_converter(
    torch.remainder, "remainder", "remainder_", "__mod__",
    aten.remainder.Tensor, aten.remainder.Scalar, aten.remainder.Scalar_Tensor, any_dtype=("input", "other"),
)
def remainder(ctx, input, other):
    """Python's %: input - floor(input / other) * other, with the divisor's sign, exactly as PyTorch."""
    return _modulo(ctx, kernels.remainder, input, other)


@register_converter("__rmod__", any_dtype=("input", "other"))
def rmod(ctx, input, other):
    """`x.__rmod__(y)` is y % x."""
    return _modulo(ctx, kernels.remainder, other, input)


@register_converter(torch.fmod, "fmod", "fmod_", aten.fmod.Tensor, aten.fmod.Scalar, any_dtype=("input", "other"))
def fmod(ctx, input, other):
    """C's fmod: the remainder of the quotient truncated toward zero, with the dividend's sign."""
    return _modulo(ctx, kernels.fmod, input, other)


def _rounding(ctx: NodeContext, kernel, input, **params):
    """floor, ceil, trunc or round of a float tensor; an integer tensor is already integral (PyTorch
    returns it unchanged) and a bool one is PyTorch's error."""
    ctx.check_inplace()
    dtype = _tensor(ctx, input)
    if dtype == "bool":
        raise ctx.unsupported("input", f"{kernel.__name__} of a bool tensor is an error in PyTorch")
    if not dtypes.is_floating(dtype):
        return input
    return ctx.emit_te(kernel, input, **params)


@register_converter(torch.floor, torch.floor_, "floor", "floor_", aten.floor.default, any_dtype=("input",))
def floor(ctx, input):
    return _rounding(ctx, kernels.floor, input)


@register_converter(torch.ceil, torch.ceil_, "ceil", "ceil_", aten.ceil.default, any_dtype=("input",))
def ceil(ctx, input):
    return _rounding(ctx, kernels.ceil, input)


@register_converter(
    torch.trunc, torch.trunc_, torch.fix, torch.fix_, "trunc", "trunc_", "fix", "fix_",
    aten.trunc.default, aten.fix.default, any_dtype=("input",),
)
def trunc(ctx, input):
    return _rounding(ctx, kernels.trunc, input)


@register_converter(
    torch.round, torch.round_, "round", "round_", aten.round.default, aten.round.decimals, any_dtype=("input",),
)
def round(ctx, input, decimals=None):
    """Round half to even; `decimals` places (negative: tens, hundreds, ...) as PyTorch's kernel
    computes them. An integer tensor with `decimals` given is PyTorch's error."""
    if decimals is None:
        return _rounding(ctx, kernels.round_half_even, input)
    if not isinstance(decimals, numbers.Integral) or isinstance(decimals, bool):
        raise ctx.unsupported("decimals", f"must be an int, got {decimals!r}")
    if not dtypes.is_floating(_tensor(ctx, input)):
        raise ctx.unsupported("decimals", f"round with decimals of a {_tensor(ctx, input)} tensor is an error in PyTorch")
    return _rounding(ctx, kernels.round_half_even, input, decimals=int(decimals))


@register_converter(torch.frac, torch.frac_, "frac", "frac_", aten.frac.default, any_dtype=("input",))
def frac(ctx, input):
    """x - trunc(x) of a float tensor (integer and bool tensors are PyTorch's error)."""
    ctx.check_inplace()
    dtype = _tensor(ctx, input)
    if not dtypes.is_floating(dtype):
        raise ctx.unsupported("input", f"frac of a {dtype} tensor is an error in PyTorch")
    return ctx.emit_te(kernels.frac, input)


@register_converter(torch.sign, torch.sgn, "sign", "sign_", "sgn", "sgn_", aten.sign.default, aten.sgn.default, any_dtype=("input",))
def sign(ctx, input):
    """1, -1 or 0 in the input's dtype (sgn of a real tensor is sign); NaN gives 0."""
    ctx.check_inplace()
    _tensor(ctx, input)
    return ctx.emit_te(kernels.sign, input)


@register_converter(torch.signbit, "signbit", aten.signbit.default, any_dtype=("input",))
def signbit(ctx, input):
    """Whether the sign bit is set (True for -0.0), a bool tensor."""
    _tensor(ctx, input)
    return ctx.emit_te(kernels.signbit, input)


@register_converter(torch.nan_to_num, torch.nan_to_num_, "nan_to_num", "nan_to_num_", aten.nan_to_num.default, any_dtype=("input",))
def nan_to_num(ctx, input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced (defaults 0, the dtype's largest and lowest finite numbers), each
    number cast to the dtype as PyTorch casts it (1e40 in float32 is inf); integer tensors unchanged."""
    ctx.check_inplace()
    dtype = _tensor(ctx, input)
    for name, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if value is not None and (not isinstance(value, numbers.Real) or isinstance(value, bool)):
            raise ctx.unsupported(name, f"expected a number or None, got {type(value).__name__} {value!r}")
    if not dtypes.is_floating(dtype):
        return input
    info = np.finfo(dtype)
    with np.errstate(over="ignore"):
        numbers_in_dtype = [float(np.array(v).astype(dtype)) for v in (nan or 0.0, info.max if posinf is None else posinf,
                                                                        info.min if neginf is None else neginf)]
    return ctx.emit_te(kernels.nan_to_num, input, *numbers_in_dtype)
