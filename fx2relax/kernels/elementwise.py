"""Element-wise binary arithmetic with NumPy/PyTorch broadcasting.

An operand is a te.Tensor (a Python number arrives as a 0-d tensor, so TVM's simplifier cannot
fold `x * 0` to 0 or `0 / x` to 0, which would lose the NaN of NaN * 0 and 0 / 0) or a scalar
Expr such as a symbolic batch size, cast to the tensor's dtype as PyTorch does for a Python scalar.
At least one operand is a tensor. IEEE rules then give PyTorch's NaN and ±inf results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tvm
from tvm import te, tirx

from .. import symbolic

Operand = te.Tensor | tirx.Expr


def broadcast_shape(lhs: Sequence, rhs: Sequence) -> tuple:
    """The broadcast of two shapes (ints or PrimExprs), aligned on the right; each pair of sizes
    must be equal (provably, for symbolic ones) or contain a 1. Raises ValueError otherwise."""
    rank = max(len(lhs), len(rhs))
    lhs = [1] * (rank - len(lhs)) + list(lhs)
    rhs = [1] * (rank - len(rhs)) + list(rhs)
    shape = []
    for axis, (a, b) in enumerate(zip(lhs, rhs)):
        if symbolic.is_one(b):
            shape.append(a)
        elif symbolic.is_one(a):
            shape.append(b)
        elif symbolic.equal(a, b):
            shape.append(a)
        else:
            raise ValueError(f"the size {a} of one operand and {b} of the other differ at axis {axis}")
    return tuple(shape)


def broadcast_index(shape: Sequence, index: Sequence) -> tuple:
    """The index into an operand of `shape` that broadcast output `index` (aligned on the right)
    reads: axes of size 1 read 0, missing leading axes are dropped."""
    offset = len(index) - len(shape)
    return tuple(0 if symbolic.is_one(d) else index[offset + a] for a, d in enumerate(shape))


def read_operand(operand: Operand, index: tuple, dtype: str) -> tirx.Expr:
    """The operand's value at output `index` as `dtype`: broadcast axes (size 1 or missing) read index 0."""
    if isinstance(operand, te.Tensor):
        value = operand[broadcast_index(operand.shape, index)]
        return value if operand.dtype == dtype else cast_value(value, dtype)
    return cast_value(operand, dtype)


def expr_dtype(value: tirx.Expr) -> str:
    """The dtype of a scalar expression (a tensor element read or a PrimExpr), e.g. "float32"."""
    ty = getattr(value, "ty", None)
    return str(ty.dtype) if ty is not None else str(value.dtype)


_INFINITY_BITS = {"float32": 0x7F800000, "float64": 0x7FF0000000000000}
"""The bits of +inf per float dtype: a NaN's bits, sign cleared, are above them."""


def _float_class(value: tirx.Expr, compare: Callable[[tirx.Expr, tirx.Expr], tirx.Expr], fallback: Callable) -> tirx.Expr:
    """compare(magnitude bits, +inf's bits) of a float value (its bits, sign cleared): TVM's isnan,
    isinf and isfinite intrinsics do not vectorise, so a vectorised loop holding one ran lane by
    lane (softmax's exponentials at 8 lanes; max pooling's NaN-propagating maximum 5-10x slower).
    Dtypes without an entry in _INFINITY_BITS use `fallback`, TVM's intrinsic."""
    dtype = expr_dtype(value)
    if dtype not in _INFINITY_BITS:
        return fallback(value)
    bits = tvm.DataType(dtype).bits
    integer = f"uint{bits}"  # unsigned: emit_te widens int32 expressions (as indices) to int64
    magnitude = tirx.bitwise_and(tirx.reinterpret(integer, value), tirx.const((1 << (bits - 1)) - 1, integer))
    return compare(magnitude, tirx.const(_INFINITY_BITS[dtype], integer))


def is_nan(value: tirx.Expr) -> tirx.Expr:
    """Whether a float value is NaN (its magnitude's bits above +inf's), in vectorisable operations."""
    return _float_class(value, tirx.GT, te.isnan)


def is_inf(value: tirx.Expr) -> tirx.Expr:
    """Whether a float value is +inf or -inf, in vectorisable operations."""
    return _float_class(value, tirx.EQ, te.isinf)


def is_finite(value: tirx.Expr) -> tirx.Expr:
    """Whether a float value is neither NaN nor infinite, in vectorisable operations."""
    return _float_class(value, tirx.LT, te.isfinite)


def let_bound(value: tirx.Expr, body: Callable[[tirx.Expr], tirx.Expr]) -> tirx.Expr:
    """body(v) with v bound to `value` once (a tirx.Let) where `value` is more than a variable or a
    constant: a formula that reads its argument many times (exp_value's ~90) then computes it once,
    also after TIR inlines a producer into it, instead of copying its expression into every read."""
    if isinstance(value, (tirx.Var, tirx.IntImm, tirx.FloatImm)):
        return body(value)
    var = tirx.Var("v", expr_dtype(value))
    return tirx.Let(var, value, body(var))


def clamp_value(value: tirx.Expr, low: tirx.Expr, high: tirx.Expr) -> tirx.Expr:
    """min(max(value, low), high) of one value that keeps NaN, like PyTorch's clamp (for low <= high):
    a min then a max, each a Select on a comparison false for NaN, which LLVM emits as one vminps and
    one vmaxps (two Selects on comparisons of `value` itself took a compare and a blend more)."""
    return let_bound(tirx.Select(value > high, high, value), lambda below: tirx.Select(below < low, low, below))


def not_equal(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    """lhs != rhs as IEEE and PyTorch define it: True when either is NaN (LLVM's ordered compare,
    which TVM emits for `!=`, would say False)."""
    dtype = expr_dtype(lhs)
    if dtype == "bool":  # TVM compares i1 values with a float compare: compare them as integers
        return tirx.NE(tirx.Cast("int32", lhs), tirx.Cast("int32", rhs))
    if "float" not in dtype:
        return tirx.NE(lhs, rhs)
    return tirx.Or(tirx.NE(lhs, rhs), tirx.Or(is_nan(lhs), is_nan(rhs)))


def cast_value(value: tirx.Expr, dtype: str) -> tirx.Expr:
    """`value` converted as PyTorch's `.to(dtype)`: to bool it is `value != 0` (NaN is True), from a
    float to an integer it truncates toward zero, otherwise a plain conversion."""
    source = expr_dtype(value)
    if source == dtype:
        return value
    if dtype == "bool":
        return not_equal(value, tirx.const(0, source))
    if source == "bool":
        return tirx.Select(value, tirx.const(1, dtype), tirx.const(0, dtype))
    return tirx.Cast(dtype, value)


def _tensor_dtype(lhs: Operand, rhs: Operand) -> str:
    """The dtype of the tensor operand(s): the result's dtype when the converter gives none."""
    return (lhs if isinstance(lhs, te.Tensor) else rhs).dtype


def broadcast_compute(
    operands: Sequence[Operand], name: str, combine: Callable[..., tirx.Expr], dtype: str, out_dtype: str | None = None
) -> te.Tensor:
    """`combine` of the operands read as `dtype` (the promoted computation dtype), element by element
    over their broadcast shape; the result is `out_dtype` (default `dtype`; bool for comparisons)."""
    tensors = [o for o in operands if isinstance(o, te.Tensor)]
    shape = tuple(tensors[0].shape)
    for tensor in tensors[1:]:
        shape = broadcast_shape(shape, tensor.shape)
    out_dtype = out_dtype or dtype

    def element(*i):
        value = combine(*(read_operand(o, i, dtype) for o in operands))
        return cast_value(value, out_dtype)

    return te.compute(shape, element, name=name)


def _arithmetic(lhs: Operand, rhs: Operand, name: str, combine: Callable, dtype: str | None) -> te.Tensor:
    """Arithmetic in `dtype` (default: the tensor operand's); bool arithmetic (add is or, mul is and)
    is computed in int32 and converted back, as PyTorch's bool results are `value != 0`."""
    dtype = dtype or _tensor_dtype(lhs, rhs)
    compute_dtype = "int32" if dtype == "bool" else dtype
    return broadcast_compute((lhs, rhs), name, combine, compute_dtype, dtype)


def add(lhs: Operand, rhs: Operand, alpha: te.Tensor | None = None, dtype: str | None = None) -> te.Tensor:
    """lhs + alpha * rhs, broadcast; shapes [*a] and [*b] give broadcast_shape(a, b); alpha is a
    0-d tensor, or None for 1; both operands are read as `dtype` (the promoted dtype)."""
    if alpha is None:
        return _arithmetic(lhs, rhs, "add", lambda a, b: a + b, dtype)
    return _arithmetic(lhs, rhs, "add", lambda a, b: a + cast_value(alpha[()], expr_dtype(a)) * b, dtype)


def subtract(lhs: Operand, rhs: Operand, alpha: te.Tensor | None = None, dtype: str | None = None) -> te.Tensor:
    """lhs - alpha * rhs, broadcast; alpha is a 0-d tensor, or None for 1."""
    if alpha is None:
        return _arithmetic(lhs, rhs, "subtract", lambda a, b: a - b, dtype)
    return _arithmetic(lhs, rhs, "subtract", lambda a, b: a - cast_value(alpha[()], expr_dtype(a)) * b, dtype)


def multiply(lhs: Operand, rhs: Operand, dtype: str | None = None) -> te.Tensor:
    """lhs * rhs, broadcast."""
    return _arithmetic(lhs, rhs, "multiply", lambda a, b: a * b, dtype)


def divide(lhs: Operand, rhs: Operand, rounding_mode: str | None = None, dtype: str | None = None) -> te.Tensor:
    """lhs / rhs (IEEE: x / 0 is ±inf, 0 / 0 NaN), broadcast; rounding_mode="trunc" rounds the
    quotient toward zero as PyTorch's trunc(a / b) (floor division is kernels/math.py's floor_divide).
    True division of integers is computed in the float `dtype` the converter promotes to."""
    if rounding_mode == "trunc":
        if dtype is not None and "float" not in dtype:
            return _arithmetic(lhs, rhs, "divide_trunc", lambda a, b: tirx.truncdiv(a, nonzero_divisor(b)), dtype)
        return _arithmetic(lhs, rhs, "divide_trunc", lambda a, b: te.trunc(a / b), dtype)
    return _arithmetic(lhs, rhs, "divide", lambda a, b: a / b, dtype)


def nonzero_divisor(divisor: tirx.Expr) -> tirx.Expr:
    """An integer divisor with 0 replaced by 1: PyTorch raises on integer division by zero, a CPU
    traps (SIGFPE) and kills the process; here x // 0 gives x instead."""
    return tirx.Select(tirx.EQ(divisor, tirx.const(0, expr_dtype(divisor))), tirx.const(1, expr_dtype(divisor)), divisor)


def cast(data: te.Tensor, dtype: str) -> te.Tensor:
    """data converted to `dtype` as `Tensor.to(dtype)` (to bool: x != 0; float to int: toward zero)."""
    return te.compute(data.shape, lambda *i: cast_value(data(*i), dtype), name="cast")
