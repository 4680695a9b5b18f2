"""Tensors made from scalars: arange, full (zeros, ones, full_like, scalar_tensor), and the triangle
masks triu/tril of an existing tensor.

Sizes may be ints or PrimExprs (a symbolic sequence length); fill values are Python numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .elementwise import cast_value


def arange(length: tirx.Expr | int, start: float | tirx.Expr, step: float | tirx.Expr, dtype: str) -> te.Tensor:
    """[start, start + step, ...] of `length` elements (the converter computes it as PyTorch:
    ceil((end - start) / step)). Floats are computed in float64 and rounded once, as PyTorch's
    CPU kernel computes `start + i * step` in its accumulation type.

    Returns a 1-D tensor [length] of `dtype`.
    """
    compute = "float64" if "float" in dtype else "int64"

    def value(i):
        begin = tirx.Cast(compute, start) if isinstance(start, tirx.Expr) else tirx.const(start, compute)
        stride = tirx.Cast(compute, step) if isinstance(step, tirx.Expr) else tirx.const(step, compute)
        return cast_value(begin + tirx.Cast(compute, i) * stride, dtype)

    return te.compute((length,), value, name="arange")


def full(shape: Sequence, fill_value: float | int | bool, dtype: str) -> te.Tensor:
    """A tensor of `shape` (ints or PrimExprs, possibly empty for a 0-d tensor) holding `fill_value`
    converted to `dtype` (NaN and ±inf too)."""
    if dtype == "bool":
        constant = tirx.const(bool(fill_value), "bool")
    else:
        constant = tirx.const(fill_value, dtype)
    return te.compute(tuple(shape), lambda *i: constant, name="full")


def triangle(data: te.Tensor, diagonal: int, upper: bool) -> te.Tensor:
    """triu (`upper`) or tril of the last two axes: elements with column - row >= diagonal (triu) or
    <= diagonal (tril) are kept, the others are 0. data: [*batch, rows, columns], same shape out."""
    zero = tirx.const(0, data.dtype) if data.dtype != "bool" else tirx.const(False, "bool")

    def keep(*i):
        offset = i[-1] - i[-2]
        kept = offset >= diagonal if upper else offset <= diagonal
        return tirx.Select(kept, data(*i), zero)

    return te.compute(data.shape, keep, name="triu" if upper else "tril")
