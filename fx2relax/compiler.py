"""`compile`: the fast path. Our kernels fused, scheduled for the host CPU, weights packed once.

Pipeline: fold eval batch norms into the convolutions before them and pack the weights of linear
layers and convolutions (fx2relax.packing), annotate op
patterns and fuse (conv + batch norm + residual add + ReLU, linear + bias + ReLU), optionally MetaSchedule-tune (fx2relax.tuning), then
give every PrimFunc without a tuned schedule one of ours (fx2relax.schedules), and build with
TVM's Relax lowering passes (without its legalize/fuse passes, which would undo nothing but cost time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import tvm
from tvm import relax, tirx
from tvm.relax.backend.cpu_generic import pipeline as cpu_pipeline

from .kernels.marks import marked_kernel, stages
from .layout import BlockChannels
from .packing import FoldBatchNorm, FoldConstantCalls, PackConvWeights, PackLinearWeights, WinogradConvs
from .runtime import CompiledModel, TargetLike, build, make_target
from .schedules import apply_schedules

DEFAULT_TUNING_DIR = "fx2relax_tuning"
OP_PATTERN_ELEMWISE = 0  # relax.transform's OpPatternKind kElemWise
OP_PATTERN_BROADCAST = 1  # kBroadcast
OP_PATTERN_INJECTIVE = 2  # kInjective


def host_target() -> tvm.target.Target:
    """LLVM for this machine's CPU (its -mcpu detected, which our vectorised schedules need) and
    its core count (which MetaSchedule needs)."""
    return tvm.target.Target(
        {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu(), "num-cores": os.cpu_count() or 1}
    )


def with_num_cores(target: tvm.target.Target) -> tvm.target.Target:
    """`target` with this machine's core count when it has none: MetaSchedule refuses a target without."""
    if "num-cores" in target.attrs:
        return target
    return tvm.target.Target({**target.export(), "num-cores": os.cpu_count() or 1})


def fuse(mod: tvm.IRModule, target: tvm.target.Target, winograd: bool = True) -> tvm.IRModule:
    """Compute the calls of constants only once (FoldConstantCalls), fold eval batch norms into the
    convolutions before them, turn 3x3 convolutions into Winograd
    ones where that pays (if `winograd`), pack linear and convolution weights for `target`,
    annotate op patterns and fuse our PrimFuncs."""
    return tvm.transform.Sequential(
        [
            FoldConstantCalls(),
            FoldBatchNorm(),
            *([WinogradConvs(target)] if winograd else []),
            PackLinearWeights(target),
            PackConvWeights(target),
            relax.transform.AnnotateTIROpPattern(),
            FusePoolingAsElementwise(),
            SameShapeBroadcastIsElementwise(),
            FuseAttentionWithHeadLayouts(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.DeadCodeElimination(["main"]),
            BlockChannels(target),
        ]
    )(mod)


@tvm.transform.module_pass(opt_level=0, name="FusePoolingAsElementwise")
class FusePoolingAsElementwise:
    """Let FuseOps fuse our max-pooling after conv + bias + ReLU, as it fuses element-wise ops.

    AnnotateTIROpPattern calls a pooling window reduction out-element-wise-fusable, which FuseOps
    never appends to a convolution's group; the conv schedule then computes each conv plane inside
    the pooling loop, so the plane never leaves L1. Fusion itself (FuseTIR) keeps the results.
    """

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _with_op_pattern(mod, _is_max_pooling, OP_PATTERN_ELEMWISE)


def _with_op_pattern(mod: tvm.IRModule, matches: Callable[[tirx.PrimFunc], bool], pattern: int) -> tvm.IRModule:
    """A copy of `mod` in which each PrimFunc that `matches` has FuseOps' op pattern `pattern`."""
    mod = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for global_var, func in list(mod.functions_items()):
        if isinstance(func, tirx.PrimFunc) and matches(func):
            mod[global_var] = func.with_attr("op_pattern", pattern)
    return mod


def _is_max_pooling(func: tirx.PrimFunc) -> bool:
    """Whether `func` is kernels.pooling.max_pool2d alone: one stage, marked as its."""
    blocks = stages(func)
    return len(blocks) == 1 and marked_kernel(blocks[0].annotations) == "max_pool2d"


@tvm.transform.module_pass(opt_level=0, name="FuseAttentionWithHeadLayouts")
class FuseAttentionWithHeadLayouts:
    """Let FuseOps fuse a whole attention (kernels.attention.scaled_dot_product_attention) with the
    layout copies around it: the heads split from the projections before, merged after.

    AnnotateTIROpPattern calls it a reduction, which FuseOps fuses with nothing; called injective,
    FuseOps gives it its single-use injective producers (the split heads of the query, key and
    value) and consumers (the merge), and the FusedAttention schedule reads and writes through
    them in place (BERT's encoder at batch 16: 3 + 1 passes over 2 MB per layer gone).
    """

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _with_op_pattern(mod, _is_attention, OP_PATTERN_INJECTIVE)


def _is_attention(func: tirx.PrimFunc) -> bool:
    """Whether `func` holds our scores, softmax and attend stages (one whole attention)."""
    kernels = {marked_kernel(block.annotations) for block in stages(func)}
    return {"attention_scores", "softmax", "attend"} <= kernels


@tvm.transform.module_pass(opt_level=0, name="SameShapeBroadcastIsElementwise")
class SameShapeBroadcastIsElementwise:
    """Call a broadcasting function whose inputs all have its output's shape element-wise, which it is.

    AnnotateTIROpPattern calls our binary kernels (add, mul, ...) broadcasts from their index
    expressions, and FuseOps appends only element-wise functions to a convolution's group: a
    ResNet's residual add (and the ReLU after it) would run as a separate pass over memory
    instead of on the conv's output tile.
    """

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        return _with_op_pattern(
            mod, lambda func: _op_pattern(func) == OP_PATTERN_BROADCAST and _all_shapes_equal(func), OP_PATTERN_ELEMWISE
        )


def _op_pattern(func: tirx.PrimFunc) -> int | None:
    return int(func.attrs["op_pattern"]) if func.attrs and "op_pattern" in func.attrs else None


def _all_shapes_equal(func: tirx.PrimFunc) -> bool:
    """Whether every tensor parameter of `func` (inputs and output) has one and the same static shape."""
    params = func.ty.params
    if len(params) < 2 or not all(hasattr(getattr(param, "shape", None), "values") for param in params):
        return False
    return len({tuple(str(d) for d in param.shape.values) for param in params}) == 1


def lower(
    mod: tvm.IRModule, target: tvm.target.Target, tune: int | None, tuning_dir: str | os.PathLike | None, winograd: bool = True
) -> tvm.IRModule:
    """The scheduled module compile() builds: fused, tuned if asked, then scheduled."""
    mod = fuse(mod, target, winograd)
    if tune is not None:
        from .tuning import tune as tune_module

        mod = tune_module(mod, target, trials=tune, work_dir=tuning_dir or DEFAULT_TUNING_DIR)
    return apply_schedules(mod, target)


def compile(  # noqa: A001  (the name users expect, as tvm.compile and torch.compile)
    mod: tvm.IRModule,
    target: TargetLike | None = None,
    *,
    tune: int | None = None,
    tuning_dir: str | os.PathLike | None = None,
    weights: Mapping[str, np.ndarray] | None = None,
    winograd: bool = True,
) -> CompiledModel:
    """Compile an imported module for speed: fused, with our CPU schedules, weights packed once.

    target: None for this machine's CPU (LLVM with its -mcpu), or as `build` takes it (CPU only).
    tune: a MetaSchedule trial budget; records are kept in `tuning_dir` (default
    ./fx2relax_tuning) and reused next time. weights: as for `build` (keep_params_as_input=True;
    such weights are not packed, so constants compile faster). winograd: run 3x3 stride-1
    convolutions as Winograd F(2x2, 3x3) where that is faster (packing.winograd_pays): a NaN or
    ±inf input makes the same outputs non-finite as in PyTorch, but one PyTorch has as ±inf can be
    NaN where +inf and -inf meet in a tile, and finite inputs beyond a quarter of the dtype's range
    may overflow (kernels.winograd); False keeps every convolution direct, exactly PyTorch's there.
    """
    target = host_target() if target is None else make_target(target)
    if target.kind.name != "llvm":
        raise ValueError(f"compile() schedules for CPUs (target kind 'llvm'); got target kind {target.kind.name!r}")
    if tune is not None and (isinstance(tune, bool) or not isinstance(tune, int) or tune <= 0):
        raise ValueError(f"tune must be a positive number of MetaSchedule trials or None, got {tune!r}")
    if tune is not None:
        target = with_num_cores(target)
    scheduled = lower(mod, target, tune, tuning_dir, winograd)
    executable = tvm.compile(scheduled, target=target, relax_pipeline=_lowering_pipeline(target))
    return CompiledModel(executable, mod, tvm.cpu(), weights)


def _lowering_pipeline(target: tvm.target.Target) -> tvm.transform.Pass:
    """TVM's CPU Relax pipeline after legalisation and fusion, which compile() has already done."""
    passes = cpu_pipeline.dataflow_lower_passes(target) + cpu_pipeline.finalize_passes(target)
    return tvm.transform.Sequential(passes)


def compile_or_build(
    mod: tvm.IRModule, target: TargetLike | None = None, weights: Mapping[str, np.ndarray] | None = None, winograd: bool = True,
) -> CompiledModel:
    """The fastest way fx2relax has: `compile` (scheduled kernels; `winograd` as there) when the
    weights are constants, else `build`. `target` None means compile's default (the host CPU), or
    plain LLVM for build."""
    if weights:
        return build(mod, "llvm" if target is None else target, weights=weights)
    return compile(mod, target=target, winograd=winograd)
