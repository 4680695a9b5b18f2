"""`math` functions on sizes (volo's `math.ceil(H / stride)`): torch.fx records them as nodes, and
fx2relax computes them at import, so the sizes they give shape the graph as in PyTorch."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors

ROUNDINGS = {"ceil": math.ceil, "floor": math.floor, "trunc": math.trunc}


class RoundedSizes(nn.Module):
    """A rounded size as a slice bound and a view size, another as a factor; sqrt of a size as a
    factor. (torch.fx records `math` functions called in the traced forward's own module.)"""

    def __init__(self, rounding: str, divisor: float, factor_divisor: float):
        super().__init__()
        self.rounding, self.divisor, self.factor_divisor = rounding, divisor, factor_divisor

    def forward(self, x):
        _, height, width = x.shape
        if self.rounding == "ceil":
            rows, factor = math.ceil(height / self.divisor), math.ceil(width / self.factor_divisor)
        elif self.rounding == "floor":
            rows, factor = math.floor(height / self.divisor), math.floor(width / self.factor_divisor)
        else:
            rows, factor = math.trunc(height / self.divisor), math.trunc(width / self.factor_divisor)
        return x[:, :rows].reshape(x.shape[0], -1) * factor + math.sqrt(width)


@settings(max_examples=20)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)), rounding=st.sampled_from(sorted(ROUNDINGS)),
       divisor=st.sampled_from([1, 2, 3, 2.5, 0.75]), factor_divisor=st.sampled_from([1, 3, 2.5, -2, -0.4]), data=st.data())
def test_rounded_sizes_shape_the_graph(shape, rounding, divisor, factor_divisor, data):
    if math.floor(shape[1] / divisor) == 0:  # a zero-size slice
        divisor = 1
    check_against_torch(RoundedSizes(rounding, divisor, factor_divisor), data.draw(tensors(shape), label="x"))


class RoundedBatch(nn.Module):
    def __init__(self, divisor: int):
        super().__init__()
        self.divisor = divisor

    def forward(self, x):
        batch = x.shape[0]
        rounded = math.ceil(batch / self.divisor) * 100 + math.floor(batch / self.divisor) * 10 + math.trunc(batch / self.divisor)
        return x * rounded + math.ceil(batch // 2)


@pytest.mark.parametrize("batch", [1, 4, 5])
@pytest.mark.parametrize("divisor", [2, 3, -2])
def test_rounding_a_symbolic_size(batch, divisor):
    """A symbolic batch / s rounded by math.ceil, floor and trunc (any sign of s) is a size expression;
    math.ceil of an integer size (batch // 2) is that size."""
    check_against_torch(RoundedBatch(divisor), torch.randn(batch, 3), input_shape=(None, 3))


class MathOn(nn.Module):
    def __init__(self, case: str):
        super().__init__()
        self.case = case

    def forward(self, x):
        if self.case == "tensor":
            return x * math.ceil(x)
        if self.case == "unrounded_ratio":  # a symbolic batch / 2 has no value before it is rounded
            return x * (x.shape[0] / 2)
        if self.case == "symbolic_sqrt":
            return x * math.sqrt(x.shape[0])
        return x * math.sqrt(1 - x.shape[1])


@pytest.mark.parametrize(
    "case, match",
    [
        ("tensor", "parameter 'x': math.ceil is only computed on sizes and numbers, got a tensor"),
        ("symbolic_sqrt", "parameter 'x': math.sqrt is only computed on sizes and numbers"),
        ("unrounded_ratio", "parameter 'other': expected a tensor or a real number, got Ratio"),
        ("negative_sqrt", r"parameter 'x': math.sqrt\(-2\): math domain error"),
    ],
)
def test_math_refusals(case, match):
    with pytest.raises(fx2relax.UnsupportedParameterError, match=match):
        fx2relax.from_module(MathOn(case), (None, 3))
