"""Direct 2-D convolution schedule for kernels.conv.conv2d: one output row at a time in registers.

For each (image, output channel) pair (in parallel) and output row, the row is accumulated over
the input channels and kernel taps in a local buffer with the output columns as the vector axis;
bias and activation are applied on the way out. Taps run in the unscheduled order, so sums are equal.
"""

from __future__ import annotations

import tvm
from tvm import s_tir

from .generic import inline_injective, leading_spatial_loops


def schedule_conv2d(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """Schedule the "conv2d" block and its epilogue in a fused function; padding is inlined."""
    inline_injective(sch, keep=(block_name,))
    conv = sch.get_sblock(block_name)
    spatial_count = len(leading_spatial_loops(sch, conv))
    consumers = sch.get_consumers(conv)
    if len(consumers) == 1 and len(leading_spatial_loops(sch, consumers[0])) == spatial_count:
        # Compute each output row inside the epilogue's row loop, into a local buffer.
        outer = sch.get_loops(consumers[0])[: spatial_count - 1]
        sch.compute_at(conv, outer[-1])
        sch.set_scope(conv, 0, "local")
    else:
        outer = sch.get_loops(conv)[: spatial_count - 1]
    column, *taps = sch.get_loops(conv)[spatial_count - 1 :]
    if taps:
        sch.reorder(*taps, column)
    parallel = outer[:-1]  # (image, channel): rows stay sequential inside one task
    if parallel:
        sch.parallel(sch.fuse(*parallel) if len(parallel) > 1 else parallel[0])
    sch.vectorize(column)
    sch.decompose_reduction(conv, taps[0] if taps else column)
