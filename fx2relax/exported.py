"""Import a `torch.export.ExportedProgram`: the graph PyTorch captures models with today.

An exported program's graph is a torch.fx graph of ATen ops (`aten.linear.default`,
`aten.embedding.default`, ...) whose placeholders are the model's parameters, buffers, constants
and user inputs, told apart by the program's graph signature. The walk is `GraphImporter`'s;
this subclass only binds the placeholders and picks the user outputs.

Before the walk the program is decomposed to the core ATen opset except for a few high-level ops
kept whole (linear, convolution, layer and group norm, batch norm, scaled dot-product attention,
embedding, gelu, silu, padding, upsampling, adaptive average pooling, im2col and col2im) and every
other ATen op with a converter of its own: `compile` schedules those as single kernels, where their
decompositions (transposes, matrix products, softmax chains, index tables built from `arange`, the
scatter col2im decomposes into) would be scheduled piece by piece, and they map onto the kernels
the torch.fx path uses.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
import tvm
from torch.export import ExportedProgram
from torch.export.graph_signature import ConstantArgument, InputKind, OutputKind
from tvm import relax, tirx

from . import dtypes
from .errors import ConversionError, Fx2RelaxError
from .graph_checks import check_sizes
from .importer import Dim, GraphImporter, describe_node, is_tensor
from .registry import REGISTRY

aten = torch.ops.aten

KEPT_WHOLE = (
    aten.linear.default,
    aten.conv1d.default,
    aten.conv2d.default,
    aten.conv3d.default,
    aten.layer_norm.default,
    aten.batch_norm.default,
    aten.scaled_dot_product_attention.default,
    aten.embedding.default,
    aten.gelu.default,
    aten.silu.default,
    aten.im2col.default,
    aten.col2im.default,
    aten.group_norm.default,
    aten.pad.default,
    aten.reflection_pad1d.default,
    aten.reflection_pad2d.default,
    aten.reflection_pad3d.default,
    aten.replication_pad1d.default,
    aten.replication_pad2d.default,
    aten.replication_pad3d.default,
    aten._pad_circular.default,
    aten.upsample_nearest1d.vec,
    aten.upsample_nearest2d.vec,
    aten.upsample_nearest3d.vec,
    aten._upsample_nearest_exact1d.vec,
    aten._upsample_nearest_exact2d.vec,
    aten._upsample_nearest_exact3d.vec,
    aten.upsample_linear1d.vec,
    aten.upsample_bilinear2d.vec,
    aten.upsample_bicubic2d.vec,
    aten.upsample_trilinear3d.vec,
    aten._upsample_bilinear2d_aa.vec,
    aten._upsample_bicubic2d_aa.vec,
    aten.upsample_nearest1d.default,
    aten.upsample_nearest2d.default,
    aten.upsample_nearest3d.default,
    aten._upsample_nearest_exact1d.default,
    aten._upsample_nearest_exact2d.default,
    aten._upsample_nearest_exact3d.default,
    aten.upsample_linear1d.default,
    aten.upsample_bilinear2d.default,
    aten.upsample_trilinear3d.default,
    aten._upsample_bilinear2d_aa.default,
    aten._upsample_bicubic2d_aa.default,
    aten.adaptive_avg_pool1d.default,
    aten.adaptive_avg_pool2d.default,
)
"""High-level ops imported whole rather than through their core ATen decompositions."""


def decomposition_table() -> dict:
    """torch.export's default decompositions without the ops fx2relax keeps whole: KEPT_WHOLE and
    every ATen overload with a converter of its own (an upsample, say: one kernel instead of the
    index arithmetic of its decomposition)."""
    table = torch.export.default_decompositions()
    for op in [*KEPT_WHOLE, *(op for op in table if REGISTRY.lookup("call_function", op) is not None)]:
        table.pop(op, None)
    return table


def symbolic_dim(size: int | torch.SymInt, symbols: dict[str, tirx.Var], where: str) -> Dim:
    """A traced size as an int, or a symbolic one (torch's `s0`) as the tirx.Var of that name."""
    if isinstance(size, int):
        return size
    expr = size.node.expr
    if expr.is_Integer:
        return int(expr)
    if expr.is_Symbol:
        return symbols.setdefault(str(expr), tirx.Var(str(expr), "int64"))
    raise ConversionError(where, f"size {expr} is an expression of symbols; fx2relax takes one symbol per size")


class ExportedProgramImporter(GraphImporter):
    """GraphImporter for an ExportedProgram: placeholders are user inputs (parameters of `main`,
    with the dtypes and shapes the program traced) or the program's weights, buffers and constants;
    the output is the program's user outputs."""

    def __init__(self, program: ExportedProgram, keep_params_as_input: bool = False):
        self.program = program
        self._specs = {spec.arg.name: spec for spec in program.graph_signature.input_specs}
        super().__init__(program.graph_module, _model_dtype(program), keep_params_as_input)

    def import_program(self) -> tvm.IRModule:
        """Bind the user inputs (symbolic sizes shared by name) and walk the graph."""
        symbols: dict[str, tirx.Var] = {}
        inputs = []
        for node in self.graph_module.graph.nodes:
            if node.op != "placeholder":
                continue
            spec = self._specs[node.name]
            if spec.kind == InputKind.USER_INPUT and not isinstance(spec.arg, ConstantArgument):
                inputs.append(self._user_input(node, symbols))
            else:
                inputs.append(None)  # bound by `placeholder`
        return self.import_graph(inputs)

    def _user_input(self, node: torch.fx.Node, symbols: dict[str, tirx.Var]) -> relax.Var:
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise ConversionError(describe_node(node), f"inputs must be tensors, got {type(value).__name__}")
        dtype = dtypes.dtype_name(value.dtype)
        if dtype not in dtypes.TENSOR_DTYPES:
            raise ConversionError(describe_node(node), f"has dtype {dtype}; fx2relax imports {', '.join(dtypes.TENSOR_DTYPES)}")
        shape = [symbolic_dim(size, symbols, describe_node(node)) for size in value.shape]
        return relax.Var(node.name, relax.TensorType(shape, dtype))

    def run_node(self, node: torch.fx.Node) -> Any:
        """Convert the node, then check the result's dtype and rank against what torch.export traced."""
        result = super().run_node(node)
        expected = node.meta.get("val")
        if node.op == "call_function" and isinstance(expected, torch.Tensor) and is_tensor(result):
            got, want = dtypes.value_dtype(result), dtypes.dtype_name(expected.dtype)
            if got != want or len(result.ty.shape.values) != expected.dim():
                raise ConversionError(
                    describe_node(node),
                    f"fx2relax computed a {got} tensor of rank {len(result.ty.shape.values)} where PyTorch has "
                    f"{want} of rank {expected.dim()} (a converter bug: please report it)",
                )
        return result

    def placeholder(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> Any:
        spec = self._specs[node.name]
        if spec.kind == InputKind.USER_INPUT:
            return spec.arg.value if isinstance(spec.arg, ConstantArgument) else self._inputs[node]
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            tensor = self.program.state_dict.get(spec.target)
            if tensor is None:
                tensor = self.program.constants[spec.target]
            return self.param(tensor, spec.target, describe_node(node))
        raise ConversionError(describe_node(node), f"is a {spec.kind.name} input, which fx2relax does not import")

    def output(self, node: torch.fx.Node, args: tuple, kwargs: dict) -> relax.Expr:
        outputs = list(args[0])  # only user outputs: import_program refused programs mutating state
        return super().output(node, (outputs[0] if len(outputs) == 1 else tuple(outputs),), kwargs)


def _model_dtype(program: ExportedProgram) -> str:
    """The one float dtype of the program's floating weights (float32 when it has none)."""
    floats = {dtypes.dtype_name(t.dtype) for t in program.state_dict.values() if t.is_floating_point()}
    if len(floats) > 1:
        raise ConversionError("the exported program", f"mixes float dtypes {sorted(floats)}; fx2relax imports one")
    return floats.pop() if floats else dtypes.default_float()


def _refuse_mutations(program: ExportedProgram) -> None:
    """A program that updates buffers or inputs (batch norm statistics in training mode) cannot be
    computed out of place as fx2relax does: refused, naming what it mutates."""
    mutations = [spec for spec in program.graph_signature.output_specs if spec.kind != OutputKind.USER_OUTPUT]
    if mutations:
        names = ", ".join(f"{spec.kind.name.lower()} '{spec.target}'" for spec in mutations)
        raise ConversionError(
            "the exported program",
            f"mutates state ({names}); fx2relax computes out of place. Export the model in eval mode (model.eval()).",
        )


def from_exported_program(program: ExportedProgram, *, keep_params_as_input: bool = False) -> Any:
    """Import a `torch.export` program into a `tvm.IRModule` whose Relax function `main` computes it.

    `main` takes the program's user inputs with their traced shapes and dtypes (a size made dynamic
    with `torch.export.Dim` is a symbolic dimension) and returns its outputs in the program's
    flattened order, a tuple when there are several. Weights, buffers and constants become
    constants, or with `keep_params_as_input=True` trailing parameters of `main`: the result is then
    `(mod, weights)` as from `from_module`.
    """
    importer, mod = import_program(program, keep_params_as_input=keep_params_as_input)
    return (mod, importer.weights) if keep_params_as_input else mod


def import_program(program: ExportedProgram, *, keep_params_as_input: bool = False) -> tuple[ExportedProgramImporter, tvm.IRModule]:
    """`from_exported_program`, also returning the importer (its `records` say what handled each node)."""
    if not isinstance(program, ExportedProgram):
        raise TypeError(f"from_exported_program expects a torch.export.ExportedProgram, got {type(program).__name__}")
    try:
        program = program.run_decompositions(decomposition_table())
    except Exception as error:
        raise Fx2RelaxError(f"torch.export could not decompose the program: {type(error).__name__}: {error}") from error
    _refuse_mutations(program)
    importer = ExportedProgramImporter(program, keep_params_as_input)
    mod = importer.import_program()  # the walk refuses unsupported ops first, all in one error
    check_sizes(mod)
    return importer, mod
