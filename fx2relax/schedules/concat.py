"""Concatenation, alone or with the element-wise epilogue fused after it (DenseNet's
torch.cat → batch norm → ReLU): one loop nest per input, each a straight copy.

Inlined as it is, a concatenation chooses its input per element through a chain of selects (one per
input, DenseNet's 24 of them, twice over when ReLU reads the value twice), and runs at a tenth of
memory speed. Here the loop of the concatenated axis is partitioned at the inputs' boundaries
(`loop_partition`): in each part the selects' conditions are known, so lowering folds the chain to
the one read that part makes. The axes after the concatenated one, contiguous in the input and the
output, form one vectorised run, along which per-channel epilogue terms (batch norm's scale) are
invariant. The axes before it (a batch of several) run in parallel, all parts in one loop; with a
batch of one the copies run on one core. Cutting the runs into pieces for the threads instead made
DenseNet's concatenations 2-5x slower even on one thread (short runs, the per-channel terms
recomputed per piece; 1x1024x7x7 0.015 -> 0.052 ms), and a parallel loop per part costs a
thread-pool launch per input. Partitioning and the loop order change no arithmetic.

Channels stored blocked ([N, C / L, H, W, L], layout.BlockChannels: SqueezeNet's and Inception's
concatenated conv outputs, read by the next conv) are joined a vector of L channels at a time: the
channel loop split into blocks and lanes, the lanes innermost and vectorised, the blocks
partitioned at the inputs' boundaries (each a whole number of blocks). A max pooling fused after
the concatenation (SqueezeNet's) runs the same way, its window unrolled and its maximum kept in a
register per output position (1x128x27x27 from two 1x64x55x55, one thread: 394 -> 36 us). A max
pooling of one of the inputs (Inception-v3's reduction blocks) is a loop nest of its own before the
copies, storing blocked (`_pool_blocked`).
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import BLOCKED_PARAMS, marked_kernel
from .generic import (
    PARALLEL_MIN_ELEMENTS,
    inline_injective,
    loop_work,
    marked_block,
    output_dtype,
    static_extent,
    top_blocks,
    vectorize_last,
    window_result_in_registers,
)
from .pooling import schedule_blocked_pooling
from .vectors import vector_unit


class Concatenation(ScheduleRule):
    """A function of one concatenation along an axis of static boundaries (kernels.shape.concatenate),
    whatever injective stages fused into it, when they all inline into one spatial loop nest of the
    concatenation's shape."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        concat = marked_block(sch, "concatenate")
        if concat is None:
            return None
        annotations = sch.get(concat).annotations
        if "fx2relax.offsets" not in annotations:  # a symbolic size along the axis
            return None
        axis = int(annotations["fx2relax.axis"])
        offsets = [int(offset) for offset in annotations["fx2relax.offsets"]]
        shape = [static_extent(iter_var.dom.extent) for iter_var in sch.get(concat).iter_vars]
        inline_injective(sch)
        *pools, block = top_blocks(sch)
        if axis == 1 and len(func.params[-1].shape) == 5 and len(func.attrs.get(BLOCKED_PARAMS, [])):
            lanes = int(func.params[-1].shape[-1])
            if not all(_pool_blocked(sch, pool, lanes) for pool in pools):
                return None
            return sch if _blocked_channels(sch, block, offsets, lanes) else None
        if pools:
            return None
        loops = sch.get_loops(block)
        iter_vars = sch.get(block).iter_vars
        if (
            len(loops) != len(shape)
            or any(iter_var.iter_type != tirx.IterVar.DataPar for iter_var in iter_vars)
            or [static_extent(sch.get(loop).extent) for loop in loops] != shape
            or None in shape[axis:]
        ):
            return None
        dtype = output_dtype(sch, block)
        lanes = vector_unit(target).lanes(dtype) if dtype != "bool" else 1
        head, tail = loops[:axis], loops[axis + 1 :]
        run = math.prod(shape[axis + 1 :])  # the contiguous elements after one index of the axis
        outer = None  # the loop to run in parallel: the axes before the concatenated one, a batch of several
        if head and (None in shape or math.prod(shape) >= PARALLEL_MIN_ELEMENTS and math.prod(shape[:axis]) > 1):
            outer = sch.fuse(*head) if len(head) > 1 else head[0]
        sizes = [end - start for start, end in zip(offsets, offsets[1:])]
        parts = sch.loop_partition(loops[axis], [*sizes[:-1], None]) if len(sizes) > 1 else [loops[axis]]
        if tail:  # (along the last axis, each part's loop starts at its offset: TIR splits no such loop)
            for part in parts:
                (copy,) = sch.get_child_blocks(part)
                _vectorize_run(sch, copy, len(tail), run, lanes)
        if outer is not None:
            sch.parallel(outer)
        return sch


def _vector_width(run: int, lanes: int) -> int:
    """The widest power of two up to `lanes` that divides `run`."""
    return next(width for width in (lanes >> shift for shift in range(lanes.bit_length())) if width and run % width == 0)


def _vectorize_run(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, tail_loops: int, run: int, lanes: int) -> None:
    """The block's contiguous run, its `tail_loops` innermost loops fused, `run` elements,
    vectorised in the widest vectors that divide it."""
    tail = sch.get_loops(block)[-tail_loops:]
    inner = sch.fuse(*tail) if len(tail) > 1 else tail[0]
    width = _vector_width(run, lanes)
    if width > 1:
        vectorize_last(sch, inner, width)


def _pool_blocked(sch: s_tir.Schedule, pool: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Schedule a max pooling of an input of a blocked concatenation (Inception-v3's reduction
    blocks), its loops (n, c, h, w, *window), into a buffer stored blocked in `lanes` channels
    (pooling.schedule_blocked_pooling: a vector of channels per tap); the concatenation then copies
    it a vector at a time. Whether it could (a max pooling of whole vectors of channels)."""
    loops = sch.get_loops(pool)
    channels = static_extent(sch.get(loops[1]).extent) if len(loops) == 6 else None
    if marked_kernel(sch.get(pool).annotations) != "max_pool2d" or channels is None or channels % lanes:
        return False
    sch.transform_layout(pool, ("write", 0), lambda n, c, h, w: (n, c // lanes, h, w, c % lanes))
    schedule_blocked_pooling(sch, pool, lanes)
    return True


def _blocked_channels(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, offsets: list[int], lanes: int) -> bool:
    """Schedule the one block of a concatenation along channels whose output is stored blocked in
    `lanes` channels, its loops (n, c, h, w) or a pooling's (n, c, h, w, *window): a vector of
    channels at a time, the channel blocks partitioned at the inputs' boundaries; the batch in
    parallel where there is a batch and work enough, else each part with PARALLEL_MIN_ELEMENTS
    outputs or more over its channel blocks (SqueezeNet's concatenations at batch 1, two threads:
    273 -> 176 us in all). Whether it could (boundaries in whole blocks, the loops as said)."""
    loops = sch.get_loops(block)
    iter_vars = sch.get(block).iter_vars
    window = [v for v in iter_vars if v.iter_type == tirx.IterVar.CommReduce]
    spatial = len(iter_vars) - len(window)
    channels = static_extent(sch.get(loops[1]).extent) if len(loops) == len(iter_vars) else None
    if (
        spatial != 4 or any(v.iter_type != tirx.IterVar.DataPar for v in iter_vars[:4]) or channels is None
        or channels % lanes or any(offset % lanes for offset in offsets)
    ):
        return False
    batch, channel, row, column, *window_loops = loops
    outputs = loop_work(sch, loops[:4])
    channel_block, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(channel_block, row, column, *window_loops, lane)
    sizes = [(end - start) // lanes for start, end in zip(offsets, offsets[1:])]
    parts = sch.loop_partition(channel_block, [*sizes[:-1], None]) if len(sizes) > 1 else [channel_block]
    one_image = static_extent(sch.get(batch).extent) == 1
    for part, size in zip(parts, sizes):
        (copy,) = sch.get_child_blocks(part)
        part_blocks, part_row, part_column, *part_window, part_lane = sch.get_loops(copy)  # under the batch loop
        if one_image and outputs is not None and size * lanes * outputs // channels >= PARALLEL_MIN_ELEMENTS:
            sch.parallel(part_blocks)  # one launch per large part: its channel blocks over the cores
        sch.vectorize(part_lane)
        if part_window:
            window_result_in_registers(sch, copy, part_window, part_column)
    if not one_image and (outputs is None or outputs >= PARALLEL_MIN_ELEMENTS):
        sch.parallel(batch)
    return True
