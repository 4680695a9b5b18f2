"""MaxPool2d: every constructor parameter against PyTorch (ceil_mode's output-size rule included),
NaN/inf propagation, and refusals."""

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from fx2relax.kernels.pooling import pool_output_size
from tests.helpers import check_against_torch, tensors

sizes = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))


def as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


@st.composite
def max_pool2d_cases(draw):
    kernel = draw(sizes)
    kh, kw = as_pair(kernel)
    padding = draw(st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)))
    stride = draw(st.one_of(st.none(), sizes))
    dilation = draw(sizes)
    ceil_mode = draw(st.booleans())
    pool = nn.MaxPool2d(kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    shape = (*batch, draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    out = [
        pool_output_size(size, k, s, p, d, ceil_mode)
        for size, k, s, p, d in zip(shape[-2:], (kh, kw), as_pair(stride or kernel), padding, as_pair(dilation))
    ]
    assume(min(out) >= 1)
    return pool, shape


@given(max_pool2d_cases(), st.data())
def test_max_pool2d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape)))


@given(max_pool2d_cases(), st.data())
def test_max_pool2d_propagates_nan_like_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape, special_values=True)))


def test_max_pool2d_nan_is_not_dropped():
    x = torch.tensor([[[[1.0, float("nan")], [3.0, 2.0]]]])
    out = check_against_torch(nn.MaxPool2d(2), x)
    assert torch.isnan(torch.from_numpy(out)).all()


@pytest.mark.parametrize("size,kernel,stride,pad,dilation", [(5, 2, 2, 0, 1), (6, 3, 2, 1, 1), (7, 2, 3, 1, 2), (4, 3, 3, 1, 1)])
def test_ceil_mode_output_size_matches_torch(size, kernel, stride, pad, dilation):
    pool = nn.MaxPool2d(kernel, stride, pad, dilation, ceil_mode=True)
    expected = pool(torch.zeros(1, 1, size, size)).shape[-1]
    assert pool_output_size(size, kernel, stride, pad, dilation, True) == expected


def test_max_pool2d_refuses_return_indices():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'return_indices'") as error:
        fx2relax.from_module(nn.Sequential(nn.MaxPool2d(2, return_indices=True)), (1, 1, 4, 4))
    assert "nn.MaxPool2d" in str(error.value) and "module '0'" in str(error.value)


def test_max_pool2d_refuses_padding_over_half_the_kernel():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'"):
        fx2relax.from_module(nn.Sequential(nn.MaxPool2d(2, padding=2)), (1, 1, 8, 8))


def test_max_pool2d_refuses_kernel_larger_than_input():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'kernel_size'.*too small"):
        fx2relax.from_module(nn.Sequential(nn.MaxPool2d(5)), (1, 1, 3, 3))
