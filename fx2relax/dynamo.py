"""A `torch.compile` backend: `torch.compile(model, backend="fx2relax")`.

Dynamo hands a backend each graph it captured (a `GraphModule` of torch functions, tensor
methods and modules; parameters and SymInt sizes are placeholders too) with example inputs. We
import it with our converters, compile it, and return a function with the graph's contract:
torch tensors (and ints for SymInts) in, the graph's output tuple of torch tensors out.

Options arrive as `torch.compile(..., options={"fallback": True, "target": "llvm"})`, or bind
them with `functools.partial(dynamo_backend, fallback=True)`.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx
from tvm import tirx

from .aliasing import mutated_placeholder
from .errors import ConversionError, Fx2RelaxError, UnsupportedOpError, UnsupportedParameterError
from .importer import SUPPORTED_DTYPES, Dim, GraphImporter, describe_node
from .runtime import TargetLike, compile_or_build

BACKEND_NAME = "fx2relax"


def dynamo_backend(
    gm: torch.fx.GraphModule,
    example_inputs: Sequence[Any],
    *,
    fallback: bool = False,
    target: TargetLike | None = None,
    options: dict[str, Any] | None = None,
    mode: str | None = None,
) -> Callable[..., Any]:
    """Compile one dynamo graph with fx2relax; returns a callable taking and returning torch tensors.

    A graph fx2relax cannot import raises its Fx2RelaxError (UnsupportedOpError lists every
    unsupported op); with `fallback=True` the graph runs in PyTorch eager instead, with a warning
    carrying that error. `options` is what `torch.compile(options=...)` passes: `fallback`, `target`
    (default: the host CPU). `mode` (torch.compile's) is accepted and has no effect.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - {"fallback", "target"})
    if unknown:
        raise ValueError(f"unknown fx2relax option(s) {unknown}; the options are 'fallback' and 'target'")
    fallback = options.get("fallback", fallback)
    target = options.get("target", target)
    try:
        compiled = compile_graph(gm, example_inputs, target)
    except Fx2RelaxError as error:
        if not fallback:
            raise
        reason = f"no converter for {'; '.join(error.unsupported)}" if isinstance(error, UnsupportedOpError) else str(error)
        warnings.warn(f"fx2relax left this graph to PyTorch eager: {reason}", stacklevel=2)
        return gm.forward
    return compiled


def compile_graph(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], target: TargetLike | None = None) -> Callable[..., Any]:
    """Import and build `gm`; the result calls the compiled model on the graph's tensor inputs."""
    _refuse_input_mutation(gm)
    placeholders = [node for node in gm.graph.nodes if node.op == "placeholder"]
    examples = [node.meta.get("example_value", value) for node, value in zip(placeholders, example_inputs)]
    dtype = _common_dtype(placeholders, examples)
    symbols: dict[str, tirx.Var] = {}
    shapes = [_placeholder_shape(node, example, symbols) for node, example in zip(placeholders, examples)]
    mod = GraphImporter(gm, dtype).import_graph(shapes)
    model = compile_or_build(mod, target)
    tensor_positions = [i for i, example in enumerate(examples) if isinstance(example, torch.Tensor)]
    output = next(node for node in gm.graph.nodes if node.op == "output").args[0]
    returns_sequence = isinstance(output, (tuple, list))

    def run(*args: Any) -> Any:
        outputs = model(*[args[i] for i in tensor_positions])
        if isinstance(outputs, np.ndarray):
            outputs = (outputs,)
        tensors = tuple(torch.from_numpy(array) for array in outputs)
        return tensors if returns_sequence else tensors[0]

    return run


def _refuse_input_mutation(gm: torch.fx.GraphModule) -> None:
    """fx2relax computes out of place, so a graph that mutates its inputs in place is refused."""
    for node in gm.graph.nodes:
        mutated = mutated_placeholder(node)
        if mutated is not None:
            raise UnsupportedParameterError(
                describe_node(node),
                f"works in place on the graph input '{mutated.name}'; fx2relax computes out of place, so the "
                "caller would not see the mutation. Use the out-of-place form.",
                "inplace",
            )


def _common_dtype(placeholders: list[torch.fx.Node], examples: list[Any]) -> str:
    """The one floating dtype of every tensor input; fx2relax imports a graph in a single dtype."""
    dtypes = {str(e.dtype).removeprefix("torch.") for e in examples if isinstance(e, torch.Tensor)}
    if len(dtypes) == 1 and next(iter(dtypes)) in SUPPORTED_DTYPES:
        return dtypes.pop()
    inputs = ", ".join(
        f"{node.name}: {str(e.dtype).removeprefix('torch.')}"
        for node, e in zip(placeholders, examples)
        if isinstance(e, torch.Tensor)
    )
    raise ConversionError("graph inputs", f"need one dtype among {', '.join(SUPPORTED_DTYPES)}, got {inputs}")


def _placeholder_shape(node: torch.fx.Node, example: Any, symbols: dict[str, tirx.Var]) -> Any:
    """A tensor placeholder's shape (SymInt sizes become tirx.Vars), or a SymInt placeholder's tirx.Var."""
    if isinstance(example, torch.Tensor):
        if example.device.type != "cpu":
            raise ConversionError(describe_node(node), f"is on {example.device}; fx2relax runs graphs on the CPU")
        if torch.is_grad_enabled() and example.requires_grad:
            raise ConversionError(
                describe_node(node),
                "requires grad, but fx2relax compiles inference only; run the model under torch.no_grad() "
                "or torch.inference_mode()",
            )
        return tuple(_dim(node, size, symbols) for size in example.shape)
    if isinstance(example, (int, torch.SymInt)):
        dim = _dim(node, example, symbols)
        if isinstance(dim, tirx.Var):
            return dim
    raise ConversionError(describe_node(node), f"inputs must be tensors or sizes, got {type(example).__name__}")


def _dim(node: torch.fx.Node, size: int | torch.SymInt, symbols: dict[str, tirx.Var]) -> Dim:
    """A static size as an int, a symbolic one (dynamo's `s0`) as the tirx.Var of that name."""
    if isinstance(size, int):
        return size
    expr = size.node.expr
    if expr.is_Integer:
        return int(expr)
    if expr.is_Symbol:
        return symbols.setdefault(str(expr), tirx.Var(str(expr), "int64"))
    raise ConversionError(describe_node(node), f"size {expr} is an expression of symbols; fx2relax takes one symbol per size")


def _entry_point_declared() -> bool:
    """Whether an installed fx2relax declares its `torch_dynamo_backends` entry point."""
    return any(ep.name == BACKEND_NAME for ep in importlib.metadata.entry_points(group="torch_dynamo_backends"))


# With the entry point installed, torch registers the backend itself on first use of the name (and
# would refuse a second registration); without it, importing this module registers it.
if not _entry_point_declared():
    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend

    if BACKEND_NAME not in _COMPILER_FNS:
        register_backend(dynamo_backend, name=BACKEND_NAME)
