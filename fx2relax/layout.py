"""Channel-blocked activations between convolutions: `BlockChannels(target)`, a pass on fused modules.

A 4-D activation [N, C, H, W] that flows from one fused convolution function only into others is
stored blocked instead, [N, C / L, H, W, L] with L the target's vector lanes for its dtype (NCHW16c
for float32 on AVX-512; half a vector where C is not a whole number of vectors), as oneDNN and ONNX
Runtime do: the producer's epilogue then stores one contiguous vector of channels per output
position instead of scattering it over L planes, a depthwise convolution reads one contiguous
vector of channels per tap, so it is vectorised over channels at any plane width or stride
(schedules.conv.BlockedDepthwiseConv), and a residual added in an epilogue is read one vector at a
time. A tensor is blocked only where every reader's schedule reads it well: as the input of a
depthwise conv, of a conv2d_packed (a padded one copies it into a padded blocked buffer, a vector
at a time) or of a Winograd conv (whose input transform reads a vector of channels per tile and
whose output transform stores one), or as an epilogue operand; a depthwise conv writes blocked
only when it reads blocked. Two more kinds of function read a blocked tensor well, found between
the depthwise conv and the projection of a squeeze-and-excitation block (EfficientNet's,
MobileNetV3's): a reduction over its planes, H and W ([N, C, H, W] → [N, C, 1, 1] or [N, C], a
global average pool: schedules.reductions reduces a vector of channels per tap; its output, one
value per channel, keeps its layout, which for [N, C, 1, 1] is the blocked one anyway), and an
element-wise or broadcast function (the SE scale x * s, s [N, C, 1, 1]) whose only full-size
operand it is, whose other operands are per channel or scalars and whose output is blocked in
turn, in the same lanes (every reader of that reads it blocked well; schedules.elementwise then
runs a vector of channels per position, the per-channel operand one contiguous vector too). Where
FuseOps puts that scale in the epilogue of the conv that makes s (a conv2d_packed with 1x1 output
planes; at batch > 1), x is read so too, under the same condition. The layout changes inside the
functions that write and read the tensor (TIR `transform_layout` of their parameter buffers), so
no conversion runs at all: the model's inputs and outputs, and every tensor read by anything else, stay [N, C, H, W].
A concatenation along channels (SqueezeNet's fire modules, Inception's branches) reads its inputs
blocked and writes blocked, alone or with a max pooling or element-wise stages after it, where every
boundary between its inputs is a whole number of vectors and its output's readers read blocked
(schedules.concat then joins a vector of channels at a time). So does a pooling whose output's
readers read blocked (GoogLeNet's and Inception's pooling branches, between a concatenation and a
1x1 conv: schedules.pooling pools a vector of channels per tap). So do permutes between [N, C, H, W]
and [N, H, W, C] (ConvNeXt's, around its layer norms, with its layer scale and residual add fused in:
`_Transposition`): one into [N, C, H, W] writes blocked, from its [N, H, W, C] operand (a vector of
channels is contiguous there) whether or not another input is blocked; one into [N, H, W, C] reads
blocked, a vector of channels at a time (schedules.elementwise.vectorize_contiguous_copy).
One more reader takes a blocked tensor: a flatten ([N, C, H, W] → [N, C * H * W], TVM's reshape
pattern) whose result is only the data of a linear layer on packed constant weights (the course
CNN's conv + ReLU + max-pool → Flatten → Linear): the flatten then reads the blocked tensor in its
own order, still a plain reshape (no copy), and the linear's packed weights are permuted along
their input features at compile time to match, so the pooled vectors of channels are stored whole
instead of one lane per plane (sums then run over the input features in the new order).
Functions are recognised by their conv stage's marks
(kernels.marks) and their stages' TIR structure (a reduction's iterators, element-wise indexing),
never by names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax, s_tir, tirx

from .kernels import shape as shape_kernels
from .kernels.marks import BLOCKED_PARAMS, PLANES_REDUCED_AFTER, blocked_index_map, marked_kernel, stages
from .schedules.elementwise import indexed_axes, read_positions
from .schedules.generic import inline_injective, param_index, static_extent, top_blocks
from .schedules.pooling import POOLINGS
from .schedules.reductions import reduces_trailing_axes
from .schedules.vectors import block_lanes, vector_unit

_CALL_TIR = tvm.ir.Op.get("relax.call_tir")


@dataclass(frozen=True)
class _Convolution:
    """The one convolution stage of a fused function: whether it is depthwise (one input channel
    per group, as many outputs as inputs), a conv2d_packed or a Winograd conv, which parameter is
    its input (None when it reads an intermediate; through a pad or not), which parameters its
    epilogue reads at the conv's output positions (a residual added), which it scales by the
    conv's per-channel results (a conv2d_packed with 1x1 output planes whose epilogue ends in a
    broadcast multiply, squeeze-and-excitation's x * sigmoid(conv(...)): the function's output
    has x's shape), and whether the conv stage writes the function's output itself (no epilogue)."""

    depthwise: bool
    packed: bool
    winograd: bool
    data_param: int | None
    operands: frozenset[int]
    scaled: frozenset[int]
    writes_output: bool

    @classmethod
    def of(cls, func: tvm.ir.BaseFunc) -> _Convolution | None:
        """The convolution of a PrimFunc with exactly one conv2d, conv2d_packed or Winograd conv
        (its output stage makes the conv's outputs, its input transform reads the input), else None."""
        if not isinstance(func, tirx.PrimFunc):
            return None
        blocks = stages(func)
        convs = [block for block in blocks if marked_kernel(block.annotations) in _CONVOLUTION_OUTPUTS]
        if len(convs) != 1 or not convs[0].reads:
            return None
        conv = convs[0]
        kernel = marked_kernel(conv.annotations)
        winograd = kernel == "winograd_output"
        readers = [block for block in blocks if marked_kernel(block.annotations) == "winograd_input"] if winograd else [conv]
        if len(readers) != 1 or not readers[0].reads:
            return None
        data = readers[0].reads[0].source
        pads = [block for block in blocks if marked_kernel(block.annotations) == "pad" and block.writes[0].source.same_as(data)]
        if pads:
            data = pads[0].reads[0].source
        data_param = param_index(func, data)
        channels = static_extent(data.shape[1]) if len(data.shape) == 4 else None
        output = conv.writes[0].source
        crops = [block for block in blocks if marked_kernel(block.annotations) == "conv2d_packed_outputs"]
        outputs_shape = (crops[0].writes[0].source if crops else output).shape  # the real outputs (no padded channels or columns)
        depthwise = (
            kernel == "conv2d" and channels is not None
            and int(conv.annotations.get("fx2relax.groups", 1)) == channels == static_extent(output.shape[1])
        )
        stage_marks = ("winograd_input", "winograd_product") if winograd else ()
        epilogue = [
            block for block in blocks
            if not any(block.same_as(other) for other in (conv, *pads)) and marked_kernel(block.annotations) not in stage_marks
        ]
        operands = frozenset(
            index for block in epilogue for region in block.reads
            if (index := param_index(func, region.source)) is not None and _same_shape(region.source.shape, outputs_shape)
        )
        result = func.params[-1].shape
        per_channel = kernel == "conv2d_packed" and [static_extent(d) for d in output.shape[2:]] == [1, 1]
        scaled = frozenset(
            index for block in epilogue if per_channel and indexed_axes(block) is not None for region in block.reads
            if (index := param_index(func, region.source)) is not None and index < len(func.params) - 1
            and _same_shape(region.source.shape, result) and not _same_shape(result, outputs_shape)
        )
        return cls(
            depthwise, kernel == "conv2d_packed", winograd, data_param, operands, scaled, param_index(func, output) is not None
        )

    def reads_blocked(self, index: int) -> bool:
        """Whether the function's schedule reads parameter `index` blocked well: as the input of a
        depthwise conv (vectors of channels per tap), of a conv2d_packed (one broadcast input per
        channel; a pad copies it blocked, a vector at a time) or of a Winograd conv (vectors of
        channels per tile), or as an epilogue operand (one vector per output tile column); a scaled
        operand only where the function's output is blocked too (see _choose)."""
        if index == self.data_param:
            return self.depthwise or self.winograd or self.packed
        return index in self.operands


_CONVOLUTION_OUTPUTS = ("conv2d", "conv2d_packed", "winograd_output")
"""The marks of the stages that make a convolution's outputs (for Winograd, its output transform)."""


def _same_shape(shape: list, other: list) -> bool:
    """Whether two static shapes are equal."""
    extents = [(static_extent(a), static_extent(b)) for a, b in zip(shape, other)]
    return len(shape) == len(other) and all(a is not None and a == b for a, b in extents)


def _reduces_planes(func: tvm.ir.BaseFunc, index: int) -> bool:
    """Whether `func` reduces its 4-D parameter `index` over the planes, [N, C, H, W] → one value
    per (n, c): its one reduction stage reads the parameter (and nothing else does), its reduce
    iterators index H and W, and its other stages are spatial (the mean's division)."""
    if not isinstance(func, tirx.PrimFunc) or index >= len(func.params) - 1:
        return False
    data = func.params[index]
    blocks = stages(func)
    reductions = [block for block in blocks if any(v.iter_type == tirx.IterVar.CommReduce for v in block.iter_vars)]
    if len(data.shape) != 4 or len(reductions) != 1:
        return False
    (reduction,) = reductions
    reduced = sum(1 for v in reduction.iter_vars if v.iter_type == tirx.IterVar.CommReduce)
    reads_data = [block for block in blocks for region in block.reads if region.source.same_as(data)]
    return (
        reduced == 2 and len(reads_data) == 1 and reads_data[0].same_as(reduction)
        and reduction.reads[0].source.same_as(data) and reduces_trailing_axes(reduction)
    )


@dataclass(frozen=True)
class _ElementWise:
    """A function of element-wise and broadcast stages only with a 4-D output [N, C, H, W]: the
    parameters of the output's shape (blocked with the output) and whether every other operand
    is per channel ([N or 1, C or 1, 1, 1]) or a scalar, which reads a vector of channels whole."""

    full: frozenset[int]
    per_channel_rest: bool

    @classmethod
    def of(cls, func: tvm.ir.BaseFunc) -> _ElementWise | None:
        """The element-wise function `func` is, else None (a reduction, a gather, a conv ...)."""
        if not isinstance(func, tirx.PrimFunc) or not func.params:
            return None
        blocks = stages(func)
        if not blocks or any(
            any(v.iter_type != tirx.IterVar.DataPar for v in block.iter_vars) or indexed_axes(block) is None for block in blocks
        ):
            return None
        shapes = [[static_extent(d) for d in param.shape] for param in func.params]
        output = shapes[-1]
        if len(output) != 4 or None in output:
            return None
        full = frozenset(index for index, shape in enumerate(shapes[:-1]) if shape == output)
        rest = all(_per_channel(shape, output) for index, shape in enumerate(shapes[:-1]) if index not in full)
        return cls(full, rest)


def _per_channel(shape: list, output: list) -> bool:
    """Whether an operand of static `shape` is a scalar or one value per channel of an [N, C, H, W]
    `output` (broadcast as [N or 1, C or 1, 1, 1], its leading 1s omitted or not: ConvNeXt's layer
    scale is [C, 1, 1]): it reads a vector of channels whole."""
    if len(shape) > 4:
        return False
    n, c = output[:2]
    shape = [1] * (4 - len(shape)) + list(shape)
    return shape[0] in (1, n) and shape[1] in (1, c) and shape[2:] == [1, 1]


@dataclass(frozen=True)
class _Transposition:
    """A function of element-wise, broadcast and permute stages that, inlined, is one block over
    its 4-D output reading some 4-D parameters transposed between [N, C, H, W] and [N, H, W, C]
    (ConvNeXt's permutes around its layer norms, its layer scale and residual add fused in), the
    others element-wise or broadcast. `to_channels_first`: the output is [N, C, H, W] and the
    `transposed` parameters [N, H, W, C] (the output can then be stored blocked, each position's
    vector of channels a contiguous read of them); else the output is [N, H, W, C] and the
    `transposed` parameters [N, C, H, W] (they can be read blocked, a vector of channels at a
    time, schedules.elementwise.vectorize_contiguous_copy). `full`: the parameters of the output's
    shape read in order; `per_channel_rest`: every other operand per channel or a scalar."""

    to_channels_first: bool
    transposed: frozenset[int]
    full: frozenset[int]
    per_channel_rest: bool

    CHANNELS_LAST_READ = (2, 3, 1)
    """The iterator positions of a [N, H, W, C] read (batch index left out) in a block over [N, C, H, W]."""
    CHANNELS_FIRST_READ = (3, 1, 2)
    """The iterator positions of a [N, C, H, W] read (batch index left out) in a block over [N, H, W, C]."""

    @classmethod
    def of(cls, func: tvm.ir.BaseFunc) -> _Transposition | None:
        """The transposition `func` is, else None (a plain element-wise function among them)."""
        if not isinstance(func, tirx.PrimFunc) or len(func.params[-1].shape) != 4:
            return None
        blocks = stages(func)
        if (
            not blocks or any(any(v.iter_type != tirx.IterVar.DataPar for v in block.iter_vars) for block in blocks)
            or all(indexed_axes(block) is not None for block in blocks)  # every read in order: nothing transposed
        ):
            return None
        output = [static_extent(d) for d in func.params[-1].shape]
        if None in output:
            return None
        sch = s_tir.Schedule(func)
        inline_injective(sch)
        inlined = top_blocks(sch)
        if len(inlined) != 1:
            return None
        block, inlined_func = sch.get(inlined[0]), sch.mod["main"]
        if len(block.iter_vars) != 4 or read_positions(block, block.writes[0]) != [0, 1, 2, 3]:
            return None
        kinds: dict[int, tuple[int, ...] | None] = {}  # per parameter read: its transposed positions, None in order
        for read in block.reads:
            index, positions = param_index(inlined_func, read.source), read_positions(block, read)
            if index is None or positions is None:
                return None
            unbatched = tuple(positions[1:] if positions[:1] == [0] and len(read.region) == 4 else positions)
            if len(read.region) == 4 and unbatched in (cls.CHANNELS_LAST_READ, cls.CHANNELS_FIRST_READ):
                kind = unbatched
            elif positions == sorted(set(positions)):
                kind = None
            else:
                return None
            if kinds.setdefault(index, kind) != kind:  # a parameter read two ways
                return None
        transposed = frozenset(index for index, kind in kinds.items() if kind is not None)
        if len({kinds[index] for index in transposed}) != 1:
            return None
        shapes = {index: [static_extent(d) for d in func.params[index].shape] for index in kinds}
        full = frozenset(index for index in kinds if index not in transposed and shapes[index] == output)
        rest = all(_per_channel(shape, output) for index, shape in shapes.items() if index not in full and index not in transposed)
        return cls(kinds[next(iter(transposed))] == cls.CHANNELS_LAST_READ, transposed, full, rest)


@dataclass(frozen=True)
class _ChannelConcatenation:
    """A function whose one concatenation joins 4-D parameters along channels (static boundaries),
    or max poolings of them (Inception-v3's reduction blocks: a 3x3/2 max pooling beside two convs),
    followed by element-wise stages or a max pooling over the planes (SqueezeNet's fire modules,
    Inception's branches): schedules.concat joins them a vector of channels at a time when they and
    the output are stored blocked in lanes dividing every boundary. `inputs` are the parameters
    joined or pooled."""

    inputs: frozenset[int]
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, func: tvm.ir.BaseFunc) -> _ChannelConcatenation | None:
        """The concatenation `func` is, else None."""
        if not isinstance(func, tirx.PrimFunc):
            return None
        blocks = stages(func)
        concats = [block for block in blocks if marked_kernel(block.annotations) == "concatenate"]
        if len(concats) != 1 or len(func.params[-1].shape) != 4:
            return None
        (concat,) = concats
        annotations = concat.annotations
        if "fx2relax.offsets" not in annotations or int(annotations["fx2relax.axis"]) != 1:
            return None
        pooled = {  # a max pooling's output: the parameter it pools
            block.writes[0].source: param_index(func, block.reads[0].source)
            for block in blocks if marked_kernel(block.annotations) == "max_pool2d" and len(block.reads) == 1
        }
        inputs = [param_index(func, region.source) for region in concat.reads]
        inputs = [pooled.get(region.source) if index is None else index for index, region in zip(inputs, concat.reads)]
        others = [block for block in blocks if not block.same_as(concat)]
        if None in inputs or any(len(func.params[index].shape) != 4 for index in inputs) or not all(
            marked_kernel(block.annotations) == "max_pool2d"
            or all(v.iter_type == tirx.IterVar.DataPar for v in block.iter_vars) and indexed_axes(block) is not None
            for block in others
        ):
            return None
        return cls(frozenset(inputs), tuple(int(offset) for offset in annotations["fx2relax.offsets"]))

    def reads_blocked(self, index: int, lanes: int) -> bool:
        """Whether parameter `index` is an input read a vector of `lanes` channels at a time."""
        return index in self.inputs and all(offset % lanes == 0 for offset in self.offsets)


@dataclass(frozen=True)
class _Pooling:
    """A function whose one pooling stage (POOLINGS) reads a 4-D parameter, the only one any of its
    stages read, followed by element-wise stages (avg_pool2d's division): GoogLeNet's and
    Inception's pooling branches between a concatenation and a 1x1 conv. schedules.pooling pools a
    vector of channels at a time when the input and the output are stored blocked."""

    inputs: frozenset[int]

    @classmethod
    def of(cls, func: tvm.ir.BaseFunc) -> _Pooling | None:
        """The pooling `func` is, else None."""
        if not isinstance(func, tirx.PrimFunc) or len(func.params[-1].shape) != 4:
            return None
        blocks = stages(func)
        pools = [block for block in blocks if marked_kernel(block.annotations) in POOLINGS]
        if len(pools) != 1 or len(pools[0].reads) != 1:
            return None
        data = param_index(func, pools[0].reads[0].source)
        others = [block for block in blocks if not block.same_as(pools[0])]
        read_params = {index for block in blocks for region in block.reads if (index := param_index(func, region.source)) is not None}
        if data is None or len(func.params[data].shape) != 4 or read_params != {data} or not all(
            all(v.iter_type == tirx.IterVar.DataPar for v in block.iter_vars) and indexed_axes(block) is not None for block in others
        ):
            return None
        return cls(frozenset((data,)))

    def reads_blocked(self, index: int, lanes: int) -> bool:
        """Whether parameter `index` is the input, read a vector of `lanes` channels at a time."""
        return index in self.inputs


BLOCKED_DTYPES = ("float32", "float64")
"""The dtypes whose activations are blocked (those our vectorised schedules are tested in)."""


def _blocked_lanes(value: relax.Expr, lanes_of: Callable[[str], int]) -> int | None:
    """The lanes a tensor is blocked in: a vector of its dtype for a static 4-D [N, C, H, W] tensor
    of a BLOCKED_DTYPES dtype with C a whole number of vectors, half a vector where C is a whole
    number of those (`block_lanes`, as the packed conv weights: MobileNetV2's 24 channels), at least
    two lanes; None for any other."""
    ty = value.ty
    values = getattr(getattr(ty, "shape", None), "values", None)
    if values is None or len(values) != 4 or not all(isinstance(d, tirx.IntImm) for d in values):
        return None
    dtype = str(ty.dtype)
    if dtype not in BLOCKED_DTYPES:
        return None
    lanes = block_lanes(int(values[1]), lanes_of(dtype))
    return lanes if lanes is not None and lanes >= 2 else None


def _uses(main: relax.Function) -> dict[relax.Var, list[tuple[relax.Call, int] | None]]:
    """Every use of each bound variable of `main`: (call_tir, argument index), or None for any
    other use (a tuple, the function's result, an op other than call_tir)."""
    uses: dict[relax.Var, list] = {}

    def note_other(expr: relax.Expr) -> None:
        for var in relax.analysis.free_vars(expr):
            uses.setdefault(var, []).append(None)

    for block in main.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and value.op == _CALL_TIR and isinstance(value.args[1], relax.Tuple):
                for index, argument in enumerate(value.args[1].fields):
                    if isinstance(argument, relax.Var):
                        uses.setdefault(argument, []).append((value, index))
                    else:
                        note_other(argument)
                for argument in value.args[2:]:
                    note_other(argument)
            else:
                note_other(value)
    note_other(main.body.body)
    return uses


def _packed_weight_of_data(func: tvm.ir.BaseFunc, index: int) -> int | None:
    """The parameter index of the packed weight of the linear_packed stage of `func` when parameter
    `index` is that stage's data and nothing else in `func` reads it, else None."""
    if not isinstance(func, tirx.PrimFunc):
        return None
    blocks = stages(func)
    linears = [block for block in blocks if marked_kernel(block.annotations) == "linear_packed"]
    if len(linears) != 1 or len(linears[0].reads) < 2 or param_index(func, linears[0].reads[0].source) != index:
        return None
    data = func.params[index]
    if any(region.source.same_as(data) for block in blocks if not block.same_as(linears[0]) for region in block.reads):
        return None
    return param_index(func, linears[0].reads[1].source)


@dataclass
class _FlattenedLinear:
    """A flatten of a blocked conv output into a linear layer's data: the calls to rewrite."""

    flatten: relax.Call
    linear: relax.Call
    weight_index: int
    lanes: int


def _flattened_into_linear(
    mod: tvm.IRModule, var: relax.Var, lanes: int, uses: dict, bound: dict[relax.Call, relax.Var]
) -> _FlattenedLinear | None:
    """For a static [N, C, H, W] `var` whose one use is a flatten to [N, C * H * W] (a function of
    TVM's reshape pattern) whose result's one use is the data of a linear_packed function on a
    constant packed weight ([panels, C * H * W, width]): those calls, else None."""
    found = uses.get(var, [])
    if len(found) != 1 or found[0] is None or found[0][1] != 0:
        return None
    flatten = found[0][0]
    n, c, h, w = (int(d) for d in var.ty.shape.values)
    out_shape = getattr(flatten.ty, "shape", None)
    if (
        flatten not in bound or not isinstance(mod[flatten.args[0]], tirx.PrimFunc)
        or len(flatten.args[1].fields) != 1 or getattr(out_shape, "values", None) is None
        or [static_extent(d) for d in out_shape.values] != [n, c * h * w]
        or not relax.analysis.has_reshape_pattern(mod[flatten.args[0]])
    ):
        return None
    readers = uses.get(bound[flatten], [])
    if len(readers) != 1 or readers[0] is None:
        return None
    linear, data_index = readers[0]
    weight_index = _packed_weight_of_data(mod[linear.args[0]], data_index)
    if weight_index is None or weight_index >= len(linear.args[1].fields):
        return None
    weight = linear.args[1].fields[weight_index]
    if not isinstance(weight, tvm.ir.expr.Constant) or len(weight.value.shape) != 3 or weight.value.shape[1] != c * h * w:
        return None
    return _FlattenedLinear(flatten, linear, weight_index, lanes)


def _choose(mod: tvm.IRModule, main: relax.Function, lanes_of: Callable[[str], int]) -> _Choice:
    """For each call_tir of `main`, the (lanes, parameter index) pairs (arguments, then the output)
    to block, and the flattens into linear layers that read a blocked output."""
    uses = _uses(main)
    producers: dict[relax.Var, relax.Call] = {}
    for block in main.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and value.op == _CALL_TIR and isinstance(binding.var.ty, relax.TensorType):
                producers[binding.var] = value
    bound = {call: var for var, call in producers.items()}

    def convolution(call: relax.Call) -> _Convolution | None:
        return _Convolution.of(mod[call.args[0]])

    transpositions: dict[str, _Transposition | None] = {}

    def transposition(call: relax.Call) -> _Transposition | None:
        name = call.args[0].name_hint
        if name not in transpositions:
            transpositions[name] = _Transposition.of(mod[call.args[0]])
        return transpositions[name]

    def blocked_with_output(call: relax.Call, var: relax.Var) -> bool:
        """Whether `call` is an element-wise function (or a transposition into [N, C, H, W]) whose
        full-size operands are all `var` (and the rest per channel), so it reads them blocked when
        its output is."""
        elementwise = _ElementWise.of(mod[call.args[0]])
        if elementwise is None and (transposed := transposition(call)) is not None and transposed.to_channels_first:
            elementwise = transposed
        arguments = call.args[1].fields
        return (
            elementwise is not None and elementwise.per_channel_rest and bool(elementwise.full)
            and all(arguments[index].same_as(var) for index in elementwise.full)
        )

    def transposes_into_blocked(call: relax.Call) -> bool:
        """Whether `call` transposes [N, H, W, C] operands into [N, C, H, W] with no operand of its
        output's shape and the rest per channel: it can write blocked from unblocked inputs."""
        transposed = transposition(call)
        return transposed is not None and transposed.to_channels_first and not transposed.full and transposed.per_channel_rest

    def channel_wise(call: relax.Call) -> _ChannelConcatenation | _Pooling | None:
        """The concatenation or pooling `call` is, which reads its inputs blocked where its output is."""
        func = mod[call.args[0]]
        return _ChannelConcatenation.of(func) or _Pooling.of(func)

    def writes_blocked_from(call: relax.Call, index: int, var: relax.Var) -> bool:
        """Whether `call` can write blocked when its argument `index`, `var`, is blocked: an
        element-wise function's full-size operand, a concatenation's or a pooling's input."""
        joined = channel_wise(call)
        return index in joined.inputs if joined is not None else blocked_with_output(call, var)

    def output_blocked_alike(call: relax.Call, var: relax.Var) -> bool:
        """Whether the output of `call` can be blocked in the lanes of `var` (every reader reads it blocked well)."""
        return (
            call in bound and _blocked_lanes(bound[call], lanes_of) == _blocked_lanes(var, lanes_of)
            and read_blocked(bound[call]) is not None
        )

    def reads_blocked(call: relax.Call, index: int, var: relax.Var) -> bool:
        """Whether `call` reads its argument `index`, `var`, blocked well."""
        conv = convolution(call)
        if conv is not None and index in conv.scaled:  # a vector of channels per position of a blocked output
            return output_blocked_alike(call, var)
        if conv is not None:
            return conv.reads_blocked(index)
        if _reduces_planes(mod[call.args[0]], index):
            return True
        transposed = transposition(call)
        if transposed is not None and not transposed.to_channels_first and index in transposed.transposed:
            return True  # into [N, H, W, C], a vector of channels at a time
        joined = channel_wise(call)
        if joined is not None:  # the output blocked too, in the same lanes
            return joined.reads_blocked(index, _blocked_lanes(var, lanes_of)) and output_blocked_alike(call, var)
        return blocked_with_output(call, var) and output_blocked_alike(call, var)

    def read_blocked(var: relax.Var) -> list[tuple[relax.Call, int]] | None:
        """The uses of `var` when every one reads it blocked well."""
        found = uses.get(var, [])
        if not found or any(use is None for use in found):
            return None
        if any(not reads_blocked(call, index, var) for call, index in found):
            return None
        return found

    choice = _Choice()
    chosen = choice.params
    blocked: set[relax.Var] = set()
    blocked_inputs: set[relax.Call] = set()
    for var, producer in producers.items():  # in order: a producer's input is decided first
        lanes = _blocked_lanes(var, lanes_of)
        if not lanes:
            continue
        conv = convolution(producer)
        if conv is not None:
            if conv.packed and conv.writes_output:  # PackedConv stores blocked through an epilogue only
                continue
            flattened = _flattened_into_linear(mod, var, lanes, uses, bound) if conv.packed else None
            if flattened is not None:
                chosen.setdefault(producer, set()).add((lanes, len(producer.args[1].fields)))
                choice.flattened.append(flattened)
                continue
            if conv.depthwise and producer not in blocked_inputs:  # a depthwise conv writes blocked only from blocked
                continue
        elif not transposes_into_blocked(producer) and not any(
            arg in blocked and writes_blocked_from(producer, index, arg) for index, arg in enumerate(producer.args[1].fields)
        ):
            continue  # an element-wise function, a concatenation or a pooling writes blocked only from a blocked input
        readers = read_blocked(var)
        if not readers:
            continue
        chosen.setdefault(producer, set()).add((lanes, len(producer.args[1].fields)))  # the output parameter
        blocked.add(var)
        if any(_reduces_planes(mod[call.args[0]], index) for call, index in readers):
            choice.planes_reduced.add(producer)
        for call, index in readers:
            chosen.setdefault(call, set()).add((lanes, index))
            reader = convolution(call)
            if reader is not None and index == reader.data_param:
                blocked_inputs.add(call)
    return choice


@dataclass
class _Choice:
    """What BlockChannels changes: per call_tir, the (lanes, parameter index) pairs to block; the
    flattens of blocked outputs into linear layers; the calls whose blocked output a later call
    reduces over its planes (marked PLANES_REDUCED_AFTER)."""

    params: dict[relax.Call, set[tuple[int, int]]] = field(default_factory=dict)
    flattened: list[_FlattenedLinear] = field(default_factory=list)
    planes_reduced: set[relax.Call] = field(default_factory=set)


def permute_for_blocked_flatten(weight: np.ndarray, channels: int, height: int, width: int, lanes: int) -> np.ndarray:
    """A packed linear weight [panels, C * H * W, width] whose input features come from flattening
    [N, C, H, W], with its input features reordered as the flatten of [N, C / lanes, H, W, lanes]
    gives them."""
    panels, _, panel_width = weight.shape
    blocked = weight.reshape(panels, channels // lanes, lanes, height, width, panel_width).transpose(0, 1, 3, 4, 2, 5)
    return np.ascontiguousarray(blocked).reshape(weight.shape)


def block_params(func: tirx.PrimFunc, lanes: dict[int, int], planes_reduced_after: bool = False) -> tirx.PrimFunc:
    """`func` with each 4-D parameter index of `lanes` stored channel-blocked in vectors of its
    lanes (every access rewritten); marked PLANES_REDUCED_AFTER where a later call reduces its
    output over the planes."""
    sch = s_tir.Schedule(func)
    blocks = list(sch.get_child_blocks(sch.get_sblock("root")))
    for index, param_lanes in sorted(lanes.items()):
        param = func.params[index]
        accessing = next(
            block for block in blocks
            if any(region.source.same_as(param) for region in (*sch.get(block).reads, *sch.get(block).writes))
        )
        buffer = next(region.source for region in (*sch.get(accessing).reads, *sch.get(accessing).writes) if region.source.same_as(param))
        sch.transform_layout(accessing, buffer, blocked_index_map(param_lanes))
    blocked = sch.mod["main"].with_attr(BLOCKED_PARAMS, sorted(lanes))
    return blocked.with_attr(PLANES_REDUCED_AFTER, True) if planes_reduced_after else blocked


@tvm.transform.module_pass(opt_level=0, name="BlockChannels")
class BlockChannels:
    """Store the activations between convolutions and depthwise convolutions channel-blocked
    (see the module docstring), in vectors of the `target`'s float lanes."""

    def __init__(self, target: tvm.target.Target):
        self.target = target

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        main = mod["main"]
        if not isinstance(main, relax.Function) or not isinstance(main.body, relax.SeqExpr):
            return mod
        choice = _choose(mod, main, vector_unit(self.target).lanes)
        if not choice.params:
            return mod
        return _rewrite(mod, main, choice)


def _rewrite(mod: tvm.IRModule, main: relax.Function, choice: _Choice) -> tvm.IRModule:
    """`mod` with each chosen call_tir calling a copy of its function with the chosen parameters
    blocked (one copy per function and set of parameters), its output's shape blocked when the
    output is; each flatten of a blocked output into a linear layer flattening the blocked tensor,
    the linear's packed weight permuted to match. The variables whose shape changes get new ones,
    and their uses follow."""
    rewriter = _Reblocker(mod)
    for flattened in choice.flattened:
        rewriter.flattens.add(flattened.flatten)
        weight = flattened.linear.args[1].fields[flattened.weight_index]
        _, channels, height, width = (int(d) for d in flattened.flatten.args[1].fields[0].ty.shape.values)
        permuted = permute_for_blocked_flatten(weight.value.numpy(), channels, height, width, flattened.lanes)
        rewriter.weights[flattened.linear] = (flattened.weight_index, relax.const(permuted, str(weight.value.dtype)))
    copies: dict[tuple[str, frozenset, bool], tvm.ir.GlobalVar] = {}
    for call, marked in choice.params.items():
        lanes = dict((index, lanes) for lanes, index in marked)
        global_var = call.args[0]
        output = len(call.args[1].fields)
        reduced_after = call in choice.planes_reduced
        key = (global_var.name_hint, frozenset(lanes.items()), reduced_after)
        if key not in copies:
            copies[key] = rewriter.builder_.add_func(
                block_params(mod[global_var], lanes, reduced_after), f"{global_var.name_hint}_blocked"
            )
        out = call.ty
        if output in lanes:
            n, c, h, w = out.shape.values
            out = relax.TensorType([n, c // lanes[output], h, w, lanes[output]], out.dtype)
        rewriter.replacements[call] = (copies[key], out)
    rewriter.builder_.update_func(mod.get_global_var("main"), rewriter.visit_expr(main))
    return relax.transform.DeadCodeElimination(["main"])(rewriter.builder_.get())


@relax.expr_functor.mutator
class _Reblocker(relax.PyExprMutator):
    """Rebinds the calls in `replacements` to (function, output type)."""

    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self.replacements: dict[relax.Call, tuple[tvm.ir.GlobalVar, relax.TensorType]] = {}
        self.flattens: set[relax.Call] = set()  # flattens of a tensor now blocked: flatten it as it is
        self.weights: dict[relax.Call, tuple[int, tvm.ir.expr.Constant]] = {}  # (argument index, new constant)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        replacement = self.replacements.get(call)
        new = self.visit_expr_post_order(call)
        if call in self.flattens:
            data = new.args[1].fields[0]
            return self.builder_.call_te(shape_kernels.flatten, data, 1, len(data.ty.shape.values) - 1, primfunc_name_hint="flatten")
        if call in self.weights:
            index, weight = self.weights[call]
            arguments = list(new.args[1].fields)
            arguments[index] = weight
            return relax.call_tir(new.args[0], relax.Tuple(arguments), call.ty)
        if replacement is None:
            return new
        return relax.call_tir(replacement[0], new.args[1], replacement[1])
