"""Schedule of kernels.winograd.winograd_conv2d and its fused element-wise consumer.

Its three stages: the input transform, one (tile, vector of input channels) at a time with the
channels as the vector axis and the transform unrolled (its coefficients fold into adds); the 16
products, register tiles of several tiles of one row x one or two vectors of output
channels accumulating over the input channels in order, one broadcast transformed input times one
vector of transformed weights per FMA (as the packed conv); and the output transform, one tile x
one vector of output channels at a time, with the consumer (bias, residual add, ReLU) inlined so
the result is stored once; a pooling after it (GoogLeNet's and Inception's 3x3/2 max pools) then
reads the outputs stored in blocks of one vector of channels, a vector per tap, as after a packed
conv. Where the transformed weights fit in cache (ROW_BLOCKED_MAX_WEIGHT_BYTES)
the three run one row of tiles at a time, in parallel, their intermediates never leaving cache;
else each stage is a parallel pass over memory, which reads the weights once.
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import marked_kernel
from .conv import TILE_ACCUMULATORS
from .generic import (
    inline_injective,
    is_among,
    loop_work,
    marked_block,
    parallelize_outer,
    param_index,
    static_extent,
    top_blocks,
)
from .pooling import schedule_blocked_pooling

ROW_BLOCKED_MAX_WEIGHT_BYTES = 2 * 1024 * 1024
"""Transformed weights up to this size (the 2 MiB L2 per core of the AVX-512 Xeon measured) are
read once per row of tiles from cache, so a row's transforms and products run in cache; larger
ones are streamed once per transform position, over all tiles, in three passes over memory,
unless `_row_blocked_pays` says otherwise. One thread, batch 8, conv + ReLU, best of 30 calls,
row-blocked against three passes: 160 channels at 14² (1.6 MiB) 2.66 against 3.02 ms, 64 at 56²
(256 KiB) 10.0 against 27.2 ms."""

ROW_BLOCKED_MAX_L3_WEIGHT_BYTES = 4 * 1024 * 1024
"""Transformed weights up to this size are still read once per row of tiles, from L3, where the
rows are long enough (ROW_BLOCKED_MIN_ROW_TILES) and there are at least ROW_BLOCKED_MIN_ROWS of
them (one thread, conv + bias + residual + ReLU, row-blocked against three passes: 128 channels
at 28², 1 MiB, batch 16 on znver4 24.6 against 35.7 ms; 512 at 7², 16 MiB, there 45 against 25 ms)."""

ROW_BLOCKED_MIN_ROW_TILES = 10
"""Tiles a row needs to read weights beyond ROW_BLOCKED_MAX_WEIGHT_BYTES from L3 once per row:
a row's products are then at least as long as streaming its weights (the Xeon, one thread, conv +
ReLU, best of 30 calls, row-blocked against three passes: 14 tiles a row, 28², 192 channels
(2.3 MiB) at batch 4 8.25 against 12.2 ms, 256 (4 MiB) at batch 2 7.5 against 10.6 ms; 7 tiles a
row, 14², 192 channels at batch 8 4.62 against 3.95 ms, 256 at batch 8 9.4 against 6.2 ms and at
batch 16 19.2 against 14.8 ms: ResNet-50's and ResNet-18's 14² convs)."""

ROW_BLOCKED_MIN_ROWS = 14
"""Rows of tiles (images x tile rows) the parallel loop of a row-blocked schedule needs with
weights beyond ROW_BLOCKED_MAX_WEIGHT_BYTES: fewer split unevenly between cores (7 rows at batch 1,
14²), where the three passes split finely, and gain nothing there (1.18 against 1.15 ms, one thread;
two threads 0.58 against 0.70 ms a call)."""

_Loop = s_tir.schedule.LoopRV


def _product_tile(tiles: int, channels: int, lanes: int, row_tiles: int | None = None) -> tuple[int, int]:
    """A product's register tile within a run of `tiles` tiles (one row of them, or all of them):
    (vectors of output channels, two where the channels fill pairs of vectors; tiles, the largest
    divisor of the run keeping tiles x vectors within the packed conv's TILE_ACCUMULATORS). Over a
    run of several rows of `row_tiles` tiles, a register tile either divides a row or spans whole
    rows: one that ends inside a row (7 of 14 tiles in rows of 2) computed wrong results once lowered
    (192 channels at 13 x 3, 2.6 off; TVM's simplification of the fused tile index, as for roll)."""
    vectors = 2 if channels % (2 * lanes) == 0 else 1
    most = TILE_ACCUMULATORS // vectors
    fits = [
        size for size in range(1, most + 1)
        if tiles % size == 0 and (row_tiles is None or row_tiles % size == 0 or size % row_tiles == 0)
    ]
    return vectors, max(fits)


class WinogradConv(ScheduleRule):
    """The Winograd schedule (see the module docstring)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        product = marked_block(sch, "winograd_product")
        transform = marked_block(sch, "winograd_input")
        output = marked_block(sch, "winograd_output")
        if product is None or transform is None or output is None:
            return None
        pads = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == "pad"]
        inline_injective(sch, keep=(transform, product, output, *pads))
        weight = next(region.source for region in sch.get(product).reads if len(region.region) == 5)
        lanes = int(weight.shape[-1])
        tile = int(sch.get(output).annotations["fx2relax.tile"])
        weight_bytes = math.prod(int(extent) for extent in weight.shape) * tvm.DataType(weight.dtype).bits // 8
        windows = [block for block in sch.get_consumers(output) if _reduces_windows(sch, block)]
        if windows and param_index(func, sch.get(output).writes[0].source) is None:  # a pooling after the conv
            sch.transform_layout(output, ("write", 0), lambda n, o, h, w: (n, o // lanes, h, w, o % lanes))
        row_loop = None  # the parallel loop over rows of tiles of the row-blocked schedule
        if _row_blocked_pays(sch, output, tile, weight_bytes):
            row_loop = _schedule_row_blocked(sch, transform, product, output, tile, lanes)
        else:
            _schedule_input_transform(sch, transform, lanes)
            _schedule_product(sch, product, lanes)
            _schedule_output_transform(sch, output, tile, lanes)
        for block in sch.get_consumers(output):  # a consumer not inlined (e.g. a pooling)
            if is_among(sch, block, windows):
                schedule_blocked_pooling(sch, block, lanes)
            else:
                parallelize_outer(sch, block)
        for pad in pads:
            if any(read.source.same_as(sch.get(pad).writes[0].source) for read in sch.get(transform).reads):
                _channels_last(sch, pad, lanes, row_loop)
            else:
                parallelize_outer(sch, pad)
        return sch


def _reduces_windows(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """Whether a consumer of the output transform is a window reduction over the planes (a pooling:
    (batch, channel, row, column) outputs, two reduced axes)."""
    iter_vars = sch.get(block).iter_vars
    return len(iter_vars) == 6 and [v.iter_type for v in iter_vars].count(tirx.IterVar.CommReduce) == 2


def _row_blocked_pays(sch: s_tir.Schedule, output: s_tir.schedule.SBlockRV, tile: int, weight_bytes: int) -> bool:
    """Whether the row-blocked schedule beats three passes: weights that fit L2, or L3 with enough
    rows, each of enough tiles."""
    image, _, out_row, out_column = (static_extent(sch.get(loop).extent) for loop in sch.get_loops(output))
    rows, row_tiles = image * -(-out_row // tile), -(-out_column // tile)
    return weight_bytes <= ROW_BLOCKED_MAX_WEIGHT_BYTES or (
        weight_bytes <= ROW_BLOCKED_MAX_L3_WEIGHT_BYTES and rows >= ROW_BLOCKED_MIN_ROWS
        and row_tiles >= ROW_BLOCKED_MIN_ROW_TILES
    )


def _channels_last(sch: s_tir.Schedule, pad: s_tir.schedule.SBlockRV, lanes: int, row_loop: _Loop | None) -> None:
    """Store the zero-padded input [N, C, H, W] as [N, H, W, C], so the input transform reads a
    vector of channels with one load instead of gathering it lane by lane (which also takes LLVM
    long to emit), a vector of channels at a time. Under `row_loop` (row-blocked), each row of
    tiles copies the input rows it reads into a buffer of its own that stays in cache, instead of
    a pass over the whole padded input through memory first; else (image, row) run in parallel."""
    sch.transform_layout(pad, ("write", 0), lambda n, c, h, w: (n, h, w, c))
    if row_loop is not None:
        sch.compute_at(pad, row_loop, preserve_unit_loops=True)
    image, channel, row, column = sch.get_loops(pad)[-4:]
    sch.reorder(image, row, column, channel)
    if row_loop is None:
        sch.parallel(sch.fuse(image, row))
    channels = static_extent(sch.get(channel).extent)
    if channels % lanes == 0:
        _, lane = sch.split(channel, factors=[None, lanes])
        sch.vectorize(lane)


def _schedule_row_blocked(
    sch: s_tir.Schedule, transform: s_tir.schedule.SBlockRV, product: s_tir.schedule.SBlockRV,
    output: s_tir.schedule.SBlockRV, tile: int, lanes: int,
) -> _Loop:
    """One row of tiles at a time, in parallel: its input transform (all channels), then per block
    of output channels its products (register tiles as `_schedule_product`) and output transform,
    all in cache. Returns the parallel loop over rows."""
    channels = static_extent(sch.get(sch.get_loops(product)[5]).extent)
    columns = static_extent(sch.get(sch.get_loops(product)[4]).extent)
    vectors, rows = _product_tile(columns, channels, lanes)
    image, channel, out_row, out_column = sch.get_loops(output)
    tile_row, row_in_tile = sch.split(out_row, factors=[None, tile])
    tile_column, column_in_tile = sch.split(out_column, factors=[None, tile])
    channel_block, channel_vector, lane = sch.split(channel, factors=[None, vectors, lanes])
    sch.reorder(image, tile_row, channel_block, tile_column, channel_vector, row_in_tile, column_in_tile, lane)
    outer = sch.fuse(image, tile_row)
    sch.parallel(outer)
    sch.unroll(row_in_tile)
    sch.unroll(column_in_tile)
    sch.vectorize(lane)
    sch.compute_at(product, channel_block, preserve_unit_loops=True)
    sch.compute_at(transform, outer, preserve_unit_loops=True)
    # the row's products for the block of output channels: (row, column, 1, 1, tile, channel, reduction)
    row, column, _, _, tile_column, channel, reduction = sch.get_loops(product)[2:]
    channel_vector, lane = sch.split(channel, factors=[vectors, lanes])
    column_block, column_in_block = sch.split(tile_column, factors=[None, rows])
    sch.reorder(row, column, column_block, reduction, channel_vector, column_in_block, lane)
    _accumulate_in_registers(sch, product, column_block, lanes)
    # the row's input transform: (row, column, 1, 1, tile, channel)
    row, column, _, _, tile_column, channel = sch.get_loops(transform)[1:]
    _vector_of_channels_per_tile(sch, row, column, tile_column, channel, lanes)
    return outer


def _vector_of_channels_per_tile(
    sch: s_tir.Schedule, row: _Loop, column: _Loop, tile: _Loop, channel: _Loop, lanes: int
) -> None:
    """An input transform's loops → (tile, channel block, row, column, channel lane), the transform
    positions unrolled and the lanes vectorised (a scalar channel loop when vectors do not fill it)."""
    if static_extent(sch.get(channel).extent) % lanes == 0:
        channel_block, lane = sch.split(channel, factors=[None, lanes])
        sch.reorder(tile, channel_block, row, column, lane)
        sch.vectorize(lane)
    else:
        sch.reorder(tile, channel, row, column)
    sch.unroll(row)
    sch.unroll(column)


def _accumulate_in_registers(sch: s_tir.Schedule, product: s_tir.schedule.SBlockRV, anchor: _Loop, lanes: int) -> None:
    """A product whose innermost loops are (reduction, channel vector, tile, lane): accumulated in
    registers under `anchor` (the FMA loop vectorised, the rest unrolled) and stored once per tile."""
    *_, reduction, channel_vector, tile, lane = sch.get_loops(product)
    accumulators = sch.cache_write(product, 0, "local")
    sch.reverse_compute_at(accumulators, anchor, preserve_unit_loops=True)
    sch.vectorize(lane)
    sch.unroll(tile)
    sch.unroll(channel_vector)
    sch.decompose_reduction(product, reduction)
    *_, store_tile, store_channel = sch.get_loops(accumulators)
    _, store_lane = sch.split(store_channel, factors=[None, lanes])
    sch.vectorize(store_lane)
    sch.unroll(store_tile)


def _schedule_input_transform(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """Loops (row, column, image, tile row, tile column, channel) → (tile, channel block, row,
    column, channel lane): one tile's transform for a vector of channels at a time, the transform
    positions unrolled."""
    row, column, *tile_loops, channel = sch.get_loops(block)
    tile = sch.fuse(*tile_loops)
    _vector_of_channels_per_tile(sch, row, column, tile, channel, lanes)
    sch.parallel(tile)


def _schedule_product(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """Loops (row, column, image, tile row, tile column, out channel, in channel) → register tiles
    of tiles (of all rows of an image: at 7², 4 tiles a row would hold 8 accumulators instead of 16)
    x output channel vectors, accumulated in registers over the input channels and stored once.
    Of the transformed inputs (tiles x channels) and weights (channels x out channels) of
    one transform position, the larger is swept once, in the outer loop, while the smaller is
    read again from cache."""
    row, column, image, tile_row, tile_column, channel, reduction = sch.get_loops(block)
    channels = static_extent(sch.get(channel).extent)
    tiles = loop_work(sch, [image, tile_row, tile_column])
    # a register tile within one image: one across two (8 of ResNet's 49 tiles a 14² image at batch
    # 8) computed wrong results once lowered, 3.99 off at 256 channels
    row_tiles = static_extent(sch.get(tile_column).extent)
    vectors, rows = _product_tile(loop_work(sch, [tile_row, tile_column]), channels, lanes, row_tiles)
    channel_block, channel_vector, lane = sch.split(channel, factors=[None, vectors, lanes])
    tile_block, tile_in_block = sch.split(sch.fuse(image, tile_row, tile_column), factors=[None, rows])
    blocks = (tile_block, channel_block) if tiles >= channels else (channel_block, tile_block)
    sch.reorder(row, column, *blocks, reduction, channel_vector, tile_in_block, lane)
    outer = sch.fuse(row, column, *blocks)
    sch.parallel(outer)
    _accumulate_in_registers(sch, block, outer, lanes)


def _schedule_output_transform(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, tile: int, lanes: int) -> None:
    """Loops (image, channel, row, column) → (image, tile row, tile column, channel block, row in
    tile, column in tile, channel lane): one tile for a vector of output channels at a time."""
    image, channel, row, column = sch.get_loops(block)
    tile_row, row_in_tile = sch.split(row, factors=[None, tile])
    tile_column, column_in_tile = sch.split(column, factors=[None, tile])
    channel_block, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(image, tile_row, tile_column, channel_block, row_in_tile, column_in_tile, lane)
    sch.parallel(sch.fuse(image, tile_row))
    sch.unroll(row_in_tile)
    sch.unroll(column_in_tile)
    sch.vectorize(lane)
