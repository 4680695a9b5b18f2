"""In-place ops and aliasing on FX graphs: which node results may share storage, and who would
observe a mutation that fx2relax (which computes every op out of place) cannot reproduce."""

from __future__ import annotations

import operator

import torch
import torch.fx

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


def target_name(target: object) -> str:
    """The bare name of a function or method target (`relu_`, `add`), "" for anything else."""
    return target if isinstance(target, str) else getattr(target, "__name__", "")


# Python's augmented assignments (`out += identity`), which dynamo records as these functions: on a
# tensor they work in place.
_INPLACE_OPERATORS = frozenset({
    operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv, operator.imod,
    operator.ipow, operator.iand, operator.ior, operator.ixor, operator.ilshift, operator.irshift, operator.imatmul,
})


def has_inplace_name(target: object) -> bool:
    """Whether a function or method target is PyTorch's in-place form by name (`relu_`, `add_`) or a
    Python augmented assignment (`operator.iadd`)."""
    if target in _INPLACE_OPERATORS:
        return True
    name = target_name(target)
    return name.endswith("_") and not name.startswith("_")


def _may_alias_first_argument(node: torch.fx.Node) -> bool:
    """Whether `node`'s result may be (a view of) its first argument, so mutations reach both."""
    if node.op == "call_module":
        module = node.graph.owning_module.get_submodule(str(node.target))
        return isinstance(module, _ALIASING_MODULES) or getattr(module, "inplace", False) is True
    if node.op in ("call_function", "call_method"):
        return (target_name(node.target) in _ALIASING_NAMES or has_inplace_name(node.target)
                or node.kwargs.get("inplace") is True)
    return False


def _first_argument(node: torch.fx.Node) -> object:
    return node.args[0] if node.args else next(iter(node.kwargs.values()), None)


def mutated_placeholder(node: torch.fx.Node) -> torch.fx.Node | None:
    """The graph input that `node` mutates in place (directly or through a view of it), or None.

    A graph run by torch.compile must leave that mutation for its caller to see, which an
    out-of-place result cannot.
    """
    mutated = mutated_root(node)
    return mutated if mutated is not None and mutated.op == "placeholder" else None


def mutated_root(node: torch.fx.Node) -> torch.fx.Node | None:
    """The graph input (placeholder) or model tensor (get_attr) that `node` mutates in place,
    directly or through a view of it; None if `node` works out of place or mutates a temporary.

    In-place means a target name ending in "_" (`relu_`, `add_`), `inplace=True`, or item
    assignment (`x[0] = ...`).
    """
    if node.op not in ("call_function", "call_method"):
        return None
    if not (has_inplace_name(node.target) or node.kwargs.get("inplace") is True or node.target is operator.setitem):
        return None
    mutated = _first_argument(node)
    while isinstance(mutated, torch.fx.Node) and mutated.op not in ("placeholder", "get_attr"):
        if not _may_alias_first_argument(mutated):
            return None
        mutated = _first_argument(mutated)
    return mutated if isinstance(mutated, torch.fx.Node) else None


def observed_mutation(mutated: object) -> torch.fx.Node | None:
    """The node, among `mutated` and the tensors it is a view of, that other nodes also read: they
    would see an in-place mutation of `mutated` that an out-of-place result hides. None if no such node."""
    while isinstance(mutated, torch.fx.Node):
        if len(mutated.users) > 1:
            return mutated
        if not _may_alias_first_argument(mutated):
            return None
        mutated = _first_argument(mutated)
    return None
