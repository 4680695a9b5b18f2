"""Softmax, log-softmax, softmin and Softmax2d against PyTorch: every alias, dim drawn (negative too,
None for the implicit legacy choice), NaN/±inf and large logits, through torch.fx and torch.export."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, tensors

FORMS = {
    "softmax": {
        "module": lambda dim: nn.Softmax(dim),
        "F": lambda dim: Apply(lambda x: F.softmax(x, dim=dim)),
        "F_positional": lambda dim: Apply(lambda x: F.softmax(x, dim, 3, None)),
        "torch": lambda dim: Apply(lambda x: torch.softmax(x, dim)),
        "method": lambda dim: Apply(lambda x: x.softmax(dim=dim)),
    },
    "log_softmax": {
        "module": lambda dim: nn.LogSoftmax(dim),
        "F": lambda dim: Apply(lambda x: F.log_softmax(x, dim=dim)),
        "F_positional": lambda dim: Apply(lambda x: F.log_softmax(x, dim, 3, torch.float32)),
        "torch": lambda dim: Apply(lambda x: torch.log_softmax(x, dim, dtype=torch.float32)),
        "method": lambda dim: Apply(lambda x: x.log_softmax(dim)),
    },
    "softmin": {
        "module": lambda dim: nn.Softmin(dim),
        "F": lambda dim: Apply(lambda x: F.softmin(x, dim=dim)),
        "F_positional": lambda dim: Apply(lambda x: F.softmin(x, dim, 3, torch.float32)),
    },
}


@given(data=st.data(), op=st.sampled_from(sorted(FORMS)), bound=st.sampled_from([3.0, 100.0]))
def test_softmax(data, op, bound):
    shape = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple), label="shape")
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans()), low=-bound, high=bound), label="x")
    form = data.draw(st.sampled_from(sorted(FORMS[op])), label="form")
    implicit = form in ("module", "F") and data.draw(st.booleans(), label="implicit dim")
    dim = None if implicit else data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    check_against_torch(FORMS[op][form](dim), x)


@pytest.mark.parametrize("function", [torch.softmax, F.softmin])
def test_casting_dtype_is_refused(function):
    with pytest.raises(fx2relax.UnsupportedParameterError, match="dtype"):
        fx2relax.from_module(Apply(lambda x: function(x, 1, dtype=torch.float64)), (2, 3))


@given(data=st.data(), rank=st.sampled_from([3, 4]))
def test_softmax2d(data, rank):
    """Softmax over dim -3 (the channels) of a 3-D or 4-D input."""
    shape = data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank).map(tuple), label="shape")
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans()), low=-100, high=100), label="x")
    check_against_torch(nn.Softmax2d(), x)


@settings(max_examples=6)
@given(data=st.data(), dim=st.integers(-3, 2), softmin=st.booleans())
def test_exported_softmin_and_softmax2d(data, dim, softmin):
    """torch.export gives softmin as neg and softmax, Softmax2d as softmax over dim -3."""
    model = nn.Softmin(dim) if softmin else nn.Softmax2d()
    check_exported(model, data.draw(tensors((2, 3, 4), special_values=True), label="x"))


@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 3, 4, 5)])
def test_softmax2d_of_other_ranks_is_refused(shape):
    with pytest.raises(ValueError):
        nn.Softmax2d()(torch.zeros(shape))
    with pytest.raises(fx2relax.ShapeError, match="3-D or 4-D"):
        fx2relax.from_module(nn.Softmax2d(), shape)


def test_dim_out_of_range_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="dim"):
        fx2relax.from_module(Apply(lambda x: x.log_softmax(2)), (2, 3))


def test_softmax_is_stable_for_large_logits():
    out = check_against_torch(nn.Softmax(dim=1), torch.tensor([[1000.0, 999.0, -1000.0], [88.0, 89.0, 90.0]]))
    assert torch.isfinite(torch.from_numpy(out)).all()


@pytest.mark.parametrize("compiled", [False, True], ids=["built", "compiled"])
def test_softmax_of_pairs_is_accurate_over_a_dense_sweep(compiled):
    # softmax([0, x]) is 1 / (1 + e^-|x|) and e^-|x| / (1 + e^-|x|) after the max is subtracted:
    # kernels.math.exp_value over [-110, 0] within 3e-7 of PyTorch (a float32 ulp or two) wherever
    # PyTorch's weight is a normal number; where it is a denormal (e^-|x| below 1.2e-38) ours is 0
    # (kernels.softmax makes no denormal); NaN and ±inf rows too.
    x = torch.cat([torch.linspace(-110, 110, 400_001), torch.tensor([float("nan"), float("inf"), float("-inf")])])
    pairs = torch.stack([torch.zeros_like(x), x], dim=1)
    smallest_normal = np.finfo(np.float32).tiny
    out = check_against_torch(nn.Softmax(dim=1), pairs, rtol=3e-7, atol=smallest_normal, compiled=compiled)
    expected = torch.softmax(pairs, dim=1).numpy()
    denormal = (expected != 0) & (np.abs(expected) < smallest_normal)
    assert denormal.sum() > 1000  # the sweep crosses PyTorch's denormal weights
    assert (out[denormal] == 0).all()
    assert not ((out != 0) & (np.abs(out) < smallest_normal)).any()
    np.testing.assert_allclose(out[~denormal], expected[~denormal], rtol=3e-7, atol=0)


def test_softmax_multiplies_by_the_reciprocal_of_the_sum():
    # As PyTorch's CPU kernel (1 / sum once per slice, then a multiply per element), not a
    # vector divide per element; the results then round as PyTorch's do.
    from fx2relax.compiler import host_target, lower

    scheduled = lower(fx2relax.from_module(nn.Softmax(-1), (4, 64)), host_target(), None, None)
    scripts = [func.script() for _, func in scheduled.functions_items() if hasattr(func, "body")]
    assert any(re.search(r"\* \(T\.float32\(1(\.0)?\) / T_softmax_expsum\[", script) for script in scripts)
    assert not any(re.search(r"T_softmax_exp\[[^\]]*\] / T_softmax_expsum", script) for script in scripts)
