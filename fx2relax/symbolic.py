"""Sizes that are Python ints or, for symbolic dimensions, TIR PrimExprs: the one home of the
arithmetic and provable comparisons the kernels and converters do on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tvm import sym, tirx

Dim = Any  # an int, or a tirx.PrimExpr for a symbolic dimension


def as_expr(dim: Dim) -> tirx.PrimExpr:
    """A size as an int64 PrimExpr."""
    return tirx.const(dim, "int64") if isinstance(dim, int) else dim


def as_dim(expr: tirx.PrimExpr) -> Dim:
    """A simplified size: an int when it is a constant, else the PrimExpr."""
    expr = sym.Analyzer().simplify(expr)
    return int(expr.value) if isinstance(expr, tirx.IntImm) else expr


def product(dims: Sequence[Dim]) -> Dim:
    """The product of sizes (1 for none), an int when they all are."""
    total: Dim = 1
    for dim in dims:
        total = total * dim
    return total if isinstance(total, int) else as_dim(total)


def is_one(dim: Dim) -> bool:
    """Whether a size is the constant 1 (an int or an IntImm; a symbolic size never is)."""
    return (isinstance(dim, int) and dim == 1) or (isinstance(dim, tirx.IntImm) and dim.value == 1)


def equal(a: Dim, b: Dim) -> bool:
    """Whether two sizes are provably equal (two ints, or PrimExprs TVM can prove equal)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return sym.Analyzer().can_prove_equal(as_expr(a), as_expr(b))


def same_shape(a: Sequence[Dim], b: Sequence[Dim]) -> bool:
    """Whether two shapes have the same rank and provably equal sizes."""
    return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))


@dataclass(frozen=True)
class Ratio:
    """`H / stride` of a symbolic size: no float at import time, so kept as a fraction of two integer
    sizes until `math.ceil`, `math.floor` or `math.trunc` rounds it to a size."""

    numerator: Dim
    denominator: Dim

    def rounded(self, mode: str) -> Dim:
        """The fraction rounded by `mode` ("floor", "ceil" or "trunc"), for either sign."""
        a, b = as_expr(self.numerator), as_expr(self.denominator)
        if mode == "floor":
            return as_dim(tirx.floordiv(a, b))
        if mode == "ceil":
            return as_dim(-tirx.floordiv(-a, b))
        return as_dim(tirx.truncdiv(a, b))
