"""The graph walk: trace an `nn.Module` with torch.fx and emit one Relax function `main`.

Shaped like `torch.fx.Interpreter`: one method per FX opcode, all with the signature
`(node, args, kwargs)`, dispatched by `run_node`. Converters never see FX nodes as arguments, only
Relax expressions and plain Python values; failures are re-raised naming the node.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
import tvm
from tvm import relax, tirx

from . import aliasing
from .errors import (
    ConversionError,
    DtypeError,
    Fx2RelaxError,
    InputShapeError,
    ShapeError,
    TraceError,
    UnsupportedOpError,
    UnsupportedParameterError,
)
from .graph_checks import check_sizes, prepare_graph
from .registry import REGISTRY, ConverterRegistry, target_name
from .symbolic import Dim

SUPPORTED_DTYPES = ("float32", "float64")


class NodeContext:
    """What a converter may use: its module and target, shapes, dtypes and constant values of its
    inputs, emit_te, weights, the in-place check and errors. Converters see Relax values, never FX nodes."""

    def __init__(
        self,
        importer: GraphImporter,
        node: torch.fx.Node,
        module: torch.nn.Module | None,
        arguments: dict[str, Any] | None = None,
    ):
        self._importer = importer
        self.node = node
        self.module = module
        self.dtype = importer.dtype
        self.primfuncs: list[str] = []  # names of the PrimFuncs this node emitted, for `fx2relax inspect`
        self._arguments = arguments or {}  # converter parameter name → the FX argument bound to it

    @property
    def where(self) -> str:
        """`node 'conv' (module 'features.0', nn.Conv2d)`: how errors name this node."""
        return describe_node(self.node, self.module)

    @property
    def target(self) -> Any:
        """What the node calls, as the registry keys it: the module of a call_module node, the
        function of a call_function node (`operator.floordiv`), the name of a call_method node."""
        return self.module if self.node.op == "call_module" else self.node.target

    @property
    def module_path(self) -> str | None:
        """The module's qualified name ('encoder.layers.0.self_attn'), None for a function or method;
        names the weights a converter derives from the module's."""
        return str(self.node.target) if self.node.op == "call_module" else None

    def emit_te(self, kernel: Any, *args: Any, **params: Any) -> relax.Var:
        """Emit `kernel(*args, **params)` as a PrimFunc named after the kernel; returns its result."""
        builder = self._importer.builder
        result = builder.emit_te(kernel, *args, primfunc_name_hint=kernel.__name__, name_hint=self.node.name, **params)
        self.primfuncs.append(builder.lookup_binding(result).args[0].name_hint)
        return result

    def param(self, tensor: torch.Tensor, name: str) -> relax.Expr:
        """A weight or buffer as a Relax value named `name`: a constant, or a parameter of `main`
        (see GraphImporter.param). A float tensor of another float dtype than the model's is refused."""
        return self._importer.param(tensor, name, self.where)

    def module_param(self, attribute: str) -> relax.Expr | None:
        """The module's parameter or buffer `attribute` (e.g. "weight") via `param`, named by its path;
        None where the module has none (a `bias=False` layer, BatchNorm without running stats)."""
        tensor = getattr(self.module, attribute)
        return None if tensor is None else self.param(tensor, f"{self.module_path}.{attribute}")

    def shape(self, value: relax.Expr) -> tuple[Dim, ...]:
        """The static shape of a tensor value; symbolic dimensions stay PrimExprs."""
        return tensor_shape(value, self)

    def tensor_dtype(self, value: relax.Expr) -> str:
        """The dtype of a tensor value ("float32", "int64", "bool"): buffers keep their own."""
        if not is_tensor(value):
            raise ConversionError(self.where, f"expected a tensor, got {type(value).__name__}")
        return str(value.ty.dtype)

    def constant(self, value: Any) -> np.ndarray | None:
        """The NumPy array behind a constant tensor value (a buffer, an index table), in its own
        dtype; None for values known only at run time (inputs, kernel results, and weights kept as
        parameters of `main`)."""
        if isinstance(value, tvm.ir.GenericConst) and isinstance(value.value, tvm.runtime.Tensor):
            return value.value.numpy()
        return None

    def source_name(self, value: Any) -> str | None:
        """The model attribute a tensor value was read from ('positions', 'fc.weight'); None for
        computed values. Names buffers in error messages."""
        return self._importer.param_names.get(value) if isinstance(value, relax.Expr) else None

    def traced_tensor(self, parameter: str) -> torch.Tensor | None:
        """The tensor torch.export traced for the argument bound to `parameter` (its fake tensor, with
        PyTorch's strides and storage offset); None where the graph recorded none (torch.fx traces)."""
        value = getattr(self._arguments.get(parameter), "meta", {}).get("val")
        return value if isinstance(value, torch.Tensor) else None

    def check_inplace(self, inplace: bool = False, parameter: str = "input") -> bool:
        """Whether the op works in place on its argument `parameter`; refuses it when another node
        would observe the mutation.

        fx2relax computes every op out of place, which equals PyTorch's in-place result only when no
        other node reads the mutated tensor (or a tensor sharing its storage). The op is in place when
        `inplace` is True, the module has `inplace=True`, or the target's name ends in "_" (`relu_`).
        """
        module_inplace = getattr(self.module, "inplace", False) is True
        if not (inplace or module_inplace or (self.module is None and aliasing.has_inplace_name(self.target))):
            return False
        observed = aliasing.observed_mutation(self._arguments.get(parameter))
        if observed is not None:
            raise self.unsupported(
                "inplace",
                f"the op works in place on '{observed.name}', which other nodes also read "
                f"({', '.join(u.name for u in observed.users)}); fx2relax computes out of place, so those "
                "reads would miss the mutation. Use the out-of-place form.",
            )
        return True

    def inline(self, graph_module: torch.fx.GraphModule, inputs: Sequence[Any]) -> Any:
        """Walk `graph_module` (the ATen graph a leaf function was traced into) in place of this node,
        its placeholders bound to `inputs` in order; returns the values its output node returns."""
        return self._importer.inline_graph(graph_module, inputs)

    def unsupported(self, parameter: str, message: str) -> UnsupportedParameterError:
        """An error refusing a parameter value, to `raise`."""
        return UnsupportedParameterError(self.where, message, parameter)

    def shape_error(self, message: str, parameter: str | None = None) -> ShapeError:
        """An error for shapes that do not fit, to `raise`."""
        return ShapeError(self.where, message, parameter)

    def dtype_error(self, message: str, parameter: str | None = None) -> DtypeError:
        """An error for a tensor whose dtype does not fit, to `raise`."""
        return DtypeError(self.where, message, parameter)


def describe_node(node: torch.fx.Node, module: torch.nn.Module | None = None) -> str:
    """Name a node for error messages: its name, its module path and type, or its target."""
    if node.op == "call_module":
        return f"node '{node.name}' (module '{node.target}', {target_name(type(module))})"
    if node.op in ("call_function", "call_method"):
        target = node.target if node.op == "call_function" else str(node.target)
        return f"node '{node.name}' ({node.op.replace('call_', '')} {target_name(target)})"
    return f"node '{node.name}' ({node.op} {node.target})"


def source_line(node: torch.fx.Node) -> str | None:
    """Where in the user's code torch.fx recorded the node: `path.py:12: return self.fc(x)` from
    the innermost frame of its stack trace; None when the tracer recorded none."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \S+\n\s*(.*)', node.stack_trace or "")
    frames = [frame for frame in frames if not frame[0].startswith(_TORCH_DIR)]
    if not frames:
        return None
    path, line, code = frames[-1]
    return f"{path}:{line}: {code.strip()}" if code.strip() else f"{path}:{line}"


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def is_tensor(value: Any) -> bool:
    """Whether `value` is a Relax tensor expression (not a Python number or a symbolic PrimExpr)."""
    return isinstance(value, relax.Expr) and isinstance(getattr(value, "ty", None), relax.TensorType)


@dataclass(frozen=True)
class EmptyTensor:
    """A tensor with no elements (`x[:, :0]`): the walk carries its shape and dtype, never a Relax
    value, to the converters registered to accept it (torch.cat, where it contributes nothing)."""

    shape: tuple[Dim, ...]
    dtype: str


def _contains_empty(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_contains_empty(item) for item in value)
    return isinstance(value, EmptyTensor)


def tensor_shape(value: Any, ctx: NodeContext) -> tuple[Dim, ...]:
    """Shape of a Relax tensor value as ints (static) or PrimExprs (symbolic)."""
    if not is_tensor(value):
        raise ConversionError(ctx.where, f"expected a tensor, got {type(value).__name__}")
    dims = value.ty.shape.values
    return tuple(int(d) if isinstance(d, tirx.IntImm) else d for d in dims)


@dataclass
class NodeRecord:
    """What became of one FX node: the converter that handled it, the PrimFuncs it emitted, its result."""

    node: torch.fx.Node
    converter: str | None = None  # "module.function" of the converter; None for placeholders and outputs
    primfuncs: list[str] = field(default_factory=list)
    value: Any = None  # the Relax value (or Python value) the node produced


class GraphImporter:
    """Walks one traced `GraphModule` and builds the IRModule with `main`.

    A placeholder's entry in `input_shapes` is a shape (a tensor input of `main`) or a symbolic
    size (a tirx.Var, for the SymInt inputs of torch.compile graphs), which is bound to that
    variable and is not a parameter of `main`. Trailing placeholders without an entry are optional
    arguments of forward (`attn_mask=None`) and take their default value.
    """

    def __init__(
        self,
        graph_module: torch.fx.GraphModule,
        dtype: str = "float32",
        keep_params_as_input: bool = False,
        registry: ConverterRegistry = REGISTRY,
    ):
        self.graph_module = graph_module
        self.dtype = dtype
        self.keep_params_as_input = keep_params_as_input
        self.registry = registry
        self.builder = relax.BlockBuilder()
        self.env: dict[torch.fx.Node, Any] = {}
        self.weights: dict[str, np.ndarray] = {}
        self._weight_vars: list[relax.Var] = []
        self._params: dict[torch.Tensor, relax.Expr] = {}  # a shared weight is emitted once
        self.param_names: dict[relax.Expr, str] = {}  # each weight or buffer value → its model attribute
        self._inputs: dict[torch.fx.Node, Any] = {}
        self.records: list[NodeRecord] = []

    def import_graph(self, input_shapes: list[tuple[Dim, ...]]) -> tvm.IRModule:
        """Convert every node inside one dataflow block of `main`; returns the IRModule."""
        placeholders = [n for n in self.graph_module.graph.nodes if n.op == "placeholder"]
        self._inputs = {
            node: relax.Var(node.name, relax.TensorType(shape, self.dtype)) if _is_sequence(shape) else shape
            for node, shape in zip(placeholders, input_shapes)
        }
        tensor_inputs = [value for value in self._inputs.values() if is_tensor(value)]
        self.refuse_unsupported()
        builder = self.builder
        try:
            with builder.function("main"):
                with builder.dataflow():
                    result = None
                    for node in self.graph_module.graph.nodes:
                        result = self.run_node(node)
                        self.env[node] = result
                    output = builder.emit_output(result)
                builder.emit_func_output(output, params=tensor_inputs + self._weight_vars)
        except BaseException:
            # On an exception TVM's scopes leave the function's binding block and variable scope open
            # (the builder would print "BlockBuilder destroyed with remaining blocks!"): close them.
            builder._end_block()
            builder.end_scope()
            raise
        return builder.get()

    def inline_graph(self, graph_module: torch.fx.GraphModule, inputs: Sequence[Any]) -> Any:
        """Convert the nodes of another graph into `main`, its placeholders bound to `inputs`: the
        walk's graph (for get_attr) and values are that graph's until it returns its output."""
        outer = self.graph_module, self.env
        self.graph_module, self.env = graph_module, {}
        try:
            placeholders = [node for node in graph_module.graph.nodes if node.op == "placeholder"]
            self.env.update(zip(placeholders, inputs, strict=True))
            for node in graph_module.graph.nodes:
                if node.op not in ("placeholder", "output"):
                    self.env[node] = self.run_node(node)
            return torch.fx.node.map_arg(graph_module.graph.output_node().args[0], self.env.__getitem__)
        finally:
            self.graph_module, self.env = outer

    def refuse_unsupported(self) -> None:
        """Raise one UnsupportedOpError listing every node whose target has no converter."""
        missing, sources = [], []
        for node in self.graph_module.graph.nodes:
            if node.op not in ("call_module", "call_function", "call_method"):
                continue
            module = self.graph_module.get_submodule(str(node.target)) if node.op == "call_module" else None
            target = module if node.op == "call_module" else node.target
            if self.registry.lookup(node.op, target) is None:
                missing.append(describe_node(node, module))
                sources.append(source_line(node))
        if missing:
            supported = sorted({entry.name for entry in self.registry.entries()})
            raise UnsupportedOpError(missing, supported, sources)

    def run_node(self, node: torch.fx.Node) -> Any:
        """Dispatch on the node's opcode; any unexpected failure is re-raised naming the node."""
        args = torch.fx.node.map_arg(node.args, self.env.__getitem__)
        kwargs = torch.fx.node.map_arg(node.kwargs, self.env.__getitem__)
        record = NodeRecord(node)
        self.records.append(record)
        try:
            try:
                record.value = getattr(self, node.op)(node, args, kwargs)
            except Fx2RelaxError:
                raise
            except Exception as error:  # a converter or TVM failed in a way we did not foresee
                module = self.graph_module.get_submodule(node.target) if node.op == "call_module" else None
                raise ConversionError(describe_node(node, module), f"{type(error).__name__}: {error}") from error
        except ConversionError as error:
            source = source_line(node)
            if source:
                error.locate(source)
            raise
        return record.value

    def placeholder(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> relax.Var:
        return self._inputs[node]

    def get_attr(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> Any:
        value = self.graph_module
        for atom in str(node.target).split("."):
            value = getattr(value, atom)
        if isinstance(value, torch.Tensor):
            return self.param(value, str(node.target), describe_node(node))
        return value

    def call_module(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> Any:
        module = self.graph_module.get_submodule(str(node.target))
        return self._convert(node, module, module, args, kwargs)

    def call_function(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> Any:
        return self._convert(node, node.target, None, args, kwargs)

    def call_method(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> Any:
        return self._convert(node, node.target, None, args, kwargs)

    def output(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> relax.Expr:
        """The result: a tensor, or a (nested) tuple of tensors such as nn.LSTM's (output, (h_n, c_n))."""
        def value(result: Any) -> relax.Expr:
            if isinstance(result, (tuple, list)):
                return relax.Tuple([value(item) for item in result])
            if isinstance(result, EmptyTensor):
                raise ShapeError(describe_node(node), f"an output is an empty tensor of shape {result.shape}; fx2relax "
                                 "supports empty tensors only as torch.cat operands")
            if not is_tensor(result):
                raise ConversionError(describe_node(node), f"every output must be a tensor, got {type(result).__name__}")
            return result

        return value(args[0])

    def _convert(self, node: torch.fx.Node, target: Any, module: Any, args: tuple, kwargs: dict) -> Any:
        entry = self.registry.lookup(node.op, target)
        assert entry is not None, "refuse_unsupported runs before the walk"
        signature = inspect.signature(entry.converter)
        try:
            bound = signature.bind(None, *args, **kwargs)  # None stands for ctx
        except TypeError as error:
            raise UnsupportedParameterError(describe_node(node, module), f"arguments not understood ({error})") from error
        ctx = NodeContext(self, node, module, signature.bind(None, *node.args, **node.kwargs).arguments)
        for parameter, value in list(bound.arguments.items())[1:]:
            if parameter not in entry.empty and _contains_empty(value):
                raise ShapeError(ctx.where, "is an empty tensor (a slice with no elements, say); fx2relax supports "
                                 "empty tensors only as torch.cat operands", parameter)
            if parameter not in entry.any_dtype:
                self._check_model_dtype(ctx, parameter, value)
        record = self.records[-1]
        record.converter = f"{entry.converter.__module__}.{entry.converter.__qualname__}"
        record.primfuncs = ctx.primfuncs
        return entry.converter(ctx, *args, **kwargs)

    def _check_model_dtype(self, ctx: NodeContext, parameter: str, value: Any) -> None:
        """Refuse a tensor (alone or in a tuple, list or dict) of another dtype than the model's:
        a converter computes in the model's float dtype unless it takes `any_dtype` for `parameter`."""
        if isinstance(value, (tuple, list)):
            for item in value:
                self._check_model_dtype(ctx, parameter, item)
        elif isinstance(value, dict):
            for item in value.values():
                self._check_model_dtype(ctx, parameter, item)
        elif is_tensor(value) and str(value.ty.dtype) != self.dtype:
            source = ctx.source_name(value)
            raise ctx.dtype_error(
                f"takes {self.dtype} tensors, got a {value.ty.dtype} tensor" + (f" (buffer '{source}')" if source else ""),
                parameter,
            )

    def param(self, tensor: torch.Tensor, name: str, where: str) -> relax.Expr:
        """A weight or buffer: a Relax constant, or with keep_params_as_input a new parameter of `main`.

        Float tensors must have the model's dtype (a float64 weight in a float32 import is refused,
        never rounded); integer and boolean buffers (index tables such as MaxViT's, attention masks)
        keep their own dtype and always stay constants: they are not weights to swap, and converters
        read their values at import (`NodeContext.constant`). `where` names the node for errors.
        """
        if tensor in self._params:
            return self._params[tensor]
        if tensor.is_floating_point() and tensor.dtype != getattr(torch, self.dtype):
            raise DtypeError(where, weight_dtype_message(tensor.dtype, self.dtype), name)
        if tensor.is_complex():
            raise DtypeError(where, f"has dtype {tensor.dtype}; complex tensors are not supported", name)
        array = tensor.detach().cpu().numpy()
        if self.keep_params_as_input and tensor.is_floating_point():
            value = relax.Var(name.replace(".", "_"), relax.TensorType(array.shape, self.dtype))
            self._weight_vars.append(value)
            self.weights[value.name] = array
        else:
            value = relax.const(array, str(array.dtype))
        self._params[tensor] = value
        self.param_names[value] = name
        return value


def weight_dtype_message(tensor_dtype: torch.dtype, model_dtype: str) -> str:
    """Why a float weight of `tensor_dtype` is refused in a `model_dtype` import, and the fix."""
    dtype = str(tensor_dtype).removeprefix("torch.")
    convert = "model.float()" if model_dtype == "float32" else "model.double()"
    other = f'import with dtype="{dtype}" or ' if dtype in SUPPORTED_DTYPES else ""
    return (
        f"has dtype {dtype} but the model is imported as {model_dtype} (fx2relax never rounds weights "
        f"silently): {other}convert the model with {convert} first"
    )


class RegistryTracer(torch.fx.Tracer):
    """A tracer that keeps every module type with a converter as one call_module node (a leaf),
    so a user's registered module is converted whole instead of being traced through."""

    def __init__(self, registry: ConverterRegistry = REGISTRY):
        super().__init__()
        self.registry = registry
        self.record_stack_traces = True  # errors name the user's source line of a node

    def is_leaf_module(self, module: torch.nn.Module, qualified_name: str) -> bool:
        if self.registry.lookup("call_module", module) is not None:
            return True
        return super().is_leaf_module(module, qualified_name)


def trace(
    model: torch.nn.Module, input_shape: Any = None, registry: ConverterRegistry = REGISTRY
) -> torch.fx.GraphModule:
    """Trace `model` into a GraphModule; failures become a TraceError naming the model.

    A model that is itself a convertible module (a bare `nn.Conv2d`) is traced as a one-node graph.
    The trailing forward arguments `input_shape` gives no shape and that have defaults
    (`attn_mask=None`) are traced as their defaults (torch.fx's concrete_args), so torch.fx follows
    the branches PyTorch takes for them (`if mask is None`), and they are not inputs of the graph.
    """
    if isinstance(model, torch.fx.GraphModule):
        return model
    if registry.lookup("call_module", model) is not None:
        return _single_module_graph(model)
    concrete_args = left_out_defaults(model, input_shape)
    try:
        graph = RegistryTracer(registry).trace(model, concrete_args=concrete_args or None)
    except Exception as error:
        raise TraceError(
            f"torch.fx could not trace {type(model).__name__}: {type(error).__name__}: {error}"
        ) from error
    if concrete_args:
        _drop_specialized_placeholders(graph, len(concrete_args))
    return torch.fx.GraphModule(model, graph, type(model).__name__)


def left_out_defaults(model: torch.nn.Module, input_shape: Any) -> dict[str, Any]:
    """The trailing forward arguments that `input_shape` gives no shape and that have a default
    (`forward(x, attn_mask=None, scale=2.0)`), with their defaults: they are traced as those values.
    None for input_shape: no argument is left out."""
    if isinstance(model, torch.fx.GraphModule) or not _is_sequence(input_shape) or len(input_shape) == 0:
        return {}
    given = len(input_shape) if all(_is_sequence(item) for item in input_shape) else 1
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = [p for p in inspect.signature(model.forward).parameters.values() if p.kind in positional]
    left_out = parameters[given:]
    if any(p.default is inspect.Parameter.empty for p in left_out):
        return {}  # an argument without a default: the graph checks name it
    return {p.name: p.default for p in left_out}


def _drop_specialized_placeholders(graph: torch.fx.Graph, count: int) -> None:
    """Remove the last `count` placeholders, which torch.fx made for concrete arguments, with the
    checks it adds that a call passes the traced value (`_assert_is_none`, `x == 2.0`, `_assert`);
    the traced graph itself uses the values, never the placeholders."""
    placeholders = [node for node in graph.nodes if node.op == "placeholder"][-count:]
    dependents: list[torch.fx.Node] = []
    for node in graph.nodes:
        if node in placeholders or any(arg in placeholders or arg in dependents for arg in node.all_input_nodes):
            dependents.append(node)
    if any(node.op == "output" for node in dependents):
        return  # a concrete value flows to the output: leave the graph to the checks
    for node in reversed(dependents):
        graph.erase_node(node)


def _single_module_graph(model: torch.nn.Module) -> torch.fx.GraphModule:
    """A graph calling `model` as submodule '0' with one placeholder per required positional argument
    of its forward (a bare nn.Bilinear takes two)."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [
        p.name for p in inspect.signature(model.forward).parameters.values()
        if p.kind in positional and p.default is inspect.Parameter.empty
    ]
    graph = torch.fx.Graph()
    inputs = tuple(graph.placeholder(name) for name in names)
    graph.output(graph.call_module("0", inputs))
    return torch.fx.GraphModule(torch.nn.Sequential(model), graph, type(model).__name__)


def normalize_input_shapes(input_shape: Any, count: int) -> list[tuple[Dim, ...]]:
    """One shape per model input. A dimension is a positive int, or None / a name for a symbolic one."""
    if _is_sequence(input_shape) and input_shape and all(_is_sequence(s) for s in input_shape):
        shapes = list(input_shape)
    elif _is_sequence(input_shape) and not any(_is_sequence(d) for d in input_shape):
        shapes = [input_shape]
    else:
        raise InputShapeError(
            f"input_shape must be a shape such as (4, 1, 28, 28), or a list of shapes, got {input_shape!r}"
        )
    if len(shapes) != count:
        raise InputShapeError(f"the model takes {count} input(s) but input_shape gives {len(shapes)} shape(s)")
    symbols: dict[str, tirx.Var] = {}
    normalized = []
    for shape in shapes:
        if len(shape) == 0:
            raise InputShapeError("input_shape has an empty shape: give one dimension per axis of the input")
        normalized.append(tuple(_dim(d, shape, symbols) for d in shape))
    return normalized


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (Sequence, torch.Size, np.ndarray)) and not isinstance(value, (str, bytes))


def _dim(dim: Any, shape: Any, symbols: dict[str, tirx.Var]) -> Dim:
    if dim is None or isinstance(dim, str):
        name = dim or "batch"
        if not name.isidentifier():
            raise InputShapeError(f"symbolic dimension name {name!r} in input_shape {shape!r} is not an identifier")
        return symbols.setdefault(name, tirx.Var(name, "int64"))
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise InputShapeError(f"input_shape {shape!r} has {dim!r}: dimensions must be positive integers")
    if dim <= 0:
        raise InputShapeError(f"input_shape {shape!r} has {dim}: dimensions must be positive integers")
    return int(dim)


def from_module(
    model: torch.nn.Module,
    input_shape: Sequence[Any],
    *,
    dtype: str = "float32",
    keep_params_as_input: bool = False,
) -> Any:
    """Import `model` into a `tvm.IRModule` whose Relax function `main` computes `model(x)`.

    `input_shape` is the input's shape, or a list of shapes for a model with several inputs; a
    dimension given as None or a name is symbolic (e.g. `(None, 1, 28, 28)` for any batch).
    With `keep_params_as_input=True` the weights become trailing parameters of `main` and the
    result is `(mod, weights)`, `weights` a dict name → NumPy array in parameter order.
    """
    importer, mod = import_model(model, input_shape, dtype=dtype, keep_params_as_input=keep_params_as_input)
    return (mod, importer.weights) if keep_params_as_input else mod


def import_model(
    model: torch.nn.Module,
    input_shape: Sequence[Any],
    *,
    dtype: str = "float32",
    keep_params_as_input: bool = False,
) -> tuple[GraphImporter, tvm.IRModule]:
    """`from_module`, also returning the GraphImporter: its `records` say what handled each node."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"from_module expects a torch.nn.Module, got {type(model).__name__}")
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported; choose one of {', '.join(SUPPORTED_DTYPES)}")
    graph_module = trace(model, input_shape)
    graph_module = prepare_graph(graph_module, input_shape)
    count = sum(1 for n in graph_module.graph.nodes if n.op == "placeholder")
    shapes = normalize_input_shapes(input_shape, count)
    importer = GraphImporter(graph_module, dtype, keep_params_as_input)
    mod = importer.import_graph(shapes)
    check_sizes(mod)
    return importer, mod
