"""Direct 2-D convolution schedules for kernels.conv.conv2d, each output plane computed in cache.

Channel-vector schedule (2-D conv, output channels a multiple of CHANNEL_LANES, one fused
consumer): for each (image, block of CHANNEL_LANES output channels), in parallel (unless the
conv has at most generic.SERIAL_MAX_MACS multiply-adds), the block's output planes are
accumulated in a local buffer laid out [rows, columns, lanes], so each tap is one broadcast
input value times one vector of weights (repacked per block [C, kh, kw, lanes]); COLUMN_TILE
columns of a row stay in registers across the taps. The fused consumer (bias and
activation inlined, and max-pooling) then reads channel vectors while they are in L1 and keeps
its result in registers until one store per output position.

Plane schedule (any other case, e.g. depthwise): for each (image, output channel) pair the plane
is accumulated row by row with the output columns as the vector axis, each row in registers
across the taps, then read by the fused consumer (a row at a time when it is element-wise).

Taps run in the unscheduled order in both, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx

from ..kernels.conv import KERNEL_ATTR
from .generic import SERIAL_MAX_MACS, inline_injective, leading_spatial_loops, loop_work, parallelize_outer, static_extent

CHANNEL_LANES = 16
"""Output channels per vector: one AVX-512 vector of float32."""

PLANE_BLOCK_MAX_BYTES = 512 * 1024
"""Largest block of CHANNEL_LANES output planes the channel-vector schedule keeps: it must stay in
L2 (1 MiB per core on znver4) while the consumer reads it; larger planes go one at a time."""

COLUMN_TILE = 14
"""At most this many output columns of a row accumulate in registers (one vector each)."""

TILE_ACCUMULATORS = 24
"""Vector accumulators a packed conv's register tile may hold (AVX-512 has 32 registers): a tile of
few columns takes two vectors of output channels, so enough FMA chains hide the FMA latency."""

UNROLLED_TAPS = 9
"""Kernel windows up to this many taps are unrolled whole; larger ones (7x7) only along a row,
which keeps LLVM's compile time down at no measurable cost."""


def schedule_conv2d_channel_vectors(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """The channel-vector schedule (see the module docstring) of the "conv2d" block and its fused
    consumer; ValueError when the conv does not fit it."""
    inline_injective(sch, keep=(block_name,))
    conv = sch.get_sblock(block_name)
    _check_fits_channel_vectors(sch, conv)
    loops = sch.get_loops(conv)
    spatial_count = len(leading_spatial_loops(sch, conv))
    *batch, channel, row, column = loops[:spatial_count]
    taps = loops[spatial_count:]  # (input channel, kernel row, kernel column)
    consumer = sch.get_consumers(conv)[0]
    work = loop_work(sch, loops)
    channel_block, lane = sch.split(channel, factors=[None, CHANNEL_LANES])
    width = static_extent(sch.get(column).extent)
    column_block, column_in_tile = sch.split(column, factors=[None, _column_tile(width)])
    sch.reorder(*batch, channel_block, row, column_block, *taps, column_in_tile, lane)
    block_loop = sch.fuse(*batch, channel_block)
    weight = _weight_read_index(sch, conv)
    sch.reverse_compute_at(consumer, block_loop)
    sch.set_scope(conv, 0, "local")
    sch.transform_layout(conv, ("write", 0), lambda *i: (*i[:-3], i[-2], i[-1], i[-3]))
    packed_weight = sch.cache_read(conv, weight, "local")
    sch.compute_at(packed_weight, block_loop)
    sch.transform_layout(packed_weight, ("write", 0), lambda o, c, kh, kw: (c, kh, kw, o))
    if work is None or work > SERIAL_MAX_MACS:
        sch.parallel(block_loop)
    sch.vectorize(lane)
    sch.unroll(column_in_tile)
    for tap in taps[1:]:
        sch.unroll(tap)
    sch.decompose_reduction(conv, taps[0])
    _schedule_channel_consumer(sch, consumer)


def _check_fits_channel_vectors(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> None:
    """ValueError unless the conv is 2-D ((*batch, channel, row, column) outputs and (channel, row,
    column) taps), its output channels fill whole vectors, a block of its planes fits in L2 and it
    has one consumer over the same outputs (element-wise, or reducing trailing window axes)."""
    loops = sch.get_loops(conv)
    spatial_count = len(leading_spatial_loops(sch, conv))
    if spatial_count < 4 or len(loops) - spatial_count != 3:
        raise ValueError("not a batched 2-D convolution")
    channels = static_extent(sch.get(loops[spatial_count - 3]).extent)
    if channels is None or channels % CHANNEL_LANES:
        raise ValueError(f"output channels are not a multiple of {CHANNEL_LANES}")
    if int(sch.get(conv).annotations.get("fx2relax.groups", 1)) == channels:
        raise ValueError("depthwise: a vector of output channels would gather its inputs across planes")
    plane = loop_work(sch, loops[spatial_count - 2:spatial_count])
    if plane is None or plane * CHANNEL_LANES * 4 > PLANE_BLOCK_MAX_BYTES:  # float32 outputs
        raise ValueError("a block of output planes does not fit in L2")
    consumers = sch.get_consumers(conv)
    if len(consumers) != 1 or len(leading_spatial_loops(sch, consumers[0])) != spatial_count:
        raise ValueError("the conv has no single consumer over its outputs")


def _column_tile(width: int | None) -> int:
    """The largest divisor of the output width up to COLUMN_TILE (1 for a symbolic width)."""
    if width is None:
        return 1
    return max(tile for tile in range(1, COLUMN_TILE + 1) if width % tile == 0)


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
    """The fused consumer of a block of channel planes: loops (channel, row, column, *window)
    reordered to (row, column, *window, channel) with the channel as the vector axis; a window
    maximum is kept in a register and stored once."""
    reduced = sum(1 for iter_var in sch.get(block).iter_vars if iter_var.iter_type == tirx.IterVar.CommReduce)
    loops = sch.get_loops(block)[1:]  # under the loop over channel blocks
    if len(loops) != 3 + reduced:  # compute-at bound a window axis to a constant (windows not tiling the plane)
        raise ValueError("the consumer's loops are not (channel, row, column, *window)")
    channel, row, column, *window = loops
    sch.reorder(row, column, *window, channel)
    sch.vectorize(channel)
    if not reduced:
        return
    for loop in window:
        sch.unroll(loop)
    result = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(result, column)
    sch.vectorize(sch.get_loops(result)[-1])
    sch.decompose_reduction(block, window[0])


def schedule_conv2d_planes(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """The plane schedule (see the module docstring) of the "conv2d" block and its fused consumer."""
    pads = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if _kernel_mark(sch, b) == "pad"]
    inline_injective(sch, keep=(block_name, *(sch.get(b).name_hint for b in pads)))
    conv = sch.get_sblock(block_name)
    loops = sch.get_loops(conv)
    spatial_count = len(leading_spatial_loops(sch, conv))
    *plane, row, column = loops[:spatial_count]  # plane: (*batch, channel)
    taps = loops[spatial_count:]  # (input channel, kernel row, kernel column)
    sch.reorder(row, *taps, column)
    plane_loop = sch.fuse(*plane) if len(plane) > 1 else plane[0]
    consumers = sch.get_consumers(conv)
    if len(consumers) == 1:
        windowed = any(iter_var.iter_type == tirx.IterVar.CommReduce for iter_var in sch.get(consumers[0]).iter_vars)
        try:  # an element-wise consumer takes each row while it is in registers, a pooling one each plane
            sch.reverse_compute_at(consumers[0], plane_loop if windowed else row)
            sch.set_scope(conv, 0, "local")
        except (s_tir.ScheduleError, ValueError):  # a window TIR cannot bound: the plane goes to memory
            pass
    sch.parallel(plane_loop)
    sch.vectorize(column)
    for tap in taps[1:]:  # kernel rows and columns: the row stays in registers across the taps
        sch.unroll(tap)
    sch.decompose_reduction(conv, taps[0])
    if len(consumers) == 1:
        schedule_consumer(sch, consumers[0])
    for pad in pads:
        parallelize_outer(sch, pad)


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


def schedule_conv2d_packed(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """Schedule kernels.conv.conv2d_packed and its fused consumer: a register tile of up to
    COLUMN_TILE output columns x one vector of output channels accumulates over (input channel,
    kernel row, kernel column), one packed weight vector and one broadcast input value per FMA.

    An element-wise consumer (bias, batch norm, activation, residual add) runs on each tile while it
    is in registers, so any plane size fits; a pooling consumer reads a whole block of planes
    in cache (as the channel-vector schedule) where the block fits in L2, else the conv's output
    goes to memory and the pooling runs after it. Zero padding is one copy of the
    input up front, not a bounds check per tap. Taps run in the unscheduled order."""
    pads = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if _kernel_mark(sch, b) == "pad"]
    inline_injective(sch, keep=(block_name, *(sch.get(b).name_hint for b in pads)))
    conv = sch.get_sblock(block_name)
    consumers = sch.get_consumers(conv)
    if len(consumers) > 1:
        raise ValueError("the conv has more than one consumer")
    consumer = consumers[0] if consumers else None
    windowed = consumer is not None and any(
        iter_var.iter_type == tirx.IterVar.CommReduce for iter_var in sch.get(consumer).iter_vars
    )
    batch, channel, row, column, *taps = sch.get_loops(conv)
    lanes = _packed_lanes(sch, conv)
    pooling_apart = None
    if windowed and not _plane_block_fits(sch, conv, lanes):  # the conv's output goes to memory, then the pooling
        pooling_apart, consumer, windowed = consumer, None, False
    work = loop_work(sch, sch.get_loops(conv))
    tile = _column_tile(static_extent(sch.get(column).extent))
    channels = static_extent(sch.get(channel).extent)
    vectors = 2 if not windowed and channels % (2 * lanes) == 0 and 2 * tile <= TILE_ACCUMULATORS else 1
    channel_block, channel_vector, lane = sch.split(channel, factors=[None, vectors, lanes])
    column_block, column_in_tile = sch.split(column, factors=[None, tile])
    sch.reorder(batch, channel_block, row, column_block, *taps, channel_vector, column_in_tile, lane)
    if windowed:  # the block of planes in cache, then the pooling over it (see schedule_conv2d_channel_vectors)
        outer = sch.fuse(batch, channel_block)
        sch.reverse_compute_at(consumer, outer)
        sch.set_scope(conv, 0, "local")
        sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o))
    else:  # one register tile at a time, written through the element-wise consumer
        outer = sch.fuse(batch, channel_block, row)
        tile_consumer = consumer if consumer is not None else sch.cache_write(conv, 0, "local")
        sch.reverse_compute_at(tile_consumer, column_block, preserve_unit_loops=True)
        if consumer is not None:
            sch.set_scope(conv, 0, "local")
        sch.transform_layout(conv, ("write", 0), lambda n, o, h, w: (n, h, w, o))
        _, tile_channel, _, tile_column = sch.get_loops(tile_consumer)[2:]  # (n, o, h, w) under (outer, column_block)
        sch.reorder(tile_column, tile_channel)
        sch.vectorize(tile_channel)
        sch.unroll(tile_column)
    if work is None or work > SERIAL_MAX_MACS:
        sch.parallel(outer)
    sch.vectorize(lane)
    sch.unroll(column_in_tile)
    sch.unroll(channel_vector)
    kernel_rows, kernel_columns = (static_extent(sch.get(tap).extent) for tap in taps[1:])
    for tap in taps[1:] if kernel_rows * kernel_columns <= UNROLLED_TAPS else taps[2:]:
        sch.unroll(tap)
    sch.decompose_reduction(conv, taps[0])
    if windowed:
        _schedule_channel_consumer(sch, consumer)
    if pooling_apart is not None:
        parallelize_outer(sch, pooling_apart)
        schedule_consumer(sch, pooling_apart)
    for pad in pads:
        parallelize_outer(sch, pad)


def _plane_block_fits(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Whether a block of `lanes` output planes of the conv fits PLANE_BLOCK_MAX_BYTES (float32)."""
    plane = loop_work(sch, sch.get_loops(conv)[2:4])
    return plane is not None and plane * lanes * 4 <= PLANE_BLOCK_MAX_BYTES


def _kernel_mark(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> str:
    """The kernel a block is marked as a stage of (kernels.conv.KERNEL_ATTR), or ""."""
    return str(sch.get(block).annotations.get(KERNEL_ATTR, ""))


def _packed_lanes(sch: s_tir.Schedule, conv: s_tir.schedule.SBlockRV) -> int:
    """The lanes of a conv2d_packed block's packed weight (its 5-D read's last axis)."""
    for region in sch.get(conv).reads:
        if len(region.region) == 5:
            return int(region.source.shape[-1])
    raise ValueError("conv2d_packed block reads no packed weight")
