"""Direct 2-D convolution schedule for kernels.conv.conv2d: one output plane at a time, in cache.

For each (image, output channel) pair, in parallel, the output plane is accumulated over the input
channels and kernel taps in a local buffer with the output columns as the vector axis, then the
fused consumers (bias, activation, max-pooling) read it while it is still in L1. Taps run in the
unscheduled order, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir

from .generic import inline_injective, leading_spatial_loops


def schedule_conv2d(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """Schedule the "conv2d" block and its fused consumers; padding, bias and activation are inlined."""
    inline_injective(sch, keep=(block_name,))
    conv = sch.get_sblock(block_name)
    spatial_count = len(leading_spatial_loops(sch, conv))  # (*batch, channel, row, column)
    consumers = sch.get_consumers(conv)
    if len(consumers) == 1 and len(leading_spatial_loops(sch, consumers[0])) >= spatial_count - 2:
        plane_loops = sch.get_loops(consumers[0])[: spatial_count - 2]
        sch.compute_at(conv, plane_loops[-1])
        sch.set_scope(conv, 0, "local")
    else:
        plane_loops = sch.get_loops(conv)[: spatial_count - 2]
    row, column, *taps = sch.get_loops(conv)[spatial_count - 2 :]
    if taps:
        sch.reorder(*taps, column)
    sch.parallel(sch.fuse(*plane_loops) if len(plane_loops) > 1 else plane_loops[0])
    sch.vectorize(column)
    sch.decompose_reduction(conv, taps[0] if taps else column)
