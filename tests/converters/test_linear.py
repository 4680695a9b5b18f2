"""Linear and matrix products against PyTorch: nn.Linear / F.linear (weights as tensors, 1-D weight),
torch.matmul with PyTorch's 1-D / 2-D / N-D broadcasting rules in every spelling, mm, bmm, addmm,
nn.Bilinear / F.bilinear, a symbolic batch, NaN/±inf, and refusals.

Reductions here are at most 64 terms of values in [-3, 3] summed in float32 (as PyTorch does, in
another order); the rounding difference stays well inside rtol=atol=1e-5."""

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import ApplyBinary, Functional, FunctionalWeightInput, check_against_torch, tensors


@st.composite
def linear_cases(draw):
    in_features, out_features = draw(st.integers(1, 64)), draw(st.integers(1, 16))
    linear = nn.Linear(in_features, out_features, bias=draw(st.booleans()))
    leading = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    return linear, (*leading, in_features)


@given(linear_cases(), st.data(), st.booleans(), st.booleans())
def test_linear_matches_torch(case, data, special_values, symbolic):
    linear, shape = case
    input_shape = (None, *shape[1:]) if symbolic and len(shape) > 1 else None
    check_against_torch(linear, data.draw(tensors(shape, special_values=special_values)), input_shape=input_shape)


@given(linear_cases(), st.data(), st.sampled_from(["get_attr", "input", "vector"]))
def test_linear_function_matches_torch(case, data, weight_source):
    """F.linear with the weight as a get_attr tensor, as a model input, or as a 1-D vector (x · w)."""
    linear, shape = case
    x = data.draw(tensors(shape))
    if weight_source == "get_attr":
        check_against_torch(Functional(F.linear, linear.weight, linear.bias), x)
    elif weight_source == "input":
        check_against_torch(FunctionalWeightInput(F.linear, linear.weight, linear.bias), [x, linear.weight.detach()])
    else:
        check_against_torch(Functional(F.linear, linear.weight[0], None), x)


MATMUL_FORMS = {
    "torch.matmul": torch.matmul,
    "operator": operator.matmul,
    "method": lambda x, y: x.matmul(y),
    "torch.mm": torch.mm,
    "Tensor.mm": lambda x, y: x.mm(y),
    "torch.bmm": torch.bmm,
    "Tensor.bmm": lambda x, y: x.bmm(y),
}


@st.composite
def matmul_shapes(draw):
    """Shapes torch.matmul accepts: vectors or matrices with batch axes that broadcast (1s, fewer axes)."""
    n, k, m = draw(st.integers(1, 5)), draw(st.integers(1, 64)), draw(st.integers(1, 5))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    lhs_rank, rhs_rank = draw(st.integers(1, 2 + len(batch))), draw(st.integers(1, 2 + len(batch)))
    lhs_batch = [1 if draw(st.booleans()) else d for d in batch[len(batch) - max(lhs_rank - 2, 0):]]
    rhs_batch = [1 if draw(st.booleans()) else d for d in batch[len(batch) - max(rhs_rank - 2, 0):]]
    lhs = (k,) if lhs_rank == 1 else (*lhs_batch, n, k)
    rhs = (k,) if rhs_rank == 1 else (*rhs_batch, k, m)
    return lhs, rhs


@given(st.data(), matmul_shapes(), st.sampled_from(["torch.matmul", "operator", "method"]), st.booleans())
def test_matmul_matches_torch(data, shapes, form, symbolic):
    lhs, rhs = shapes
    inputs = [data.draw(tensors(lhs)), data.draw(tensors(rhs))]
    input_shape = None
    if symbolic and len(lhs) >= 3:  # a symbolic leading axis of lhs; rhs's aligned axis too when they are equal
        offset = len(rhs) - len(lhs)
        aligned = rhs[offset] if len(rhs) >= 3 and offset >= 0 else 1
        assume(aligned == 1 or aligned == lhs[0])
        rhs_symbolic = (*rhs[:offset], None, *rhs[offset + 1:]) if aligned != 1 else rhs
        input_shape = [(None, *lhs[1:]), rhs_symbolic]
    check_against_torch(ApplyBinary(MATMUL_FORMS[form]), inputs, input_shape=input_shape)


@given(st.data(), st.sampled_from(["torch.mm", "Tensor.mm", "torch.bmm", "Tensor.bmm"]), st.booleans())
def test_mm_and_bmm_match_torch(data, form, special_values):
    n, k, m, batch = (data.draw(st.integers(1, 6)) for _ in range(4))
    lead = (batch,) if "bmm" in form else ()
    inputs = [data.draw(tensors((*lead, n, k), special_values=special_values)), data.draw(tensors((*lead, k, m)))]
    check_against_torch(ApplyBinary(MATMUL_FORMS[form]), inputs)


class Addmm(nn.Module):
    """forward(x, a, b) = torch.addmm(x, a, b, beta=beta, alpha=alpha), or the Tensor.addmm method."""

    def __init__(self, method, beta, alpha):
        super().__init__()
        self.method, self.beta, self.alpha = method, beta, alpha

    def forward(self, x, a, b):
        if self.method:
            return x.addmm(a, b, beta=self.beta, alpha=self.alpha)
        return torch.addmm(x, a, b, beta=self.beta, alpha=self.alpha)


SCALES = st.one_of(st.sampled_from([1, 0, 0.5, -2]), st.floats(-3, 3, width=32))


@given(st.data(), st.booleans(), SCALES, SCALES, st.booleans())
def test_addmm_matches_torch(data, method, beta, alpha, special_values):
    """beta * x + alpha * (a @ b), x broadcast; beta = 0 or alpha = 0 drop their term's NaN as PyTorch does."""
    n, k, m = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 32)), data.draw(st.integers(1, 6))
    added = data.draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), (1,)]))
    inputs = [data.draw(tensors(added, special_values=special_values)),
              data.draw(tensors((n, k), special_values=special_values)), data.draw(tensors((k, m)))]
    check_against_torch(Addmm(method, beta, alpha), inputs)


class TwoInputs(nn.Module):
    """forward(x, y) = bilinear(x, y), or with `as_function` F.bilinear(x, y, weight, bias) on get_attr
    tensors. (A bare module is traced through a one-input nn.Sequential.)"""

    def __init__(self, bilinear, as_function=False):
        super().__init__()
        self.bilinear = bilinear
        self.as_function = as_function

    def forward(self, x, y):
        if self.as_function:
            return F.bilinear(x, y, self.bilinear.weight, self.bilinear.bias)
        return self.bilinear(x, y)


@given(st.data(), st.booleans(), st.booleans())
def test_bilinear_matches_torch(data, as_function, bias):
    in1, in2, out = (data.draw(st.integers(1, 8)) for _ in range(3))
    bilinear = nn.Bilinear(in1, in2, out, bias=bias)
    leading = tuple(data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    inputs = [data.draw(tensors((*leading, in1))), data.draw(tensors((*leading, in2)))]
    check_against_torch(TwoInputs(bilinear, as_function), inputs)


def test_linear_refuses_feature_mismatch():
    with pytest.raises(fx2relax.ShapeError, match=r"module '1', nn.Linear.*parameter 'in_features'.*12 features"):
        fx2relax.from_module(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (1, 3, 4))


def test_linear_function_refuses_feature_and_bias_mismatch():
    with pytest.raises(fx2relax.ShapeError, match=r"linear.*parameter 'weight'.*3 features.*in_features=4"):
        fx2relax.from_module(Functional(F.linear, torch.rand(2, 4), None), (5, 3))
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'bias'.*shape \(2,\), got \(3,\)"):
        fx2relax.from_module(Functional(F.linear, torch.rand(2, 4), torch.rand(3)), (5, 4))


def test_matmul_refuses_mismatched_shapes():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'other'.*\(2, 3\) and \(4, 5\) cannot be multiplied"):
        fx2relax.from_module(ApplyBinary(torch.matmul), [(2, 3), (4, 5)])
    with pytest.raises(fx2relax.ShapeError, match=r"batch axes of \(2, 2, 3\) and \(3, 3, 5\) do not broadcast"):
        fx2relax.from_module(ApplyBinary(operator.matmul), [(2, 2, 3), (3, 3, 5)])


def test_mm_and_bmm_refuse_wrong_ranks_and_batches():
    with pytest.raises(fx2relax.ShapeError, match=r"expects 2-D tensors, got shapes \(2, 2, 3\)"):
        fx2relax.from_module(ApplyBinary(torch.mm), [(2, 2, 3), (3, 5)])
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'mat2'.*batch sizes of \(2, 2, 3\) and \(1, 3, 5\) differ"):
        fx2relax.from_module(ApplyBinary(torch.bmm), [(2, 2, 3), (1, 3, 5)])


def test_addmm_refuses_input_that_does_not_broadcast_and_non_real_scales():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'input'.*shape \(3,\) does not broadcast to .*\(2, 5\)"):
        fx2relax.from_module(Addmm(False, 1, 1), [(3,), (2, 4), (4, 5)])
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'mat2'.*\(2, 4\) and \(3, 5\) cannot be multiplied"):
        fx2relax.from_module(Addmm(False, 1, 1), [(5,), (2, 4), (3, 5)])
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'beta': must be a real number"):
        fx2relax.from_module(Addmm(False, True, 1), [(5,), (2, 4), (4, 5)])


def test_bilinear_refuses_mismatches():
    with pytest.raises(fx2relax.ShapeError, match=r"nn.Bilinear.*parameter 'in2_features'.*input2 has 4 features"):
        fx2relax.from_module(TwoInputs(nn.Bilinear(3, 5, 2)), [(2, 3), (2, 4)])
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'input2'.*batch axes must match"):
        fx2relax.from_module(TwoInputs(nn.Bilinear(3, 5, 2)), [(2, 3), (1, 5)])
