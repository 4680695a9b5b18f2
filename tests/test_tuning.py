"""MetaSchedule tuning: the tuned module still computes what PyTorch computes, and its records are reused."""

import pytest
import torch
import tvm
from torch import nn
from tvm.s_tir import meta_schedule as ms
from tvm.target.codegen import llvm_get_system_cpu

import fx2relax
from fx2relax.tuning import tune
from tests.helpers import assert_outputs_match

pytestmark = pytest.mark.slow  # two MetaSchedule rounds, about 25 s each here

TARGET = tvm.target.Target({"kind": "llvm", "mcpu": llvm_get_system_cpu(), "num-cores": 2})


def tuned_primfuncs(mod: tvm.IRModule) -> list[str]:
    return sorted(
        gv.name_hint
        for gv, func in mod.functions_items()
        if isinstance(func, tvm.tirx.PrimFunc) and func.attrs and func.attrs.get("tirx.is_scheduled", False)
    )


def test_tuned_module_matches_pytorch_and_a_second_tune_reuses_the_records(tmp_path):
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU()).eval()
    inputs = torch.randn(4, 16)
    mod = fx2relax.from_module(model, (4, 16))

    tuned = tune(mod, TARGET, trials=4, work_dir=tmp_path)
    assert tuned_primfuncs(tuned) == ["linear", "relu"]
    with torch.no_grad():
        assert_outputs_match(fx2relax.build(tuned, target=TARGET)(inputs), model(inputs))

    records = len(ms.database.JSONDatabase(work_dir=str(tmp_path)))
    retuned = tune(mod, TARGET, trials=4, work_dir=tmp_path)
    assert len(ms.database.JSONDatabase(work_dir=str(tmp_path))) == records  # nothing measured again
    tvm.ir.assert_structural_equal(retuned, tuned)


def test_a_budget_below_one_trial_is_refused(tmp_path):
    mod = fx2relax.from_module(nn.ReLU(), (2, 3))
    with pytest.raises(ValueError, match="trials must be a positive number of measurements, got 0"):
        tune(mod, TARGET, trials=0, work_dir=tmp_path)
