"""CPU schedules for our own TE kernels, kept apart from the compute definitions in fx2relax/kernels.

`schedule_primfunc` gives a PrimFunc of a fused module a schedule: the rules look for the block
names our kernels choose (matmul_packed, conv2d) and apply that family's schedules, the fastest
first; a schedule that cannot take the function's shapes passes it on to the next, and any other
function gets the generic one.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx

from . import conv, generic, matmul

# Block name of the main stage → the schedule of its op family, tried in this order.
RULES = (
    ("matmul_packed", matmul.schedule_packed_matmul),
    ("conv2d_packed", conv.schedule_conv2d_packed),
    ("conv2d", conv.schedule_conv2d_channel_vectors),
    ("conv2d", conv.schedule_conv2d_planes),
)


def block_names(func: tirx.PrimFunc) -> list[str]:
    """Names of the blocks (stages) of `func` directly under its root block, in order."""
    sch = s_tir.Schedule(func)
    return [sch.get(block).name_hint for block in sch.get_child_blocks(sch.get_sblock("root"))]


def schedule_primfunc(func: tirx.PrimFunc, target: tvm.target.Target) -> tirx.PrimFunc:
    """`func` scheduled by the first rule whose block it contains and whose schedule takes it, else
    by the generic schedule."""
    names = block_names(func)
    for block_name, schedule in RULES:
        if block_name in names:
            sch = s_tir.Schedule(func)
            try:
                schedule(sch, block_name, target)
                return sch.mod["main"]
            except (s_tir.ScheduleError, ValueError):  # shapes this schedule does not fit
                continue
    sch = s_tir.Schedule(func)
    generic.schedule_generic(sch, target)
    return sch.mod["main"]
