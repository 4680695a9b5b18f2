"""Direct 2-D convolution schedules for kernels.conv.conv2d, each output plane computed in cache.

Channel-vector schedule (2-D conv, output channels a multiple of CHANNEL_LANES, one fused
consumer): for each (image, block of CHANNEL_LANES output channels), in parallel (unless the
conv has at most generic.SERIAL_MAX_MACS multiply-adds), the block's output planes are
accumulated in a local buffer laid out [rows, columns, lanes], so each tap is one broadcast
input value times one vector of weights (repacked per block [C, kh, kw, lanes]); COLUMN_TILE
columns of a row stay in registers across the taps. The fused consumer (bias and
activation inlined, and max-pooling) then reads channel vectors while they are in L1 and keeps
its result in registers until one store per output position.

Plane schedule (any other case): for each (image, output channel) pair the plane is accumulated
with the output columns as the vector axis, then read by the fused consumer.

Taps run in the unscheduled order in both, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx

from .generic import SERIAL_MAX_MACS, inline_injective, leading_spatial_loops, loop_work, static_extent

CHANNEL_LANES = 16
"""Output channels per vector: one AVX-512 vector of float32."""

PLANE_BLOCK_MAX_BYTES = 512 * 1024
"""Largest block of CHANNEL_LANES output planes the channel-vector schedule keeps: it must stay in
L2 (1 MiB per core on znver4) while the consumer reads it; larger planes go one at a time."""

COLUMN_TILE = 14
"""At most this many output columns of a row accumulate in registers (one vector each)."""


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
    inline_injective(sch, keep=(block_name,))
    conv = sch.get_sblock(block_name)
    loops = sch.get_loops(conv)
    spatial_count = len(leading_spatial_loops(sch, conv))
    *plane, row, column = loops[:spatial_count]  # plane: (*batch, channel)
    taps = loops[spatial_count:]  # (input channel, kernel row, kernel column)
    sch.reorder(row, *taps, column)
    plane_loop = sch.fuse(*plane) if len(plane) > 1 else plane[0]
    consumers = sch.get_consumers(conv)
    if len(consumers) == 1:
        try:
            sch.reverse_compute_at(consumers[0], plane_loop)
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
