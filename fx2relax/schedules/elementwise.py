"""The rule for element-wise and broadcast functions (an activation, a scale by per-channel factors,
a broadcast add; alone or fused): after inlining, one block whose every read indexes its buffer by
the block's own iterators in order, or by 0 on a broadcast axis. Its innermost axes that every read
indexes alike (all by their iterators, or all broadcast: so no read becomes a gather) are fused and
vectorised when they hold a whole number of vectors, the rest run in parallel when there is enough
work; Generic would leave the loops scalar (a squeeze-and-excitation scale of 1x120x28x28 by
1x120x1x1 took 318 µs on one core, 79 vectorised). A last axis of more than a vector but no whole
number of them runs alone in whole vectors and a scalar tail, the axes before it in parallel: fused
with them, a vector crossed rows, each lane's index a division and a remainder (gathers; x * s +
bias over LeViT's 1x4x196x196 scores, two threads: 146 -> 37-50 µs; 8x64x28x28: 440 -> 86 µs).
A function whose output layout.BlockChannels stored channel-blocked, [N, C / L, H, W, L], runs over
(image, channel block, row, column) instead, each position's L channels one vector: its blocked
operands are read and its output stored contiguously, a per-channel operand [N, C, 1, 1] read as
one contiguous vector too. A copy whose reads are contiguous over each vector of its innermost loop
(a reshape, permute or slice that keeps the last axis: attention's heads and windows; a permute of a
blocked tensor into [N, H, W, C]) runs that loop in vectors (`vectorize_contiguous_copy`). Each lane
computes what the scalar loop would: results do not change.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, sym, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import BLOCKED_PARAMS
from .generic import (
    PARALLEL_MIN_ELEMENTS,
    inline_injective,
    loop_work,
    output_dtype,
    parallelize_outer,
    static_extent,
    top_blocks,
    vectorize_whole_vectors,
)
from .vectors import vector_unit


def indexed_axes(block: s_tir.SBlock) -> list[set[int]] | None:
    """For each read of the block, the positions of the block iterators it indexes by; None unless
    every read is element-wise or a broadcast of one (each index one of the iterators, in the order
    they nest, or the constant 0, over one element; a channel-blocked read as the [N, C, H, W] it stores)."""
    indexed = []
    for read in block.reads:
        positions = read_positions(block, read)
        if positions is None or positions != sorted(set(positions)):
            return None
        indexed.append(set(positions))
    return indexed


def read_positions(block: s_tir.SBlock, read: tirx.BufferRegion) -> list[int] | None:
    """The positions of the block iterators a one-element read indexes its buffer by, in the
    buffer's axis order (a channel-blocked buffer's as the [N, C, H, W] it stores), constant-0
    indices (a broadcast or unit axis) left out; None where an index is any other expression."""
    iterators = [iter_var.var for iter_var in block.iter_vars]
    if any(static_extent(axis.extent) != 1 for axis in read.region):
        return None
    positions: list[int] = []
    for index in unblocked_indices(read):
        if isinstance(index, tirx.IntImm) and index.value == 0:
            continue
        found = next((i for i, var in enumerate(iterators) if var.same_as(index)), None)
        if found is None:
            return None
        positions.append(found)
    return positions


def unblocked_indices(read: tirx.BufferRegion) -> list[tirx.PrimExpr]:
    """The indices of a read of a channel-blocked buffer, [n, c // L, h, w, c % L] (or [n, 0, h, w, c]
    where the buffer holds one block), as those of the [N, C, H, W] tensor it stores, [n, c, h, w];
    any other read's indices as they are."""
    indices = [axis.min for axis in read.region]
    if channel_block_lanes(read) is None:
        return indices
    block, lane = indices[1], indices[-1]
    return [indices[0], lane if isinstance(block, tirx.IntImm) else block.a, indices[2], indices[3]]


def channel_block_lanes(read: tirx.BufferRegion) -> int | None:
    """L where a read indexes a channel-blocked buffer as [n, c // L, h, w, c % L], or as
    [n, 0, h, w, c] where the buffer is one block of L channels (TIR simplifies c // L to 0 and
    c % L to c there: MNASNet's 16 channels at 16 lanes); else None."""
    indices = [axis.min for axis in read.region]
    if len(indices) != 5:
        return None
    block, lane = indices[1], indices[-1]
    if isinstance(block, tirx.FloorDiv) and isinstance(lane, tirx.FloorMod) and block.a.same_as(lane.a):
        lanes = static_extent(block.b)
        return lanes if lanes is not None and lanes == static_extent(lane.b) else None
    shape = [static_extent(dim) for dim in read.source.shape]
    one_block = isinstance(block, tirx.IntImm) and block.value == 0 and shape[1] == 1 and isinstance(lane, tirx.Var)
    return shape[4] if one_block else None


def _uniform_inner_axes(indexed: list[set[int]], rank: int) -> int:
    """How many innermost axes every read indexes alike (each read by all of them or by none)."""
    count = 1
    while count < rank and all((rank - count - 1 in axes) == (rank - 1 in axes) for axes in indexed):
        count += 1
    return count


class VectorizedElementwise(ScheduleRule):
    """Element-wise and broadcast functions: innermost loops fused to whole vectors, vectorised, outer loops in parallel."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        inline_injective(sch)
        blocks = top_blocks(sch)
        if len(blocks) != 1:
            return None
        if len(func.params) - 1 in [int(index) for index in (func.attrs or {}).get(BLOCKED_PARAMS, [])]:  # stored channel-blocked
            return sch if vectorize_channel_blocks(sch, blocks[0]) else None
        lanes = vector_unit(target).lanes(output_dtype(sch, blocks[0]))
        if vectorize_elementwise(sch, blocks[0], lanes):
            return sch
        return sch if vectorize_contiguous_copy(sch, blocks[0], lanes) else None


def vectorize_channel_blocks(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """An element-wise or broadcast block over [N, C, H, W] (loops (n, c, h, w)) that writes its
    output channel-blocked, [N, C / L, H, W, L] (layout.BlockChannels): (image, channel block, row)
    in parallel when there is enough work, each position's L channels one vector, stored
    contiguously. Whether it fits (else nothing changes)."""
    written = sch.get(block).writes[0].source
    loops = sch.get_loops(block)
    lanes = static_extent(written.shape[-1]) if len(written.shape) == 5 else None
    if lanes is None or len(loops) != 4 or any(v.iter_type != tirx.IterVar.DataPar for v in sch.get(block).iter_vars):
        return False
    batch, channel, row, column = loops
    work = loop_work(sch, loops)
    if static_extent(sch.get(channel).extent) is None or static_extent(sch.get(channel).extent) % lanes:
        return False
    channel_block, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(batch, channel_block, row, column, lane)
    if work is None or work >= PARALLEL_MIN_ELEMENTS:
        sch.parallel(sch.fuse(batch, channel_block, row))
    sch.vectorize(lane)
    return True


def vectorize_elementwise(sch: s_tir.Schedule, block_rv: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Schedule one element-wise or broadcast block as the module docstring says (vectors of
    `lanes`; rows of more than a vector but no whole number of them in whole vectors and a scalar
    tail); whether it fits (else nothing changes)."""
    block = sch.get(block_rv)
    indexed = indexed_axes(block)
    loops = sch.get_loops(block_rv)
    if indexed is None or not loops or any(iter_var.iter_type != tirx.IterVar.DataPar for iter_var in block.iter_vars):
        return False
    row = static_extent(sch.get(loops[-1]).extent)
    if row is not None and row > lanes and row % lanes:  # see the module docstring
        parallelize_outer(sch, block_rv)
        vectorize_whole_vectors(sch, sch.get_loops(block_rv)[-1], lanes)
        return True
    fused = _uniform_inner_axes(indexed, len(loops))
    vector_work = loop_work(sch, loops[len(loops) - fused :])
    if vector_work is None or vector_work % lanes:
        return False
    total = loop_work(sch, loops)
    inner = sch.fuse(*loops[len(loops) - fused :]) if fused > 1 else loops[-1]
    vectors, lane = sch.split(inner, factors=[None, lanes])
    sch.vectorize(lane)
    if total is None or total >= PARALLEL_MIN_ELEMENTS:
        outer = [*loops[: len(loops) - fused], vectors]
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else vectors)
    return True


def vectorize_contiguous_copy(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """A block that writes its output in order and, over each aligned vector of its innermost
    iterator, reads consecutive elements of each buffer (or one element): a reshape, permute or
    slice that keeps the last axis, or splits it or merges it into runs of whole vectors (Swin's
    and ViT's split of q, k and v into heads and their merge, its windows), or a permute of a
    channel-blocked tensor into [N, H, W, C] (ConvNeXt's, before its layer norms). The
    outer loops run in parallel when there is enough work, the innermost in vectors of `lanes` (or
    a half or quarter vector of 4 lanes or more: the widest that divides it and fits), each a
    contiguous load and store; Generic left it scalar (Swin-T's 3 x 3.6 MB qkv splits: 5.8 GB/s).
    Whether it fits (else nothing changes)."""
    loops, written = sch.get_loops(block), sch.get(block)
    iter_vars = written.iter_vars
    if (
        not loops or len(loops) != len(iter_vars) or any(v.iter_type != tirx.IterVar.DataPar for v in iter_vars)
        or read_positions(written, written.writes[0]) != list(range(len(iter_vars)))
        or any(static_extent(axis.extent) != 1 for read in written.reads for axis in read.region)
    ):
        return False
    extent = static_extent(sch.get(loops[-1]).extent)
    width = next(
        (
            w for w in (lanes, lanes // 2, lanes // 4)
            if w >= 4 and extent is not None and extent % w == 0 and _contiguous_in_vectors(written, w)
        ),
        None,
    )
    if width is None:
        return False
    parallelize_outer(sch, block)
    _, lane = sch.split(sch.get_loops(block)[-1], factors=[None, width])
    sch.vectorize(lane)
    return True


def _contiguous_in_vectors(block: s_tir.SBlock, width: int) -> bool:
    """Whether, for the innermost iterator running over `width` consecutive values from a multiple
    of `width`, every read of `block` reads consecutive elements of its buffer (its flattened offset
    steps by 1 from lane to lane) or one element. The iterator is written as vector * width + lane
    and each index simplified within the iterators' ranges (a reshape's unravelled index then
    counts); so a per-channel [C, 1, 1] operand, or a channel-blocked buffer's lanes, count too."""
    iter_vars = block.iter_vars
    innermost = iter_vars[-1]
    dtype = str(innermost.var.ty)
    vector, lane = tirx.Var("vector", dtype), tirx.Var("lane", dtype)
    analyzer = sym.Analyzer()
    for iter_var in iter_vars[:-1]:
        analyzer.bind(iter_var.var, iter_var.dom)
    for var, count in ((vector, static_extent(innermost.dom.extent) // width), (lane, width)):
        analyzer.bind(var, tvm.ir.Range.from_min_extent(tirx.IntImm(dtype, 0), tirx.IntImm(dtype, count)))
    split = [iter_var.var for iter_var in iter_vars[:-1]] + [vector * tirx.IntImm(dtype, width) + lane]
    for read in block.reads:
        indices = tirx.IndexMap([iter_var.var for iter_var in iter_vars], [axis.min for axis in read.region], None).map_indices(split)
        step, stride = 0, 1  # the flattened offset's coefficient of lane
        for index, extent in reversed(list(zip(indices, (static_extent(d) for d in read.source.shape)))):
            linear = sym.detect_linear_equation(analyzer.simplify(index), [lane])
            if not linear or static_extent(linear[0]) is None or extent is None:
                return False
            step, stride = step + static_extent(linear[0]) * stride, stride * extent
        if step not in (0, 1):
            return False
    return True
