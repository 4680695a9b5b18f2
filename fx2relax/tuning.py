"""MetaSchedule tuning of an IRModule's PrimFuncs, with the tuning records kept in a folder for reuse.

Needs the `tune` extra (psutil, cloudpickle). MetaSchedule's LocalBuilder starts new worker
processes every search round, each importing TVM and tvm.s_tir.tensor_intrin: about 25 s a round
here whatever the budget, minutes on a busy machine. We build candidates in one worker process kept
for the whole search, each build time-limited (PersistentBuilder). Records are kept: a PrimFunc with
a record in `work_dir` is not searched again.

MetaSchedule's best is not always better than our own schedule (fx2relax.schedules), mostly with a
small budget: each PrimFunc keeps whichever of the two runs faster, both timed here the same way.
The timings are kept in `work_dir` too (CHOICES_FILE), so a second tune() measures nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tvm
import tvm_ffi
from tvm import relax, s_tir, tirx
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.builder.local_builder import _worker_func
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from .schedules import SCHEDULED, is_scheduled, schedule_primfunc
from .schedules.generic import OPERANDS

TRIALS_PER_ROUND = 64
BUILD_TIMEOUT_SECONDS = 30.0
"""A candidate not built by then is dropped (LocalBuilder's default)."""
CANDIDATES_PER_TRIAL = 16
"""Evolutionary search's population per trial of a round: MetaSchedule's default 512 (sampled, then
mutated four times, each candidate's trace replayed on the PrimFunc) took 2-5 minutes per PrimFunc
of ResNet-18's Winograd convs to pick the 3 candidates a 64-trial budget gives each of its 19."""
CHOICES_FILE = "fx2relax_schedule_times.json"


def tune(mod: tvm.IRModule, target: tvm.target.Target, *, trials: int, work_dir: str | os.PathLike) -> tvm.IRModule:
    """`mod` with each unscheduled PrimFunc given the faster of MetaSchedule's best schedule and ours.

    `trials` is the measurement budget shared by all PrimFuncs that have no record in `work_dir`
    yet; records (JSON) are written there and reused on the next call, so a second call on the same
    PrimFuncs measures nothing. Delete `work_dir` to search again. PrimFuncs already scheduled
    (attribute `tirx.is_scheduled`) are left as they are.
    """
    if trials < 1:
        raise ValueError(f"trials must be a positive number of measurements, got {trials}")
    work_dir = os.fspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    database = ms.database.JSONDatabase(work_dir=work_dir, module_equality="structural")
    tunable = _without_lets(mod)
    untuned = [
        task
        for task in ms.relax_integration.extract_tasks(tunable, target)
        if not task.mod.attrs.get(SCHEDULED, False)
        and database.query_tuning_record(task.dispatched[0], target, "main") is None
    ]
    if untuned:
        # Every PrimFunc gets at least one round: a 64-trial round per task would spend a small
        # budget on the first few PrimFuncs and leave the others unscheduled.
        trials_per_round = max(1, min(TRIALS_PER_ROUND, trials // len(untuned)))
        import_tensor_intrinsics()
        with _unnamed_handlers_detached(logging.getLogger("tvm.s_tir.meta_schedule")):
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                untuned, work_dir, strategy=_search_strategy(trials_per_round)
            )
        builder = PersistentBuilder()
        try:
            ms.tune_tasks(
                tasks=contexts,
                task_weights=weights,
                work_dir=work_dir,
                max_trials_global=trials,
                num_trials_per_iter=trials_per_round,
                builder=builder,
                database=database,
                cost_model=cost_model_kind(),
            )
        finally:
            builder.shutdown()
    with target, database, tvm.transform.PassContext(opt_level=3):
        tuned = relax.transform.MetaScheduleApplyDatabase()(tunable)
    return keep_faster_schedules(mod, tuned, target, work_dir)


def _search_strategy(trials_per_round: int) -> ms.search_strategy.EvolutionarySearch:
    """MetaSchedule's evolutionary search with a population in proportion to the trials of a round
    (at most its default 512), so that a small budget does not cost minutes of candidates per PrimFunc."""
    population = min(512, max(32, CANDIDATES_PER_TRIAL * trials_per_round))
    return ms.search_strategy.EvolutionarySearch(population_size=population, init_min_unmeasured=min(50, population))


def keep_faster_schedules(
    untuned: tvm.IRModule, tuned: tvm.IRModule, target: tvm.target.Target, work_dir: str | os.PathLike
) -> tvm.IRModule:
    """`tuned` with each PrimFunc MetaSchedule scheduled given our schedule instead where ours runs faster.

    `untuned` is the module before MetaScheduleApplyDatabase, `tuned` after. Both versions are
    built and timed alone on random inputs; the times are kept in `work_dir`/CHOICES_FILE, keyed
    by the unscheduled PrimFunc and the target, and not measured again. A PrimFunc with symbolic
    shapes cannot be timed alone: it keeps ours, which handles every shape.
    """
    times_path = Path(work_dir) / CHOICES_FILE
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    chosen = tvm.IRModule(dict(tuned.functions_items()), attrs=tuned.attrs)
    for global_var, func in untuned.functions_items():
        tuned_func = tuned[global_var]
        if not isinstance(func, tirx.PrimFunc) or is_scheduled(func) or not is_scheduled(tuned_func):
            chosen[global_var] = func  # a Relax function, scheduled before tuning, or left to compile()'s schedules
            continue
        ours = schedule_primfunc(func, target)
        key = f"{tvm_ffi.structural_hash(func):x} {target}"
        arguments = argument_infos(func)
        if key not in times and arguments is not None:
            times[key] = {
                "ours": seconds_per_call(ours, arguments, target),
                "metaschedule": seconds_per_call(tuned_func, arguments, target),
            }
        if key not in times or times[key]["ours"] <= times[key]["metaschedule"]:
            chosen[global_var] = ours
    times_path.parent.mkdir(parents=True, exist_ok=True)
    times_path.write_text(json.dumps(times, indent=1, sort_keys=True))
    return chosen


def _without_lets(mod: tvm.IRModule) -> tvm.IRModule:
    """`mod` with each PrimFunc's tirx.Let expressions (kernels.elementwise.let_bound) replaced by
    their bodies with the bound values substituted, which MetaSchedule needs (its flop estimate
    refuses a Let). A PrimFunc with a node the substitution does not know is left as it is."""
    result = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for global_var, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc) and not is_scheduled(func):
            with contextlib.suppress(_UnknownNode):
                result[global_var] = func.with_body(_substituted_stmt(func.body))
    return result


class _UnknownNode(TypeError):
    """A TIR node _without_lets does not rebuild."""


def _substituted_stmt(stmt: tirx.Stmt) -> tirx.Stmt:
    """`stmt` (blocks, loops, stores, as TE and FuseTIR make them) with its values' Lets substituted."""
    if isinstance(stmt, tirx.SeqStmt):
        return tirx.SeqStmt([_substituted_stmt(child) for child in stmt.seq])
    if isinstance(stmt, tirx.For):
        return tirx.For(stmt.loop_var, stmt.min, stmt.extent, stmt.kind, _substituted_stmt(stmt.body),
                        stmt.thread_binding, stmt.annotations)
    if isinstance(stmt, s_tir.stmt.SBlockRealize):
        return s_tir.stmt.SBlockRealize(stmt.iter_values, stmt.predicate, _substituted_stmt(stmt.block))
    if isinstance(stmt, s_tir.stmt.SBlock):
        init = None if stmt.init is None else _substituted_stmt(stmt.init)
        return s_tir.stmt.SBlock(stmt.iter_vars, stmt.reads, stmt.writes, stmt.name_hint, _substituted_stmt(stmt.body),
                                 init, stmt.alloc_buffers, stmt.match_buffers, stmt.annotations)
    if isinstance(stmt, tirx.BufferStore):
        return tirx.BufferStore(stmt.buffer, _substituted(stmt.value, {}), stmt.indices)
    raise _UnknownNode(type(stmt).__name__)


def _substituted(expr: tirx.PrimExpr, bound: dict[tirx.Var, tirx.PrimExpr]) -> tirx.PrimExpr:
    """`expr` with each Let replaced by its body, the let-bound variables by their values."""
    if isinstance(expr, tirx.Let):
        return _substituted(expr.body, {**bound, expr.var: _substituted(expr.value, bound)})
    if isinstance(expr, tirx.Var):
        return bound.get(expr, expr)
    if isinstance(expr, (tirx.IntImm, tirx.FloatImm, tvm.ir.expr.TensorLoad)):
        return expr  # a read's indices hold no Let: TE binds values only
    if isinstance(expr, tirx.Cast):
        return tirx.Cast(str(expr.ty), _substituted(expr.value, bound))
    if isinstance(expr, tvm.ir.Call):
        return tvm.ir.Call(expr.op, [_substituted(arg, bound) for arg in expr.args], ret_ty=expr.ty)
    operands = next((names for kind, names in OPERANDS.items() if isinstance(expr, kind)), None)
    if operands is not None:
        return type(expr)(*(_substituted(getattr(expr, name), bound) for name in operands))
    raise _UnknownNode(type(expr).__name__)


def seconds_per_call(func: tirx.PrimFunc, arguments: list[ms.arg_info.TensorInfo], target: tvm.target.Target) -> float:
    """Median time of one call of `func` built alone for `target`, on random tensors as `arguments` describes."""
    library = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
    device = tvm.cpu()
    rng = np.random.default_rng(0)
    tensors = []
    for argument in arguments:
        shape, dtype = list(argument.shape), str(argument.dtype)
        values = rng.standard_normal(shape) if dtype.startswith("float") else np.zeros(shape)
        tensors.append(tvm.runtime.tensor(values.astype(dtype), device))
    timer = library.jit().time_evaluator("main", device, number=1, repeat=5, min_repeat_ms=50)
    return statistics.median(timer(*tensors).results)


def argument_infos(func: tirx.PrimFunc) -> list[ms.arg_info.TensorInfo] | None:
    """Shape and dtype of each argument of `func` (as MetaSchedule's runner sees them); None if a shape is symbolic."""
    try:
        return list(ms.arg_info.ArgInfo.from_prim_func(func))
    except TypeError:  # a symbolic extent does not convert to the integer shape TensorInfo holds
        return None


@contextlib.contextmanager
def _unnamed_handlers_detached(logger: logging.Logger) -> Iterator[None]:
    """MetaSchedule re-configures its logger by handler name (logging.config.dictConfig) and fails
    on a handler without one, such as pytest's log capture, which it copies from the root logger
    on a first tuning: such handlers are taken off for the call and put back after."""
    unnamed = [handler for handler in logger.handlers if handler.get_name() is None]
    for handler in unnamed:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in unnamed:
            logger.addHandler(handler)


@derived_object
class PersistentBuilder(PyBuilder):
    """Builds candidates with MetaSchedule's default build and export in one worker process kept for
    the whole search, each build killed after `timeout` seconds (a failed or killed build is that
    candidate's error). MetaSchedule's LocalBuilder starts new workers every round (each importing
    TVM, about 25 s a round here); building in the calling process cannot stop a candidate whose
    unrolled loops keep LLVM busy for minutes (9 minutes for 3 candidates of a ResNet-18 Winograd conv).
    """

    def __init__(self, timeout: float = BUILD_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self.timeout = timeout
        self.pool = PopenPoolExecutor(max_workers=1, timeout=timeout)

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        work = [(None, None, build_input.mod, build_input.target, None) for build_input in build_inputs]
        results = []
        for outcome in self.pool.map_with_error_catching(_build_candidate, work):
            if outcome.status == StatusKind.COMPLETE:
                results.append(BuilderResult(outcome.value, None))
            elif outcome.status == StatusKind.TIMEOUT:
                results.append(BuilderResult(None, f"PersistentBuilder: build killed after {self.timeout} s"))
            else:
                results.append(BuilderResult(None, f"PersistentBuilder: {outcome.value}"))
        return results

    def shutdown(self) -> None:
        """Ends the worker process."""
        self.pool.shutdown()


def _build_candidate(arguments: tuple) -> tuple[str, str]:
    """MetaSchedule's default build and export of one candidate, in the builder's worker process."""
    import_tensor_intrinsics()
    return _worker_func(*arguments)


SOURCELESS_FRAME_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>", "<ast>", "<string>")
"""Code object file names that are no file: frames of the import machinery, of code TVMScript
compiles, of `python -c`."""


def import_tensor_intrinsics() -> None:
    """Import tvm.s_tir.tensor_intrin (MetaSchedule imports it to tune or build) in ~5 s instead of
    ~21. Each of its ~500 TVMScript functions calls inspect.stack(), and inspect looks for the module
    of every frame whose file is no file by scanning all of sys.modules, finding none: told there is
    none for those names (inspect.modulesbyfile) while importing, it finds the same at once."""
    if "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    added = [name for name in SOURCELESS_FRAME_FILES if name not in inspect.modulesbyfile]
    for name in added:
        inspect.modulesbyfile[name] = name  # a module name in no sys.modules: getmodule gives None
    try:
        importlib.import_module("tvm.s_tir.tensor_intrin")
    finally:
        for name in added:
            inspect.modulesbyfile.pop(name, None)


def cost_model_kind() -> str:
    """XGBoost's cost model when xgboost is installed, else MetaSchedule's random one."""
    return "xgb" if importlib.util.find_spec("xgboost") else "random"
