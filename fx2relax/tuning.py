"""MetaSchedule tuning of an IRModule's PrimFuncs, with the tuning records kept in a folder for reuse.

Needs the `tune` extra (psutil, cloudpickle). MetaSchedule's LocalBuilder starts new worker
processes every search round, each importing TVM and tvm.s_tir.tensor_intrin: about 25 s a round
here whatever the budget, minutes on a busy machine. We build candidates in this process instead
(InProcessBuilder). Records are kept: a PrimFunc with a record in `work_dir` is not searched again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator

import tvm
from tvm import relax
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export

TRIALS_PER_ROUND = 64


def tune(mod: tvm.IRModule, target: tvm.target.Target, *, trials: int, work_dir: str | os.PathLike) -> tvm.IRModule:
    """`mod` with each unscheduled PrimFunc replaced by the best schedule MetaSchedule found.

    `trials` is the measurement budget shared by all PrimFuncs that have no record in `work_dir`
    yet; records (JSON) are written there and reused on the next call, so a second call on the same
    PrimFuncs measures nothing. Delete `work_dir` to search again. PrimFuncs already scheduled
    (attribute `tirx.is_scheduled`) are left as they are.
    """
    if trials < 1:
        raise ValueError(f"trials must be a positive number of measurements, got {trials}")
    work_dir = os.fspath(work_dir)
    database = ms.database.JSONDatabase(work_dir=work_dir, module_equality="structural")
    untuned = [
        task
        for task in ms.relax_integration.extract_tasks(mod, target)
        if not task.mod.attrs.get("tirx.is_scheduled", False)
        and database.query_tuning_record(task.dispatched[0], target, "main") is None
    ]
    if untuned:
        with _unnamed_handlers_detached(logging.getLogger("tvm.s_tir.meta_schedule")):
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(untuned, work_dir)
        # Every PrimFunc gets at least one round: a 64-trial round per task would spend a small
        # budget on the first few PrimFuncs and leave the others unscheduled.
        trials_per_round = max(1, min(TRIALS_PER_ROUND, trials // len(untuned)))
        ms.tune_tasks(
            tasks=contexts,
            task_weights=weights,
            work_dir=work_dir,
            max_trials_global=trials,
            num_trials_per_iter=trials_per_round,
            builder=InProcessBuilder(),
            database=database,
            cost_model=cost_model_kind(),
        )
    with target, database, tvm.transform.PassContext(opt_level=3):
        return relax.transform.MetaScheduleApplyDatabase()(mod)


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
class InProcessBuilder(PyBuilder):
    """Builds each candidate with MetaSchedule's default build and export, here, one after another.

    A failed build is that candidate's error, as with LocalBuilder; there is no timeout (LLVM
    builds of one PrimFunc take well under a second).
    """

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        results = []
        for build_input in build_inputs:
            try:
                library = default_build(build_input.mod, build_input.target, None)
                results.append(BuilderResult(default_export(library), None))
            except Exception as error:  # noqa: BLE001  (a bad candidate is a result, not a failure)
                results.append(BuilderResult(None, f"InProcessBuilder: {type(error).__name__}: {error}"))
        return results


def cost_model_kind() -> str:
    """XGBoost's cost model when xgboost is installed, else MetaSchedule's random one."""
    return "xgb" if importlib.util.find_spec("xgboost") else "random"
