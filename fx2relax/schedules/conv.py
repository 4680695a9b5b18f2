"""Direct 2-D convolution schedule for kernels.conv.conv2d: one output plane at a time, in cache.

For each (image, output channel) pair, in parallel, the output plane is accumulated over the input
channels and kernel taps in a local buffer with the output columns as the vector axis, then the
fused consumer (bias and activation, inlined, and max-pooling) reads it while it is still in L1.
Taps run in the unscheduled order, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx

from .generic import inline_injective, leading_spatial_loops


def schedule_conv2d(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """Schedule the "conv2d" block and its fused consumer; padding, bias and activation are inlined."""
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
