"""Element-wise binary arithmetic with NumPy/PyTorch broadcasting.

An operand is a te.Tensor (a Python number arrives as a 0-d tensor, so TVM's simplifier cannot
fold `x * 0` to 0 or `0 / x` to 0, which would lose the NaN of NaN * 0 and 0 / 0) or a scalar
Expr such as a symbolic batch size, cast to the tensor's dtype as PyTorch does for a Python scalar.
At least one operand is a tensor. IEEE rules then give PyTorch's NaN and ±inf results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def _read(operand: Operand, index: tuple, dtype: str) -> tirx.Expr:
    """The operand's value at output `index`: broadcast axes (size 1 or missing) read index 0."""
    if isinstance(operand, te.Tensor):
        return operand[broadcast_index(operand.shape, index)]
    return tirx.Cast(dtype, operand)


def _dtype(lhs: Operand, rhs: Operand) -> str:
    """The dtype of the tensor operand(s): the result's dtype."""
    return (lhs if isinstance(lhs, te.Tensor) else rhs).dtype


def _broadcast_compute(
    lhs: Operand, rhs: Operand, name: str, combine: Callable[[tirx.Expr, tirx.Expr], tirx.Expr]
) -> te.Tensor:
    tensors = [o for o in (lhs, rhs) if isinstance(o, te.Tensor)]
    dtype = _dtype(lhs, rhs)
    shape = broadcast_shape(*(t.shape for t in tensors)) if len(tensors) == 2 else tuple(tensors[0].shape)
    return te.compute(shape, lambda *i: combine(_read(lhs, i, dtype), _read(rhs, i, dtype)), name=name)


def add(lhs: Operand, rhs: Operand, alpha: te.Tensor | None = None) -> te.Tensor:
    """lhs + alpha * rhs, broadcast; shapes [*a] and [*b] give broadcast_shape(a, b); alpha is a
    0-d tensor, or None for 1."""
    if alpha is None:
        return _broadcast_compute(lhs, rhs, "add", lambda a, b: a + b)
    return _broadcast_compute(lhs, rhs, "add", lambda a, b: a + alpha[()] * b)


def subtract(lhs: Operand, rhs: Operand, alpha: te.Tensor | None = None) -> te.Tensor:
    """lhs - alpha * rhs, broadcast; alpha is a 0-d tensor, or None for 1."""
    if alpha is None:
        return _broadcast_compute(lhs, rhs, "subtract", lambda a, b: a - b)
    return _broadcast_compute(lhs, rhs, "subtract", lambda a, b: a - alpha[()] * b)


def multiply(lhs: Operand, rhs: Operand) -> te.Tensor:
    """lhs * rhs, broadcast."""
    return _broadcast_compute(lhs, rhs, "multiply", lambda a, b: a * b)


def divide(lhs: Operand, rhs: Operand, rounding_mode: str | None = None) -> te.Tensor:
    """lhs / rhs (IEEE: x / 0 is ±inf, 0 / 0 NaN), broadcast; rounding_mode="trunc" rounds the
    quotient toward zero as PyTorch's trunc(a / b)."""
    if rounding_mode == "trunc":
        return _broadcast_compute(lhs, rhs, "divide_trunc", lambda a, b: te.trunc(a / b))
    return _broadcast_compute(lhs, rhs, "divide", lambda a, b: a / b)
