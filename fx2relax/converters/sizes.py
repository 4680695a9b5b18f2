"""Converters for sizes and scalar arithmetic on them: `x.size()`, `x.dim()`, `numel`, `x.shape` /
`x.ndim` / `x.dtype`, `//` and `%` on sizes (and on tensors), `math.ceil` and friends, comparisons
and `torch._assert`, decided at import.

A size is a Python int, or a PrimExpr for a symbolic dimension (see fx2relax/symbolic.py).
"""

from __future__ import annotations

import builtins
import math
import numbers
import operator

import torch
from tvm import sym, tirx

from .. import symbolic
from ..importer import NodeContext, is_tensor
from ..registry import register_converter, target_name
from .common import int_argument, is_size, normalize_dim
from .elementwise import floor_divide
from .math import remainder

aten = torch.ops.aten


@register_converter("size", aten.sym_size.int, any_dtype=("input",))
def size(ctx, input, dim=None):
    shape = ctx.shape(input)
    if dim is None:
        return tuple(shape)
    return shape[normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shape), "dim")]


@register_converter("dim", "ndimension", any_dtype=("input",))
def dim(ctx, input):
    return len(ctx.shape(input))


@register_converter(torch.numel, "numel", "nelement", any_dtype=("input",))
def numel(ctx, input):
    return symbolic.product(ctx.shape(input))


_TENSOR_ATTRIBUTES = ("shape", "ndim", "dtype", "device")
_NAMED_RESULTS = {torch.return_types.max: ("values", "indices"), torch.return_types.min: ("values", "indices")}
"""The named tuples converters return (`x.max(1)`), with the fields a model may read (`.values`)."""


@register_converter(builtins.getattr, any_dtype=("obj",))
def getattr_(ctx, obj, name):
    """`x.shape`, `x.ndim`, `x.dtype`, `x.device` (the CPU that runs the imported model): FX traces
    attribute reads on tensors as getattr calls. Any other attribute of a tensor that no node uses
    (a leftover of tracing, such as levit's cache key) is nothing to compute. The fields of a named
    result (`x.max(1).values`) are read too."""
    if name in _NAMED_RESULTS.get(type(obj), ()):
        return getattr(obj, name)
    if is_tensor(obj) and name == "device":
        return torch.device("cpu")
    if is_tensor(obj) and not ctx.node.users:
        return None
    if not is_tensor(obj) or name not in _TENSOR_ATTRIBUTES:
        raise ctx.unsupported("name", f"reading attribute {name!r} is not supported (only {', '.join(_TENSOR_ATTRIBUTES)} of a tensor)")
    if name == "dtype":
        return getattr(torch, ctx.tensor_dtype(obj))
    shape = ctx.shape(obj)
    return tuple(shape) if name == "shape" else len(shape)



def _check_sizes(ctx: NodeContext, *operands: object) -> None:
    """Operands of size arithmetic are ints or integer PrimExprs; tensors are refused."""
    for name, value in zip(("input", "other"), operands):
        if not is_size(value):
            what = "a tensor" if is_tensor(value) else repr(value)
            raise ctx.unsupported(name, f"{target_name(ctx.target)} is only supported on sizes (ints), got {what}")


@register_converter(operator.floordiv, operator.mod, operator.ifloordiv, operator.imod, any_dtype=("input", "other"))
def floordiv_mod(ctx, input, other):
    """`//` and `%` (and `//=`, `%=`): on tensors PyTorch's floor division and remainder; on sizes
    (`channels // groups`, `size % patch`) Python ints, or a PrimExpr for a symbolic size."""
    floor = ctx.target in (operator.floordiv, operator.ifloordiv)
    if is_tensor(input) or is_tensor(other):
        return floor_divide(ctx, input, other) if floor else remainder(ctx, input, other)
    _check_sizes(ctx, input, other)
    if isinstance(other, int) and other == 0:
        raise ctx.shape_error(f"{target_name(ctx.target)} by zero", "other")
    if isinstance(input, int) and isinstance(other, int):
        return input // other if floor else input % other
    combine = tirx.floordiv if floor else tirx.floormod
    return symbolic.as_dim(combine(symbolic.as_expr(input), symbolic.as_expr(other)))


_ROUNDING_MODES = {math.ceil: "ceil", math.floor: "floor", math.trunc: "trunc"}


@register_converter(math.ceil, math.floor, math.trunc, math.sqrt)
def size_math(ctx, x):
    """`math.ceil(H / stride)`, `math.floor`, `math.trunc`, `math.sqrt` on sizes and numbers (torch.fx
    records `math` functions of traced values): computed now. Rounding a symbolic size, an integer,
    leaves it as is; a symbolic `H / s` (a symbolic.Ratio) rounds to a size expression; a tensor or
    anything else is refused."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        try:
            return ctx.target(x)
        except (ValueError, OverflowError) as error:
            raise ctx.unsupported("x", f"{target_name(ctx.target)}({x!r}): {error}") from None
    if is_size(x) and ctx.target is not math.sqrt:
        return x
    if isinstance(x, symbolic.Ratio) and ctx.target in _ROUNDING_MODES:
        return x.rounded(_ROUNDING_MODES[ctx.target])
    what = "a tensor" if is_tensor(x) else f"{type(x).__name__} {x!r}"
    raise ctx.unsupported("x", f"{target_name(ctx.target)} is only computed on sizes and numbers, got {what}")


_COMPARISONS = {operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">="}


def size_comparison(ctx: NodeContext, compare, input: object, other: object) -> bool:
    """`compare` (operator.lt, ...) of sizes (`x.dim() == 3`, `h == 224`) as a Python bool; a
    symbolic one must be provable either way. The comparison converters (comparison.py) call it
    when neither operand is a tensor."""
    _check_sizes(ctx, input, other)
    if isinstance(input, int) and isinstance(other, int):
        return compare(input, other)
    condition = compare(symbolic.as_expr(input), symbolic.as_expr(other))
    analyzer = sym.Analyzer()
    if analyzer.can_prove(condition):
        return True
    if analyzer.can_prove(tirx.Not(condition)):
        return False
    symbol = _COMPARISONS[compare]
    raise ctx.unsupported("input", f"whether {input} {symbol} {other} holds is known only at run time")


@register_converter(torch._assert)
def assert_(ctx, condition, message):
    """`torch._assert(cond, msg)`: checked now; a failing one is the model's own error, raised at import."""
    if condition is not True and condition is not False:
        raise ctx.unsupported("condition", f"must be decidable at import time, got {condition!r}")
    if not condition:
        raise ctx.shape_error(f"the model's assertion failed: {message}", "condition")
