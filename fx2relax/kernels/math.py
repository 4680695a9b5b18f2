"""Element-wise math functions: exp, log, sqrt, rsqrt, sin, cos, abs, neg, pow, clamp, floor
division, remainder and fmod, and the rounding family (floor, ceil, trunc, round, frac, sign, signbit).

Every kernel takes a tensor of any shape and returns one of the same shape in `dtype`: the
converter passes PyTorch's result dtype (an integer tensor's sqrt is float32, its abs stays
integer), and the input is converted to it first. IEEE arithmetic gives PyTorch's NaN and ±inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from tvm import te, tirx

from .elementwise import (
    Operand,
    broadcast_compute,
    cast_value,
    clamp_value,
    expr_dtype,
    is_finite,
    is_inf,
    is_nan,
    let_bound,
    nonzero_divisor,
    not_equal,
)


def _unary(data: te.Tensor, name: str, formula: Callable[[tirx.Expr], tirx.Expr], dtype: str | None) -> te.Tensor:
    dtype = dtype or data.dtype
    return te.compute(data.shape, lambda *i: formula(cast_value(data(*i), dtype)), name=name)


_EXP_POLYNOMIAL = (4.9999994e-1, 1.666652e-1, 4.16684e-2, 8.368851e-3, 1.381432e-3)
"""exp(r) ≈ 1 + r + r² p(r) on |r| <= ln(2) / 2 (coefficients from low to high degree): a fit of
the relative error toward minimax (Lawson's reweighted least squares), one degree below Cephes'
expf and as accurate in float32 (6e-8 relative before the last rounding, Cephes' 6e-8 too)."""

_EXP_SERIES = (1.0, 1.0, *_EXP_POLYNOMIAL)
"""exp(r) ≈ 1 + r + r² p(r) as one polynomial, evaluated by Horner's rule in FMAs (low to high degree)."""

_ROUNDING_MAGIC = 1.5 * 2**23
"""Added to a float32 of magnitude below 2^22, rounds it to the nearest integer, held in the low bits of the sum."""

_LN2_HIGH, _LN2_LOW = 0.693359375, -2.12194440e-4
"""ln 2 as an exactly representable high part plus a low correction, so x - n ln 2 is exact (Cephes)."""


def _rounded_integer(fields: tirx.Expr, magic: float) -> tirx.Expr:
    """The integer, as a float32, that the rounding `magic` (_ROUNDING_MAGIC plus an offset) left in
    the low bits of a sum whose bits are `fields`: read from the bits, not as sum - magic, which a
    simplifier may fold to the unrounded value once the sum is substituted (tuning's Let-free copy)."""
    magic_bits = int(np.float32(magic).view(np.int32))
    return (fields - tirx.const(magic_bits, "int32")).astype("float32")


def polynomial(coefficients: tuple[float, ...], value: tirx.Expr) -> tirx.Expr:
    """The float32 polynomial with `coefficients` (from low to high degree) at `value`, by Horner's rule."""
    result = tirx.const(coefficients[-1], "float32")
    for coefficient in reversed(coefficients[:-1]):
        result = result * value + tirx.const(coefficient, "float32")
    return result


def exp_value(value: tirx.Expr) -> tirx.Expr:
    """e ** x of one value. For float32 Cephes' method with _EXP_POLYNOMIAL, which vectorises (LLVM
    would call libm's scalar expf for each lane): x = n ln 2 + r with n = round(x / ln 2) by the
    rounding magic, ln 2 split in two parts so r is exact, and 2 ** n applied as two exponent-field
    powers of two cut from the magic's low bits (so results down to the denormals round once); x
    clamped to [-104, 89], where exp is 0 and inf in float32, by a NaN-keeping min and max, and NaN
    flows through the polynomial. Other dtypes use TVM's exp."""
    dtype = expr_dtype(value)
    if dtype != "float32":
        return te.exp(value)
    return let_bound(clamp_value(value, tirx.const(-104.0, "float32"), tirx.const(89.0, "float32")), _exp_clamped)


def normal_exp_value(value: tirx.Expr) -> tirx.Expr:
    """e ** x of one value, or 0 where x is below the log of the dtype's smallest normal number (e ** x
    a denormal, or 0 in any case), computed on x clamped to that log: no lane makes a denormal, each
    of which costs a microcode assist (softmax's exponentials of scores far below their row's max:
    Swin-T's windows). NaN stays NaN. Float32 and float64; other dtypes plain exp_value."""
    dtype = expr_dtype(value)
    if dtype not in ("float32", "float64"):
        return exp_value(value)
    threshold = tirx.const(float(np.log(np.finfo(dtype).tiny).astype(dtype)), dtype)
    return let_bound(value, lambda x: tirx.Select(
        x < threshold, tirx.const(0, dtype), exp_value(tirx.Select(x < threshold, threshold, x))
    ))


def _exp_clamped(x: tirx.Expr) -> tirx.Expr:
    """exp_value of a float32 x in [-104, 89] (or NaN), read once."""
    dtype = "float32"
    magic = _ROUNDING_MAGIC + 254  # its low bits: 254 + n, the sum of two exponent fields

    def scaled(rounded: tirx.Expr) -> tirx.Expr:
        fields = tirx.reinterpret("int32", rounded)
        return let_bound(tirx.shift_right(fields, tirx.const(1, "int32")), lambda first: let_bound(
            _rounded_integer(fields, magic), lambda n: let_bound(
                x - n * tirx.const(_LN2_HIGH, dtype) - n * tirx.const(_LN2_LOW, dtype),  # r, ln 2 in two parts
                lambda r: polynomial(_EXP_SERIES, r) * _power_of_two(first) * _power_of_two(fields - first),
            ),
        ))

    return let_bound(x * tirx.const(1.4426950408889634, dtype) + tirx.const(magic, dtype), scaled)


def _power_of_two(field: tirx.Expr) -> tirx.Expr:
    """The float32 power of two whose exponent field is `field`'s low 9 bits (the higher ones shift out)."""
    return tirx.reinterpret("float32", tirx.shift_left(field, tirx.const(23, "int32")))


_TWICE_EXP_OF_NEGATED = tuple(2 * c * (-1) ** k for k, c in enumerate(_EXP_SERIES))
"""2 e^-r as a polynomial in r (low to high degree): _EXP_POLYNOMIAL's 1 + r + r² p(r) at -r, doubled
(exactly) so that 2^(n-1), which is finite up to n = 128, scales it (`one_plus_exp_of_negated`)."""

def one_plus_exp_of_negated(value: tirx.Expr) -> tirx.Expr:
    """1 + e ** -x of one value: the denominator of sigmoid, SiLU and tanh, in about half the vector
    instructions of 1 + exp_value(-x). For float32: x clamped to [-89.5, 86.9] by NaN-keeping
    min/max, so 1 + e^-x is inf below the clamp (e^-x overflows from x = -88.72 on) and 1 above it
    (e^-86.9 ≈ 2e-38 vanishes next to 1); n = round(-x / ln 2) by the rounding magic, whose low bits
    give 2^(n-1)'s exponent field, then 1 + (2 e^-r) 2^(n-1) in one FMA, with -x = n ln 2 + r; NaN
    stays NaN through the polynomial, relative error about 2e-7. Other dtypes use TVM's exp."""
    dtype = expr_dtype(value)
    if dtype != "float32":
        return tirx.const(1, dtype) + te.exp(-value)
    return let_bound(value, _one_plus_exp_of_negated_float32)


def _one_plus_exp_of_negated_float32(value: tirx.Expr) -> tirx.Expr:
    """one_plus_exp_of_negated of a float32 value read once."""
    clamped = clamp_value(value, tirx.const(-89.5, "float32"), tirx.const(86.9, "float32"))
    return let_bound(clamped, _one_plus_exp_of_negated_clamped)


def _one_plus_exp_of_negated_clamped(x: tirx.Expr) -> tirx.Expr:
    """one_plus_exp_of_negated of a float32 x in [-89.5, 86.9] (or NaN), read once."""
    dtype = "float32"
    magic = _ROUNDING_MAGIC + 126  # its low bits: 126 + n, the exponent field of 2^(n-1)

    def scaled(rounded: tirx.Expr) -> tirx.Expr:
        fields = tirx.reinterpret("int32", rounded)
        return let_bound(_rounded_integer(fields, magic), lambda n: let_bound(
            x + n * tirx.const(_LN2_HIGH, dtype) + n * tirx.const(_LN2_LOW, dtype),  # -r, ln 2 in two parts
            lambda negated_r: polynomial(_TWICE_EXP_OF_NEGATED, negated_r) * _power_of_two(fields) + tirx.const(1.0, dtype),
        ))

    return let_bound(x * tirx.const(-1.4426950408889634, dtype) + tirx.const(magic, dtype), scaled)


_TANH_POLYNOMIAL = (-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3)
"""tanh(x) ≈ x + x³ p(x²) on |x| < 0.625 (coefficients from low to high degree; Cephes' tanhf)."""


def tanh_value(value: tirx.Expr) -> tirx.Expr:
    """tanh of one value. For float32 Cephes' tanhf, which vectorises (LLVM would call libm's
    scalar tanhf, or exp, per lane): x + x³ p(x²) below |x| = 0.625, else ±(1 - 2 / (1 + e^{2|x|}))
    with `one_plus_exp_of_negated` at -2|x| (±1 from |x| ≈ 9 on, ±inf included); relative error
    about 2e-7, -0 and NaN kept. Other dtypes use TVM's tanh."""
    dtype = expr_dtype(value)
    if dtype != "float32":
        return te.tanh(value)
    return let_bound(value, _tanh_float32)


def _tanh_float32(value: tirx.Expr) -> tirx.Expr:
    """tanh_value of a float32 value read once."""
    dtype = "float32"
    one, two = tirx.const(1.0, dtype), tirx.const(2.0, dtype)
    magnitude = tirx.abs(value)
    small = let_bound(value * value, lambda square: value * (polynomial(_TANH_POLYNOMIAL, square) * square + one))  # -0 kept

    def signed(large: tirx.Expr) -> tirx.Expr:
        return tirx.Select(value < tirx.const(0.0, dtype), -large, large)

    large = let_bound(one - two / one_plus_exp_of_negated(magnitude * tirx.const(-2.0, dtype)), signed)
    return tirx.Select(magnitude >= tirx.const(0.625, dtype), large, small)  # NaN: small, NaN


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


ELEMENTARY: dict[str, Callable[[tirx.Expr], tirx.Expr]] = {
    "reciprocal": lambda x: tirx.const(1, expr_dtype(x)) / x,
    "exp2": tirx.exp2, "log2": tirx.log2, "log10": tirx.log10, "log1p": tirx.log1p,
    "tan": tirx.tan, "asin": tirx.asin, "acos": tirx.acos, "atan": tirx.atan,
    "sinh": tirx.sinh, "cosh": tirx.cosh, "asinh": tirx.asinh, "acosh": tirx.acosh, "atanh": tirx.atanh,
    "erf": tirx.erf,
}
"""The float functions `elementary` computes, by PyTorch's name: TVM's intrinsics (LLVM's or libm's),
within an ulp or two of PyTorch's SLEEF/libm results, with the same NaN, ±inf and domain errors."""


def elementary(data: te.Tensor, function: str, dtype: str | None = None) -> te.Tensor:
    """ELEMENTARY[function] of each element, read as `dtype` (reciprocal of 0 is inf, of -0 -inf)."""
    return _unary(data, function, ELEMENTARY[function], dtype)


def absolute(data: te.Tensor) -> te.Tensor:
    """|x| in the input's dtype (NaN stays NaN, -0 becomes 0)."""
    return _unary(data, "abs", te.abs, None)


def negative(data: te.Tensor) -> te.Tensor:
    """-x in the input's dtype."""
    return _unary(data, "negative", lambda x: -x, None)


def floor(data: te.Tensor) -> te.Tensor:
    """The largest integer <= x, for a float tensor (NaN, ±inf and -0 unchanged)."""
    return _unary(data, "floor", tirx.floor, None)


def ceil(data: te.Tensor) -> te.Tensor:
    """The smallest integer >= x, for a float tensor (-0.5 gives -0, as C's ceil)."""
    return _unary(data, "ceil", tirx.ceil, None)


def trunc(data: te.Tensor) -> te.Tensor:
    """x rounded toward zero, for a float tensor (-0.5 gives -0)."""
    return _unary(data, "trunc", tirx.trunc, None)


def round_half_even(data: te.Tensor, decimals: int = 0) -> te.Tensor:
    """x rounded to `decimals` decimal places, halves to even (C's nearbyint), for a float tensor.

    As PyTorch's CPU kernel computes it: nearbyint(x * 10**d) / 10**d, or for negative d
    nearbyint(x / 10**-d) * 10**-d, with 10**|d| a double rounded to the tensor's dtype (inf when
    it overflows, so that x * inf / inf is NaN as in PyTorch).
    """
    if decimals == 0:
        return _unary(data, "round", tirx.nearbyint, None)
    power = 10.0 ** abs(decimals) if abs(decimals) <= 308 else math.inf
    with np.errstate(over="ignore"):
        scale = tirx.const(float(np.array(power).astype(str(data.dtype))), str(data.dtype))
    if decimals > 0:
        return _unary(data, "round", lambda x: tirx.nearbyint(x * scale) / scale, None)
    return _unary(data, "round", lambda x: tirx.nearbyint(x / scale) * scale, None)


def frac(data: te.Tensor) -> te.Tensor:
    """x - trunc(x), as PyTorch computes it (NaN for ±inf, the sign of x otherwise)."""
    return _unary(data, "frac", lambda x: x - tirx.trunc(x), None)


def sign(data: te.Tensor) -> te.Tensor:
    """1, -1 or 0 by the sign of x, in its dtype: NaN and -0 give 0, a bool stays itself."""
    if data.dtype == "bool":
        return _unary(data, "sign", lambda x: x, None)

    def formula(x: tirx.Expr) -> tirx.Expr:
        dtype = expr_dtype(x)
        zero = tirx.const(0, dtype)
        return tirx.Select(x > zero, tirx.const(1, dtype), tirx.Select(x < zero, tirx.const(-1, dtype), zero))

    return _unary(data, "sign", formula, None)


def signbit(data: te.Tensor) -> te.Tensor:
    """Whether x's sign bit is set, a bool tensor: True for -0.0 and a negative NaN, as C's signbit."""
    dtype = str(data.dtype)
    if dtype == "bool":
        return te.compute(data.shape, lambda *i: tirx.const(False, "bool"), name="signbit")
    if "float" in dtype:
        bits = dtype.replace("float", "int")
        return te.compute(data.shape, lambda *i: tirx.reinterpret(bits, data(*i)) < tirx.const(0, bits), name="signbit")
    return te.compute(data.shape, lambda *i: data(*i) < tirx.const(0, dtype), name="signbit")


def _infinity(dtype: str, negative: bool) -> tirx.Expr:
    return tirx.const(-math.inf if negative else math.inf, dtype)


FLOAT_CLASSES: dict[str, Callable[[tirx.Expr], tirx.Expr]] = {
    "isnan": is_nan, "isinf": is_inf, "isfinite": is_finite,
    "isposinf": lambda x: tirx.EQ(x, _infinity(expr_dtype(x), False)),
    "isneginf": lambda x: tirx.EQ(x, _infinity(expr_dtype(x), True)),
}
"""The tests `float_class` makes, by PyTorch's name."""


def float_class(data: te.Tensor, test: str) -> te.Tensor:
    """FLOAT_CLASSES[test] of each element, a bool tensor; integers and bools are finite numbers
    (isfinite True, the others False)."""
    if "float" in str(data.dtype):
        return te.compute(data.shape, lambda *i: FLOAT_CLASSES[test](data(*i)), name=test)
    return te.compute(data.shape, lambda *i: tirx.const(test == "isfinite", "bool"), name=test)


def nan_to_num(data: te.Tensor, nan: float, posinf: float, neginf: float) -> te.Tensor:
    """A float tensor with NaN, +inf and -inf replaced by the numbers given (already in its dtype)."""
    dtype = str(data.dtype)

    def formula(x: tirx.Expr) -> tirx.Expr:
        replaced = tirx.Select(tirx.EQ(x, _infinity(dtype, False)), tirx.const(posinf, dtype), x)
        replaced = tirx.Select(tirx.EQ(x, _infinity(dtype, True)), tirx.const(neginf, dtype), replaced)
        return tirx.Select(is_nan(x), tirx.const(nan, dtype), replaced)

    return _unary(data, "nan_to_num", formula, None)


def power(base: Operand, exponent: Operand, dtype: str) -> te.Tensor:
    """base ** exponent broadcast, both read as `dtype`. A float power is IEEE pow (C's), as
    PyTorch's: pow(x, 0) is 1 even for NaN, pow(1, y) is 1. Integer powers multiply (see int_power)."""
    return broadcast_compute((base, exponent), "power", te.power, dtype)


def square(data: te.Tensor, dtype: str | None = None) -> te.Tensor:
    """x * x: PyTorch computes pow(x, 2) as a product."""
    return _unary(data, "square", lambda x: x * x, dtype)


SCALAR_POWERS: dict[float, Callable[[tirx.Expr], tirx.Expr]] = {
    3.0: lambda x: x * x * x,
    -1.0: lambda x: tirx.const(1, expr_dtype(x)) / x,
    -2.0: lambda x: tirx.const(1, expr_dtype(x)) / (x * x),
    0.5: te.sqrt,
    -0.5: lambda x: tirx.const(1, expr_dtype(x)) / te.sqrt(x),
}
"""The float powers PyTorch's CPU kernel computes without pow (ATen's PowKernel), besides 2
(`square`): the same formulas give its results to the bit (pow's own differ in the last place)."""


def scalar_power(data: te.Tensor, exponent: float, dtype: str | None = None) -> te.Tensor:
    """x ** exponent for a float tensor and one of SCALAR_POWERS' exponents, as PyTorch computes it."""
    return _unary(data, "scalar_power", SCALAR_POWERS[float(exponent)], dtype)


def int_power(data: te.Tensor, exponent: int, dtype: str | None = None) -> te.Tensor:
    """x ** exponent for a non-negative integer exponent, as a product of `exponent` factors (an
    integer power in integers wraps on overflow as PyTorch's does)."""

    def formula(x):
        value = tirx.const(1, expr_dtype(x))
        for _ in range(exponent):
            value = value * x
        return value

    return _unary(data, "int_power", formula, dtype)


def clamp(data: te.Tensor, low: Operand | None, high: Operand | None) -> te.Tensor:
    """min(max(x, low), high) over the broadcast of data and the bounds (None: no bound), data's dtype.

    As PyTorch: a NaN input stays NaN, a NaN bound gives NaN, and low > high gives high.
    """
    operands = [data, *(b for b in (low, high) if b is not None)]
    floating = "float" in str(data.dtype)

    def bound(value: tirx.Expr, limit: tirx.Expr, beyond: tirx.Expr) -> tirx.Expr:
        clamped = tirx.Select(beyond, limit, value)
        return tirx.Select(is_nan(limit), limit, clamped) if floating else clamped

    def combine(x: tirx.Expr, *bounds: tirx.Expr) -> tirx.Expr:
        rest = list(bounds)
        if low is not None:
            lower = rest.pop(0)
            x = bound(x, lower, x < lower)
        if high is not None:
            upper = rest.pop(0)
            x = bound(x, upper, x > upper)
        return x

    return broadcast_compute(operands, "clamp", combine, str(data.dtype))


def _floor_divide_float(a: tirx.Expr, b: tirx.Expr) -> tirx.Expr:
    """PyTorch's float a // b (c10::div_floor_floating, after CPython): (a - fmod(a, b)) / b, one
    less when the remainder's sign differs from b's, rounded to the nearest integer; a zero quotient
    takes the sign of a / b, and b = 0 gives a / b (±inf or NaN). Exact, so bit for bit PyTorch's."""
    dtype = expr_dtype(a)
    zero, one = tirx.const(0, dtype), tirx.const(1, dtype)
    mod = tirx.Mod(a, b)  # a float Mod is LLVM's frem: C's fmod, exact
    quotient = (a - mod) / b
    quotient = tirx.Select(tirx.And(not_equal(mod, zero), not_equal(b < zero, mod < zero)), quotient - one, quotient)
    floor = te.floor(quotient)
    floor = tirx.Select(quotient - floor > tirx.const(0.5, dtype), floor + one, floor)
    true_quotient = a / b
    floor = tirx.Select(quotient == zero, tirx.copysign(zero, true_quotient), floor)
    return tirx.Select(b == zero, true_quotient, floor)


def floor_divide(lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """lhs // rhs broadcast, both read as `dtype`: floats as PyTorch computes them (NaN, ±inf, -0
    and x // 0 included, see _floor_divide_float); integers round down, and x // 0 gives x where
    PyTorch raises (a CPU would trap)."""
    if "float" in dtype:
        return broadcast_compute((lhs, rhs), "floor_divide", _floor_divide_float, dtype)
    return broadcast_compute((lhs, rhs), "floor_divide", lambda a, b: tirx.floordiv(a, nonzero_divisor(b)), dtype)


def _remainder_float(a: tirx.Expr, b: tirx.Expr) -> tirx.Expr:
    """PyTorch's float remainder: fmod(a, b), plus b when nonzero with a sign other than b's (a zero
    keeps fmod's sign, that of a); NaN for b = 0 or an infinite a."""
    zero = tirx.const(0, expr_dtype(a))
    mod = tirx.Mod(a, b)
    return tirx.Select(tirx.And(not_equal(mod, zero), not_equal(b < zero, mod < zero)), mod + b, mod)


def remainder(lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """torch.remainder (Python's %): the result has the divisor's sign, broadcast, read as `dtype`.
    Integers: x % 0 gives 0 where PyTorch raises."""
    if "float" in dtype:
        return broadcast_compute((lhs, rhs), "remainder", _remainder_float, dtype)
    return broadcast_compute((lhs, rhs), "remainder", lambda a, b: tirx.floormod(a, nonzero_divisor(b)), dtype)


def fmod(lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """torch.fmod (C's fmod): the result has the dividend's sign, broadcast, read as `dtype`; exact
    for floats (NaN for b = 0). Integers: x fmod 0 gives 0 where PyTorch raises."""
    if "float" in dtype:
        return broadcast_compute((lhs, rhs), "fmod", tirx.Mod, dtype)
    return broadcast_compute((lhs, rhs), "fmod", lambda a, b: tirx.truncmod(a, nonzero_divisor(b)), dtype)
