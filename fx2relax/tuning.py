"""MetaSchedule tuning of an IRModule's PrimFuncs, with the tuning records kept in a folder for reuse.

Needs the `tune` extra (psutil, cloudpickle). Each search round costs about 25 s here whatever
the trial budget (the builder workers import tvm.s_tir.tensor_intrin), so records are worth
keeping: a PrimFunc that already has a record in `work_dir` is not searched again.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os

import tvm
from tvm import relax
from tvm.s_tir import meta_schedule as ms

TRIALS_PER_ROUND = 64
BUILD_TIMEOUT_SECONDS = 60.0  # per candidate; the 2-core machine here is often shared
# Builder workers start by importing what every build imports, so its cost (~20 s) is not charged
# to the first candidate's timeout. A partial of import_module pickles without importing fx2relax.
_IMPORT_TENSOR_INTRINSICS = functools.partial(importlib.import_module, "tvm.s_tir.tensor_intrin")


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
            builder=ms.builder.LocalBuilder(timeout_sec=BUILD_TIMEOUT_SECONDS, initializer=_IMPORT_TENSOR_INTRINSICS),
            database=database,
            cost_model=cost_model_kind(),
        )
    with target, database, tvm.transform.PassContext(opt_level=3):
        return relax.transform.MetaScheduleApplyDatabase()(mod)


def cost_model_kind() -> str:
    """XGBoost's cost model when xgboost is installed, else MetaSchedule's random one."""
    return "xgb" if importlib.util.find_spec("xgboost") else "random"
