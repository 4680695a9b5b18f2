"""Schedule of kernels.winograd.winograd_conv2d and its fused element-wise consumer.

Three passes over memory, each in parallel: the input transform, one (tile, vector of input
channels) at a time with the channels as the vector axis and the transform unrolled (its
coefficients then fold into adds and a few multiplies); the batched product, register tiles of
up to GEMM_TILE_ROWS tiles x one or two vectors of output channels accumulating over the input
channels in order, one broadcast transformed input times one vector of transformed weights per
FMA (as the packed conv); and the output transform, one tile x one vector of output channels at a
time, with the consumer (bias, residual add, ReLU) inlined so the result is stored once.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import marked_kernel
from .generic import inline_injective, marked_block, parallelize_outer, static_extent, top_blocks

GEMM_TILE_ROWS = 12
"""At most this many tiles of a product's register tile (with two vectors of output channels,
24 of AVX-512's 32 registers accumulate, as the packed conv's TILE_ACCUMULATORS)."""


def _row_tile(rows: int, most: int) -> int:
    """The largest divisor of `rows` up to `most`."""
    return max(tile for tile in range(1, most + 1) if rows % tile == 0)


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
        lanes = next(int(region.source.shape[-1]) for region in sch.get(product).reads if len(region.region) == 5)
        tile = int(sch.get(output).annotations["fx2relax.tile"])
        _schedule_input_transform(sch, transform, lanes)
        _schedule_product(sch, product, lanes)
        _schedule_output_transform(sch, output, tile, lanes)
        for block in sch.get_consumers(output):  # a consumer not inlined (e.g. a pooling)
            parallelize_outer(sch, block)
        for pad in pads:
            parallelize_outer(sch, pad)
        return sch


def _schedule_input_transform(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """Loops (row, column, tile, channel) → (tile, channel block, row, column, channel lane): one
    tile's transform for a vector of channels at a time, the transform positions unrolled."""
    row, column, tile, channel = sch.get_loops(block)
    channels = static_extent(sch.get(channel).extent)
    if channels % lanes == 0:
        channel_block, lane = sch.split(channel, factors=[None, lanes])
        sch.reorder(tile, channel_block, row, column, lane)
        sch.vectorize(lane)
    else:
        sch.reorder(tile, channel, row, column)
    sch.parallel(tile)
    sch.unroll(row)
    sch.unroll(column)


def _schedule_product(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """Loops (row, column, tile, out channel, in channel) → register tiles of tiles x output channel
    vectors, accumulated in registers over the input channels and stored once. Of the transformed
    inputs (tiles x channels) and weights (channels x out channels) of one transform position, the
    larger is swept once, in the outer loop, while the smaller is read again from cache."""
    row, column, tile, channel, reduction = sch.get_loops(block)
    tiles, channels = (static_extent(sch.get(loop).extent) for loop in (tile, channel))
    vectors = 2 if channels % (2 * lanes) == 0 else 1
    rows = _row_tile(tiles, GEMM_TILE_ROWS * 2 // vectors)
    channel_block, channel_vector, lane = sch.split(channel, factors=[None, vectors, lanes])
    tile_block, tile_row = sch.split(tile, factors=[None, rows])
    blocks = (tile_block, channel_block) if tiles >= channels else (channel_block, tile_block)
    sch.reorder(row, column, *blocks, reduction, channel_vector, tile_row, lane)
    outer = sch.fuse(row, column, *blocks)
    accumulators = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(accumulators, outer, preserve_unit_loops=True)
    sch.parallel(outer)
    sch.vectorize(lane)
    sch.unroll(tile_row)
    sch.unroll(channel_vector)
    sch.decompose_reduction(block, reduction)
    *_, store_tile, store_channel = sch.get_loops(accumulators)
    _, store_lane = sch.split(store_channel, factors=[None, lanes])
    sch.vectorize(store_lane)
    sch.unroll(store_tile)


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
