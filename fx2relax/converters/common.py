"""Argument checks shared by converters: PyTorch's conventions for pairs, dims and static sizes."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx

from ..importer import NodeContext


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


# Results that may share storage with their first argument: mutating one in place mutates the other.
_ALIASING_NAMES = frozenset({
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "getitem", "transpose", "permute",
    "squeeze", "unsqueeze", "expand", "expand_as", "contiguous", "detach", "narrow", "chunk", "split",
    "tensor_split", "unbind", "t", "select", "movedim", "moveaxis", "swapaxes", "swapdims", "diagonal",
    "as_strided", "unfold", "to", "type", "type_as", "float", "alias", "dropout", "dropout1d", "dropout2d",
    "dropout3d", "alpha_dropout", "feature_alpha_dropout",
})
_ALIASING_MODULES = (
    torch.nn.Identity, torch.nn.Flatten, torch.nn.Unflatten, torch.nn.Dropout, torch.nn.Dropout1d,
    torch.nn.Dropout2d, torch.nn.Dropout3d, torch.nn.AlphaDropout, torch.nn.FeatureAlphaDropout,
)


def _target_name(node: torch.fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")


def _may_alias_first_argument(node: torch.fx.Node, graph_module: torch.nn.Module) -> bool:
    """Whether `node`'s result may be (a view of) its first argument, so mutations reach both."""
    if node.op == "call_module":
        module = graph_module.get_submodule(str(node.target))
        return isinstance(module, _ALIASING_MODULES) or getattr(module, "inplace", False) is True
    if node.op in ("call_function", "call_method"):
        name = _target_name(node)
        return name in _ALIASING_NAMES or (name.endswith("_") and not name.startswith("_")) or node.kwargs.get("inplace") is True
    return False


def _first_argument(node: torch.fx.Node) -> object:
    return node.args[0] if node.args else next(iter(node.kwargs.values()), None)


def mutated_placeholder(node: torch.fx.Node) -> torch.fx.Node | None:
    """The graph input that `node` mutates in place (directly or through a view of it), or None.

    In-place means a target name ending in "_" (`relu_`, `add_`) or `inplace=True`. A graph run by
    torch.compile must leave that mutation for its caller to see, which an out-of-place result cannot.
    """
    if node.op not in ("call_function", "call_method"):
        return None
    if not (_target_name(node).endswith("_") or node.kwargs.get("inplace") is True):
        return None
    graph_module = node.graph.owning_module
    mutated = _first_argument(node)
    while isinstance(mutated, torch.fx.Node) and mutated.op != "placeholder":
        if not _may_alias_first_argument(mutated, graph_module):
            return None
        mutated = _first_argument(mutated)
    return mutated if isinstance(mutated, torch.fx.Node) else None


def check_inplace(ctx: NodeContext, inplace: bool = False) -> bool:
    """Whether the op works in place; refuses it when some other node would observe the mutation.

    fx2relax computes every op out of place, which equals PyTorch's in-place result only when no
    other node reads the mutated tensor (or a tensor sharing its storage). The op is in place when
    `inplace` is True, the module has `inplace=True`, or the target's name ends in "_" (`relu_`).
    """
    module_inplace = getattr(ctx.module, "inplace", False) is True
    if not (inplace or module_inplace or (ctx.node.op != "call_module" and _target_name(ctx.node).endswith("_"))):
        return False
    graph_module = ctx.node.graph.owning_module
    mutated = ctx.node.args[0] if ctx.node.args else next(iter(ctx.node.kwargs.values()), None)
    while isinstance(mutated, torch.fx.Node):
        if len(mutated.users) > 1:
            raise ctx.unsupported(
                "inplace",
                f"the op works in place on '{mutated.name}', which other nodes also read "
                f"({', '.join(u.name for u in mutated.users)}); fx2relax computes out of place, so those "
                "reads would miss the mutation. Use the out-of-place form.",
            )
        if not _may_alias_first_argument(mutated, graph_module):
            break
        mutated = mutated.args[0] if mutated.args else next(iter(mutated.kwargs.values()), None)
    return True
