"""The rule for element-wise and broadcast functions (an activation, a scale by per-channel factors,
a broadcast add; alone or fused): after inlining, one block whose every read indexes its buffer by
the block's own iterators in order, or by 0 on a broadcast axis. Its innermost axes that every read
indexes alike (all by their iterators, or all broadcast: so no read becomes a gather) are fused and
vectorised when they hold a whole number of vectors, the rest run in parallel when there is enough
work; Generic would leave the loops scalar (a squeeze-and-excitation scale of 1x120x28x28 by
1x120x1x1 took 318 µs on one core, 79 vectorised). Each lane computes what the scalar loop would:
results do not change.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from .generic import PARALLEL_MIN_ELEMENTS, inline_injective, loop_work, output_dtype, static_extent, top_blocks
from .vectors import vector_unit


def indexed_axes(block: s_tir.SBlock) -> list[set[int]] | None:
    """For each read of the block, the positions of the block iterators it indexes by; None unless
    every read is element-wise or a broadcast of one (each index one of the iterators, in the order
    they nest, or the constant 0, over one element)."""
    iterators = [iter_var.var for iter_var in block.iter_vars]
    indexed = []
    for read in block.reads:
        positions: list[int] = []
        for axis in read.region:
            if static_extent(axis.extent) != 1:
                return None
            if isinstance(axis.min, tirx.IntImm) and axis.min.value == 0:
                continue
            found = next((i for i, var in enumerate(iterators) if var.same_as(axis.min)), None)
            if found is None or (positions and found <= positions[-1]):
                return None
            positions.append(found)
        indexed.append(set(positions))
    return indexed


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
        lanes = vector_unit(target).lanes(output_dtype(sch, blocks[0]))
        return sch if vectorize_elementwise(sch, blocks[0], lanes) else None


def vectorize_elementwise(sch: s_tir.Schedule, block_rv: s_tir.schedule.SBlockRV, lanes: int) -> bool:
    """Schedule one element-wise or broadcast block as the module docstring says (vectors of
    `lanes`); whether it fits (else nothing changes)."""
    block = sch.get(block_rv)
    indexed = indexed_axes(block)
    loops = sch.get_loops(block_rv)
    if indexed is None or not loops or any(iter_var.iter_type != tirx.IterVar.DataPar for iter_var in block.iter_vars):
        return False
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
