"""sum and mean against PyTorch: dim as int, tuple, list, negative, None or empty; keepdim; every
alias; NaN/±inf; a large spatial mean (ShuffleNetV2's x.mean([2, 3])) and a symbolic batch."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, check_against_torch, tensors

FORMS = {
    "sum": {
        "torch": lambda dim, keepdim: lambda x: torch.sum(x, dim, keepdim),
        "torch_keyword": lambda dim, keepdim: lambda x: torch.sum(x, dim=dim, keepdim=keepdim, dtype=torch.float32),
        "method": lambda dim, keepdim: lambda x: x.sum(dim, keepdim=keepdim),
    },
    "mean": {
        "torch": lambda dim, keepdim: lambda x: torch.mean(x, dim, keepdim),
        "torch_keyword": lambda dim, keepdim: lambda x: torch.mean(x, dim=dim, keepdim=keepdim, dtype=torch.float32),
        "method": lambda dim, keepdim: lambda x: x.mean(dim, keepdim),
    },
}


@st.composite
def dims(draw, rank):
    """An int, a tuple or list of distinct axes (possibly negative), None or [] (all axes)."""
    kind = draw(st.sampled_from(["int", "tuple", "list", "none", "empty"]))
    if kind == "none":
        return None
    if kind == "empty":
        return []
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    if kind == "int":
        return axes[0]
    return tuple(axes) if kind == "tuple" else axes


@given(data=st.data(), op=st.sampled_from(sorted(FORMS)), keepdim=st.booleans())
def test_reduction(data, op, keepdim):
    shape = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple), label="shape")
    dim = data.draw(dims(len(shape)), label="dim")
    form = data.draw(st.sampled_from(sorted(FORMS[op])), label="form")
    if dim is None and form != "torch_keyword":
        function = {"sum": torch.sum, "mean": torch.mean}[op] if form == "torch" else (lambda x: getattr(x, op)())
    else:
        function = FORMS[op][form](dim, keepdim)
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())), label="x")
    check_against_torch(Apply(function), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_spatial_reduction_of_a_large_map(op):
    """224x224 elements per channel: the float64 accumulation stays within 1e-5 of PyTorch's."""
    x = torch.rand(2, 3, 224, 224) * 4 - 1
    check_against_torch(Apply(lambda t: getattr(t, op)([2, 3])), x)


@pytest.mark.parametrize("batch", [1, 3])
def test_mean_with_a_symbolic_batch(batch):
    x = torch.randn(batch, 4, 5)
    check_against_torch(Apply(lambda t: t.mean([0, 2], keepdim=True)), x, input_shape=(None, 4, 5))


def test_repeated_dim_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="multiple times"):
        fx2relax.from_module(Apply(lambda x: x.sum((1, -1))), (2, 3))


@pytest.mark.parametrize("function", [
    lambda x: x.mean(1, dtype=torch.float64),
    lambda x: x.sum(-1, dtype=torch.float64),
    lambda x: (x > 0).sum(1),  # a bool sum counts: int64
    lambda x: (x > 0).long().sum((0, 1), keepdim=True),
])
def test_dtypes(function):
    check_against_torch(Apply(function), torch.randn(3, 4))


def test_integer_mean_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="dtype"):
        fx2relax.from_module(Apply(lambda x: (x > 0).long().mean(1)), (2, 3))
