"""Softmax over any dim (negative and the legacy implicit dim too), stability, NaN and ±inf."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors


@st.composite
def softmax_cases(draw):
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    rank = len(shape)
    dim = draw(st.one_of(st.integers(-rank, rank - 1), st.none()))
    return nn.Softmax(dim), shape


@given(softmax_cases(), st.data())
def test_softmax_matches_torch(case, data):
    softmax, shape = case
    check_against_torch(softmax, data.draw(tensors(shape, low=-30, high=30)))


@given(softmax_cases(), st.data())
def test_softmax_special_values_like_torch(case, data):
    softmax, shape = case
    check_against_torch(softmax, data.draw(tensors(shape, special_values=True)))


def test_softmax_is_stable_for_large_logits():
    x = torch.tensor([[1000.0, 999.0, -1000.0], [88.0, 89.0, 90.0]])
    out = check_against_torch(nn.Softmax(dim=1), x)
    assert np.isfinite(out).all()


def test_softmax_refuses_dim_out_of_range():
    with pytest.raises(fx2relax.ShapeError, match=r"nn.Softmax.*parameter 'dim'"):
        fx2relax.from_module(nn.Sequential(nn.Softmax(dim=2)), (2, 3))
