"""Functions `torch.fx.wrap` made leaves of every trace, such as timm's `_build_grid`,
`resample_abs_pos_embed` and `maybe_add_mask`: plain Python that torch.fx could not follow with its
size proxies, reaching the walk as one call_function node that no converter names.

The walk knows what torch.fx did not: every size is a number. A call whose arguments are all known
at import (numbers, strings, dtypes, devices, constant tensors such as a position embedding) is
computed by PyTorch itself, once, and its tensors become constants: exact. A call on a tensor known
only at run time is traced by make_fx on fake tensors of the static shapes (the function's branches
on sizes and dtypes go as PyTorch's do), functionalized, and its ATen graph is converted in place of
the node. A function that draws random numbers, branches on tensor values or takes a symbolic size
is refused. A function with a converter of its own (torchvision's Swin functions) keeps it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils import _pytree as pytree
from tvm import relax, tirx

from .. import dtypes
from ..exported import decomposition_table
from ..importer import NodeContext, is_tensor
from ..registry import REGISTRY, register_converter, target_name


@register_converter(torch.fx.wrap, any_dtype=("args", "kwargs"))
def wrapped_function(ctx: NodeContext, *args: Any, **kwargs: Any) -> Any:
    """Compute the leaf function at import when its arguments are all known then, else convert
    the ATen ops it runs on the shapes of its run-time tensors."""
    leaves, spec = pytree.tree_flatten((args, kwargs))
    name = target_name(ctx.target)
    symbolic = [leaf for leaf in leaves if isinstance(leaf, tirx.Expr) and not is_tensor(leaf)]
    if symbolic or any(is_tensor(leaf) and not all(isinstance(d, int) for d in ctx.shape(leaf)) for leaf in leaves):
        raise ctx.unsupported(
            "args",
            f"{name} is a function torch.fx does not trace (torch.fx.wrap), which fx2relax computes from "
            f"static sizes, and it gets a symbolic one{f' ({symbolic[0]})' if symbolic else ''}: give "
            "input_shape static dimensions",
        )
    if all(not is_tensor(leaf) or ctx.constant(leaf) is not None for leaf in leaves):
        return _compute_at_import(ctx, name, leaves, spec)
    return _convert_traced(ctx, name, leaves, spec)


def _compute_at_import(ctx: NodeContext, name: str, leaves: list[Any], spec: pytree.TreeSpec) -> Any:
    """Call the function on the import-time values; tensors it returns become constants (an input
    tensor returned as it is stays that input's value)."""
    inputs = {}  # id of each torch tensor made from a constant → that constant
    values = []
    for leaf in leaves:
        if is_tensor(leaf):
            tensor = torch.tensor(ctx.constant(leaf))  # a copy: the function may write to its arguments
            inputs[id(tensor)] = leaf
            leaf = tensor
        values.append(leaf)
    args, kwargs = pytree.tree_unflatten(values, spec)
    rng_state = torch.random.get_rng_state()
    with torch.no_grad():
        result = ctx.target(*args, **kwargs)
    if not torch.equal(rng_state, torch.random.get_rng_state()):
        torch.random.set_rng_state(rng_state)
        raise ctx.unsupported(
            "args", f"{name} draws random numbers; computed once at import, its draws would be frozen into the model"
        )

    def to_relax(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        if id(value) in inputs:
            return inputs[id(value)]
        dtype = dtypes.dtype_name(value.dtype)
        if dtype not in dtypes.TENSOR_DTYPES:
            raise ctx.dtype_error(f"{name} returns a {dtype} tensor; fx2relax imports {', '.join(dtypes.TENSOR_DTYPES)}")
        return relax.const(value.detach().contiguous().numpy(), dtype)

    return pytree.tree_map(to_relax, result)


def _convert_traced(ctx: NodeContext, name: str, leaves: list[Any], spec: pytree.TreeSpec) -> Any:
    """Trace the function with make_fx on fake tensors of its tensor arguments' shapes and dtypes
    (every other argument as it is) and convert that ATen graph in place of the node."""
    positions = [index for index, leaf in enumerate(leaves) if is_tensor(leaf)]

    def call(*tensors: torch.Tensor) -> Any:
        values = list(leaves)
        for index, tensor in zip(positions, tensors, strict=True):
            values[index] = tensor
        args, kwargs = pytree.tree_unflatten(values, spec)
        return ctx.target(*args, **kwargs)

    examples = [
        torch.empty(ctx.shape(leaves[index]), dtype=dtypes.torch_dtype(dtypes.value_dtype(leaves[index])))
        for index in positions
    ]
    try:
        graph_module = make_fx(
            torch.func.functionalize(call, remove="mutations_and_views"),
            decomposition_table=decomposition_table(),
            tracing_mode="fake",
        )(*examples)
    except Exception as error:
        raise ctx.unsupported(
            "args",
            f"{name} is a function torch.fx does not trace (torch.fx.wrap) and takes tensors known only at run "
            f"time; make_fx could not trace it on their shapes ({type(error).__name__}: {str(error).splitlines()[0][:200]})",
        ) from error
    missing = sorted({
        target_name(node.target) for node in graph_module.graph.nodes
        if node.op == "call_function" and REGISTRY.lookup("call_function", node.target) is None
    })
    if missing:
        raise ctx.unsupported(
            "args", f"{name}, traced on its shapes (it is a torch.fx.wrap leaf), uses ATen ops without a converter: {', '.join(missing)}"
        )
    return ctx.inline(graph_module, [leaves[index] for index in positions])
