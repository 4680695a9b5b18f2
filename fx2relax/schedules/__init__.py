"""CPU schedules for our own TE kernels, kept apart from the compute definitions in fx2relax/kernels.

Each schedule is a rule in TVM dlight's form (`ScheduleRule.apply(func, target, tunable)` returns
a Schedule, or None when the function is not its case). The rules recognise our kernels by the
marks their stages carry (kernels.marks), never by stage names, decide up front whether a
function fits them, and are tried in order, the fastest first; the generic rule takes any
function. A schedule error inside a rule that took a function is a bug, and surfaces as one.
"""

from __future__ import annotations

import tvm
from tvm import tirx
from tvm.s_tir.dlight import ScheduleRule

from .attention import FusedAttention
from .concat import Concatenation
from .conv import BlockedDepthwiseConv, ChannelVectorConv, PackedConv, PlaneConv
from .elementwise import VectorizedElementwise
from .generic import Generic
from .matmul import BatchedGemm, PackedGemm, PackedGemv
from .pooling import BlockedPooling
from .reductions import TrailingAxesReduction
from .rows import RowwiseReduction
from .winograd import WinogradConv

RULES: tuple[ScheduleRule, ...] = (
    PackedGemv(), PackedGemm(), FusedAttention(), BatchedGemm(), RowwiseReduction(), WinogradConv(), PackedConv(), BlockedDepthwiseConv(),
    ChannelVectorConv(), PlaneConv(), Concatenation(), BlockedPooling(), TrailingAxesReduction(), VectorizedElementwise(),
    Generic(),
)
"""Tried in this order; Generic takes whatever the others leave."""

SCHEDULED = "tirx.is_scheduled"
"""TVM's PrimFunc attribute for a function whose schedule is final (ours, or MetaSchedule's)."""

SCHEDULE_RULE = "fx2relax.schedule_rule"
"""The PrimFunc attribute naming the rule (its class) that scheduled it."""


def is_scheduled(func: tirx.PrimFunc) -> bool:
    """Whether `func` already has a schedule (ours or MetaSchedule's), which nothing should redo."""
    return bool(func.attrs and func.attrs.get(SCHEDULED, False))


def schedule_primfunc(func: tirx.PrimFunc, target: tvm.target.Target) -> tirx.PrimFunc:
    """`func` scheduled by the first rule that takes it, marked scheduled and with the rule's name."""
    for rule in RULES:
        sch = rule.apply(func, target, False)
        if sch is not None:
            return _single_definitions(sch.mod)["main"].with_attrs({SCHEDULED: True, SCHEDULE_RULE: type(rule).__name__})
    raise AssertionError("the Generic rule takes every function")


def _single_definitions(mod: tvm.IRModule) -> tvm.IRModule:
    """`mod` with each variable defined once: inlining a stage whose formula binds a value
    (kernels.elementwise.let_bound) into a consumer that reads it twice copies its tirx.Let, which
    TIR's well-formedness check refuses (LLVM takes it); ConvertSSA renames the copies."""
    return tirx.transform.ConvertSSA()(mod)


def apply_schedules(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """Every PrimFunc of `mod` not yet scheduled (by tuning) gets the schedule of the first rule that takes it."""
    scheduled = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for global_var, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc) and not is_scheduled(func):
            scheduled[global_var] = schedule_primfunc(func, target)
    return scheduled
