"""Compile-time weight packing: linear layers and convolutions on constant weights read a packed copy.

`PackLinearWeights(target)` rewrites every call of our `linear` kernel (recognised by its stages'
marks, kernels.marks) whose weight is a constant, and every `matmul` and `addmm` (beta = alpha = 1,
a bias-like addend) whose right operand is a constant matrix, into a call of `kernels.linear.linear_packed` on
the weight packed once here, in NumPy, in panels one vector of the target CPU wide, so that the
GEMM/GEMV inner loop reads one vector of contiguous weights per input feature. `PackConvWeights`
does the same for 2-D convolutions (parameters read back from the conv stage's mark; grouped ones
where a vector of output channels lies in one group): `kernels.conv.conv2d_packed` reads one vector
of output channels' weights per (input channel, tap); output channels of a groups=1 conv in no
whole vector (nor half one) get their last vector padded with zeros.

`FoldConstantCalls` computes once, here, each call of one of our kernels whose every argument is a
constant (LeViT's attention biases gathered by a constant index table, four calls of 31 µs each):
its result is the same at every call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tvm
from tvm import relax, tirx

from .kernels import conv as conv_kernels
from .kernels import linear as linear_kernels
from .kernels import winograd
from .kernels.marks import marked_kernel, stages
from .schedules.conv import computed_columns, tile_vectors
from .schedules.generic import static_extent
from .schedules.matmul import PADDED_ROWS_MAX_WASTE, gemv_panel_groups, padded_rows
from .schedules.vectors import VectorUnit, block_lanes, vector_unit

_CALL_TIR = tvm.ir.Op.get("relax.call_tir")
FLOAT_DTYPES = ("float16", "float32", "float64")
"""Weights of matrix products packed as linear layers (integer products keep their own kernel)."""


def pack_linear_weight(weight: np.ndarray, width: int, panel_multiple: int = 1) -> np.ndarray:
    """[N, K] → [P, K, width] with packed[p, k, j] = weight[p * width + j, k], zero past N, where
    P is ceil(N / width) rounded up to a multiple of `panel_multiple`."""
    out_features, in_features = weight.shape
    panels = -(-out_features // width)
    panels = -(-panels // panel_multiple) * panel_multiple
    padded = np.zeros((panels * width, in_features), dtype=weight.dtype)
    padded[:out_features] = weight
    return np.ascontiguousarray(padded.reshape(panels, width, in_features).transpose(0, 2, 1))


def is_linear_kernel(func: tvm.ir.BaseFunc) -> bool:
    """Whether `func` is a PrimFunc made from kernels.linear.linear alone: every stage marked "linear",
    the product reading (data, weight) from the first two parameters, as the packed call passes them."""
    if not isinstance(func, tirx.PrimFunc) or len(func.params) not in (3, 4):  # data, weight[, bias], output
        return False
    blocks = stages(func)
    if not blocks or any(marked_kernel(block.annotations) != "linear" for block in blocks):
        return False
    reads = [region.source for region in blocks[0].reads]
    arguments = func.params[:2]  # data, weight
    return len(reads) == 2 and all(read.same_as(argument) for read, argument in zip(reads, arguments))


def constant_product_kind(func: tvm.ir.BaseFunc) -> str | None:
    """"matmul" for a PrimFunc made from kernels.linear.matmul alone (params lhs, rhs, output; its
    padded columns' crop included),
    "addmm" for kernels.linear.addmm with beta = alpha = 1 (params data, lhs, rhs, output: the
    product plus `data`), the product reading (lhs, rhs) from those parameters; else None."""
    if not isinstance(func, tirx.PrimFunc):
        return None
    blocks = stages(func)
    kinds = [marked_kernel(block.annotations) for block in blocks]
    if kinds in (["matmul"], ["matmul_padded_columns", "matmul", "matmul_outputs"]) and len(func.params) == 3:
        operands = func.params[:2]
    elif kinds == ["addmm", None] and len(func.params) == 4 and all(
        float(blocks[0].annotations[f"fx2relax.{scale}"]) == 1 for scale in ("beta", "alpha")
    ):
        operands = func.params[1:3]
    else:
        return None
    if kinds[0] == "matmul_padded_columns":  # linear.padded_columns: the product reads lhs and the padded rhs
        padded_rhs = blocks[0].reads[0].source
        reads = [region.source for region in blocks[1].reads]
        return "matmul" if len(reads) == 2 and reads[0].same_as(operands[0]) and padded_rhs.same_as(operands[1]) else None
    reads = [region.source for region in blocks[0].reads]
    return kinds[0] if len(reads) == 2 and all(r.same_as(o) for r, o in zip(reads, operands)) else None


def _static_shape(value: relax.Expr) -> list[int | None]:
    """A Relax tensor's shape, None for each symbolic size ([None] when its rank is unknown)."""
    return [static_extent(size) for size in value.ty.shape.values] if hasattr(value.ty.shape, "values") else [None]


def _as_bias(value: relax.Expr, out_features: int) -> relax.Expr | None:
    """addmm's added `data` as linear's bias [N]: itself when [N], a constant [1, N] reshaped; else None."""
    shape = _static_shape(value)
    if shape == [out_features]:
        return value
    if shape == [1, out_features] and isinstance(value, tvm.ir.expr.Constant):
        return relax.const(value.value.numpy().reshape(out_features), str(value.value.dtype))
    return None


@relax.expr_functor.mutator
class _LinearPacker(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule, target: tvm.target.Target):
        super().__init__(mod)
        self.mod = mod
        self.vectors = vector_unit(target)
        self.target = target

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        if call.op != _CALL_TIR:
            return call
        func = self.mod[call.args[0]]
        if is_linear_kernel(func):
            data, weight, *bias = call.args[1].fields
            if isinstance(weight, tvm.ir.expr.Constant) and len(weight.ty.shape.values) == 2:
                return self._packed(data, weight.value.numpy(), bias[0] if bias else None)
            return call
        kind = constant_product_kind(func)
        if kind is None:
            return call
        added, lhs, rhs = (None, *call.args[1].fields) if kind == "matmul" else call.args[1].fields
        if not isinstance(rhs, tvm.ir.expr.Constant) or len(rhs.ty.shape.values) != 2 or rhs.value.dtype not in FLOAT_DTYPES:
            return call
        weight = np.ascontiguousarray(rhs.value.numpy().T)  # lhs @ rhs is linear(lhs, rhs^T)
        bias = None if added is None else _as_bias(added, weight.shape[0])
        if added is not None and bias is None:
            return call  # addmm's data is not one value per column: the GEMM rule takes it
        return self._packed(lhs, weight, bias)

    def _packed(self, data: relax.Expr, weight_array: np.ndarray, bias: relax.Expr | None) -> relax.Expr:
        """linear(data, weight_array, bias) as linear_packed on the weight packed for the target."""
        dtype = str(weight_array.dtype)
        width = self.vectors.lanes(dtype)
        rows = _static_rows(data)
        packed = relax.const(pack_linear_weight(weight_array, width, self._panel_groups(rows, weight_array, width)), dtype)
        return self.builder_.call_te(
            linear_kernels.linear_packed, data, packed, bias, out_features=weight_array.shape[0],
            padded_rows=None if rows is None else padded_rows(rows, PADDED_ROWS_MAX_WASTE), primfunc_name_hint="linear_packed",
        )

    def _panel_groups(self, rows: int | None, weight: np.ndarray, width: int) -> int:
        """The groups of panels a GEMV of `rows` rows splits into (schedules.matmul.gemv_panel_groups):
        the panels are padded to a multiple of them, so that the cores share them evenly (the
        zero panels cost a core that would otherwise wait); 1 for a GEMM or a symbolic batch."""
        if rows is None:
            return 1
        out_features, in_features = weight.shape
        return gemv_panel_groups(rows, -(-out_features // width), width, in_features, self.target) or 1


def _static_rows(data: relax.Expr) -> int | None:
    """The rows of a linear layer's input (its batch axes flattened), None if any is symbolic."""
    shape = _static_shape(data)
    return None if None in shape[:-1] or shape == [None] else int(np.prod(shape[:-1], dtype=np.int64))


def _rewrite_calls(packer: relax.PyExprMutator, mod: tvm.IRModule) -> tvm.IRModule:
    """`mod` with every Relax function rewritten by `packer`, the unpacked weights left unused dropped."""
    for global_var, func in mod.functions_items():
        if isinstance(func, relax.Function):
            packer.builder_.update_func(global_var, packer.visit_expr(func))
    return relax.transform.DeadCodeElimination(["main"])(packer.builder_.get())


@tvm.transform.module_pass(opt_level=0, name="PackLinearWeights")
class PackLinearWeights:
    """Rewrite `linear` calls on constant weights to `linear_packed` on constants packed for `target`."""

    def __init__(self, target: tvm.target.Target):
        self.target = target

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _rewrite_calls(_LinearPacker(mod, self.target), mod)


def pack_conv2d_weight(weight: np.ndarray, lanes: int, groups: int = 1, blocks: int | None = None) -> np.ndarray:
    """[O, C, KH, KW] → [groups * blocks, C, KH, KW, lanes]: each group's output channels in
    `blocks` blocks of `lanes` (by default ceil(O / groups / lanes)), the channels past the group's
    padded with zeros, so packed[b, c, kh, kw, j] = weight[g * O / groups + i, c, kh, kw] for
    b * lanes + j = g * blocks * lanes + i (zero where i reaches O / groups)."""
    out_channels, *rest = weight.shape
    per_group = out_channels // groups
    blocks = -(-per_group // lanes) if blocks is None else blocks
    padded = np.zeros((groups, blocks * lanes, *rest), dtype=weight.dtype)
    padded[:, :per_group] = weight.reshape(groups, per_group, *rest)
    return np.ascontiguousarray(padded.reshape(groups * blocks, lanes, *rest).transpose(0, 2, 3, 4, 1))


WINOGRAD_TILE = 2
"""Output tile of the Winograd convolutions compile uses: F(2x2, 3x3). F(4x4, 3x3) would do less
work, but its larger transform coefficients cost accuracy beyond PyTorch's (rtol/atol 1e-5 failed
at 64 and 256 channels)."""

CONVOLUTIONS = {"conv1d": conv_kernels.conv1d, "conv2d": conv_kernels.conv2d, "conv3d": conv_kernels.conv3d}
"""Our convolution kernels by the mark of their conv stage."""


def convolution_parameters(func: tvm.ir.BaseFunc) -> tuple[str, dict[str, object]] | None:
    """The kernel (a key of CONVOLUTIONS) and parameters of a PrimFunc made from one of our
    convolutions alone (read from its conv stage's annotations), or None for any other function."""
    if not isinstance(func, tirx.PrimFunc):
        return None
    blocks = stages(func)
    marks = [marked_kernel(block.annotations) for block in blocks]
    kernels = [mark for mark in marks if mark in CONVOLUTIONS]
    if len(kernels) != 1 or any(mark not in ("pad", kernels[0], None) for mark in marks) or len(blocks) > 3:
        return None
    annotations = blocks[marks.index(kernels[0])].annotations
    padding = [int(p) for p in annotations["fx2relax.padding"]]
    return kernels[0], {
        "stride": [int(s) for s in annotations["fx2relax.stride"]],
        "padding": [padding[i:i + 2] for i in range(0, len(padding), 2)],
        "dilation": [int(d) for d in annotations["fx2relax.dilation"]],
        "groups": int(annotations["fx2relax.groups"]),
        "padding_mode": str(annotations["fx2relax.padding_mode"]),
    }


_ConvRewrite = Callable[[relax.BlockBuilder, VectorUnit, dict, relax.Expr, np.ndarray, list], relax.Expr | None]
"""A rewrite of one 2-D conv on a constant weight: (builder, the target's vector unit, the conv's
parameters, data, weight as NumPy, [bias] or []) → the call replacing it, or None to keep it."""


@relax.expr_functor.mutator
class _ConstantConvRewriter(relax.PyExprMutator):
    """Offers each call of our 2-D `conv2d` kernel on a constant weight and 4-D data to `rewrite`."""

    def __init__(self, mod: tvm.IRModule, target: tvm.target.Target, rewrite: _ConvRewrite):
        super().__init__(mod)
        self.mod = mod
        self.vectors = vector_unit(target)
        self.rewrite = rewrite

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        if call.op != _CALL_TIR:
            return call
        convolution = convolution_parameters(self.mod[call.args[0]])
        if convolution is None or convolution[0] != "conv2d":
            return call
        data, weight, *bias = call.args[1].fields
        if not isinstance(weight, tvm.ir.expr.Constant) or len(data.ty.shape.values) != 4:
            return call
        rewritten = self.rewrite(self.builder_, self.vectors, convolution[1], data, weight.value.numpy(), bias)
        return call if rewritten is None else rewritten


GROUPED_MIN_LANES = 4
"""A grouped conv whose groups have too few output channels for half a vector is still packed in
a quarter vector of at least this many lanes (ResNeXt-50 32x4d's 4 per group: 128 channels at
56x56, one thread, on a loaded machine: 4.4-7.8 ms on the plane rule, 3.0-4.2 ms packed)."""


def _conv_weight_lanes(out_per_group: int, vector: int, groups: int) -> int | None:
    """The lanes of a conv's packed weight blocks: `block_lanes` of the output channels per
    group, or for a grouped conv a quarter vector of GROUPED_MIN_LANES or more that divides them."""
    lanes = block_lanes(out_per_group, vector)
    quarter = vector // 4
    if lanes is None and groups > 1 and quarter >= GROUPED_MIN_LANES and out_per_group % quarter == 0:
        return quarter
    return lanes


PADDED_VECTORS_MAX_WASTE = 1 / 16
"""A groups=1 conv whose output channels fill half vectors but not whole ones is packed in whole
vectors, the last padded with zero channels, where the padding is at most this fraction of the
channels computed: each FMA then does a whole vector's work (SqueezeNet's 512 -> 1000 1x1 conv at
13x13, one thread: 2.1 ms in half vectors, 1.46 ms padded to 1008)."""


PADDED_TILE_MAX_WASTE = 1 / 4
"""A groups=1 conv whose output channels fill half vectors is also packed in whole vectors padded
with zero channels where the padding is at most this fraction of the channels computed and the
whole vectors still take a register tile of several vectors (`schedules.conv.tile_vectors`): half
the FMAs for nearly the same work. Two threads, chains of 1x1 convs + ReLU: 144 -> 24 at 56² (as 32)
1481 -> 1271 us at batch 16, 95 -> 74 us at batch 1; 72 -> 24 898 -> 774 us; 120 -> 40 at 28² (as 48)
613 -> 417 us. 24 -> 72 as 80 (5 vectors: one-vector tiles over 14 columns) went 766 -> 928 us.
Not where the CPU runs a 512-bit FMA as two halves (VectorUnit.full_width False, znver4): there a
half-vector FMA costs half a whole one, so the padding only adds FMAs (two threads, padded against
not: 24 <-> 144 at 56² 639 -> 557 us at batch 1, 9619 -> 8614 us at batch 16; 40 <-> 120 at 28²
200 -> 185 us; whole models MobileNetV2 0.973-0.996 of the time at batch 1, 0.984 at batch 16)."""


def _padded_tile_pays(out_channels: int, vector: int, lanes: int, out_width: int | None, registers: int) -> bool:
    """Whether whole vectors padded with zero channels, at most PADDED_TILE_MAX_WASTE of them, take
    a register tile of two vectors or more over rows of `out_width`, or the blocks of `lanes` take
    a tile of one block only (a prime count of them: RegNetY's 104 channels, 13 half vectors), which
    whole vectors then match in shape at twice the lanes. Two threads, chains of 104 -> 104 1x1
    convs + ReLU at 28², batch 8: 667 -> 449 us a conv as 112."""
    vectors = -(-out_channels // vector)
    return (
        out_width is not None and _padding_pays(out_channels, vector, lanes, PADDED_TILE_MAX_WASTE)
        and (tile_vectors(out_width, vectors, registers) >= 2 or tile_vectors(out_width, out_channels // lanes, registers) == 1)
    )


def _padding_pays(out_channels: int, vector: int, lanes: int, max_waste: float) -> bool:
    """Whether whole vectors padded with zero channels beat blocks of `lanes` (< `vector`) lanes:
    whether the padding is at most `max_waste` of the channels computed."""
    padded = -(-out_channels // vector) * vector
    return lanes < vector and (padded - out_channels) <= max_waste * padded


EXTRA_VECTOR_MAX_WASTE = {2: 1 / 10, 3: 1 / 6}
"""A groups=1 conv whose whole vectors of output channels take register tiles of one vector (a
prime count: RegNetY's 208 channels, 13 vectors) computes one more vector of zero channels where
that takes tiles of several vectors and all the padding is at most this fraction of the channels
computed, by the vectors of the wider tile (three or more: the bound of three), which do more work
per FMA (`_computed_blocks`). Two threads, chains of 1x1 convs + ReLU, batch 8 / batch 1:
tiles of two, 208 at 14² as 224 377 -> 343 / 52 -> 50 us (OpenVINO: 316 us at batch 8), but 112
at 28² as 128 (1/8) 444 -> 438 us and 104 as 128 449 -> 446 us; tiles of three, 168 at 28² (as
176) as 192 1105 -> 962 / 136 -> 123 us (OpenVINO: 114 us at batch 1), 480 -> 80 as 96 (1/6)
362 -> 341 / 51 -> 49 us. That on an AVX-512 Xeon: where the CPU runs a 512-bit FMA as two halves
(VectorUnit.full_width False, znver4), the FMAs rather than the loads bound a one-vector tile, and the
extra vector lost (chains of four convs, one extra vector against none: 208 at 14², batch 8, 3249 ->
3061 us; 168 at 28², batch 1, 985 -> 910; 80 <-> 480 at 14², batch 8, 2582 -> 2347; whole models,
RegNetY-400MF batch 8 1.012, MNASNet batch 8 1.018-1.022 of the time), so there it is never added."""


def _computed_blocks(out_channels: int, lanes: int, vector: int, groups: int, out_width: int | None, unit: VectorUnit) -> int:
    """The blocks of `lanes` output channels (per group) a packed conv computes on a CPU of vector
    unit `unit`: as many as the channels fill, or one more as EXTRA_VECTOR_MAX_WASTE says."""
    blocks = -(-out_channels // groups // lanes)
    registers = unit.registers
    if (
        groups > 1 or lanes != vector or out_width is None or not unit.full_width
        or tile_vectors(out_width, blocks, registers) != 1
    ):
        return blocks
    wider_tile = tile_vectors(out_width, blocks + 1, registers)
    if wider_tile < 2:
        return blocks
    padding = (blocks + 1) * lanes - out_channels
    return blocks + 1 if padding <= EXTRA_VECTOR_MAX_WASTE[min(wider_tile, 3)] * (blocks + 1) * lanes else blocks


GROUP_PADDED_VECTORS_MAX_WASTE = 1 / 4
"""A grouped conv whose groups' output channels fill half vectors but not whole ones (RegNetX's 24
per group in float32's 16 lanes) is packed with each group's channels padded to whole vectors
where the padding is at most this fraction of the channels computed: whole-vector FMAs then do
the group's work in fewer instructions than half-vector ones (RegNetX-1.6GF's 408-channel 3x3 at
14x14, two threads: 162 -> 133 us, its 72-channel ones at 56x56 463 -> 326 us). Not on a CPU that
runs a 512-bit FMA as two halves (znver4; see PADDED_TILE_MAX_WASTE): a RegNetX-like block of 168
channels in 7 groups at 28², batch 1, padded against not 1424 -> 1236 us; RegNetX-1.6GF 0.942 of the time."""


def _packed_conv(
    builder: relax.BlockBuilder, vectors: VectorUnit, parameters: dict, data: relax.Expr, weight: np.ndarray, bias: list
) -> relax.Expr | None:
    """A conv as `conv2d_packed` on its weight packed in whole or half vectors of output channels
    (`_conv_weight_lanes`), where those divide the output channels of each group (a grouped conv's
    block then reads one group's inputs; a depthwise conv, one output per group, goes to the
    unpacked schedules). A groups=1 conv whose channels fill neither gets whole vectors, the last
    one padded with zero channels (ShuffleNetV2's 58 and 116) that the kernel computes and drops,
    as does a grouped conv whose groups fill half vectors, each group padded (RegNetX's 24 per
    group); fewer channels than one vector stay unpacked (padding would multiply the work)."""
    groups = parameters["groups"]
    out_channels = weight.shape[0]
    vector = vectors.lanes(str(weight.dtype))
    lanes = _conv_weight_lanes(out_channels // groups, vector, groups)
    out_width = _output_width(data, weight.shape[3], parameters)
    if groups == 1 and out_channels >= vector and (
        lanes is None or _padding_pays(out_channels, vector, lanes, PADDED_VECTORS_MAX_WASTE)
        or (vectors.full_width and _padded_tile_pays(out_channels, vector, lanes, out_width, vectors.registers))
    ):
        lanes = vector
    elif (
        groups > 1 and lanes is not None and vectors.full_width
        and _padding_pays(out_channels // groups, vector, lanes, GROUP_PADDED_VECTORS_MAX_WASTE)
    ):
        lanes = vector
    if lanes is None:  # too few channels (per group), or a group's not in whole or half vectors: the unpacked schedules take it
        return None
    blocks = _computed_blocks(out_channels, lanes, vector, groups, out_width, vectors)
    packed = relax.const(pack_conv2d_weight(weight, lanes, groups, blocks), str(weight.dtype))
    return builder.call_te(
        conv_kernels.conv2d_packed, data, packed, bias[0] if bias else None, **parameters, out_channels=out_channels,
        computed_width=_computed_width(out_width, blocks if groups == 1 else -(-out_channels // lanes), vectors.registers),
        primfunc_name_hint="conv2d_packed",
    )


def _output_width(data: relax.Expr, kernel_width: int, parameters: dict) -> int | None:
    """The output columns of a conv over `data` (None for a symbolic width)."""
    width = static_extent(data.ty.shape.values[3])
    if width is None:
        return None
    left, right = parameters["padding"][1]
    return (width + left + right - parameters["dilation"][1] * (kernel_width - 1) - 1) // parameters["stride"][1] + 1


def _computed_width(out_width: int | None, channel_vectors: int, registers: int) -> int | None:
    """The output columns to compute where a static row's real ones take no good register tile
    (schedules.conv.computed_columns), else None."""
    if out_width is None:
        return None
    columns = computed_columns(out_width, channel_vectors, registers)
    return columns if columns != out_width else None


WINOGRAD_MIN_CHANNELS = 32
"""Winograd pays from this many input and output channels on (conv + bias + residual add + ReLU,
one thread, AMD EPYC znver4, against the packed direct conv): 1.3-2.1x at 32 and 48 channels
(28² to 112², batch 1 and 16), 1.75x at 64 (56²), 1.7-2x at 128 and 256 (28², 14²), 1.2-1.6x at
512 (7²); at 16 channels 1.45x at batch 1 but no gain at batch 16."""


WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE = 544 * 1024
"""Winograd's transformed weights (16/9 of the direct conv's) are read once per call whatever the
batch; where they exceed this many bytes per output tile (batch x 2x2 tiles of the plane; between
the 512 KiB of the slowest case Winograd won and the 576 KiB of the fastest it lost) the direct
conv's smaller weights win. Two threads, 3x3 conv + ReLU at 7², Winograd against direct:
batch 1, 256 channels (256 KiB a tile) 138 / 155 us, 384 (576 KiB) 415 / 350 us, 512 (1 MiB)
944-996 / 737-747 us; batch 2, 512 (512 KiB) 1233 / 1442 us; at 9², batch 1, 512 (656 KiB)
1101 / 1079 us (chains of 16 such convs, whose weights stay in no cache). Within a model it
depends on how much of the weights the L3 keeps: at batch 1, ResNet-50 21.57 -> 21.07 ms, but
ResNet-18 (whose weights fit this machine's L3) 6.88 -> 7.04 ms; its three 512-channel convs at 7²
took 536-580 us each as Winograd, 594-602 direct."""


def winograd_pays(in_channels: int, out_channels: int, tiles: int, element_bytes: int = 4) -> bool:
    """Whether Winograd F(2x2, 3x3) beats the packed direct conv for these channel counts over
    `tiles` output tiles (WINOGRAD_MIN_CHANNELS, WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE)."""
    weight_bytes = (WINOGRAD_TILE + 2) ** 2 * in_channels * out_channels * element_bytes
    return min(in_channels, out_channels) >= WINOGRAD_MIN_CHANNELS and weight_bytes <= WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE * tiles


def _winograd_conv(
    builder: relax.BlockBuilder, vectors: VectorUnit, parameters: dict, data: relax.Expr, weight: np.ndarray, bias: list
) -> relax.Expr | None:
    """A plain 3x3 conv (see WinogradConvs) as `winograd_conv2d` on its filter transform, where that pays."""
    if not all(isinstance(dim, tirx.IntImm) for dim in data.ty.shape.values):  # the tiles need a static batch
        return None
    dtype = str(weight.dtype)
    lanes = vectors.lanes(dtype)
    plain = (
        parameters["groups"] == 1 and parameters["stride"] == [1, 1] and parameters["dilation"] == [1, 1]
        and parameters["padding_mode"] == "zeros" and weight.shape[2:] == (3, 3)
        and all(p >= 0 for pair in parameters["padding"] for p in pair)
    )
    if not plain or dtype not in ("float32", "float64") or weight.shape[0] % lanes:
        return None
    batch, _, height, width = (int(dim) for dim in data.ty.shape.values)
    tiles = batch * math.prod(winograd.output_tiles(height, width, parameters["padding"], WINOGRAD_TILE))
    if not winograd_pays(weight.shape[1], weight.shape[0], tiles, weight.dtype.itemsize):
        return None
    transformed = relax.const(winograd.transform_weight(weight, WINOGRAD_TILE, lanes), dtype)
    return builder.call_te(
        winograd.winograd_conv2d, data, transformed, bias[0] if bias else None,
        padding=parameters["padding"], tile=WINOGRAD_TILE, primfunc_name_hint="winograd_conv2d",
    )


@tvm.transform.module_pass(opt_level=0, name="WinogradConvs")
class WinogradConvs:
    """Rewrite 3x3, stride 1, dilation 1, groups 1 2-D convolutions on constant weights with zero
    padding, where `winograd_pays`, to `kernels.winograd.winograd_conv2d` on their filter transform
    (done here in float64 and rounded once). Run before PackConvWeights, which takes the others."""

    def __init__(self, target: tvm.target.Target):
        self.target = target

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _rewrite_calls(_ConstantConvRewriter(mod, self.target, _winograd_conv), mod)


@tvm.transform.module_pass(opt_level=0, name="PackConvWeights")
class PackConvWeights:
    """Rewrite 2-D `conv2d` calls on constant weights to `conv2d_packed` on constants packed in
    blocks of one vector of output channels of `target` (half a vector when the channels of a
    group fill whole halves only; groups of fewer channels keep `conv2d`; a groups=1 conv's
    channels in neither whole vectors, the last padded with zeros: `_packed_conv`)."""

    def __init__(self, target: tvm.target.Target):
        self.target = target

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _rewrite_calls(_ConstantConvRewriter(mod, self.target, _packed_conv), mod)


def batch_norm_parameters(func: tvm.ir.BaseFunc) -> dict[str, object] | None:
    """eps and which of weight and bias a PrimFunc made from kernels.batch_norm alone (running
    statistics) takes, read from its last stage's mark; None for any other function."""
    if not isinstance(func, tirx.PrimFunc):
        return None
    marks = [(marked_kernel(block.annotations), block.annotations) for block in stages(func)]
    if [kernel for kernel, _ in marks if kernel is not None] != ["batch_norm"] or marks[-1][0] != "batch_norm":
        return None
    annotations = marks[-1][1]
    return {
        "eps": float(str(annotations["fx2relax.eps"])),
        "weight": bool(int(annotations["fx2relax.weight"])),
        "bias": bool(int(annotations["fx2relax.bias"])),
    }


def fold_batch_norm(
    weight: np.ndarray, bias: np.ndarray | None, mean: np.ndarray, variance: np.ndarray,
    scale: np.ndarray | None, shift: np.ndarray | None, eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A convolution's (weight [O, ...], bias [O] or None) with the eval batch norm after it folded in.

    As kernels.batch_norm: invstd = 1 / sqrt(var + eps) and alpha = scale * invstd in the weight's
    dtype, beta = shift - mean * alpha rounded once; then weight * alpha per output channel and
    bias * alpha + beta rounded once. The folded conv differs from conv-then-norm by roundings.
    """
    dtype = weight.dtype.type
    invstd = dtype(1) / np.sqrt(variance + dtype(eps))
    alpha = invstd if scale is None else scale * invstd
    wide_alpha = alpha.astype(np.float64)
    beta = (0.0 if shift is None else shift.astype(np.float64)) - mean.astype(np.float64) * wide_alpha
    folded_bias = beta.astype(dtype) if bias is None else (bias.astype(np.float64) * wide_alpha + beta.astype(dtype)).astype(dtype)
    folded_weight = weight * alpha.reshape(-1, *[1] * (weight.ndim - 1))
    return folded_weight.astype(dtype), folded_bias


@relax.expr_functor.mutator
class _BatchNormFolder(relax.PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        functions = self.builder_.get()  # the module being built: it holds the convs this pass already folded
        if call.op != _CALL_TIR or (norm := batch_norm_parameters(functions[call.args[0]])) is None:
            return call
        conv_output, mean, variance, *affine = call.args[1].fields
        scale = affine.pop(0) if norm["weight"] else None
        shift = affine.pop(0) if norm["bias"] else None
        conv = self.lookup_binding(conv_output) if isinstance(conv_output, relax.Var) else None
        if not isinstance(conv, relax.Call) or conv.op != _CALL_TIR:
            return call
        convolution = convolution_parameters(functions[conv.args[0]])
        if convolution is None:
            return call
        data, weight, *bias = conv.args[1].fields
        constants = [weight, *bias, mean, variance, *(v for v in (scale, shift) if v is not None)]
        if not all(isinstance(value, tvm.ir.expr.Constant) for value in constants):
            return call
        weight_array = weight.value.numpy()
        if weight_array.dtype not in (np.float32, np.float64):
            return call
        folded_weight, folded_bias = fold_batch_norm(
            weight_array, bias[0].value.numpy() if bias else None, mean.value.numpy(), variance.value.numpy(),
            None if scale is None else scale.value.numpy(), None if shift is None else shift.value.numpy(), norm["eps"],
        )
        kernel, parameters = convolution
        dtype = str(weight_array.dtype)
        return self.builder_.call_te(
            CONVOLUTIONS[kernel], data, relax.const(folded_weight, dtype), relax.const(folded_bias, dtype), **parameters,
            primfunc_name_hint=kernel,
        )


FOLDED_MAX_BYTES = 64 << 20
"""The largest result `FoldConstantCalls` makes a constant (a bigger one, such as zeros made in
forward, would weigh on memory and on the exported library more than it saves)."""


@relax.expr_functor.mutator
class _ConstantCallFolder(relax.PyExprMutator):
    """Each call of constants only replaced by its result (`FoldConstantCalls`), each argument bound
    to a folded result passed as that constant."""

    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self.mod = mod
        self.built: dict[str, tvm.runtime.Module] = {}

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        if call.op != _CALL_TIR or len(call.args) != 2 or not isinstance(call.ty, relax.TensorType):
            return call
        result_type = call.ty
        fields = call.args[1].fields
        arguments = [self._constant(argument) or argument for argument in fields]
        if any(not argument.same_as(field) for argument, field in zip(arguments, fields)):  # a folded result passed on
            call = self.builder_.normalize(relax.Call(call.op, [call.args[0], relax.Tuple(arguments)], call.attrs, call.ty_args))
        if not all(isinstance(argument, tvm.ir.expr.Constant) for argument in arguments):
            return call
        shape = [static_extent(dim) for dim in result_type.shape.values] if result_type.shape is not None else [None]
        dtype = str(result_type.dtype)
        if None in shape or math.prod(shape) * np.dtype(dtype).itemsize > FOLDED_MAX_BYTES:
            return call
        result = tvm.runtime.tensor(np.empty(shape, dtype))
        self._function(call.args[0])(*(argument.value for argument in arguments), result)
        return relax.const(result.numpy(), dtype)

    def _constant(self, value: relax.Expr) -> tvm.ir.expr.Constant | None:
        """The constant `value` is, or is bound to (a result folded before); None for any other."""
        if isinstance(value, relax.Var):
            value = self.lookup_binding(value)
        return value if isinstance(value, tvm.ir.expr.Constant) else None

    def _function(self, global_var: tvm.ir.GlobalVar) -> tvm.runtime.Module:
        """The kernel `global_var` built as it stands (plain loop nests, as `build`), once."""
        name = global_var.name_hint
        if name not in self.built:
            func = self.mod[global_var].with_attr("global_symbol", "main")
            self.built[name] = tvm.compile(tvm.IRModule({"main": func}), target=tvm.target.Target("llvm"))["main"]
        return self.built[name]


@tvm.transform.module_pass(opt_level=0, name="FoldConstantCalls")
class FoldConstantCalls:
    """Replace each call of a kernel whose every argument is a constant (weights, index tables, or
    none: a creation op) by its result, computed once here with the kernel itself, up to
    FOLDED_MAX_BYTES; calls reading folded results fold in turn."""

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _rewrite_calls(_ConstantCallFolder(mod), mod)


@tvm.transform.module_pass(opt_level=0, name="FoldBatchNorm")
class FoldBatchNorm:
    """Fold every eval batch norm (constant statistics) that reads a convolution's output (constant
    weights) into the convolution's weights and bias, as ONNX Runtime and OpenVINO do: the
    normalisation costs nothing at run time. Results differ from conv-then-norm by roundings."""

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _rewrite_calls(_BatchNormFolder(mod), mod)
