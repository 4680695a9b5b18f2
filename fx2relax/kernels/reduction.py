"""Reducers shared by the kernels whose NaN behaviour must match PyTorch's."""

from tvm import te, tirx



def _nan_max_combine(lhs: tirx.Expr, rhs: tirx.Expr) -> tirx.Expr:
    # Keep lhs when it is larger or NaN: a NaN anywhere wins, as in PyTorch's max reductions.
    return tirx.Select(tirx.Or(lhs > rhs, te.isnan(lhs)), lhs, rhs)


def _negative_infinity(dtype: str) -> tirx.Expr:
    return tirx.const(float("-inf"), dtype)


nan_max = te.comm_reducer(_nan_max_combine, _negative_infinity, name="nan_max")
"""Max reducer that propagates NaN (a plain `max` would drop it); identity is -inf."""
