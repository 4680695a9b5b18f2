"""The rule for reductions over an activation's trailing axes into one value per leading position:
global average pooling ([N, C, H, W] → [N, C, 1, 1], squeeze-and-excitation's squeeze), sums,
means and extremes over the last axes.

Generic runs one position's reduction after the other, each one chain of dependent adds (a
float64 sum over a 14x14 plane waits on the add's latency at every element: RegNet's 208-channel
mean took 33 µs). Here CHAINS positions (channels) are reduced side by side, their accumulators
in registers, so that many independent chains hide the latency; each still runs over its own
elements in the unscheduled order, so results equal `build`'s (NaN and inf included). Blocks of
positions run in parallel where the input is large enough, and an element-wise epilogue (the
mean's division and cast) runs on each block's results. An input that layout.BlockChannels stored
channel-blocked, [N, C / L, H, W, L], is reduced over its planes a vector of L channels at a time:
the chains are the L lanes, each tap one contiguous load (of any plane size).
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from .elementwise import channel_block_lanes, unblocked_indices
from .generic import PARALLEL_MIN_ELEMENTS, inline_injective, largest_divisor, loop_work, static_extent, top_blocks

CHAINS = 8
"""Positions reduced side by side (at most; the largest divisor of the innermost axis of more
than one position, the channels of a global pool): enough
independent adds to cover a float64 add's latency at two adds per cycle."""

PARALLEL_MIN_INPUT = 2 * PARALLEL_MIN_ELEMENTS
"""Fewest input elements for the blocks of positions to run in parallel (not tuned: twice the
outputs an element-wise function needs, RegNet's 1x208x14x14 pool in parallel, 1x440x7x7 not)."""

MIN_REDUCED = 16
"""Fewest elements per position for the rule: shorter reductions gain nothing from the chains."""


def reduces_trailing_axes(block: s_tir.SBlock) -> bool:
    """Whether a block's reduce iterators index the trailing axes of its one read, in order, and
    only its own spatial iterators index the leading ones (as kernels.reduction's reductions over
    the last axes, kept or not); a channel-blocked read as the [N, C, H, W] it stores."""
    spatial = [v.var for v in block.iter_vars if v.iter_type == tirx.IterVar.DataPar]
    reduced = [v.var for v in block.iter_vars if v.iter_type == tirx.IterVar.CommReduce]
    if not reduced or len(spatial) + len(reduced) != len(block.iter_vars) or len(block.reads) != 1:
        return False
    if any(static_extent(r.extent) != 1 for r in block.reads[0].region):
        return False
    indices = unblocked_indices(block.reads[0])
    if len(indices) <= len(reduced):
        return False
    leading, trailing = indices[:-len(reduced)], indices[-len(reduced):]
    return all(index.same_as(var) for index, var in zip(trailing, reduced)) and all(
        any(index.same_as(var) for var in spatial) for index in leading
    )


def _element_wise_after(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, reduction: s_tir.SBlock) -> bool:
    """Whether a block is element-wise over the reduction's output: spatial only, its iterators
    as many and as long as that output's axes."""
    iter_vars = sch.get(block).iter_vars
    shape = [static_extent(d) for d in reduction.writes[0].source.shape]
    return (
        all(v.iter_type == tirx.IterVar.DataPar for v in iter_vars)
        and [static_extent(v.dom.extent) for v in iter_vars] == shape and None not in shape
    )


class TrailingAxesReduction(ScheduleRule):
    """A reduction over trailing axes and its element-wise epilogue (see the module docstring)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        blocks = top_blocks(sch)
        reductions = [b for b in blocks if any(v.iter_type == tirx.IterVar.CommReduce for v in sch.get(b).iter_vars)]
        if len(reductions) != 1 or not reduces_trailing_axes(sch.get(reductions[0])):
            return None
        reduction = reductions[0]
        lanes = channel_block_lanes(sch.get(reduction).reads[0])  # reduced a vector of channels at a time
        loops = sch.get_loops(reduction)
        reduced_count = sum(1 for v in sch.get(reduction).iter_vars if v.iter_type == tirx.IterVar.CommReduce)
        spatial, taps = loops[:-reduced_count], loops[-reduced_count:]
        positions, per_position = loop_work(sch, spatial), loop_work(sch, taps)
        if positions is None or per_position is None or positions < 2 or (per_position < MIN_REDUCED and lanes is None):
            return None
        inline_injective(sch, keep=(reduction,))
        if not reduces_trailing_axes(sch.get(reduction)):  # a producer inlined into it reads otherwise
            return None
        epilogue = [b for b in top_blocks(sch) if not sch.get(b).same_as(sch.get(reduction))]
        if any(not _element_wise_after(sch, b, sch.get(reduction)) for b in epilogue):
            return None
        if sch.get_producers(reduction):  # a producer that could not be inlined: not this rule's case
            return None
        # The chains split the innermost spatial axis longer than 1 (with the unit axes after it);
        # fusing across axes first would make the chains' region straddle two outer positions.
        extents = [static_extent(sch.get(loop).extent) for loop in spatial]
        last = max(index for index, extent in enumerate(extents) if extent > 1)
        if lanes is not None and not _indexes_channels(sch.get(reduction), last, extents[last], lanes):
            return None
        inner = sch.fuse(*spatial[last:]) if len(spatial) - last > 1 else spatial[last]
        inner_outer, chain = sch.split(inner, factors=[None, lanes or largest_divisor(extents[last], CHAINS)])
        outer = sch.fuse(*spatial[:last], inner_outer) if last else inner_outer
        sch.reorder(outer, *taps, chain)
        accumulators = sch.cache_write(reduction, 0, "local")
        sch.reverse_compute_at(accumulators, outer, preserve_unit_loops=True)
        for block in epilogue:
            sch.reverse_compute_at(block, outer, preserve_unit_loops=True)
        if positions * per_position >= PARALLEL_MIN_INPUT:
            sch.parallel(outer)
        if lanes is None:
            sch.unroll(chain)
            sch.decompose_reduction(reduction, taps[0])
        else:  # the lanes are the chains: one vector of accumulators, one contiguous load per tap
            sch.vectorize(chain)
            sch.decompose_reduction(reduction, taps[0])
        return sch


def _indexes_channels(block: s_tir.SBlock, axis: int, extent: int, lanes: int) -> bool:
    """Whether the reduction's spatial iterator `axis` (of its loop of `extent`) is the channel c
    its channel-blocked read indexes, [n, c // lanes, h, w, c % lanes], over whole blocks of lanes."""
    spatial = [v.var for v in block.iter_vars if v.iter_type == tirx.IterVar.DataPar]
    return spatial[axis].same_as(unblocked_indices(block.reads[0])[1]) and extent % lanes == 0
