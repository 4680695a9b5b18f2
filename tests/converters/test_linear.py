"""Linear: with and without bias, any number of leading dimensions, special values, refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors


@st.composite
def linear_cases(draw):
    in_features, out_features = draw(st.integers(1, 64)), draw(st.integers(1, 16))
    linear = nn.Linear(in_features, out_features, bias=draw(st.booleans()))
    leading = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    return linear, (*leading, in_features)


@given(linear_cases(), st.data())
def test_linear_matches_torch(case, data):
    linear, shape = case
    check_against_torch(linear, data.draw(tensors(shape)))


@given(linear_cases(), st.data())
def test_linear_propagates_nan_and_inf_like_torch(case, data):
    linear, shape = case
    check_against_torch(linear, data.draw(tensors(shape, special_values=True)))


def test_linear_refuses_feature_mismatch():
    with pytest.raises(fx2relax.ShapeError, match=r"module '1', nn.Linear.*parameter 'in_features'.*12 features"):
        fx2relax.from_module(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (1, 3, 4))
