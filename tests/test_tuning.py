"""MetaSchedule tuning: the tuned module still computes what PyTorch computes, its records are reused, and
each PrimFunc keeps the faster of MetaSchedule's schedule and ours."""

import json

import pytest
import torch
import tvm
from torch import nn
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.analysis import estimate_tir_flops
from tvm.target.codegen import llvm_get_system_cpu

import fx2relax
from fx2relax.compiler import fuse
from fx2relax.schedules import SCHEDULED, is_scheduled, schedule_primfunc
from fx2relax.tuning import CHOICES_FILE, PersistentBuilder, _without_lets, keep_faster_schedules, tune
from tests.helpers import assert_outputs_match

TARGET = tvm.target.Target({"kind": "llvm", "mcpu": llvm_get_system_cpu(), "num-cores": 2})


def tuned_primfuncs(mod: tvm.IRModule) -> list[str]:
    return sorted(
        gv.name_hint
        for gv, func in mod.functions_items()
        if isinstance(func, tvm.tirx.PrimFunc) and is_scheduled(func)
    )


@pytest.mark.slow  # two MetaSchedule rounds, about 25 s each here
def test_tuned_module_matches_pytorch_and_a_second_tune_reuses_the_records(tmp_path):
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU()).eval()
    inputs = torch.randn(4, 16)
    mod = fx2relax.from_module(model, (4, 16))
    tmp_path = tmp_path / "not" / "made yet"  # tune makes the records' folder

    tuned = tune(mod, TARGET, trials=4, work_dir=tmp_path)
    assert tuned_primfuncs(tuned) == ["linear", "relu"]
    with torch.no_grad():
        assert_outputs_match(fx2relax.build(tuned, target=TARGET)(inputs), model(inputs))

    records = len(ms.database.JSONDatabase(work_dir=str(tmp_path)))
    retuned = tune(mod, TARGET, trials=4, work_dir=tmp_path)
    assert len(ms.database.JSONDatabase(work_dir=str(tmp_path))) == records  # nothing measured again
    tvm.ir.assert_structural_equal(retuned, tuned)


@pytest.mark.parametrize("activation", [nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Tanh(), nn.Softmax(dim=-1)], ids=repr)
def test_formulas_binding_values_are_given_to_metaschedule_without_lets(activation):
    # Our formulas bind values they read many times (tirx.Let), which MetaSchedule's flop estimate
    # refuses: tuning sees each PrimFunc with the values substituted, computing the same.
    model = nn.Sequential(nn.Linear(16, 8), activation).eval()
    inputs = torch.randn(4, 16) * 4
    expanded = _without_lets(fuse(fx2relax.from_module(model, (4, 16)), TARGET))
    for _, func in expanded.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc):
            assert estimate_tir_flops(tvm.IRModule({"main": func})) > 0
    with torch.no_grad():
        assert_outputs_match(fx2relax.build(expanded, target=TARGET)(inputs), model(inputs))


def test_a_budget_below_one_trial_is_refused(tmp_path):
    mod = fx2relax.from_module(nn.ReLU(), (2, 3))
    with pytest.raises(ValueError, match="trials must be a positive number of measurements, got 0"):
        tune(mod, TARGET, trials=0, work_dir=tmp_path)


def fused_linear_relu(batch: int) -> tvm.IRModule:
    return fuse(fx2relax.from_module(nn.Sequential(nn.Linear(64, 32), nn.ReLU()).eval(), (batch, 64)), TARGET)


def only_primfunc(mod: tvm.IRModule) -> tvm.tirx.PrimFunc:
    (func,) = [func for _, func in mod.functions_items() if isinstance(func, tvm.tirx.PrimFunc)]
    return func


def as_if_tuned(mod: tvm.IRModule) -> tvm.IRModule:
    """`mod` with its PrimFunc marked scheduled as it is, unscheduled: a MetaSchedule result slower than ours."""
    tuned = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for global_var, func in mod.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc):
            tuned[global_var] = func.with_attr(SCHEDULED, True)
    return tuned


def test_our_schedule_is_kept_where_it_runs_faster_than_the_tuned_one(tmp_path):
    mod = fused_linear_relu(64)
    chosen = only_primfunc(keep_faster_schedules(mod, as_if_tuned(mod), TARGET, tmp_path))
    tvm.ir.assert_structural_equal(chosen, schedule_primfunc(only_primfunc(mod), TARGET))
    (times,) = json.loads((tmp_path / CHOICES_FILE).read_text()).values()
    assert times["ours"] < times["metaschedule"]


def test_kept_times_decide_without_measuring_again(tmp_path):
    mod = fused_linear_relu(64)
    tuned = as_if_tuned(mod)
    keep_faster_schedules(mod, tuned, TARGET, tmp_path)
    times_path = tmp_path / CHOICES_FILE
    times = {key: {"ours": 1.0, "metaschedule": 0.5} for key in json.loads(times_path.read_text())}
    times_path.write_text(json.dumps(times))  # as if MetaSchedule's had been measured faster
    tvm.ir.assert_structural_equal(keep_faster_schedules(mod, tuned, TARGET, tmp_path), tuned)
    assert json.loads(times_path.read_text()) == times


def test_a_primfunc_with_symbolic_shapes_keeps_our_schedule(tmp_path):
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU()).eval()
    mod = fuse(fx2relax.from_module(model, (None, 64)), TARGET)
    chosen = only_primfunc(keep_faster_schedules(mod, as_if_tuned(mod), TARGET, tmp_path))
    tvm.ir.assert_structural_equal(chosen, schedule_primfunc(only_primfunc(mod), TARGET))
    assert json.loads((tmp_path / CHOICES_FILE).read_text()) == {}


def test_a_candidate_not_built_in_time_is_a_build_error():
    func = fuse(fx2relax.from_module(nn.Sequential(nn.Linear(16, 8)).eval(), (4, 16)), TARGET)["linear_packed"]
    candidate = ms.builder.BuilderInput(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), TARGET)
    for timeout in (1e-3, 60.0):
        builder = PersistentBuilder(timeout=timeout)
        try:
            results = builder.build([candidate, candidate])  # the worker killed after the first goes on
        finally:
            builder.shutdown()
        for result in results:
            if timeout < 1:
                assert result.artifact_path is None and "killed after" in result.error_msg
            else:
                assert result.error_msg is None and result.artifact_path
