"""The fallback schedule for element-wise, injective and reduction functions: inline what can be
inlined, then run each remaining block's outer spatial loops in parallel when there is enough work."""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx

PARALLEL_MIN_ELEMENTS = 16384
"""Below this many outputs a parallel launch costs more than it saves."""

SERIAL_MAX_MACS = 1 << 20
"""A product or convolution of up to this many multiply-adds runs on one core: waking the thread
pool (several microseconds) costs more than the second core saves."""


def static_extent(extent: tirx.PrimExpr) -> int | None:
    """The loop extent as an int, or None when it is symbolic."""
    return int(extent) if isinstance(extent, tirx.IntImm) else None


def inline_injective(sch: s_tir.Schedule, keep: tuple[str, ...] = ()) -> None:
    """Inline every injective block into its consumers, or its producer into it, where TIR allows;
    the blocks named in `keep` stay."""
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        if sch.get(block).name_hint in keep:
            continue
        for inline in (sch.compute_inline, sch.reverse_compute_inline):
            try:
                inline(block)
                break
            except s_tir.ScheduleError:
                continue


def leading_spatial_loops(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> list:
    """The block's outer loops that bind spatial (data-parallel) block iterators, outermost first."""
    loops = sch.get_loops(block)
    iter_vars = sch.get(block).iter_vars
    spatial = []
    for loop, iter_var in zip(loops, iter_vars):
        if iter_var.iter_type != tirx.IterVar.DataPar:
            break
        spatial.append(loop)
    return spatial


def parallelize_outer(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> None:
    """Fuse the block's leading spatial loops but the innermost one and run them in parallel, when
    the block has enough outputs (or a symbolic count of them)."""
    spatial = leading_spatial_loops(sch, block)
    if not spatial:
        return
    extents = [static_extent(sch.get(loop).extent) for loop in spatial]
    if None not in extents and _product(extents) < PARALLEL_MIN_ELEMENTS:
        return
    outer = spatial[:-1] if len(spatial) > 1 else spatial
    sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])


def loop_work(sch: s_tir.Schedule, loops: list) -> int | None:
    """The number of iterations of the nested `loops` (None when one is symbolic)."""
    extents = [static_extent(sch.get(loop).extent) for loop in loops]
    return None if None in extents else _product(extents)


def schedule_generic(sch: s_tir.Schedule, target: tvm.target.Target) -> None:
    """Inline injective blocks, then parallelise the outer loops of every remaining block."""
    inline_injective(sch)
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        parallelize_outer(sch, block)


def _product(values: list[int]) -> int:
    result = 1
    for value in values:
        result *= value
    return result
