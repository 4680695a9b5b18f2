"""Flatten(start_dim, end_dim), negative dims included, and its refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors


@st.composite
def flatten_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    rank = len(shape)
    start = draw(st.integers(-rank, rank - 1))
    end = draw(st.integers(start % rank, rank - 1))
    end = draw(st.sampled_from([end, end - rank]))  # the same axis, positive or negative
    return nn.Flatten(start, end), shape


@given(flatten_cases(), st.data())
def test_flatten_matches_torch(case, data):
    flatten, shape = case
    check_against_torch(flatten, data.draw(tensors(shape)))


def test_flatten_refuses_start_after_end():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'start_dim'.*comes after end_dim"):
        fx2relax.from_module(nn.Sequential(nn.Flatten(2, 1)), (2, 3, 4))


def test_flatten_refuses_dim_out_of_range():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'end_dim'.*\[-3, 2\], but got 3"):
        fx2relax.from_module(nn.Sequential(nn.Flatten(0, 3)), (2, 3, 4))
