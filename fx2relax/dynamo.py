"""A `torch.compile` backend: `torch.compile(model, backend="fx2relax")`.

Dynamo hands a backend each graph it captured (a `GraphModule` of torch functions, tensor
methods and modules; parameters and SymInt sizes are placeholders too) with example inputs. We
import it with our converters, compile it, and return a function with the graph's contract:
torch tensors (and ints for SymInts) in, the graph's output tuple of torch tensors out.

Options arrive as `torch.compile(..., options={"fallback": True, "target": "llvm", "winograd": False})`, or bind
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
from tvm import relax, tirx

from . import dtypes
from .aliasing import mutated_placeholder
from .compiler import compile_or_build
from .errors import ConversionError, Fx2RelaxError, UnsupportedOpError, UnsupportedParameterError
from .exported import symbolic_dim
from .graph_checks import check_sizes, refuse_state_updates
from .importer import SUPPORTED_DTYPES, GraphImporter, describe_node
from .runtime import TargetLike

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
    (default: the host CPU), `winograd` (as fx2relax.compile's, default True). `mode`
    (torch.compile's) is accepted and has no effect.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - {"fallback", "target", "winograd"})
    if unknown:
        raise ValueError(f"unknown fx2relax option(s) {unknown}; the options are 'fallback', 'target' and 'winograd'")
    fallback = options.get("fallback", fallback)
    target = options.get("target", target)
    winograd = options.get("winograd", True)
    if not isinstance(winograd, bool):
        raise ValueError(f"fx2relax option 'winograd' takes True or False, got {winograd!r}")
    try:
        compiled = compile_graph(gm, example_inputs, target, winograd=winograd)
    except Fx2RelaxError as error:
        if not fallback:
            raise
        reason = f"no converter for {'; '.join(error.unsupported)}" if isinstance(error, UnsupportedOpError) else str(error)
        warnings.warn(f"fx2relax left this graph to PyTorch eager: {reason}", stacklevel=2)
        return gm.forward
    return compiled


def compile_graph(
    gm: torch.fx.GraphModule, example_inputs: Sequence[Any], target: TargetLike | None = None, winograd: bool = True,
) -> Callable[..., Any]:
    """Import and build `gm`; the result calls the compiled model on the graph's tensor inputs.

    Sizes dynamo made symbolic stay symbolic where the converters can keep them so; when they cannot
    (an op whose output size is a formula of several symbols, say), the graph is specialised: it is
    compiled for each set of concrete sizes it is called with, with a warning saying why. Module
    attributes dynamo passes as 0-d tensors read with `.item()` (a batch norm's eps under
    `dynamic=True`) are specialised the same way: compiled for each value they take.
    """
    _refuse_input_mutation(gm)
    refuse_state_updates(gm)
    placeholders = [node for node in gm.graph.nodes if node.op == "placeholder"]
    examples = [node.meta.get("example_value", value) for node, value in zip(placeholders, example_inputs)]
    numbers = [i for i, node in enumerate(placeholders) if _read_as_number(node)]
    tensors = [i for i in range(len(placeholders)) if i not in numbers]
    dtype = _model_dtype([placeholders[i] for i in tensors], [examples[i] for i in tensors])
    tensor_positions = [i for i, example in enumerate(examples) if isinstance(example, torch.Tensor) and i not in numbers]
    output = next(node for node in gm.graph.nodes if node.op == "output").args[0]
    returns_sequence = isinstance(output, (tuple, list))

    def build(values: list[Any]) -> Callable[..., Any]:
        mod = GraphImporter(gm, dtype).import_graph(values)
        check_sizes(mod)
        model = compile_or_build(mod, target, winograd=winograd)

        def run(*args: Any) -> Any:
            outputs = model(*[args[i] for i in tensor_positions])
            if isinstance(outputs, np.ndarray):
                outputs = (outputs,)
            tensors = tuple(torch.from_numpy(array) for array in outputs)
            return tensors if returns_sequence else tensors[0]

        return run

    def with_numbers(values: list[Any], args: Sequence[Any]) -> list[Any]:
        return [args[i].item() if i in numbers else value for i, value in enumerate(values)]

    symbolic = _placeholder_values(placeholders, examples)
    specialise_sizes = False
    try:
        first = build(with_numbers(symbolic, example_inputs))
    except ConversionError as error:  # shape and parameter refusals too
        if not any(_is_symbolic(example) for example in examples):
            raise
        warnings.warn(f"fx2relax compiles this graph for each input size it meets (sizes kept static): {error}", stacklevel=3)
        specialise_sizes, first = True, None
    if not numbers and not specialise_sizes:
        return first

    def key(args: Sequence[Any]) -> tuple:
        shapes = tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in args) if specialise_sizes else ()
        return shapes + tuple(args[i].item() for i in numbers)

    compiled: dict[tuple, Callable[..., Any]] = {} if first is None else {key(example_inputs): first}

    def run_specialised(*args: Any) -> Any:
        wanted = key(args)
        if wanted not in compiled:
            values = _placeholder_values(placeholders, list(args)) if specialise_sizes else symbolic
            compiled[wanted] = build(with_numbers(values, args))
        return compiled[wanted](*args)

    return run_specialised


def _read_as_number(node: torch.fx.Node) -> bool:
    """Whether a placeholder is a 0-d tensor the graph only reads as a Python number (`.item()`)."""
    example = node.meta.get("example_value")
    return (isinstance(example, torch.Tensor) and example.dim() == 0 and bool(node.users)
            and all(user.op == "call_method" and user.target == "item" for user in node.users))


def _placeholder_values(placeholders: list[torch.fx.Node], examples: list[Any]) -> list[Any]:
    """What each placeholder is in `main`: a tensor parameter or a size; one tirx.Var per symbol."""
    symbols: dict[str, tirx.Var] = {}
    return [_placeholder_value(node, example, symbols) for node, example in zip(placeholders, examples)]


def _is_symbolic(example: Any) -> bool:
    if isinstance(example, torch.SymInt):
        return True
    return isinstance(example, torch.Tensor) and any(isinstance(size, torch.SymInt) for size in example.shape)


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


def _model_dtype(placeholders: list[torch.fx.Node], examples: list[Any]) -> str:
    """The one floating dtype of the float tensor inputs (weights included), float32 when there are
    none; integer and bool inputs (token ids, masks) keep their own dtype."""
    floats = {dtypes.dtype_name(e.dtype) for e in examples if isinstance(e, torch.Tensor) and e.is_floating_point()}
    if not floats:
        return dtypes.default_float()
    if len(floats) == 1 and next(iter(floats)) in SUPPORTED_DTYPES:
        return floats.pop()
    inputs = ", ".join(
        f"{node.name}: {dtypes.dtype_name(e.dtype)}"
        for node, e in zip(placeholders, examples)
        if isinstance(e, torch.Tensor) and e.is_floating_point()
    )
    raise ConversionError("graph inputs", f"need one float dtype among {', '.join(SUPPORTED_DTYPES)}, got {inputs}")


def _placeholder_value(node: torch.fx.Node, example: Any, symbols: dict[str, tirx.Var]) -> Any:
    """A tensor placeholder as a parameter of `main` (SymInt sizes become tirx.Vars, the example's
    dtype kept), a size placeholder as its int or tirx.Var."""
    where = describe_node(node)
    if isinstance(example, torch.Tensor):
        if example.device.type != "cpu":
            raise ConversionError(where, f"is on {example.device}; fx2relax runs graphs on the CPU")
        if torch.is_grad_enabled() and example.requires_grad:
            raise ConversionError(
                where,
                "requires grad, but fx2relax compiles inference only; run the model under torch.no_grad() "
                "or torch.inference_mode()",
            )
        dtype = dtypes.dtype_name(example.dtype)
        if dtype not in dtypes.TENSOR_DTYPES:
            raise ConversionError(where, f"has dtype {dtype}; fx2relax imports {', '.join(dtypes.TENSOR_DTYPES)}")
        shape = [symbolic_dim(size, symbols, where) for size in example.shape]
        return relax.Var(node.name, relax.TensorType(shape, dtype))
    if isinstance(example, (int, torch.SymInt)) and not isinstance(example, bool):
        return symbolic_dim(example, symbols, where)
    raise ConversionError(where, f"inputs must be tensors or sizes, got {type(example).__name__}")


def _entry_point_declared() -> bool:
    """Whether an installed fx2relax declares its `torch_dynamo_backends` entry point."""
    return any(ep.name == BACKEND_NAME for ep in importlib.metadata.entry_points(group="torch_dynamo_backends"))


# With the entry point installed, torch registers the backend itself on first use of the name (and
# would refuse a second registration); without it, importing this module registers it.
if not _entry_point_declared():
    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend

    if BACKEND_NAME not in _COMPILER_FNS:
        register_backend(dynamo_backend, name=BACKEND_NAME)
