"""A pooling on channel-blocked activations, alone or with element-wise stages after it.

layout.BlockChannels stores a pooling's input and output blocked, [N, C / L, H, W, L], where its
input comes blocked from a concatenation or a conv and its output goes to a conv (GoogLeNet's 3x3
max pooling and Inception's 3x3 average pooling branches, between a concatenation and a 1x1 conv).
Each output position then takes one vector of L channels per tap: the window unrolled, its running
maximum or sum kept in a register, a bounds check per tap a scalar condition on the whole vector,
and (image, channel block, row) in parallel. On [N, C, H, W] the generic rule ran GoogLeNet's
512 x 14 x 14 3x3 max pooling in 182 us on two threads; blocked, 26 us.
A stage after the pooling (avg_pool2d's division, an activation) runs on the same vector of channels
at the same position, the pooled vector computed just before it, so it never goes to memory. Taps
run in the unscheduled order, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import BLOCKED_PARAMS, marked_kernel
from .generic import PARALLEL_MIN_ELEMENTS, inline_injective, is_among, loop_work, top_blocks, window_result_in_registers

POOLINGS = ("max_pool2d", "avg_pool2d")
"""The marks of the pooling stages (avg_pool2d's window sums) this rule takes."""


class BlockedPooling(ScheduleRule):
    """A function of one pooling stage (POOLINGS) over a 4-D input, and at most one stage after it
    once element-wise ones are inlined, whose output layout.BlockChannels stored blocked."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        if func.attrs is None or BLOCKED_PARAMS not in func.attrs or len(func.params[-1].shape) != 5:
            return None
        sch = s_tir.Schedule(func)
        pools = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) in POOLINGS]
        if len(pools) != 1:
            return None
        (pool,) = pools
        inline_injective(sch, keep=(pool,))
        blocks = top_blocks(sch)
        if len(blocks) > 2 or not is_among(sch, pool, blocks[:1]) or len(sch.get_loops(pool)) != 6:
            return None
        lanes = int(func.params[-1].shape[-1])
        after = blocks[1] if len(blocks) == 2 else None
        last = after if after is not None else pool  # the block that writes the output
        outer = sch.get_loops(last)[:4]
        if len(sch.get_loops(last)) != (4 if after is not None else 6) or any(
            v.iter_type != tirx.IterVar.DataPar for v in sch.get(last).iter_vars[:4]
        ):
            return None
        batch, channel, row, column = outer
        outputs = loop_work(sch, outer)
        window = sch.get_loops(pool)[4:]
        channel_block, lane = sch.split(channel, factors=[None, lanes])
        sch.reorder(batch, channel_block, row, column, *(window if after is None else ()), lane)
        if outputs is None or outputs >= PARALLEL_MIN_ELEMENTS:
            sch.parallel(sch.fuse(batch, channel_block, row))
        sch.vectorize(lane)
        if after is None:  # the pooling writes the output: its window inside the column, the lanes innermost
            window_result_in_registers(sch, pool, window, column)
        else:  # the pooled vector of this position computed just before the stage after it reads it
            sch.compute_at(pool, column, preserve_unit_loops=True)
            pool_lane, *window = sch.get_loops(pool)[-3:]
            sch.reorder(*window, pool_lane)
            for loop in window:
                sch.unroll(loop)
            sch.vectorize(pool_lane)
            sch.decompose_reduction(pool, window[0])
        return sch


def schedule_blocked_pooling(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """A window reduction, loops (batch, channel, row, column, *window), writing or reading blocks of
    `lanes` channels (a pooling fused after a conv or a Winograd conv, or beside a concatenation's
    inputs): the lanes as the vector axis, so each tap is one contiguous load;
    (batch, channel block, row) in parallel, the window unrolled, the maximum or sum kept in a
    register and stored once."""
    batch, channel, row, column, *window = sch.get_loops(block)
    outputs = loop_work(sch, [batch, channel, row, column])
    channel_block, lane = sch.split(channel, factors=[None, lanes])
    sch.reorder(batch, channel_block, row, column, *window, lane)
    outer = sch.fuse(batch, channel_block, row)
    if outputs is None or outputs >= PARALLEL_MIN_ELEMENTS:
        sch.parallel(outer)
    sch.vectorize(lane)
    window_result_in_registers(sch, block, window, column)
