"""Comparisons, logical and bitwise ops, where/masked_fill and NaN-propagating minimum/maximum.

Operands broadcast as in kernels/elementwise.py and are read in the dtype the converter promoted
them to (PyTorch's type promotion); comparisons and logical ops return bool tensors.
"""

from __future__ import annotations

from tvm import te, tirx

from .elementwise import Operand, broadcast_compute, broadcast_shape, expr_dtype, is_nan, not_equal, read_operand


def _ordered(compare):
    """`compare` false whenever an operand is NaN, spelled out: TVM's simplifier rewrites the
    negation of a comparison (`~(x < y)`, `(x == 0).logical_not()`, fused by compile) into the
    opposite comparison, which is false for NaN where the negation is true."""

    def ordered(a: tirx.Expr, b: tirx.Expr) -> tirx.Expr:
        if "float" not in expr_dtype(a):
            return compare(a, b)
        return tirx.And(compare(a, b), tirx.Not(tirx.Or(is_nan(a), is_nan(b))))

    return ordered


_COMPARISONS = {
    "eq": _ordered(tirx.EQ), "ne": not_equal, "lt": _ordered(tirx.LT), "le": _ordered(tirx.LE),
    "gt": _ordered(tirx.GT), "ge": _ordered(tirx.GE),
}


def compare(lhs: Operand, rhs: Operand, op: str, dtype: str) -> te.Tensor:
    """lhs `op` rhs (op one of eq, ne, lt, le, gt, ge) read as `dtype`, broadcast; a bool tensor.
    IEEE: every comparison with NaN is False except ne. Bools compare as integers (False < True)."""
    return broadcast_compute((lhs, rhs), op, _COMPARISONS[op], "int32" if dtype == "bool" else dtype, "bool")


def _truth(value: tirx.Expr) -> tirx.Expr:
    dtype = expr_dtype(value)
    return value if dtype == "bool" else not_equal(value, tirx.const(0, dtype))


_LOGICAL = {
    "logical_and": lambda a, b: tirx.And(_truth(a), _truth(b)),
    "logical_or": lambda a, b: tirx.Or(_truth(a), _truth(b)),
    "logical_xor": lambda a, b: not_equal(_truth(a), _truth(b)),
}


def logical(lhs: Operand, rhs: Operand, op: str) -> te.Tensor:
    """logical_and / logical_or / logical_xor of the operands' truth (non-zero; NaN is true); bool."""
    dtypes = [o.dtype for o in (lhs, rhs)]
    return broadcast_compute((lhs, rhs), op, _LOGICAL[op], dtypes[0] if dtypes[0] == dtypes[1] else "float64", "bool")


def logical_not(data: te.Tensor) -> te.Tensor:
    """not x for any dtype (x == 0 is True); a bool tensor."""
    return te.compute(data.shape, lambda *i: tirx.Not(_truth(data(*i))), name="logical_not")


_BITWISE = {
    "bitwise_and": lambda a, b: a & b,
    "bitwise_or": lambda a, b: a | b,
    "bitwise_xor": lambda a, b: a ^ b,
}


def bitwise(lhs: Operand, rhs: Operand, op: str, dtype: str) -> te.Tensor:
    """bitwise_and / _or / _xor of integer or bool operands read as `dtype` (for bool: and, or, xor)."""
    if dtype == "bool":
        combine = {"bitwise_and": tirx.And, "bitwise_or": tirx.Or, "bitwise_xor": not_equal}[op]
        return broadcast_compute((lhs, rhs), op, combine, dtype)
    return broadcast_compute((lhs, rhs), op, _BITWISE[op], dtype)


def bitwise_not(data: te.Tensor) -> te.Tensor:
    """~x: logical not for bool, the bitwise complement for integers."""
    if data.dtype == "bool":
        return te.compute(data.shape, lambda *i: tirx.Not(data(*i)), name="bitwise_not")
    return te.compute(data.shape, lambda *i: ~data(*i), name="bitwise_not")


def where(condition: te.Tensor, lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """condition ? lhs : rhs, the three broadcast together; lhs and rhs read as `dtype`.
    condition: a tensor of any dtype (non-zero is true)."""
    shape = tuple(condition.shape)
    for operand in (lhs, rhs):
        if isinstance(operand, te.Tensor):
            shape = broadcast_shape(shape, operand.shape)

    def choose(*i):
        return tirx.Select(_truth(read_operand(condition, i, condition.dtype)), read_operand(lhs, i, dtype),
                           read_operand(rhs, i, dtype))

    return te.compute(shape, choose, name="where")


def minimum(lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """The smaller of lhs and rhs read as `dtype`, NaN if either is NaN (PyTorch's minimum)."""
    compute = "int32" if dtype == "bool" else dtype
    return broadcast_compute((lhs, rhs), "minimum", lambda a, b: _pick(a, b, tirx.LT(a, b)), compute, dtype)


def maximum(lhs: Operand, rhs: Operand, dtype: str) -> te.Tensor:
    """The larger of lhs and rhs read as `dtype`, NaN if either is NaN (PyTorch's maximum)."""
    compute = "int32" if dtype == "bool" else dtype
    return broadcast_compute((lhs, rhs), "maximum", lambda a, b: _pick(a, b, tirx.GT(a, b)), compute, dtype)


def _pick(a: tirx.Expr, b: tirx.Expr, a_wins: tirx.Expr) -> tirx.Expr:
    if "float" not in expr_dtype(a):
        return tirx.Select(a_wins, a, b)
    return tirx.Select(tirx.Or(a_wins, is_nan(a)), a, b)
