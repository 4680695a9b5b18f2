"""Element-wise activations, each matching PyTorch's CPU kernels on NaN and ±inf.

Every kernel takes a tensor of any shape and returns one of the same shape and dtype. Clamps are
written with Select on comparisons that are false for NaN, so a NaN input stays NaN (a plain
min/max would turn it into a bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from tvm import te, tirx

from .elementwise import clamp_value, expr_dtype, is_finite, let_bound
from .math import exp_value, one_plus_exp_of_negated, polynomial, tanh_value


def _elementwise(data: te.Tensor, name: str, formula: Callable[[tirx.Expr], tirx.Expr]) -> te.Tensor:
    """formula(x) per element, x bound once (`let_bound`): inlined, its producer is computed once."""
    return te.compute(data.shape, lambda *i: let_bound(data(*i), formula), name=name)


def _scale(value: tirx.Expr, factor: float, dtype: str) -> tirx.Expr:
    """value * factor; for factor 0 spelled out, as TVM's simplifier folds x * 0 to 0 even where
    IEEE (and PyTorch) give NaN: for NaN and ±inf (value bound once: isfinite reads it twice)."""
    if factor != 0:
        return value * tirx.const(factor, dtype)
    return let_bound(value, lambda x: tirx.Select(is_finite(x), tirx.const(0, dtype), tirx.const(float("nan"), dtype)))


def _expm1(value: tirx.Expr, dtype: str) -> tirx.Expr:
    """exp(x) - 1, accurate near 0 where exp(x) - 1 would round to 0: Kahan's (exp(x) - 1) * x /
    log(exp(x)) for |x| < 0.5 (beyond, exp(x) - 1 is already accurate, while exp(x) may be denormal
    and its log poor, or inf and the quotient NaN); x and exp(x) bound once."""
    one, half = tirx.const(1, dtype), tirx.const(0.5, dtype)

    def formula(x: tirx.Expr) -> tirx.Expr:
        return let_bound(te.exp(x), lambda exp: tirx.Select(
            tirx.abs(x) < half, tirx.Select(exp == one, x, (exp - one) * x / te.log(exp)), exp - one
        ))

    return let_bound(value, formula)


_ERF_NUMERATOR = (-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04, -5.69250639462346e-05,
                  -2.10102402082508e-06, 2.77068142495902e-08, -2.72614225801306e-10)
_ERF_DENOMINATOR = (-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03, -2.13374055278905e-04,
                    -1.45660718464996e-05)
"""erf(x) ≈ x p(x²) / q(x²) on [-4, 4] (coefficients from low to high degree; Eigen's float erf):
absolute error below 4e-7, exactly ±1 at ±4."""

def _erf(value: tirx.Expr, dtype: str) -> tirx.Expr:
    """erf(x). For float32 a rational approximation that vectorises (LLVM would call libm's scalar
    erff for each lane), within 4e-7 of erf; x clamped to [-4, 4] (beyond it erf is ±1 in float32),
    NaN kept. Other dtypes use the exact erf."""
    if dtype != "float32":
        return te.erf(value)
    return let_bound(clamp_value(value, tirx.const(-4.0, dtype), tirx.const(4.0, dtype)), _erf_clamped)


def _erf_clamped(x: tirx.Expr) -> tirx.Expr:
    """erf of a float32 x in [-4, 4] (`_erf`), x² computed once."""
    return let_bound(x * x, lambda square: x * polynomial(_ERF_NUMERATOR, square) / polynomial(_ERF_DENOMINATOR, square))


def relu(data: te.Tensor) -> te.Tensor:
    """max(x, 0); NaN stays NaN as in PyTorch (a plain max would zero it)."""
    zero = tirx.const(0, data.dtype)
    return _elementwise(data, "relu", lambda x: tirx.Select(x < zero, zero, x))


def hardtanh(data: te.Tensor, min_val: float, max_val: float) -> te.Tensor:
    """x clamped to [min_val, max_val] (ReLU6 is [0, 6]); NaN stays NaN."""
    low, high = tirx.const(min_val, data.dtype), tirx.const(max_val, data.dtype)
    return _elementwise(data, "hardtanh", lambda x: clamp_value(x, low, high))


def logistic(value: tirx.Expr) -> tirx.Expr:
    """1 / (1 + exp(-x)) of one value: exactly 0 and 1 at ∓inf, NaN for NaN (recurrent cells' gates,
    whose nested expressions exp_value, which repeats its argument, would multiply)."""
    one = tirx.const(1, expr_dtype(value))
    return one / (one + te.exp(-value))


def sigmoid(data: te.Tensor) -> te.Tensor:
    """1 / (1 + exp(-x)) (`one_plus_exp_of_negated`: vectorised for float32): exactly 0 and 1 at ∓inf, NaN for NaN."""
    one = tirx.const(1, data.dtype)
    return _elementwise(data, "sigmoid", lambda x: one / one_plus_exp_of_negated(x))


def tanh(data: te.Tensor) -> te.Tensor:
    """tanh(x) (`tanh_value`: vectorised for float32, ±1 at ±inf, NaN for NaN)."""
    return _elementwise(data, "tanh", tanh_value)


def silu(data: te.Tensor) -> te.Tensor:
    """x / (1 + exp(-x)) as PyTorch computes it (`one_plus_exp_of_negated`: vectorised for float32):
    silu(-inf) is NaN there too (-inf / inf), and -0 for x < -88.72, where exp(-x) overflows."""
    return _elementwise(data, "silu", lambda x: x / one_plus_exp_of_negated(x))


def gelu(data: te.Tensor, approximate: str = "none") -> te.Tensor:
    """x * Φ(x): with approximate="none" x (0.5 + 0.5 erf(x / √2)) (erf as `_erf`: vectorised for
    float32; an FMA and a multiply where PyTorch's 0.5 x (1 + erf) takes an add and two multiplies,
    -0 kept); with "tanh" 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), x³ as x·x·x and tanh as
    `tanh_value`, in PyTorch's order of operations. gelu(-inf) is NaN (-inf * 0), as in PyTorch."""
    half = tirx.const(0.5, data.dtype)
    one = tirx.const(1, data.dtype)
    if approximate == "tanh":
        beta = tirx.const(math.sqrt(2 / math.pi), data.dtype)
        kappa = tirx.const(0.044715, data.dtype)
        return _elementwise(
            data, "gelu_tanh", lambda x: half * x * (one + tanh_value(beta * (x + kappa * (x * x * x))))
        )
    inv_sqrt2 = tirx.const(1 / math.sqrt(2), data.dtype)
    return _elementwise(data, "gelu", lambda x: x * (half + half * _erf(x * inv_sqrt2, data.dtype)))


def hardswish(data: te.Tensor) -> te.Tensor:
    """x * clamp(x + 3, 0, 6) / 6; NaN stays NaN and hardswish(-inf) is NaN (-inf * 0), as in PyTorch."""
    zero, three, six = (tirx.const(v, data.dtype) for v in (0, 3, 6))
    return _elementwise(data, "hardswish", lambda x: x * clamp_value(x + three, zero, six) / six)


def hardsigmoid(data: te.Tensor) -> te.Tensor:
    """clamp(x + 3, 0, 6) / 6; NaN stays NaN."""
    zero, three, six = (tirx.const(v, data.dtype) for v in (0, 3, 6))
    return _elementwise(data, "hardsigmoid", lambda x: clamp_value(x + three, zero, six) / six)


def leaky_relu(data: te.Tensor, negative_slope: float) -> te.Tensor:
    """x where x > 0, else x * negative_slope (any sign of slope)."""
    zero = tirx.const(0, data.dtype)
    return _elementwise(
        data, "leaky_relu", lambda x: tirx.Select(x > zero, x, _scale(x, negative_slope, data.dtype))
    )


def elu(data: te.Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> te.Tensor:
    """scale * x where x > 0, else alpha * scale * expm1(input_scale * x), as PyTorch's ELU kernel
    (SELU and CELU are ELUs with a scale and an input scale): alpha * scale multiplied in the
    tensor's dtype, as PyTorch does, and an accurate expm1 near 0 (`_expm1`)."""
    dtype = str(data.dtype)
    zero = tirx.const(0, dtype)
    float_type = np.dtype(dtype).type
    negative_coefficient = float(float_type(alpha) * float_type(scale))

    def formula(x: tirx.Expr) -> tirx.Expr:
        negative = _scale(_expm1(_scale(x, input_scale, dtype), dtype), negative_coefficient, dtype)
        return tirx.Select(x > zero, _scale(x, scale, dtype), negative)

    return _elementwise(data, "elu", formula)


def softshrink(data: te.Tensor, lambd: float) -> te.Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else x * 0 (±0, sign kept, as PyTorch's
    kernel gives); NaN stays NaN (both comparisons false: x + lambd). For 0 <= lambd < inf."""
    zero = tirx.const(0, data.dtype)
    low, high = tirx.const(-lambd, data.dtype), tirx.const(lambd, data.dtype)
    return _elementwise(data, "softshrink", lambda x: tirx.Select(
        x >= low, tirx.Select(x <= high, tirx.copysign(zero, x), x - high), x - low
    ))


def hardshrink(data: te.Tensor, lambd: float) -> te.Tensor:
    """0 for -lambd <= x <= lambd, else x (any lambd: a negative or NaN one keeps every x); NaN stays NaN."""
    zero = tirx.const(0, data.dtype)
    low, high = tirx.const(-lambd, data.dtype), tirx.const(lambd, data.dtype)
    return _elementwise(data, "hardshrink", lambda x: tirx.Select(tirx.all(x >= low, x <= high), zero, x))


def threshold(data: te.Tensor, threshold: float, value: float) -> te.Tensor:
    """value where x <= threshold, else x; NaN stays NaN (the comparison is false)."""
    bound, replacement = tirx.const(threshold, data.dtype), tirx.const(value, data.dtype)
    return _elementwise(data, "threshold", lambda x: tirx.Select(x <= bound, replacement, x))


def prelu(data: te.Tensor, weight: te.Tensor) -> te.Tensor:
    """x where x > 0, else w * x: `weight` is 0-D or 1-D of size 1 (one slope), or 1-D of data's
    size along axis 1 (one slope per channel, data of rank >= 2). NaN stays NaN; w * ±0 and w * x
    follow IEEE (inf * 0 is NaN), as in PyTorch."""
    zero = tirx.const(0, data.dtype)
    per_channel = len(data.shape) >= 2 and len(weight.shape) == 1 and int(weight.shape[0]) != 1

    def slope(index: tuple) -> tirx.Expr:
        if per_channel:
            return weight[index[1]]
        return weight[(0,) * len(weight.shape)]

    return te.compute(
        data.shape, lambda *i: let_bound(data(*i), lambda x: tirx.Select(x > zero, x, slope(i) * x)), name="prelu"
    )


def glu(data: te.Tensor, axis: int) -> te.Tensor:
    """a * (1 / (1 + exp(-b))) (`one_plus_exp_of_negated`, sigmoid's), a and b the first and second
    halves of `data` along `axis` (0 <= axis < rank, its size even and static), in PyTorch's order
    of operations: the result has half that size; inf * sigmoid(-inf) = inf * 0 is NaN, as in PyTorch."""
    half = int(data.shape[axis]) // 2
    shape = [half if a == axis else d for a, d in enumerate(data.shape)]
    one = tirx.const(1, data.dtype)

    def gated(*i):
        second = (*i[:axis], i[axis] + half, *i[axis + 1 :])
        return data(*i) * let_bound(data[second], lambda b: one / one_plus_exp_of_negated(b))

    return te.compute(shape, gated, name="glu")


def _log1p(value: tirx.Expr, dtype: str) -> tirx.Expr:
    """log(1 + u) for u >= 0 (an exponential), accurate where 1 + u rounds: Goldberg's log(1 + u) *
    u / ((1 + u) - 1) below u = 1 (u itself where 1 + u rounds to 1), log(1 + u) from 1 on (inf at
    inf, where the quotient would be NaN); NaN stays NaN. u and 1 + u bound once."""
    one = tirx.const(1, dtype)

    def formula(u: tirx.Expr) -> tirx.Expr:
        return let_bound(one + u, lambda one_plus_u: tirx.Select(
            u < one, tirx.Select(one_plus_u == one, u, te.log(one_plus_u) * u / (one_plus_u - one)), te.log(one_plus_u)
        ))

    return let_bound(value, formula)


def softplus(data: te.Tensor, beta: float, threshold: float) -> te.Tensor:
    """x where beta x > threshold, else log1p(exp(beta x)) / beta, as PyTorch computes it (beta and
    threshold rounded to the dtype; exp as `exp_value`, log1p as `_log1p`): inf where exp(beta x)
    overflows below the threshold, 0 at -inf (for beta > 0), NaN for NaN, as in PyTorch."""
    dtype = str(data.dtype)
    if beta == 0:
        return _softplus_of_zero_beta(data, math.copysign(1.0, beta) < 0, threshold)
    beta_value, threshold_value = tirx.const(beta, dtype), tirx.const(threshold, dtype)

    def formula(x: tirx.Expr) -> tirx.Expr:
        return let_bound(x * beta_value, lambda scaled: tirx.Select(
            scaled > threshold_value, x, _log1p(exp_value(scaled), dtype) / beta_value
        ))

    return _elementwise(data, "softplus", formula)


def _softplus_of_zero_beta(data: te.Tensor, negative_zero: bool, threshold: float) -> te.Tensor:
    """softplus with beta = ±0 in closed form (TVM refuses to divide by a zero constant, and the
    general formula's Selects of constants took seconds to build): beta x is 0 for a finite x, so x
    where 0 > threshold (in the dtype), else ln 2 / ±0 = ±inf; NaN at ±inf and NaN (beta x is NaN)."""
    dtype = str(data.dtype)
    nan = tirx.const(math.nan, dtype)
    above = 0 > np.dtype(dtype).type(threshold)
    infinity = tirx.const(-math.inf if negative_zero else math.inf, dtype)
    return _elementwise(data, "softplus", lambda x: tirx.Select(is_finite(x), x if above else infinity, nan))


def mish(data: te.Tensor) -> te.Tensor:
    """x tanh(log1p(exp(x))), as PyTorch computes it, with no threshold (`exp_value`, `_log1p`,
    `tanh_value`): x itself where exp(x) overflows, mish(-inf) NaN (-inf * 0), as in PyTorch. Two
    stages: tanh's lets nested over the softplus' would take TVM's code generator minutes to simplify
    (schedules.generic.EXPANDED_OPERATIONS_MAX), so a schedule inlines one into the other only where cheap."""
    dtype = str(data.dtype)
    softplus_values = _elementwise(data, "mish_softplus", lambda x: _log1p(exp_value(x), dtype))
    return te.compute(data.shape, lambda *i: data(*i) * tanh_value(softplus_values(*i)), name="mish")


def log_sigmoid(data: te.Tensor) -> te.Tensor:
    """min(x, 0) - log1p(exp(-|x|)), as PyTorch computes it: no overflow at any |x| (-inf at -inf, 0
    at inf), accurate for large x where log(sigmoid(x)) would round to 0; NaN stays NaN."""
    dtype = str(data.dtype)
    zero = tirx.const(0, dtype)
    return _elementwise(
        data, "log_sigmoid", lambda x: tirx.Select(x > zero, zero, x) - _log1p(exp_value(-tirx.abs(x)), dtype)
    )


def softsign(data: te.Tensor) -> te.Tensor:
    """x / (|x| + 1), as PyTorch's F.softsign: NaN at ±inf (inf / inf)."""
    one = tirx.const(1, data.dtype)
    return _elementwise(data, "softsign", lambda x: x / (tirx.abs(x) + one))


def tanhshrink(data: te.Tensor) -> te.Tensor:
    """x - tanh(x) (`tanh_value`), as PyTorch's F.tanhshrink: ±inf at ±inf."""
    return _elementwise(data, "tanhshrink", lambda x: x - tanh_value(x))
