"""The fallback rule for element-wise, injective and reduction functions (inline what can be inlined,
then run each remaining block's outer spatial loops in parallel when there is enough work), and the
helpers the other rules share."""

from __future__ import annotations

import os
from collections.abc import Sequence

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import marked_kernel

PARALLEL_MIN_ELEMENTS = 16384
"""Below this many outputs a parallel launch costs more than it saves."""

SERIAL_MAX_MACS = 1 << 18
"""A product or convolution of up to this many multiply-adds runs on one core: waking the thread
pool costs more than the second core saves. The course CNN's conv + ReLU + max-pool, two threads
(best single calls): at batch 4 (778k multiply-adds) 30.3 us on one core, 22.4 us in parallel; at
batch 1 (195k) 7.6 and 6.8 us, too little gain to risk waiting on a busy second core."""


NESTED_FLOPS_MAX = 4096
"""Most operations a stage's expression times its consumer's may reach for the stage to be inlined
there. Both count their expression as a tree (`value_operations`: each read of a value repeats it,
a value bound once counts once), so this bounds what inlining copies. Our formulas bind the values
they read many times (kernels.elementwise.let_bound); before they did, our vectorised exp read its
argument ~90 times, and one exponential inlined into another (softmax into SiLU) made a
~14,000-operation element that took seconds to compile and no less to run than two passes."""

EXPANDED_OPERATIONS_MAX = 8192
"""Most operations a stage's values may reach once a producer that binds values of its own (an
exponential, tanh: kernels.elementwise.let_bound) is inlined into it, counted with every let-bound
value written out where it is read (`expanded_operations`). TVM's LLVM code generator simplifies
each let's value as it binds it (Analyzer::Bind), and lets inside let values multiply that work:
sigmoid inlined into sigmoid (16,786) took 0.6 s to generate, tanh into tanh 9 s, tanh into
GELU-tanh 39 s, three sigmoids over a minute. GELU-tanh alone is 1,592; a norm into it, which binds
nothing, generates in no time whatever this count says."""


def static_extent(extent: tirx.PrimExpr) -> int | None:
    """The loop extent as an int, or None when it is symbolic."""
    return int(extent) if isinstance(extent, tirx.IntImm) else None


def largest_divisor(extent: int, most: int) -> int:
    """The largest divisor of `extent` up to `most`: a register tile that splits a loop evenly."""
    return max(tile for tile in range(1, most + 1) if extent % tile == 0)


def param_index(func: tirx.PrimFunc, buffer: tirx.Buffer) -> int | None:
    """The index of the function parameter `buffer` is (its layout is the caller's), or None for an intermediate."""
    return next((index for index, param in enumerate(func.params) if param.same_as(buffer)), None)


def top_blocks(sch: s_tir.Schedule) -> list[s_tir.schedule.SBlockRV]:
    """The blocks (stages) directly under the function's root block, in order."""
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def marked_block(sch: s_tir.Schedule, kernel: str) -> s_tir.schedule.SBlockRV | None:
    """The one top-level block marked as the main stage of our `kernel` (kernels.marks), or None
    when there is none or more than one (a fused function of two such kernels: not a rule's case)."""
    found = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == kernel]
    return found[0] if len(found) == 1 else None


def output_dtype(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> str:
    """The dtype of the buffer the block writes."""
    return str(sch.get(block).writes[0].source.dtype)


def inlining_nests(sch: s_tir.Schedule, producer: s_tir.schedule.SBlockRV, consumer: s_tir.schedule.SBlockRV) -> bool:
    """Whether inlining `producer` into `consumer` (or the reverse) would nest two large expressions:
    their let-shared operations multiply past NESTED_FLOPS_MAX, or the expanded tree the code
    generator walks grows past EXPANDED_OPERATIONS_MAX."""
    produced, consumed = sch.get(producer), sch.get(consumer)
    shared = value_operations(produced.body)
    if shared * max(value_operations(consumed.body), 1) > NESTED_FLOPS_MAX:
        return True
    expanded, _ = expanded_operations(produced.body)
    if expanded == shared:  # no value bound and read twice: plain arithmetic (a norm) costs what it has
        return False
    consumed_operations, reads = expanded_operations(consumed.body, produced.writes[0].source)
    return consumed_operations + reads * expanded > EXPANDED_OPERATIONS_MAX


OPERANDS = {
    tvm.ir.prim.expr.Select: ("condition", "true_value", "false_value"), tvm.ir.prim.expr.Cast: ("value",),
    tvm.ir.prim.expr.Not: ("a",), tvm.ir.prim.expr.BitwiseNot: ("a",),
    tvm.ir.prim.expr.BinaryOpExpr: ("a", "b"), tvm.ir.prim.expr.CmpExpr: ("a", "b"), tvm.ir.prim.expr.LogicalExpr: ("a", "b"),
}
"""The operands of each kind of TIR operation, in its constructor's order (but Cast's, which takes its
dtype first), by class: subclasses are looked up by their base."""


def _operands(expr: tirx.PrimExpr) -> list[tirx.PrimExpr] | None:
    """The operands of an operation or a call, or None for what is not one (a read, a variable, a
    constant, a let)."""
    if isinstance(expr, tvm.ir.Call):
        return list(expr.args)
    names = next((names for kind, names in OPERANDS.items() if isinstance(expr, kind)), None)
    return None if names is None else [getattr(expr, name) for name in names]


def value_operations(stmt: tirx.Stmt) -> int:
    """The operations computing the values `stmt` stores, counted as a tree (an operand read twice
    counts twice, as inlining copies it), a tirx.Let's bound value once; reads and their indices are
    not counted. TVM's estimate_tir_flops counts the same tree but refuses a Let."""
    stores = list(stmt.seq) if isinstance(stmt, tirx.SeqStmt) else [stmt]
    counted: dict[tirx.PrimExpr, int] = {}

    def count(expr: tirx.PrimExpr) -> int:
        if expr in counted:
            return counted[expr]
        if isinstance(expr, tirx.Let):
            total = count(expr.value) + count(expr.body)
        else:
            operands = _operands(expr)
            total = 0 if operands is None else 1 + sum(count(operand) for operand in operands)
        counted[expr] = total
        return total

    return sum(count(store.value) for store in stores if isinstance(store, tirx.BufferStore))


def expanded_operations(stmt: tirx.Stmt, buffer: tirx.Buffer | None = None) -> tuple[int, int]:
    """The operations computing the values `stmt` stores with each let-bound value counted wherever
    its variable is read (as TVM's code generator simplifies them), and the reads of `buffer` in
    that expanded tree. Counted over the shared expression graph, so in time linear in its size."""
    stores = list(stmt.seq) if isinstance(stmt, tirx.SeqStmt) else [stmt]
    counted: dict[tirx.PrimExpr, tuple[int, int]] = {}
    bound: dict[tirx.Var, tuple[int, int]] = {}

    def count(expr: tirx.PrimExpr) -> tuple[int, int]:
        if expr in counted:
            return counted[expr]
        if isinstance(expr, tirx.Let):
            bound[expr.var] = count(expr.value)
            total = count(expr.body)
        elif isinstance(expr, tirx.Var):
            total = bound.get(expr, (0, 0))
        elif isinstance(expr, tvm.ir.expr.TensorLoad):
            total = (0, int(buffer is not None and expr.source.same_as(buffer)))
        else:
            operands = _operands(expr)
            parts = [count(operand) for operand in operands or ()]
            total = (int(operands is not None) + sum(part[0] for part in parts), sum(part[1] for part in parts))
        counted[expr] = total
        return total

    totals = [count(store.value) for store in stores if isinstance(store, tirx.BufferStore)]
    return sum(total[0] for total in totals), sum(total[1] for total in totals)


def is_among(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, blocks: Sequence[s_tir.schedule.SBlockRV]) -> bool:
    """Whether `block` is one of `blocks`: the same block, whichever SBlockRV names it."""
    sref = sch.get_sref(block)
    return any(sch.get_sref(other).same_as(sref) for other in blocks)


def inline_injective(sch: s_tir.Schedule, keep: tuple[s_tir.schedule.SBlockRV, ...] = ()) -> None:
    """Inline every injective block into its consumers, or its producer into it, where TIR allows
    (TIR's inlining checks are the test, as dlight's try_inline) and no two large expressions nest
    (`inlining_nests`); the blocks in `keep` stay."""
    for block in top_blocks(sch):
        if is_among(sch, block, keep):
            continue
        for inline, nests in (
            (sch.compute_inline, lambda block: any(inlining_nests(sch, block, other) for other in sch.get_consumers(block))),
            (sch.reverse_compute_inline, lambda block: any(inlining_nests(sch, other, block) for other in sch.get_producers(block))),
        ):
            if nests(block):
                continue
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


def vectorize_innermost(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """Vectorise an element-wise block's innermost loop in vectors of `lanes` when it is a whole
    number of them (each lane computes what the scalar loop would: results do not change)."""
    loops = sch.get_loops(block)
    if not loops or any(iter_var.iter_type != tirx.IterVar.DataPar for iter_var in sch.get(block).iter_vars):
        return
    loop = loops[-1]
    extent = static_extent(sch.get(loop).extent)
    if extent is None or extent < lanes or extent % lanes:
        return
    _, lane = sch.split(loop, factors=[None, lanes])
    sch.vectorize(lane)


def vectorize_last(sch: s_tir.Schedule, loop: s_tir.schedule.LoopRV, lanes: int) -> None:
    """Vectorise `loop` in vectors of `lanes` when it is a whole number of them."""
    extent = loop_work(sch, [loop])
    if extent is None or extent < lanes or extent % lanes:
        return
    _, lane = sch.split(loop, factors=[None, lanes])
    sch.vectorize(lane)


def vectorize_whole_vectors(sch: s_tir.Schedule, loop: s_tir.schedule.LoopRV, lanes: int) -> None:
    """Vectorise `loop` in vectors of `lanes`, the iterations past the last whole vector (if any)
    in a scalar loop of their own (`vectorize_last` leaves a loop of no whole number of vectors
    scalar)."""
    extent = loop_work(sch, [loop])
    if extent is None or extent < lanes:
        return
    if extent % lanes:
        loop, _ = sch.loop_partition(loop, factors=[extent - extent % lanes, None])
    vectorize_last(sch, loop, lanes)


def window_result_in_registers(
    sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, window: list[s_tir.schedule.LoopRV], column: s_tir.schedule.LoopRV
) -> None:
    """A pooling block's window loops unrolled and its result kept in a register (a local cache
    under `column`, vectorised) until one store per output position."""
    for loop in window:
        sch.unroll(loop)
    result = sch.cache_write(block, 0, "global")  # one vector: a small buffer on the stack, so in a register
    sch.reverse_compute_at(result, column)
    sch.vectorize(sch.get_loops(result)[-1])
    sch.decompose_reduction(block, window[0])


def target_cores(target: tvm.target.Target) -> int:
    """The cores a kernel may run on: the target's num-cores, else this machine's."""
    return int(target.attrs.get("num-cores", 0) or os.cpu_count() or 1)


def loop_work(sch: s_tir.Schedule, loops: list) -> int | None:
    """The number of iterations of the nested `loops` (None when one is symbolic)."""
    extents = [static_extent(sch.get(loop).extent) for loop in loops]
    return None if None in extents else _product(extents)


class Generic(ScheduleRule):
    """Any function: inline injective blocks, then parallelise the outer loops of every remaining block."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule:
        sch = s_tir.Schedule(func)
        inline_injective(sch)
        for block in top_blocks(sch):
            parallelize_outer(sch, block)
        return sch


def _product(values: list[int]) -> int:
    result = 1
    for value in values:
        result *= value
    return result
