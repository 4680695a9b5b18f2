"""Element-wise math functions: exp, log, sqrt, rsqrt, sin, cos, abs, neg and pow.

Every kernel takes a tensor of any shape and returns one of the same shape in `dtype`: the
converter passes PyTorch's result dtype (an integer tensor's sqrt is float32, its abs stays
integer), and the input is converted to it first. IEEE arithmetic gives PyTorch's NaN and ±inf.
"""

from __future__ import annotations

from collections.abc import Callable

from tvm import te, tirx

from .elementwise import Operand, broadcast_compute, cast_value, expr_dtype


def _unary(data: te.Tensor, name: str, formula: Callable[[tirx.Expr], tirx.Expr], dtype: str | None) -> te.Tensor:
    dtype = dtype or data.dtype
    return te.compute(data.shape, lambda *i: formula(cast_value(data(*i), dtype)), name=name)


def exp(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """e ** x."""
    return _unary(data, "exp", te.exp, dtype)


def log(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """Natural logarithm: -inf at 0, NaN below 0."""
    return _unary(data, "log", te.log, dtype)


def sqrt(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """Square root: NaN below 0 (-0 stays -0)."""
    return _unary(data, "sqrt", te.sqrt, dtype)


def rsqrt(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """1 / sqrt(x), as PyTorch computes it: inf at 0, NaN below 0."""
    return _unary(data, "rsqrt", lambda x: tirx.const(1, expr_dtype(x)) / te.sqrt(x), dtype)


def sin(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """Sine (NaN at ±inf)."""
    return _unary(data, "sin", te.sin, dtype)


def cos(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """Cosine (NaN at ±inf)."""
    return _unary(data, "cos", te.cos, dtype)


def absolute(data: te.Tensor) -> te.Tensor:
    """|x| in the input's dtype (NaN stays NaN, -0 becomes 0)."""
    return _unary(data, "abs", te.abs, None)


def negative(data: te.Tensor) -> te.Tensor:
    """-x in the input's dtype."""
    return _unary(data, "negative", lambda x: -x, None)


def power(base: Operand, exponent: Operand, dtype: str) -> te.Tensor:
    """base ** exponent broadcast, both read as `dtype`. A float power is IEEE pow (C's), as
    PyTorch's: pow(x, 0) is 1 even for NaN, pow(1, y) is 1. Integer powers multiply (see int_power)."""
    return broadcast_compute((base, exponent), "power", te.power, dtype)


def square(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """x * x: PyTorch computes pow(x, 2) as a product."""
    return _unary(data, "square", lambda x: x * x, dtype)


def int_power(data: te.Tensor, exponent: int, dtype: str | None = None) -> te.Tensor:
    """x ** exponent for a non-negative integer exponent, as a product of `exponent` factors (an
    integer power in integers wraps on overflow as PyTorch's does)."""

    def formula(x):
        value = tirx.const(1, expr_dtype(x))
        for _ in range(exponent):
            value = value * x
        return value

    return _unary(data, "int_power", formula, dtype)
