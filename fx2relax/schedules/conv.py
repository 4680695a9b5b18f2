"""Direct 2-D convolution rules for kernels.conv.conv2d and conv2d_packed.

Packed rule (conv2d_packed: weights packed at compile time in blocks of `lanes` output channels,
each block within one group, fx2relax.packing): a register tile of up to SHORT_COLUMN_TILE output
columns x several vectors of output channels where the row and the channels allow, else of up to
COLUMN_TILE columns x one or two vectors (`_packed_tile`; rows no such tile divides are computed a
few columns wider, `computed_columns`), accumulates over (input channel of the
group, kernel row, kernel column), one packed weight vector and one broadcast input value per
FMA (a grouped conv's vectors each broadcast their own group's input); tiles of (image, channel
block, row) run in parallel, except that a 1x1 conv over many channel-blocked input channels sums
each (image, channel block)'s planes K_BLOCK_CHANNELS input channels at a time (`_k_block`). An
element-wise consumer (bias, batch norm, activation, residual add) runs on each tile while it is
in registers, so any plane size fits; a pooling consumer reads a
block of planes in cache as below where its windows lie side by side and the block fits in L2,
else (ResNet's 3x3/2 max-pool: overlapping windows; or the real ones of zero-padded channels:
ShuffleNetV2's 24-channel stem) after the conv, from memory, where the conv's tiles were stored in
blocks of one vector of channels ([N, O / lanes, H, W, lanes]), so that each tile is stored whole
and the pooling reads each tap as one vector of channels (or a part of one that divides the real
channels and the output's blocks).
Zero padding is one copy of the input up front, not a bounds check per tap. Where the weight's
last vector of output channels is padded with zeros (channels in no whole vector), the element-wise
consumer keeps the real channels only: it runs over each tile's channels with the tile's columns
as the vector axis (a channel past the real ones is a scalar condition, whereas with the channels
as the vector axis TVM scalarised the whole consumer), a contiguous store per channel into the
[N, O, H, W] output.

Channel-vector rule (2-D conv on weights that are not constants, output channels of each group a
multiple of the vector lanes of its dtype on the target, one fused consumer over the same
outputs): for each (image, block of `lanes` output channels), in parallel (unless the conv has
at most generic.SERIAL_MAX_MACS multiply-adds), the block's output planes are accumulated in a
local buffer laid out [rows, columns, lanes], so each tap is one broadcast input value times one
vector of weights (repacked per block [C, kh, kw, lanes]); COLUMN_TILE columns of a row stay in
registers across the taps. The fused consumer (bias and activation inlined, and max-pooling) then
reads channel vectors while they are in L1 and keeps its result in registers until one store per
output position.

Plane rule (any other conv2d, e.g. depthwise): for each (image, output channel) pair the plane is
accumulated row by row with the output columns as the vector axis, each row in registers across
the taps, then read by the fused consumer where it reads the conv element-wise (a row at a time)
or in windows side by side (`_Window.side_by_side`, a plane at a time); otherwise the plane goes
to memory and the consumer is scheduled on its own. Zero padding is copied once, as above;
under a column stride s, into s planes of every s-th column, as zeros and then the input unchecked.

Blocked depthwise rule (a depthwise conv2d whose input layout.BlockChannels stored channel-blocked,
[N, C / L, H, W, L]): for each (image, block of L channels, part of its rows: `_row_parts`, one part
unless the pairs are too few to give each core DEPTHWISE_TASKS_PER_CORE), in parallel, the weights
are copied as [kh, kw, L]; then a register tile of up to COLUMN_TILE output columns x one vector of
channels accumulates over the taps, one contiguous input vector times one weight vector per FMA (any
width, any stride), and the element-wise consumer stores each column's vector (contiguous when the
output is blocked too). Zero padding is read in place, a tap outside the plane a zero vector: a copy
of the padded rows (in L1, just before each output row) cost a pass of vector stores over the input,
which at batch 16 is read from memory; two threads, depthwise 3x3 + ReLU, batch 16 / batch 1: 96
channels at 112², stride 2 2006 -> 1916 / 108 -> 89 us, 32 at 112² 1102 -> 902 / 53 -> 43 us, 576 at
14² 295 -> 253 us, 5x5 672 at 14² 495 -> 363 us. Other padding modes are copied: the padded input
block in cache as [rows, columns, L], under a row stride only the rows each output row reads, just
before it, in L1 (MobileNetV2's 114x114 block, 831 KB, copied whole was 20 % slower at batch 1 on a
Xeon with 2 MiB of L2 per core; under row stride 1 each row would be copied three times).

All decide from the consumer's read pattern (`_ConsumerReads`) whether it fits before changing
anything, so a schedule primitive that fails is a bug that surfaces, not a case passed on. Taps
run in the unscheduled order in both, so sums are equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tvm
from tvm import s_tir, sym, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import BLOCKED_PARAMS, PLANES_REDUCED_AFTER, blocked_index_map, marked_kernel
from .elementwise import indexed_axes, vectorize_channel_blocks, vectorize_elementwise
from .generic import (
    PARALLEL_MIN_ELEMENTS,
    SERIAL_MAX_MACS,
    inline_injective,
    largest_divisor,
    leading_spatial_loops,
    loop_work,
    marked_block,
    output_dtype,
    parallelize_outer,
    param_index,
    static_extent,
    target_cores,
    top_blocks,
    window_result_in_registers,
)
from .pooling import schedule_blocked_pooling
from .vectors import vector_unit

PLANE_BLOCK_MAX_BYTES = 512 * 1024
"""Largest block of one vector of output planes the channel-vector rule keeps: it must stay in L2
(1 MiB per core on znver4) while the consumer reads it; larger planes go one at a time."""

COLUMN_TILE = 14
"""At most this many output columns of a row accumulate in registers (one vector each; with the
weight vector and the broadcast input, 16 registers: AVX2's count)."""

TILE_ACCUMULATORS = 24
"""Vector accumulators a packed conv's register tile may hold with two vectors of output channels
(AVX-512 has 32 registers): a tile of few columns takes two, so enough FMA chains hide the latency.
With 28 (2 x 14) LLVM spilled: MobileNetV2's 1x1 convs at 14x14 and 28x28 took 1.3-3x as long."""

SHORT_COLUMN_TILE = 7
SHORT_COLUMN_TILE_MIN = 4
"""A packed conv's tile of several vectors of output channels spans a divisor of the row from
SHORT_COLUMN_TILE_MIN to SHORT_COLUMN_TILE columns (MobileNetV2, one thread, best of 30 calls:
3 x 7 instead of 1 x 14 takes its 1x1 convs 2-9 % faster; 3 x 8 and 2 x 8 made them 1.1-2.6x
slower, not understood, so 8 columns are not tried)."""

ROWS_OUTSIDE_MAX_WEIGHT_BYTES = 512 * 1024
ROWS_OUTSIDE_MIN_INPUT_BYTES = 1024 * 1024
"""A packed conv whose weights fit the first (half of znver4's 1 MiB L2 per core) and whose input
of one image exceeds the second (it does not stay in L2 from one channel block to the next) runs
its tiles row by row (`_rows_outside_channels`). ResNet-50's 1x1 convs on 1.6-3.2 MB inputs (56²
and 28²), two threads, SCHED_FIFO, best of 8 alternating rounds: batch 1 0-6 % faster a kernel on
a quiet machine, 17-54 % when other processes load the caches; batch 8 3-5 %. Smaller inputs
(ResNet-50's 64 -> 256 and 128 -> 512 channel convs, 0.4-0.8 MB) lost up to 10 % at batch 8."""

ROWS_OUTSIDE_MIN_INPUT_BYTES_ONE_IMAGE = 64 * 1024
"""At batch 1 the cores split whichever loop the tiles' order puts outside: rows (each core reads half
of the input) or channel blocks (each reads all of it, half of it from the other core's cache), so
at batch 1 rows go outside from this input size. MobileNetV2 at batch 1, two threads, its kernels in
three alternating rounds: 2.83, 2.94, 2.85 -> 2.77, 2.74, 2.75 ms (its 1x1 convs at 14² and 7² had
scaled 1.15-1.44x over one thread). With 64 KiB at every batch: EfficientNet-B0 at batch 1 5.89 and
6.02 -> 5.80 and 5.81 ms, ResNet-50 at batch 1 and MobileNetV2 at batch 16 unchanged."""

UNROLLED_LANES_MIN_CHANNELS = 320
"""A packed 1x1 conv over a channel-blocked input of this many channels or more unrolls the input
channels of each block (the lanes of the input's blocks) in its register tile's loop, where the tile
spans SHORT_COLUMN_TILE_MIN columns or more (not squeeze-and-excitation's 1x1 planes: their code only
cost compile time, GhostNet's 7.8 -> 8.1 s with them). Whole models, vm main, A/B in one process:
MNASNet batch 1 / 8 0.965 / 0.978-0.997 of the time, MobileNetV2 batch 1 0.974, EfficientNet-B0
0.976, SqueezeNet batch 8 0.972, Inception-v3 0.980, ResNet-50 0.992, RegNetX-1.6GF 0.999. Two threads,
pairs of 1x1 conv + ReLU, unrolled against not, A/B in one process: batch 1, 1152 -> 192 at 7²
87 -> 70 us, 576 -> 96 at 14² 69 -> 62, 480 -> 80 at 14² 88 -> 83, 1024 -> 256 at 14² 351 -> 336;
batch 8, 1152 -> 192 at 7² 645 -> 590, 1152 -> 320 913 -> 868, 320 -> 1152 919 -> 857, 512 -> 2048
2943 -> 2773, 480 -> 80 at 14² 635 -> 603. Over fewer channels it gained nothing and lost up to 5 %
(batch 8: 64 -> 256 at 56², 128 -> 512 at 28², 256 -> 1024 at 14²), as did 2048 -> 512 at 7² (1-2 %).
All of that on an AVX-512 Xeon; on znver4, which runs a 512-bit FMA as two halves (VectorUnit.full_width),
the same A/B lost (unrolled over not, two threads, batch 1: ResNet-50 1.08-1.12, MNASNet 1.07 (1.0 in a later, slower run),
MobileNetV2 1.035-1.04; MobileNetV2's 320 -> 1280 at 7² 257 -> 292 us), so there the lanes stay a loop."""

STACK_MAX_BYTES = 1024
"""TVM's LowerTVMBuiltin puts a buffer on the stack only where its scope is "global" and it is smaller
than this (runtime::kMaxStackAlloca); a "local" buffer in a function that allocates others became a
TVMBackendAllocWorkspace heap pointer (tvm 0.27), which LLVM does not keep in registers: a pooling
window's running maximum there was stored with two masked 256-bit stores and reloaded as one vector
each tap (a store-forwarding stall), the course CNN's conv + ReLU + max-pool kernel 35 % slower."""

UNROLLED_TAPS = 9
"""Kernel windows up to this many taps are unrolled whole in the packed rule; larger ones (7x7)
only along a row, which keeps LLVM's compile time down. So too where the tile's accumulators, its
broadcast inputs and its weight vectors together exceed the vector registers: LLVM then loads
ahead across the taps and spills accumulators (Inception-v3's 288 -> 384 3x3/2 conv at 17 x 17,
4 x 6 tiles, two threads: 1954-2154 -> 1528-1829 us unrolled along the row only), unless the window
is one column (its 7x1 convs, the same tiles: as fast unrolled whole, 401-434 us, as not, 439-440)."""


@dataclass(frozen=True)
class _Window:
    """How a pooling consumer reads one trailing conv axis: conv[out * stride + tap * dilation + offset]
    for tap < taps, over a conv axis of `size` (None where symbolic); the offset is minus the
    pooling's padding."""

    stride: int
    dilation: int
    taps: int | None
    size: int | None
    offset: int

    def side_by_side(self) -> bool:
        """Whether the windows lie side by side (stride = window, no dilation, no padding) and
        divide the conv axis evenly. TIR's compute-at then places the consumer under a plane loop
        as (row, column, *window) loops; for other windows (overlapping, gapped, padded, a remainder
        row) it derives no such loops or none at all. (Padded windows were taken for side by side
        once: a 3x3/3 max pool padded by 1 after a packed conv missed the windows' last rows.)"""
        return (
            self.taps is not None and self.taps >= 2 and self.dilation == 1 and self.stride == self.taps
            and self.size is not None and self.size % self.taps == 0 and self.offset == 0
        )


@dataclass(frozen=True)
class _ConsumerReads:
    """The conv's one consumer and how it reads the conv's outputs: element-wise (`windows` empty)
    or a window reduction over the two trailing axes (`windows` for rows and columns)."""

    block: s_tir.schedule.SBlockRV
    windows: tuple[_Window, ...]
    group_crop: tuple[int, int] | None = None  # (real, computed) channels per group: see _group_crop
    whole: bool = True  # reads every output the conv computes, not the prefix `find` may allow

    @classmethod
    def find(cls, sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, prefix: bool = False) -> _ConsumerReads | None:
        """The pattern, or None when the conv has not exactly one consumer or it reads otherwise;
        `prefix` allows an element-wise consumer over the first of the conv's output channels and
        columns only (a packed conv's zero-padded channels and extra computed columns dropped), and a
        window consumer over the first of its channels."""
        consumers = sch.get_consumers(conv)
        if len(consumers) != 1:
            return None
        block, conv_buffer = sch.get(consumers[0]), sch.get(conv).writes[0].source
        regions = [region for region in block.reads if region.source.same_as(conv_buffer)]
        if len(regions) != 1 or any(static_extent(r.extent) != 1 for r in regions[0].region):
            return None
        indices = [r.min for r in regions[0].region]
        spatial = [v for v in block.iter_vars if v.iter_type == tirx.IterVar.DataPar]
        reduced = [v for v in block.iter_vars if v.iter_type == tirx.IterVar.CommReduce]
        if len(spatial) + len(reduced) != len(block.iter_vars) or len(spatial) != len(indices) or len(reduced) not in (0, 2):
            return None
        direct = len(indices) - len(reduced)  # axes read at the consumer's own position
        group_crop = _group_crop(indices[1], spatial[1]) if prefix and not reduced and direct == 4 else None
        if not all(
            _reads_at(index, v) or (axis == 1 and group_crop is not None) for axis, (index, v) in enumerate(zip(indices[:direct], spatial))
        ):
            return None
        analyzer = sym.Analyzer()  # a consumer over more positions than the conv has (a pad after it) is not element-wise
        covers = [analyzer.can_prove_equal(v.dom.extent, size) for v, size in zip(spatial[:direct], conv_buffer.shape)]
        whole = all(covers) and group_crop is None
        if prefix and not reduced and len(covers) == 4:  # (batch, channel, row, column): channels and columns may be fewer
            for axis in (1, 3):
                covers[axis] = analyzer.can_prove(spatial[axis].dom.extent <= conv_buffer.shape[axis])
        elif prefix and reduced and len(covers) == 2:  # (batch, channel) around a window: channels may be fewer
            covers[1] = analyzer.can_prove(spatial[1].dom.extent <= conv_buffer.shape[1])
        if not all(covers):
            return None
        windows = []
        for index, out, tap, size in zip(indices[direct:], spatial[direct:], reduced, conv_buffer.shape[direct:]):
            coefficients = sym.detect_linear_equation(index, [out.var, tap.var])
            if not coefficients or not all(isinstance(c, tirx.IntImm) for c in coefficients):
                return None
            stride, dilation, offset = (int(c) for c in coefficients)
            windows.append(_Window(stride, dilation, static_extent(tap.dom.extent), static_extent(size), offset))
        return cls(consumers[0], tuple(windows), group_crop, whole)


def _group_crop(index: tirx.PrimExpr, iter_var: tirx.IterVar) -> tuple[int, int] | None:
    """(real, computed) channels per group where a consumer's read index is
    o // real * computed + o % real for its position o along `iter_var`: the real channels of a
    grouped conv2d_packed whose groups are padded to whole vectors (kernels.conv2d_packed), else None."""
    if not (isinstance(index, tirx.Add) and isinstance(index.a, tirx.Mul) and isinstance(index.b, tirx.FloorMod)):
        return None
    (quotient, computed), (remainder, real) = (index.a.a, index.a.b), (index.b.a, index.b.b)
    if not (isinstance(quotient, tirx.FloorDiv) and all(isinstance(c, tirx.IntImm) for c in (computed, real, quotient.b))):
        return None
    if not (quotient.a.same_as(iter_var.var) and remainder.same_as(iter_var.var) and int(quotient.b) == int(real) < int(computed)):
        return None
    return int(real), int(computed)


def _reads_at(index: tirx.PrimExpr, iter_var: tirx.IterVar) -> bool:
    """Whether a consumer's read index is its own position along `iter_var`: the variable itself,
    or 0 along an axis of extent 1 (layout.BlockChannels' rewrite of a batch-1 function's
    parameters simplifies the batch index to 0 in every access of the block it rewrites)."""
    if index.same_as(iter_var.var):
        return True
    return static_extent(iter_var.dom.extent) == 1 and isinstance(index, tirx.IntImm) and int(index) == 0


class ChannelVectorConv(ScheduleRule):
    """The channel-vector schedule (see the module docstring) of a conv2d and its fused consumer."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        conv = marked_block(sch, "conv2d")
        if conv is None:
            return None
        lanes = vector_unit(target).lanes(output_dtype(sch, conv))
        if not _fits_channel_vectors(sch, conv, lanes):  # decided before inlining, which takes time
            return None
        inline_injective(sch, keep=(conv,))
        consumer = _ConsumerReads.find(sch, conv)
        if consumer is None or not all(w.side_by_side() for w in consumer.windows):
            return None
        loops = sch.get_loops(conv)
        spatial_count = len(leading_spatial_loops(sch, conv))
        *batch, channel, row, column = loops[:spatial_count]
        taps = loops[spatial_count:]  # (input channel, kernel row, kernel column)
        work = loop_work(sch, loops)
        channel_block, lane = sch.split(channel, factors=[None, lanes])
        width = static_extent(sch.get(column).extent)
        column_block, column_in_tile = sch.split(column, factors=[None, _column_tile(width)])
        sch.reorder(*batch, channel_block, row, column_block, *taps, column_in_tile, lane)
        block_loop = sch.fuse(*batch, channel_block)
        weight = _weight_read_index(sch, conv)
        sch.reverse_compute_at(consumer.block, block_loop, preserve_unit_loops=True)
        sch.set_scope(conv, 0, "local")
        sch.transform_layout(conv, ("write", 0), lambda *i: (*i[:-3], i[-2], i[-1], i[-3]))
        packed_weight = sch.cache_read(conv, weight, "local")
        sch.compute_at(packed_weight, block_loop)
        sch.transform_layout(packed_weight, ("write", 0), lambda o, c, kh, kw: (c, kh, kw, o))
        _register_tile_loops(sch, conv, block_loop, work, lane, column_in_tile, taps)
        _schedule_channel_consumer(sch, consumer.block)
        return sch


def _register_tile_loops(
    sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, outer: s_tir.schedule.LoopRV, work: int | None,
    lane: s_tir.schedule.LoopRV, column_in_tile: s_tir.schedule.LoopRV, taps: list[s_tir.schedule.LoopRV],
) -> None:
    """A conv's register tile of columns x one channel vector: `outer` in parallel unless the conv
    has at most SERIAL_MAX_MACS multiply-adds, the lanes vectorised, the tile's columns and the
    kernel rows and columns (taps after the first) unrolled, the accumulators' zeroing split off."""
    if work is None or work > SERIAL_MAX_MACS:
        sch.parallel(outer)
    sch.vectorize(lane)
    sch.unroll(column_in_tile)
    for tap in taps[1:]:
        sch.unroll(tap)
    sch.decompose_reduction(conv, taps[0])


def _fits_channel_vectors(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Whether the conv is 2-D ((*batch, channel, row, column) outputs and (channel, row, column)
    taps), its output channels fill whole vectors of `lanes` and a block of its planes fits in L2."""
    loops = sch.get_loops(conv)
    spatial_count = len(leading_spatial_loops(sch, conv))
    if spatial_count < 4 or len(loops) - spatial_count != 3:
        return False
    channels = static_extent(sch.get(loops[spatial_count - 3]).extent)
    plane = loop_work(sch, loops[spatial_count - 2:spatial_count])
    element_bytes = tvm.DataType(output_dtype(sch, conv)).bits // 8
    groups = int(sch.get(conv).annotations.get("fx2relax.groups", 1))
    gathers = channels is not None and (channels // groups) % lanes != 0  # a vector's lanes would read several input planes
    return (
        channels is not None and channels % lanes == 0 and not gathers
        and plane is not None and plane * lanes * element_bytes <= PLANE_BLOCK_MAX_BYTES
    )


def _column_tile(width: int | None) -> int:
    """The largest divisor of the output width up to COLUMN_TILE (1 for a symbolic width)."""
    return 1 if width is None else largest_divisor(width, COLUMN_TILE)


COMPUTED_COLUMNS_BELOW_TILE = 3
"""Rows whose largest column tile up to COLUMN_TILE is shorter than this are computed wider
(`computed_columns`); from 3 columns on (4 x 3 tiles) the row is kept: SqueezeNet's stem (3 -> 64,
3x3/2, 111 columns, + ReLU + max pool) at batch 8, two threads: 1639 us as 111, 1912 us as 112."""


def computed_columns(width: int, channel_vectors: int, registers: int) -> int:
    """The output columns a packed conv of `channel_vectors` vectors of output channels computes for
    rows of `width` (kernels.conv.conv2d_packed's computed_width): the row itself where a column
    tile of COMPUTED_COLUMNS_BELOW_TILE or more divides it (or it is shorter than
    SHORT_COLUMN_TILE_MIN), else of it and the next three
    widths the one whose register tile (`_packed_tile`) holds the most accumulators of real
    columns (in proportion), the extra columns dropped. One-column tiles re-read every weight
    vector per column: Inception-v3's 17-column rows, two threads, conv + ReLU: 768 -> 192 1x1
    604 -> 262 us computed as 18 (4 x 6 tiles), 192 -> 192 1x7 1015 -> 391 us; the whole model
    63 -> 41 ms."""
    if width < SHORT_COLUMN_TILE_MIN or _column_tile(width) >= COMPUTED_COLUMNS_BELOW_TILE:
        return width

    def useful_accumulators(columns: int) -> float:
        return math.prod(_packed_tile(columns, channel_vectors, True, registers)) * width / columns

    return max(range(width, width + 4), key=lambda columns: (useful_accumulators(columns), -columns))


def tile_vectors(width: int, channel_vectors: int, registers: int) -> int:
    """The vectors of output channels in the register tile of a packed conv of `channel_vectors`
    vectors over rows of `width` (computed as `computed_columns` says)."""
    return _packed_tile(computed_columns(width, channel_vectors, registers), channel_vectors, True, registers)[0]


def _weight_read_index(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> int:
    """Index of the weight among the conv block's reads: the 4-D buffer read at [o, c, kh, kw]."""
    block = sch.get(conv)
    out_channel = block.iter_vars[len(block.iter_vars) - 6].var
    for index, region in enumerate(block.reads):
        first = region.region[0].min
        if len(region.region) == 4 and isinstance(first, tirx.Var) and first.same_as(out_channel):
            return index
    raise ValueError("conv2d block reads no weight indexed by its output channel")


def _schedule_channel_consumer(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> None:
    """The fused consumer of a block of channel planes: its innermost loops (channel, row, column,
    *window) reordered to (row, column, *window, channel) with the channel as the vector axis; a
    window maximum is kept in a register and stored once."""
    reduced = sum(1 for iter_var in sch.get(block).iter_vars if iter_var.iter_type == tirx.IterVar.CommReduce)
    channel, row, column, *window = sch.get_loops(block)[-3 - reduced:]
    sch.reorder(row, column, *window, channel)
    sch.vectorize(channel)
    if not reduced:
        return
    window_result_in_registers(sch, block, window, column)


class BlockedDepthwiseConv(ScheduleRule):
    """The channel-blocked depthwise schedule (see the module docstring) of a depthwise conv2d
    whose input layout.BlockChannels stored blocked, and its element-wise consumer."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        if func.attrs is None or BLOCKED_PARAMS not in func.attrs:
            return None
        sch = s_tir.Schedule(func)
        conv = marked_block(sch, "conv2d")
        if conv is None:
            return None
        pads = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == "pad"]
        padded = [pad for pad in pads if sch.get(pad).writes[0].source.same_as(sch.get(conv).reads[0].source)]
        data = sch.get(padded[0] if padded else conv).reads[0].source
        loops = sch.get_loops(conv)
        channels = static_extent(sch.get(conv).writes[0].source.shape[1])
        groups = int(sch.get(conv).annotations.get("fx2relax.groups", 1))
        if len(data.shape) != 5 or len(loops) != 7 or len(leading_spatial_loops(sch, conv)) != 4 or groups != channels:
            return None
        lanes = int(data.shape[-1])
        inline_injective(sch, keep=(conv, *pads))
        consumer = _ConsumerReads.find(sch, conv)
        if consumer is None and len(sch.get_consumers(conv)) or consumer is not None and consumer.windows:
            return None  # one element-wise consumer, or the conv writes the output itself
        if str(sch.get(conv).annotations["fx2relax.padding_mode"]) == "zeros":  # zeros read where a tap is outside, no copy
            for pad in padded:
                sch.compute_inline(pad)
            pads, padded = [pad for pad in pads if not any(pad.same_as(inlined) for inlined in padded)], []
        for pad in padded:  # the padded input blocked too, one vector of channels per position
            sch.transform_layout(pad, ("write", 0), blocked_index_map(lanes))
            sch.transform_block_layout(pad, blocked_index_map(lanes))
        batch, channel, row, column, *taps = loops
        work = loop_work(sch, loops)
        channel_block, lane = sch.split(channel, factors=[None, lanes])
        column_block, column_in_tile = sch.split(column, factors=[None, _column_tile(static_extent(sch.get(column).extent))])
        parts = _row_parts(
            static_extent(sch.get(batch).extent) * static_extent(sch.get(channel_block).extent),
            static_extent(sch.get(row).extent), target_cores(target),
        )
        row_part, row = sch.split(row, factors=[parts, None])
        # each core's tasks write the planes it reduces next, or read the rows its producer wrote there
        parallel = (channel_block, row_part) if func.attrs.get(PLANES_REDUCED_AFTER, False) else (row_part, channel_block)
        sch.reorder(batch, *parallel, row, column_block, *taps, column_in_tile, lane)
        outer = sch.fuse(batch, *parallel)
        weight = sch.cache_read(conv, _weight_read_index(sch, conv), "local")  # [kh, kw, lanes]: one vector per tap
        sch.compute_at(weight, outer)
        sch.transform_layout(weight, ("write", 0), lambda o, c, kh, kw: (c, kh, kw, o))
        tile_consumer = sch.cache_write(conv, 0, "local") if consumer is None else consumer.block
        if consumer is not None:
            sch.set_scope(conv, 0, "local")
        sch.reverse_compute_at(tile_consumer, column_block, preserve_unit_loops=True)
        sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o))
        _vectorize_tile_consumer(sch, tile_consumer, 3, lanes)  # under (outer, row, column_block)
        row_stride = int(sch.get(conv).annotations["fx2relax.stride"][0])
        for pad in padded:  # the padded rows of this (image, channel block, rows) in cache: a plane block, or a row's (above)
            sch.compute_at(pad, row if row_stride > 1 else outer, preserve_unit_loops=True)
            sch.vectorize(sch.get_loops(pad)[-1])
        _register_tile_loops(sch, conv, outer, work, lane, column_in_tile, taps)
        for pad in pads:
            if not any(pad.same_as(block) for block in padded):
                parallelize_outer(sch, pad)
        return sch


DEPTHWISE_TASKS_PER_CORE = 8
"""Parallel tasks per core a blocked depthwise conv needs before its planes split into row parts:
(image, channel block) pairs alone were one task for MobileNetV3's 16 channels at 112² at batch 1
(no second core at all) and 9 for its 72 at 56² (5 and 4 per core)."""


def _row_parts(blocks: int, rows: int, cores: int) -> int:
    """Parts of a blocked depthwise conv's plane rows run as parallel tasks of their own: the fewest
    (a divisor of the rows) giving `blocks` (images x channel blocks) times as many parts at least
    DEPTHWISE_TASKS_PER_CORE tasks a core, each part reading its input rows and the halo around them.
    The parts run outside the channel blocks, so that a core reads the rows its producer wrote there
    (MNASNet at batch 1, two threads: 32 channels at 112² 73 -> 59 us, 48 at stride 2 57 -> 47 us,
    72 at 56² 82 -> 71 us), unless the output's planes are reduced next (PLANES_REDUCED_AFTER:
    squeeze-and-excitation's means in EfficientNet-B0 then took 16-32 us instead of 16-17 us)."""
    wanted = -(-DEPTHWISE_TASKS_PER_CORE * cores // blocks) if cores > 1 else 1
    return min((parts for parts in range(1, rows + 1) if rows % parts == 0 and parts >= wanted), default=rows)


def _tile_on_stack(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, column_block: s_tir.schedule.LoopRV, elements: int) -> None:
    """Where a conv's register tile (`elements` outputs under `column_block`) fits STACK_MAX_BYTES,
    accumulate it in a buffer of its own on the stack and copy it into the conv's (larger) output
    buffer once, one vector at a time: the zeroing and the sums then stay in registers, whereas in
    the output buffer, a heap workspace, the zeroing remained a memset per tile (18 % of the
    course CNN's conv kernel)."""
    if elements * tvm.DataType(output_dtype(sch, conv)).bits // 8 >= STACK_MAX_BYTES:
        return
    copy = sch.cache_write(conv, 0, "global")
    sch.reverse_compute_at(copy, column_block, preserve_unit_loops=True)
    *_, column, channel = sch.get_loops(copy)
    sch.vectorize(channel)
    sch.unroll(column)


class PlaneConv(ScheduleRule):
    """The plane schedule (see the module docstring) of a conv2d and its fused consumer."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        conv = marked_block(sch, "conv2d")
        if conv is None:
            return None
        pads = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == "pad"]
        inline_injective(sch, keep=(conv, *pads))
        consumer = _ConsumerReads.find(sch, conv)
        fused = consumer is not None and all(w.side_by_side() for w in consumer.windows)
        pads = _deinterleave_strided_columns(sch, conv, pads)
        loops = sch.get_loops(conv)
        spatial_count = len(leading_spatial_loops(sch, conv))
        *plane, row, column = loops[:spatial_count]  # plane: (*batch, channel)
        taps = loops[spatial_count:]  # (input channel, kernel row, kernel column)
        sch.reorder(row, *taps, column)
        plane_loop = sch.fuse(*plane) if len(plane) > 1 else plane[0]
        if fused:  # an element-wise consumer takes each row while it is in registers, a pooling one each plane
            sch.reverse_compute_at(consumer.block, plane_loop if consumer.windows else row, preserve_unit_loops=True)
            sch.set_scope(conv, 0, "local")
        sch.parallel(plane_loop)
        sch.vectorize(column)
        for tap in taps[1:]:  # kernel rows and columns: the row stays in registers across the taps
            sch.unroll(tap)
        sch.decompose_reduction(conv, taps[0])
        if fused:
            schedule_consumer(sch, consumer.block)
        else:
            for block in sch.get_consumers(conv):
                parallelize_outer(sch, block)
        for pad in pads:
            parallelize_outer(sch, pad)
        return sch


def _deinterleave_strided_columns(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, pads: list) -> list:
    """Store the zero-padded input of a conv with column stride s > 1 as s planes of every s-th
    column ([..., W] → [..., s, W / s]): a row of outputs then reads each tap's inputs as one
    contiguous vector instead of gathering every s-th value (which LLVM also takes long to emit).
    Returns the pads still to schedule (all but a zero pad copied by _copy_deinterleaved)."""
    stride = int(sch.get(conv).annotations["fx2relax.stride"][-1])
    padded = [pad for pad in pads if any(r.source.same_as(sch.get(pad).writes[0].source) for r in sch.get(conv).reads)]
    if stride == 1 or len(padded) != 1:
        return pads
    shape = sch.get(padded[0]).writes[0].source.shape
    width = static_extent(shape[-1])
    if width is None or width % stride:
        return pads
    deinterleave = tirx.IndexMap.from_func(
        lambda *index: (*index[:-1], index[-1] % stride, index[-1] // stride), ndim=len(shape)
    )
    source_width = static_extent(sch.get(padded[0]).reads[0].source.shape[-1])
    zeros = str(sch.get(conv).annotations["fx2relax.padding_mode"]) == "zeros"
    if zeros and source_width is not None and source_width % stride == 0:
        _copy_deinterleaved(sch, padded[0], stride)
        sch.transform_layout(padded[0], ("write", 0), deinterleave)
        return [pad for pad in pads if not pad.same_as(padded[0])]
    sch.transform_layout(padded[0], ("write", 0), deinterleave)
    sch.transform_block_layout(padded[0], deinterleave)
    return pads


def _copy_deinterleaved(sch: s_tir.Schedule, pad: s_tir.schedule.SBlockRV, stride: int) -> None:
    """Schedule a zero pad whose output is about to be deinterleaved by `stride` columns: per
    plane (in parallel), zero the padded plane, then copy the input rows `stride` columns at a
    time (the column group unrolled), so that the copy reads whole contiguous vectors and LLVM
    deinterleaves them with shuffles instead of one masked gather per vector of outputs (70 % of
    MobileNetV2's stride-2 depthwise conv at 112²)."""
    *outer, row, _ = sch.get_loops(pad)
    work = loop_work(sch, sch.get_loops(pad))
    plane = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    if work is None or work >= PARALLEL_MIN_ELEMENTS:
        sch.parallel(plane)
    annotations = dict(sch.get(pad).annotations)  # the pad's mark, which decompose_padding drops
    zero = sch.decompose_padding(pad, row)
    for block in (zero, pad):
        for key, value in annotations.items():
            sch.annotate(block, key, value)
    column = sch.get_loops(zero)[-1]
    position, group = sch.split(column, factors=[None, stride])
    sch.reorder(group, position)  # zeros written in the deinterleaved order: contiguous
    column = sch.get_loops(pad)[-1]
    _, group = sch.split(column, factors=[None, stride])
    sch.unroll(group)


def schedule_consumer(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> None:
    """The fused consumer of a conv plane (bias and activation inlined), vectorised along output
    columns; for a pooling window, the window loops are unrolled outside that axis so the running
    maximum of a row of outputs stays in a register."""
    reduced = sum(1 for iter_var in sch.get(block).iter_vars if iter_var.iter_type == tirx.IterVar.CommReduce)
    loops = sch.get_loops(block)  # loops follow the block's iterators, reductions last
    if not reduced:
        sch.vectorize(loops[-1])
        return
    window, column = loops[-reduced:], loops[-reduced - 1]
    sch.reorder(*window, column)
    for loop in window:
        sch.unroll(loop)
    sch.vectorize(column)
    sch.decompose_reduction(block, window[0])


class PackedConv(ScheduleRule):
    """The packed rule (see the module docstring) of a conv2d_packed and its fused consumer."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        conv = marked_block(sch, "conv2d_packed")
        if conv is None:
            return None
        pads = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == "pad"]
        scale = _ScaleAfter.find(sch, conv)
        inline_injective(sch, keep=(conv, *pads, *(scale.kept() if scale else ())))
        lanes = _packed_lanes(sch, conv)
        grouped = int(sch.get(conv).annotations.get("fx2relax.groups", 1)) > 1
        row_pads = [pad for pad in pads if grouped and _pad_blocked_in_place(sch, pad, conv)]  # copied per tile row, below
        pads = [pad for pad in pads if not any(pad.same_as(other) for other in row_pads) and not _pad_blocked(sch, pad, conv)]
        reads = _ConsumerReads.find(sch, conv, prefix=True)
        apart = list(sch.get_consumers(conv))  # consumers scheduled on their own, after the conv
        tile_consumer = pooling = None
        if reads is not None and not reads.windows:
            tile_consumer, apart = reads.block, []
        elif reads is not None and reads.whole and all(w.side_by_side() for w in reads.windows) and _plane_block_fits(sch, conv, lanes):
            pooling, apart = reads.block, []
        if scale is not None:  # the scale on its own, after the conv (and its epilogue on the tiles)
            apart = [scale.block]
        window_apart = (  # a pooling after the conv reads it in channel vectors from a blocked layout
            reads is not None and reads.windows and pooling is None and param_index(func, sch.get(conv).writes[0].source) is None
        )
        batch, channel, row, column, *taps = sch.get_loops(conv)
        work = loop_work(sch, sch.get_loops(conv))
        data = sch.get(conv).reads[0].source
        blocked_input = len(data.shape) == 5 and not grouped
        if blocked_input:  # input stored channel-blocked (layout.BlockChannels): (block, lane) index it
            taps[0:1] = sch.split(taps[0], factors=[None, int(data.shape[-1])])
        channels = static_extent(sch.get(channel).extent)
        unit = vector_unit(target)
        registers = unit.registers
        group_vectors = reads.group_crop[1] // lanes if reads is not None and reads.group_crop else 1
        vectors, tile = _packed_tile(static_extent(sch.get(column).extent), channels // lanes, pooling is None, registers, group_vectors)
        channel_block, channel_vector, lane = sch.split(channel, factors=[None, vectors, lanes])
        column_block, column_in_tile = sch.split(column, factors=[None, tile])
        sch.reorder(batch, channel_block, row, column_block, *taps, channel_vector, column_in_tile, lane)
        if pooling is not None:  # the block of planes in cache, then the pooling over it, as the channel-vector rule
            outer = sch.fuse(batch, channel_block)
            sch.reverse_compute_at(pooling, outer, preserve_unit_loops=True)  # a 1-row or 1-column pooled plane keeps its loops
            sch.set_scope(conv, 0, "local")
            sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o))
            _tile_on_stack(sch, conv, column_block, vectors * tile * lanes)
        else:  # one register tile at a time, written out through the element-wise consumer if any
            k_block = None if window_apart else _k_block(sch, conv, (batch, channel_block), taps, reads, target_cores(target))
            if k_block is not None:  # a block of planes accumulated K block by K block, the weights of one in L1
                k_outer, k_inner = sch.split(taps[0], factors=[None, k_block])
                sch.reorder(batch, channel_block, k_outer, row, column_block, k_inner)
                outer = sch.fuse(batch, channel_block)
                taps[0] = k_outer
            elif _rows_outside_channels(sch, conv):  # each input row read once, the weights again from cache
                sch.reorder(row, channel_block)
                outer = sch.fuse(batch, row, channel_block)
            else:
                outer = sch.fuse(batch, channel_block, row)
            if tile_consumer is None:
                tile_consumer = sch.cache_write(conv, 0, "local")
                if window_apart:  # each tile's channel vectors stored whole, not one lane per plane
                    sch.transform_layout(tile_consumer, ("write", 0), lambda n, o, h, w: (n, o // lanes, h, w, o % lanes))
            else:
                sch.set_scope(conv, 0, "local")
            group_crop = reads.group_crop if reads is not None and tile_consumer.same_as(reads.block) else None
            if group_crop is not None:  # channels as (group, channel of the group): TIR finds the tile's real ones
                real, computed = group_crop
                sch.transform_block_layout(tile_consumer, lambda n, o, h, w: (n, o // real, o % real, h, w))
                sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o // computed, o % computed))
            sch.reverse_compute_at(tile_consumer, column_block if k_block is None else outer, preserve_unit_loops=True)
            if group_crop is None:
                sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o))
            real_channels = static_extent(sch.get(tile_consumer).iter_vars[1].dom.extent)
            output_lanes = _output_block_lanes(sch, tile_consumer)
            if group_crop is not None:
                _vectorize_group_tile_consumer(sch, tile_consumer, output_lanes, group_crop[0])
            elif k_block is not None:  # (n, o, h, w) under outer: the block of planes once summed
                _vectorize_tile_consumer(sch, tile_consumer, 1, lanes, unrolled=False)
            elif real_channels == channels:  # (n, o, h, w): all channels
                _vectorize_tile_consumer(sch, tile_consumer, 2, lanes)  # (n, o, h, w) under (outer, column_block)
            elif output_lanes is not None and real_channels % output_lanes == 0 and lanes % output_lanes == 0:
                _vectorize_tile_consumer(sch, tile_consumer, 2, output_lanes)  # the real ones, a stored block at a time
            else:  # the real channels of zero-padded ones: vectors of columns, per channel
                _, real_channel, _, tile_column = sch.get_loops(tile_consumer)[2:]
                sch.reorder(real_channel, tile_column)
                sch.vectorize(tile_column)
                sch.unroll(real_channel)
        for pad in row_pads:  # the rows (and group) of the input this tile row reads, copied into cache
            sch.compute_at(pad, outer, preserve_unit_loops=True)
            sch.vectorize(sch.get_loops(pad)[-1])
        if work is None or work > SERIAL_MAX_MACS:
            sch.parallel(outer)
        sch.vectorize(lane)
        sch.unroll(column_in_tile)
        sch.unroll(channel_vector)
        kernel_taps = taps[-2:]
        kernel_rows, kernel_columns = (static_extent(sch.get(tap).extent) for tap in kernel_taps)
        whole_window = kernel_rows * kernel_columns <= UNROLLED_TAPS and (
            kernel_columns == 1 or vectors * tile + vectors + tile <= registers
        )
        for tap in kernel_taps if whole_window else kernel_taps[1:]:
            sch.unroll(tap)
        input_channels = static_extent(data.shape[1] * data.shape[-1]) if blocked_input else None
        if (
            input_channels is not None and input_channels >= UNROLLED_LANES_MIN_CHANNELS
            and kernel_rows * kernel_columns == 1 and tile >= SHORT_COLUMN_TILE_MIN and unit.full_width
        ):
            sch.unroll(taps[1])  # a blocked input's lanes: see UNROLLED_LANES_MIN_CHANNELS
        sch.decompose_reduction(conv, taps[0])
        if pooling is not None:
            _schedule_channel_consumer(sch, pooling)
        if window_apart:  # vectors the pooling's real channels, the conv's blocks and the output's divide into
            pooled = sch.get(reads.block)
            pooled_lanes = math.gcd(lanes, static_extent(pooled.iter_vars[1].dom.extent), _output_block_lanes(sch, reads.block) or lanes)
            schedule_blocked_pooling(sch, reads.block, pooled_lanes)
        for block in apart if not window_apart else []:
            if scale is not None:
                _schedule_scale(sch, block, unit.lanes(output_dtype(sch, block)))
            else:
                parallelize_outer(sch, block)
        for pad in pads:
            parallelize_outer(sch, pad)
        return sch


@dataclass(frozen=True)
class _ScaleAfter:
    """A stage that reads a conv's outputs, after element-wise stages over them, broadcast over
    more positions: squeeze-and-excitation's scale, x * sigmoid(conv(...) + bias) with the conv's
    output planes 1x1 and x's planes larger. Inlined into the scale as any epilogue, the epilogue
    (an exponential) would run once per position of x, not once per (image, channel), and the
    scale scalar (EfficientNet-B0 at batch 8: 21 ms of 165 on one core); kept, it runs on the
    conv's register tiles and the scale is a vectorised stage of its own.
    `epilogue` is the last element-wise stage (the others are inlined into it), None if none."""

    epilogue: s_tir.schedule.SBlockRV | None
    block: s_tir.schedule.SBlockRV

    @classmethod
    def find(cls, sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> _ScaleAfter | None:
        """The pattern from `conv` on, before inlining: a chain of single consumers, each over as
        many positions as the conv has outputs, then one over more that reads every buffer
        element-wise or broadcast (elementwise.indexed_axes); else None."""
        outputs = _spatial_work(sch.get(conv))
        chain, block = [], conv
        while outputs is not None:
            consumers = sch.get_consumers(block)
            if len(consumers) != 1:
                return None
            consumer = consumers[0]
            if any(v.iter_type != tirx.IterVar.DataPar for v in sch.get(consumer).iter_vars):
                return None
            work = _spatial_work(sch.get(consumer))
            if work == outputs or marked_kernel(sch.get(consumer).annotations) == "conv2d_packed_outputs":
                chain.append(consumer)  # (the real outputs of a packed conv's padded ones: fewer from here on)
                block, outputs = consumer, work
            elif work is not None and work > outputs and indexed_axes(sch.get(consumer)) is not None:
                return cls(chain[-1] if chain else None, consumer)
            else:
                return None
        return None

    def kept(self) -> tuple[s_tir.schedule.SBlockRV, ...]:
        """The blocks inlining must keep: the epilogue's last stage and the scale."""
        return (self.block,) if self.epilogue is None else (self.epilogue, self.block)


def _spatial_work(block: tirx.SBlock) -> int | None:
    """A block's number of output positions (its spatial iterators'), or None when one is symbolic."""
    extents = [static_extent(v.dom.extent) for v in block.iter_vars if v.iter_type == tirx.IterVar.DataPar]
    return None if None in extents else math.prod(extents)


def _schedule_scale(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """A broadcast scale (loops (n, c, h, w)) on its own, as the element-wise rule schedules it
    (a channel-blocked output [N, C / L, H, W, L] a vector of channels per position)."""
    if not vectorize_channel_blocks(sch, block) and not vectorize_elementwise(sch, block, lanes):
        parallelize_outer(sch, block)


def _rows_outside_channels(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> bool:
    """Whether a packed conv's tiles run row by row, all channel blocks of a row before the next,
    rather than channel block by channel block over all rows: where the packed weights fit
    ROWS_OUTSIDE_MAX_WEIGHT_BYTES and one image's input exceeds ROWS_OUTSIDE_MIN_INPUT_BYTES (at
    batch 1 ROWS_OUTSIDE_MIN_INPUT_BYTES_ONE_IMAGE), each
    input row is then read once while the weights stay in cache (instead of the whole input once per
    channel block, from L3), and at batch 1 two cores split the rows (each reading half of the input)
    instead of the channel blocks (each reading all of it)."""
    data = sch.get(conv).reads[0].source
    weight = next(region.source for region in sch.get(conv).reads[1:] if len(region.region) == 5)
    data_extents = [static_extent(extent) for extent in data.shape[1:]]
    weight_extents = [static_extent(extent) for extent in weight.shape]
    if None in data_extents or None in weight_extents:
        return False
    element_bytes = tvm.DataType(weight.dtype).bits // 8
    one_image = static_extent(data.shape[0]) == 1
    min_input_bytes = ROWS_OUTSIDE_MIN_INPUT_BYTES_ONE_IMAGE if one_image else ROWS_OUTSIDE_MIN_INPUT_BYTES
    return (
        math.prod(weight_extents) * element_bytes <= ROWS_OUTSIDE_MAX_WEIGHT_BYTES
        and math.prod(data_extents) * element_bytes > min_input_bytes
    )


def _pad_blocked(sch: s_tir.Schedule, pad: s_tir.schedule.SBlockRV, conv: s_tir.schedule.SBlockRV) -> bool:
    """Where `pad` copies a channel-blocked input [N, C / L, H, W, L] (layout.BlockChannels) for
    the conv to read, store the padded copy blocked too and copy a vector of L channels at a time,
    (image, channel block, row) in parallel: contiguous loads and stores, and the conv reads it as
    its blocked input. Whether it did."""
    source, written = sch.get(pad).reads[0].source, sch.get(pad).writes[0].source
    if len(source.shape) != 5 or not any(region.source.same_as(written) for region in sch.get(conv).reads):
        return False
    lanes = int(source.shape[-1])
    sch.transform_layout(pad, ("write", 0), blocked_index_map(lanes))
    image, channel, row, column = sch.get_loops(pad)
    channel_block, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(image, channel_block, row, column, lane)
    work = loop_work(sch, sch.get_loops(pad))
    if work is None or work >= PARALLEL_MIN_ELEMENTS:
        sch.parallel(sch.fuse(image, channel_block, row))
    sch.vectorize(lane)
    return True


def _pad_blocked_in_place(sch: s_tir.Schedule, pad: s_tir.schedule.SBlockRV, conv: s_tir.schedule.SBlockRV) -> bool:
    """Where `pad` copies a channel-blocked input [N, C / L, H, W, L] for a grouped conv to read,
    store the padded copy blocked too, its block iterating the blocked layout, for the conv's
    schedule to copy just the rows and channels each row of tiles reads, right before it reads
    them (RegNet's grouped 3x3 convs: a whole padded copy of the input was another pass over
    memory, 8x48x112x112 at stride 2, one thread: 3.7 ms against 2.3 ms unpadded). Whether it did."""
    source, written = sch.get(pad).reads[0].source, sch.get(pad).writes[0].source
    if len(source.shape) != 5 or not any(region.source.same_as(written) for region in sch.get(conv).reads):
        return False
    lanes = int(source.shape[-1])
    sch.transform_layout(pad, ("write", 0), blocked_index_map(lanes))
    sch.transform_block_layout(pad, blocked_index_map(lanes))
    return True


def _packed_tile(
    width: int | None, channel_vectors: int, several_vectors: bool, registers: int, group_vectors: int = 1
) -> tuple[int, int]:
    """A packed conv's register tile: (vectors of output channels, output columns). Where the
    row has a divisor from SHORT_COLUMN_TILE_MIN to SHORT_COLUMN_TILE columns (`several_vectors`
    allowing), that many columns x the most vectors dividing the channels within the register
    budget: each broadcast input then feeds several FMAs and each weight vector several columns
    (MobileNetV2's 14x14x576 1x1 conv: 3 x 7, not 1 x 14; ONNX Runtime's MLAS takes 4 x 6); so
    too where no divisor from SHORT_COLUMN_TILE_MIN to COLUMN_TILE exists (an SE block's pooled
    1 x 1 planes: 12 x 1 for 192 channels instead of 2 x 1, two FMA chains; Inception-v3's 768 -> 192
    1x1 conv at 17 x 17, two threads, 809 -> 564 us, before such rows from 17 columns on were
    computed wider: `computed_columns`).
    Otherwise COLUMN_TILE columns x two vectors where they fit TILE_ACCUMULATORS, else one.
    `registers`: the target's vector registers (accumulators, a weight vector each, the broadcast input).
    `group_vectors`: the vectors of a group padded to whole vectors, which a tile's vectors divide or
    are whole groups of (a tile then stores the real channels of whole groups or of part of one)."""
    tile = _column_tile(width)

    def aligned(v: int) -> bool:
        return channel_vectors % v == 0 and (v % group_vectors == 0 or group_vectors % v == 0)

    short = None if width is None else largest_divisor(width, SHORT_COLUMN_TILE)
    if several_vectors and short is not None and (short >= SHORT_COLUMN_TILE_MIN or tile < SHORT_COLUMN_TILE_MIN):
        vectors = max(
            v for v in range(1, channel_vectors + 1)
            if aligned(v) and v * short <= TILE_ACCUMULATORS and v * (short + 1) + 1 <= registers
        )
        if vectors >= 2:
            return vectors, short
    return (2 if several_vectors and aligned(2) and 2 * tile <= TILE_ACCUMULATORS else 1), tile


def _packed_lanes(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> int:
    """The lanes of a conv2d_packed block's packed weight (the last axis of its 5-D read after the
    input, which is 5-D too when stored channel-blocked)."""
    return next(int(region.source.shape[-1]) for region in sch.get(conv).reads[1:] if len(region.region) == 5)


def _output_block_lanes(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> int | None:
    """The lanes of the channel blocks a tile consumer (n, o, h, w) stores (layout.BlockChannels:
    (n, o // lanes, h, w, o % lanes)), or None where it stores NCHW."""
    written = sch.get(block).writes[0].source
    return int(written.shape[-1]) if len(written.shape) == 5 else None


def _vectorize_group_tile_consumer(
    sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, output_lanes: int | None, real_per_group: int
) -> None:
    """The element-wise consumer of a grouped conv's register tile, its loops (n, group, channel of
    the group, h, w) under (outer, column_block): where the output is channel-blocked, per column
    the contiguous runs of channels a group's and a block's lanes share (RegNetX's 24 per group in
    blocks of 8 or 16: 8), else a vector of columns per channel."""
    _, _, channel, _, column = sch.get_loops(block)[2:]
    run = 1 if output_lanes is None else math.gcd(output_lanes, real_per_group, static_extent(sch.get(channel).extent))
    if run > 1:
        vector, lane = sch.split(channel, factors=[None, run])
        sch.reorder(column, vector, lane)
        sch.vectorize(lane)
        sch.unroll(vector)
        sch.unroll(column)
    else:
        sch.reorder(channel, column)
        sch.vectorize(column)
        sch.unroll(channel)


def _vectorize_tile_consumer(
    sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, depth: int, lanes: int, unrolled: bool = True
) -> None:
    """The element-wise consumer of a register tile, its loops (n, o, h, w) under `depth` outer
    loops: one vector of `lanes` output channels per column at a time (a contiguous store when the
    output is channel-blocked), columns and vectors unrolled where `unrolled` (a tile, not a plane)."""
    _, channel, _, column = sch.get_loops(block)[depth:]
    vector, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(column, vector, lane)
    sch.vectorize(lane)
    if unrolled:
        sch.unroll(vector)
        sch.unroll(column)


K_BLOCK_MIN_CHANNELS = 576
K_BLOCK_CHANNELS = 128
K_BLOCK_TASKS_PER_CORE = 4
"""A packed 1x1 conv over a channel-blocked input of K_BLOCK_MIN_CHANNELS or more channels sums its
block of planes K_BLOCK_CHANNELS input channels at a time (`_k_block`), the partial sums in cache,
so that one K block's weight vectors (128 x 2-3 vectors: 32-48 KiB) stay in L1 across the plane's
tiles instead of streaming from L2 per tile, as ONNX Runtime's MLAS does (its NCHWc pointwise
kernel: 128 channels). Two threads, 1x1 conv + ReLU: batch 1, 1024 -> 256 at 14² 340 -> 284 us,
2048 -> 512 at 7² 354 -> 310-319 us; batch 16, 960 -> 160 at 7² 645 -> 606 us, 576 -> 96 at 14²
835 -> 806 us; 256 -> 1024 at 14² went 264 -> 304 us (hence the minimum). The (image, channel
block) tasks then run in parallel alone; where they are fewer than K_BLOCK_TASKS_PER_CORE a core
the tiles keep their order (960 -> 160 at 7², batch 1: 5 tasks, 66 -> 80 us in K blocks of 96)."""


def _k_block(
    sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, tasks: tuple, taps: list, reads: _ConsumerReads | None, cores: int
) -> int | None:
    """The input channel blocks of a K block (see K_BLOCK_MIN_CHANNELS) where the packed conv is
    1x1 over a channel-blocked input (`taps`: input channel block, lane, kernel row, column), its
    one consumer, if any, element-wise over all its outputs (no padded channels or extra columns to
    drop) and its (image, channel block) `tasks` loops enough iterations; else None."""
    if len(taps) != 4 or loop_work(sch, taps[2:]) != 1:
        return None
    blocks, block_lanes = (static_extent(sch.get(tap).extent) for tap in taps[:2])
    if blocks is None or blocks * block_lanes < K_BLOCK_MIN_CHANNELS:
        return None
    consumers = sch.get_consumers(conv)
    if consumers and (reads is None or reads.windows or not reads.whole):
        return None
    work = loop_work(sch, list(tasks))
    if work is None or work < K_BLOCK_TASKS_PER_CORE * cores:
        return None
    return largest_divisor(blocks, K_BLOCK_CHANNELS // block_lanes)


def _plane_block_fits(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Whether a block of `lanes` output planes of the conv fits PLANE_BLOCK_MAX_BYTES."""
    plane = loop_work(sch, sch.get_loops(conv)[2:4])
    element_bytes = tvm.DataType(output_dtype(sch, conv)).bits // 8
    return plane is not None and plane * lanes * element_bytes <= PLANE_BLOCK_MAX_BYTES
