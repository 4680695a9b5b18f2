"""The row rule for softmax and layer norm over the last axis: every stage computed row block by
row block, in parallel.

A function whose last stage is marked "softmax" or "layer_norm" (kernels.marks) reduces each row
(all axes but the last) to a few statistics (max, sum of exponentials; sum, sum of squared
deviations) and then maps the row's elements with them. Generic runs each stage over the whole
tensor and inlines the exponentials into both their consumers (computing each twice); here a
block of ROW_TILE rows goes through all stages while it is in L1, the exponentials computed once,
element-wise stages vectorised along the row and the reductions' rows unrolled into independent
chains. Each sum still runs over its row in order, so results equal `build`'s.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import marked_kernel
from .generic import PARALLEL_MIN_ELEMENTS, inlining_nests, is_among, loop_work, output_dtype, static_extent, top_blocks, vectorize_last
from .vectors import vector_unit

ROW_KERNELS = ("softmax", "layer_norm")
"""Kernels whose last stage marks a row function."""

ROW_TILES = (8, 4, 2, 1)
"""Rows per block, largest first: the first that divides the rows is used (8 chains hide an add's
latency), along the innermost row axis one of 2 or more divides (`_row_tile`)."""


def _row_tile(extents: list[int | None]) -> tuple[int, int]:
    """(row axis, rows per block): the innermost axis a tile of ROW_TILES from 2 rows on divides, so
    ViT's 197 tokens (prime) take their tiles across images (ViT-Ti at batch 8, two threads: its
    layer norms 90 -> 57 us a call); the last axis, 1 row, where none does."""
    for axis in reversed(range(len(extents))):
        tile = 1 if extents[axis] is None else next(t for t in ROW_TILES if extents[axis] % t == 0)
        if tile > 1:
            return axis, tile
    return len(extents) - 1, 1


def _inline_single_use(sch: s_tir.Schedule) -> None:
    """Inline each injective stage with one consumer (computing it there costs nothing more); a
    stage read by two (softmax's exponentials), or one that would nest in a large consumer, is kept."""
    for block in top_blocks(sch)[:-1]:
        consumers = sch.get_consumers(block)
        if len(consumers) != 1 or inlining_nests(sch, block, consumers[0]):
            continue
        try:
            sch.compute_inline(block)
        except s_tir.ScheduleError:
            continue


def _reduces_along_rows(block: s_tir.SBlock) -> bool:
    """Whether a stage is element-wise, or reduces over one axis that is the last index of one of its reads."""
    reduce_vars = [iter_var.var for iter_var in block.iter_vars if iter_var.iter_type == tirx.IterVar.CommReduce]
    if not reduce_vars:
        return all(iter_var.iter_type == tirx.IterVar.DataPar for iter_var in block.iter_vars)
    if len(reduce_vars) != 1 or not block.iter_vars[-1].var.same_as(reduce_vars[0]):
        return False
    return any(len(read.region) and read.region[-1].min.same_as(reduce_vars[0]) for read in block.reads)


class RowwiseReduction(ScheduleRule):
    """Softmax and layer norm over the last axis: row blocks in parallel, all stages per block."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        blocks = top_blocks(sch)
        output = blocks[-1]
        if marked_kernel(sch.get(output).annotations) not in ROW_KERNELS:
            return None
        _inline_single_use(sch)
        blocks = top_blocks(sch)
        if not all(_reduces_along_rows(sch.get(block)) for block in blocks):
            return None
        *row_loops, element_loop = sch.get_loops(output)
        rows, elements = loop_work(sch, row_loops), loop_work(sch, [element_loop])
        if not row_loops or rows is None or elements is None:
            return None
        axis, tile = _row_tile([static_extent(sch.get(loop).extent) for loop in row_loops])
        vectors = vector_unit(target)
        partials = [lane_partials(sch, block, vectors.lanes(output_dtype(sch, block))) for block in blocks[:-1]]
        partials = [block for block in partials if block is not None]
        blocks = top_blocks(sch)
        row_block, row_in_block = sch.split(row_loops[axis], factors=[None, tile])
        outer = [*row_loops[:axis], row_block, *row_loops[axis + 1:]]
        sch.reorder(*outer, row_in_block)
        for block in reversed(blocks[:-1]):
            sch.compute_at(block, outer[-1])
        parallel = sch.fuse(*outer) if len(outer) > 1 else row_block  # only now: compute_at needs affine row bindings
        if rows * elements >= PARALLEL_MIN_ELEMENTS:
            sch.parallel(parallel)
        lanes = vectors.lanes(output_dtype(sch, output))
        for block in blocks:
            inner = sch.get_loops(block)[1:]
            if not inner:
                continue
            reduce_extents = [i.dom.extent for i in sch.get(block).iter_vars if i.iter_type == tirx.IterVar.CommReduce]
            if is_among(sch, block, partials):
                vectorize_partials(sch, block, inner)
            elif not reduce_extents:
                vectorize_last(sch, inner[-1], lanes)
            elif static_extent(reduce_extents[0]) != 1:  # else compute_at left no reduce loop
                interleave_rows(sch, block, inner)
        return sch


def lane_partials(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> s_tir.schedule.SBlockRV | None:
    """For a reduction along rows of a whole number of vectors (two or more), a block of one
    partial result per vector lane (rfactor: lane j reduces the row's elements j, j + lanes, ...
    in order), which `block` then reduces per row; None (nothing changed) for any other block."""
    iter_types = [iter_var.iter_type for iter_var in sch.get(block).iter_vars]
    if tirx.IterVar.CommReduce not in iter_types:
        return None
    reduce_loop = sch.get_loops(block)[-1]
    extent = loop_work(sch, [reduce_loop])
    if extent is None or extent % lanes or extent < 2 * lanes:
        return None
    _, lane = sch.split(reduce_loop, factors=[None, lanes])
    return sch.rfactor(lane, factor_axis=len(sch.get(block).writes[0].region))


def vectorize_partials(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, inner: list) -> None:
    """The lane partials of a row block: each row's vector of partials one chain, the
    rows' chains unrolled inside the loop over the row's vectors, the lanes vectorised. (compute_at
    made the loops in the order of rfactor's block iterators: lane, rows, the row's vectors.)"""
    lane, *rows, vector_loop = inner
    sch.reorder(vector_loop, *rows, lane)
    sch.vectorize(lane)
    init = sch.decompose_reduction(block, vector_loop)
    sch.vectorize(sch.get_loops(init)[-1])
    for loop in rows:
        sch.unroll(loop)


def interleave_rows(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, inner: list) -> None:
    """A reduction's row loops unrolled inside its reduce loop: independent chains, each in order."""
    *spatial, reduce_loop = inner
    if spatial:
        sch.reorder(reduce_loop, *spatial)
    sch.decompose_reduction(block, reduce_loop)
    for loop in spatial:
        sch.unroll(loop)
