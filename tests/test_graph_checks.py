"""Whole-graph checks at import: models that update their own state, forward arguments that are not
tensors, and sizes TVM's generated code cannot index."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fx2relax
from fx2relax.graph_checks import MAX_ELEMENTS
from tests.helpers import check_against_torch

REPO = Path(__file__).resolve().parents[1]


class UpdatesBuffer(nn.Module):
    """Updates a buffer (or parameter) from the input in forward, in one of several in-place forms.

    (An update that does not depend on the input, `self.running.zero_()`, runs once while torch.fx
    traces, so the import computes PyTorch's first call.)"""

    def __init__(self, form: str):
        super().__init__()
        self.form = form
        self.register_buffer("running", torch.zeros(3))
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        if self.form == "add_":
            self.running.add_(x.mean(0))
        elif self.form == "copy_":
            self.running.copy_(x[0])
        elif self.form == "view":
            self.running.view(1, 3).add_(x[:1])
        elif self.form == "chained":
            self.running.add_(x.mean(0)).relu_()
        elif self.form == "relu inplace":
            F.relu(self.running.view(3), inplace=True).add_(x[0])
        elif self.form == "parameter":
            self.scale.mul_(x.sum())
        elif self.form == "parameter data":
            self.scale.data.mul_(x.sum())
        elif self.form == "setitem":
            self.running[0] = x[0, 0]
        return x - self.running * self.scale


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("add_", "updates the model's own tensor 'running' in place"),
        ("copy_", "updates the model's own tensor 'running' in place|no fx2relax converter"),
        ("view", "updates a tensor torch.fx computed once while tracing"),  # the view has no proxy: traced as a constant
        ("chained", "updates the model's own tensor 'running' in place"),
        ("relu inplace", "updates a tensor torch.fx computed once while tracing"),
        ("parameter", "updates the model's own tensor 'scale' in place"),
        ("parameter data", "updates the model's own tensor 'scale' in place|reading attribute 'data' is not supported"),
        ("setitem", "updates the model's own tensor 'running' in place|no fx2relax converter"),
    ],
)
def test_model_updating_its_own_tensors_from_the_input_is_refused(form, message):
    with pytest.raises(fx2relax.Fx2RelaxError, match=message):
        fx2relax.from_module(UpdatesBuffer(form), (2, 3))


def test_issue_example_names_the_node_and_the_buffer():
    expected = r"node 'add_' \(call_method add_\): parameter 'inplace': updates the model's own tensor 'running'"
    with pytest.raises(fx2relax.UnsupportedParameterError, match=expected):
        fx2relax.from_module(UpdatesBuffer("add_"), (2, 3))


class InPlaceOnTemporaries(nn.Module):
    """In-place ops on values computed in forward are fine: no tensor of the model changes."""

    def __init__(self):
        super().__init__()
        self.register_buffer("offset", torch.full((3,), 0.5))

    def forward(self, x):
        return (x - self.offset).add_(1.0).relu_()


def test_in_place_ops_on_temporaries_still_import():
    check_against_torch(InPlaceOnTemporaries(), torch.randn(2, 3))


class Scaled(nn.Module):
    def forward(self, x, scale=2.0, shift: int = 1, flag=True):
        return x * scale + shift + flag


class WithMask(nn.Module):
    def forward(self, x, mask=None):
        return x if mask is None else x * mask


class NeedsCount(nn.Module):
    def forward(self, x, n):
        return x * n


def test_number_arguments_with_defaults_are_bound_when_given_no_shape():
    x = torch.randn(2, 3)
    check_against_torch(Scaled(), x)
    model = fx2relax.build(fx2relax.from_module(Scaled(), (2, 3)))
    assert [spec.name for spec in model.inputs] == ["x"]
    np.testing.assert_allclose(model(x), (x * 2.0 + 1 + True).numpy(), rtol=1e-6)


def test_argument_given_a_shape_stays_a_tensor_input():
    x, scale = torch.randn(2, 3), torch.randn(2, 3)
    mod = fx2relax.from_module(Scaled(), [(2, 3), (2, 3)])
    np.testing.assert_allclose(fx2relax.build(mod)(x, scale), (x * scale + 1 + True).numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("model", "named"),
    [(WithMask(), r"'mask' \(default None\)"), (NeedsCount(), r"'n' have none")],
)
def test_argument_without_shape_or_number_default_is_named(model, named):
    expected = rf"takes 2 input\(s\) but input_shape gives 1 shape\(s\): forward argument\(s\) {named}"
    with pytest.raises(fx2relax.InputShapeError, match=expected):
        fx2relax.from_module(model, (2, 3))


def test_users_graph_module_is_left_unchanged():
    graph_module = torch.fx.symbolic_trace(Scaled())
    before = str(graph_module.graph)
    fx2relax.from_module(graph_module, (2, 3))
    assert str(graph_module.graph) == before


@pytest.mark.parametrize(
    ("model", "shape", "match"),
    [
        (nn.ReLU(), (MAX_ELEMENTS + 1,), r"input 'input_1': tensor of shape \(2147483648\) has 2,147,483,648 elements"),
        (nn.ReLU(), (2, 3, 40000, 10000), "2,400,000,000 elements; TVM's generated code indexes at most 2,147,483,647"),
        (nn.Linear(1, 1 << 16), (1 << 15, 1), r"node '_0' \(kernel \w+\): tensor of shape \(32768, 65536\) has 2,147,483,648"),
        (nn.Conv2d(1, 1, 3, padding=1), (1, 1, 46340, 46340),
         r"node '_0' \(kernel conv2d\): temporary 'pad' of shape \(1, 1, 46342, 46342\)"),
    ],
)
def test_sizes_the_code_cannot_index_are_refused_at_import(model, shape, match):
    with pytest.raises(fx2relax.ShapeError, match=match):
        fx2relax.from_module(model, shape)


def test_largest_indexable_input_imports():
    fx2relax.from_module(nn.ReLU(), (MAX_ELEMENTS,))


def test_symbolic_dimension_counts_as_one():
    fx2relax.from_module(nn.ReLU(), ("N", 1 << 30))
    with pytest.raises(fx2relax.ShapeError, match=r"shape \(N, 3, 1073741824\)"):
        fx2relax.from_module(nn.ReLU(), ("N", 3, 1 << 30))


def test_compile_of_a_huge_shape_is_a_clear_error_not_an_abort():
    """Before the check, compile of this model aborted the process inside LLVM (SIGABRT)."""
    code = textwrap.dedent(
        """
        import torch, fx2relax
        try:
            fx2relax.compile(fx2relax.from_module(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), (1, 3, 100000, 100000)))
        except fx2relax.ShapeError as error:
            print("refused:", error)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: node '_0' (kernel conv2d): parameter" not in result.stdout
    assert "refused: input 'input_1': tensor of shape (1, 3, 100000, 100000) has 30,000,000,000 elements" in result.stdout


class UnusedVariadic(nn.Module):
    def forward(self, x, *args, **kwargs):
        return x + 1


class UsedVariadic(nn.Module):
    def forward(self, *xs):
        return xs[0] + 1


def test_unused_variadic_arguments_are_dropped():
    check_against_torch(UnusedVariadic(), torch.randn(2, 3))
    mod = fx2relax.from_module(UnusedVariadic(), [(2, 3)])
    assert [p.name for p in mod["main"].params] == ["x"]


def test_used_variadic_argument_is_refused_naming_it():
    """torch.fx traces `*xs` as one placeholder, so `xs[0]` would index the first input's rows."""
    with pytest.raises(fx2relax.InputShapeError, match=r"forward's variadic argument '\*xs' is used by the model"):
        fx2relax.from_module(UsedVariadic(), (2, 3))


def test_torch_compile_backend_refuses_sizes_too():
    torch._dynamo.reset()
    compiled = torch.compile(nn.Linear(1, 1 << 16), backend="fx2relax")
    with pytest.raises(Exception) as error, torch.no_grad():  # noqa: B017  (dynamo wraps the backend's error)
        compiled(torch.zeros(1 << 15, 1))
    assert isinstance(error.value.inner_exception, fx2relax.ShapeError)
    assert "2,147,483,648 elements" in str(error.value)
    torch._dynamo.reset()
