"""Checks of a whole traced graph or imported module, for failures no single converter can see.

- A model that updates its own buffers or parameters in `forward` (`self.running.add_(...)`):
  PyTorch's next call sees the update, a compiled model never would, so it is refused. The
  update and the later read are different `get_attr` nodes, so no converter sees both.
- `forward` arguments given no shape: a number with a default (`scale=2.0`) is compiled with that
  default, as calling the model without it does, and unused `*args` / `**kwargs` are dropped; any
  other is refused, naming it (a used `*args` too: torch.fx traces it as one tuple placeholder).
- Tensors of 2**31 elements or more: TVM narrows loop and index arithmetic to int32 wherever it
  believes the extent fits, and such sizes then fail in TVM or abort the process inside LLVM.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.fx
import tvm
from tvm import relax, tirx

from .aliasing import mutated_root, target_name
from .errors import InputShapeError, ShapeError, UnsupportedParameterError

MAX_ELEMENTS = 2**31 - 1  # the largest element count TVM's int32 index arithmetic can address

def prepare_graph(graph_module: torch.fx.GraphModule, input_shape: Any) -> torch.fx.GraphModule:
    """The graph to import: buffer updates refused, number arguments left without a shape bound to
    their defaults (in a copy; the caller's graph stays as it is)."""
    refuse_state_updates(graph_module)
    return bind_number_defaults(graph_module, _shape_count(input_shape))


def refuse_state_updates(graph_module: torch.fx.GraphModule) -> None:
    """Refuse an in-place op (or item assignment) on a parameter or buffer of the model, or a view of one."""
    for node in graph_module.graph.nodes:
        target = mutated_root(node)
        if target is None or target.op != "get_attr":
            continue
        traced_constant = str(target.target).startswith("_tensor_constant")
        what = (
            f"a tensor torch.fx computed once while tracing ('{target.target}', e.g. from `self.w * 2` or "
            "`self.w.data`), which the traced graph keeps and changes from call to call"
            if traced_constant else f"the model's own tensor '{target.target}'"
        )
        raise UnsupportedParameterError(
            f"node '{node.name}' ({node.op} {target_name(node.target) or node.target})",
            f"updates {what} in place. Later reads and calls see the update; a compiled model "
            "holds the value of import time and never would. Compute the update outside forward, "
            "or out of place.",
            "inplace",
        )


def bind_number_defaults(graph_module: torch.fx.GraphModule, shapes_given: int | None) -> torch.fx.GraphModule:
    """Drop unused `*args` / `**kwargs` of `forward` and bind the trailing arguments that have no
    shape in input_shape to their defaults, when each is a number (`scale=2.0`); refuse any other
    argument left without a shape, and a used `*args`, naming them."""
    placeholders = [node for node in graph_module.graph.nodes if node.op == "placeholder"]
    variadic = [node for node in placeholders if str(node.target).startswith("*")]
    for node in variadic:
        if node.users:
            raise InputShapeError(
                f"forward's variadic argument '{node.target}' is used by the model; fx2relax imports named "
                "arguments, one shape each: write forward(self, x, y, ...)"
            )
    named = [node for node in placeholders if node not in variadic]
    unshaped = named[shapes_given:] if shapes_given is not None else []
    defaults = {node: node.args[0] if node.args else inspect.Parameter.empty for node in unshaped}
    refused = [node for node, default in defaults.items() if not _is_number(default)]
    if refused:
        described = ", ".join(
            f"'{node.target}'" + ("" if defaults[node] is inspect.Parameter.empty else f" (default {defaults[node]!r})")
            for node in refused
        )
        raise InputShapeError(
            f"the model takes {len(named)} input(s) but input_shape gives {shapes_given} shape(s): "
            f"forward argument(s) {described} have none. Give a shape for each tensor argument; a number "
            "argument with a default is compiled with its default when input_shape leaves it out."
            + (
                " A graph traced beforehand has every forward argument as an input: pass the model itself, "
                "or trace it with fx2relax.importer.trace(model, input_shape), which traces the arguments "
                "input_shape leaves out as their defaults."
                if any(default is not inspect.Parameter.empty for default in defaults.values()) else ""
            )
        )
    if not defaults and not variadic:
        return graph_module
    graph = torch.fx.Graph()
    values: dict[torch.fx.Node, Any] = dict(defaults)
    for node in graph_module.graph.nodes:
        if node not in defaults and node not in variadic:
            values[node] = graph.node_copy(node, lambda argument: values[argument])
    return torch.fx.GraphModule(graph_module, graph, type(graph_module).__name__)


def check_sizes(mod: tvm.IRModule) -> None:
    """Refuse any tensor of `main` or of its kernels (inputs, weights, results, padded temporaries)
    with more than MAX_ELEMENTS elements; a symbolic dimension counts as 1."""
    main = mod["main"]
    for param in main.params:
        _check_size(param.ty, f"input '{param.name}'")
    for block in main.body.blocks:
        for binding in block.bindings:
            for argument in getattr(binding.value, "args", ()):
                func = mod[argument] if isinstance(argument, tvm.ir.GlobalVar) else None
                if isinstance(func, tirx.PrimFunc):
                    where = f"node '{binding.var.name}' (kernel {argument.name_hint})"
                    for param_type in func.ty.params:
                        _check_size(param_type, where)
                    for buffer in getattr(getattr(func.body, "block", None), "alloc_buffers", ()):
                        _check_dims(buffer.shape, where, f"temporary '{buffer.name}'")


def _check_size(ty: Any, where: str) -> None:
    if isinstance(ty, relax.TensorType) and isinstance(ty.shape, relax.ShapeExpr):
        _check_dims(ty.shape.values, where, "tensor")


def _check_dims(dims: Sequence[Any], where: str, what: str) -> None:
    static = [int(d) for d in dims if isinstance(d, tirx.IntImm)]
    elements = int(np.prod(static, dtype=object)) if static else 1
    if elements > MAX_ELEMENTS:
        shape = "(" + ", ".join(str(int(d)) if isinstance(d, tirx.IntImm) else str(d) for d in dims) + ")"
        raise ShapeError(
            where,
            f"{what} of shape {shape} has {elements:,} elements; TVM's generated code indexes at most "
            f"{MAX_ELEMENTS:,} (2**31 - 1) elements per tensor. Use a smaller input shape (or a symbolic batch).",
        )


def _shape_count(input_shape: Any) -> int | None:
    """How many shapes `input_shape` gives (one shape, or a list of shapes); None if it is neither,
    which normalize_input_shapes then reports."""
    def is_sequence(value: Any) -> bool:
        return isinstance(value, (Sequence, torch.Size, np.ndarray)) and not isinstance(value, (str, bytes))

    if not is_sequence(input_shape) or len(input_shape) == 0:
        return None
    return len(input_shape) if all(is_sequence(item) for item in input_shape) else 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and not isinstance(value, torch.Tensor)
