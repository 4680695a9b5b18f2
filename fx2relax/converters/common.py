"""Argument checks shared by converters: PyTorch's conventions for pairs, dims and static sizes."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from tvm import tirx

from ..importer import NodeContext, is_tensor


def pair(value: Any) -> tuple[int, int]:
    """An int or a 1- or 2-sequence of ints as (h, w), the way nn modules accept `_size_2_t`."""
    if isinstance(value, int):
        return (value, value)
    values = tuple(value)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def normalize_dim(ctx: NodeContext, dim: int, rank: int, parameter: str) -> int:
    """A possibly negative axis `dim` of a rank-`rank` tensor as 0 <= axis < rank, or a clear error."""
    bound = max(rank, 1)
    if not -bound <= dim < bound:
        raise ctx.shape_error(
            f"dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but got {dim})",
            parameter,
        )
    return dim % bound


def static_dims(ctx: NodeContext, shape: tuple, axes: range, what: str) -> list[int]:
    """The sizes of `shape` at `axes` as ints; symbolic ones are refused, naming `what` needs them."""
    dims = [shape[a] for a in axes]
    if not all(isinstance(d, int) for d in dims):
        raise ctx.shape_error(f"{what} needs static sizes for axes {list(axes)}, got shape {shape}")
    return dims


def positive(ctx: NodeContext, values: tuple[int, ...], parameter: str) -> tuple[int, ...]:
    """`values` if all are > 0, else the error PyTorch would give at run time, raised now."""
    if any(v <= 0 for v in values):
        raise ctx.shape_error(f"must be greater than zero, got {values}", parameter)
    return values


def is_size(value: object) -> bool:
    """An int (not a bool) or an integer PrimExpr such as `x.size(0)`."""
    if isinstance(value, tirx.Expr):
        return not is_tensor(value) and "int" in str(getattr(value.ty, "dtype", ""))
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_argument(ctx: NodeContext, value: object, parameter: str) -> int:
    """`value` as an int, or an error refusing `parameter` (a bool or a symbolic size is no int here)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ctx.unsupported(parameter, f"must be an int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class NotComputed:
    """An output of a multi-output ATen op that fx2relax does not compute (max pooling's indices,
    group norm's saved mean): `operator.getitem` refuses to pick it, naming `what` it is."""

    what: str
