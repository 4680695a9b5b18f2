"""Conv2d: every constructor parameter against PyTorch, special values, and refusals."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors


@st.composite
def conv2d_cases(draw):
    """A Conv2d with drawn parameters and an input that PyTorch accepts for it."""
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding_mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(st.one_of(st.just("valid"), st.just("same"), st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3))))
    stride = 1 if padding == "same" else draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    conv = nn.Conv2d(
        in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
        groups=groups, bias=draw(st.booleans()), padding_mode=padding_mode,
    )
    # Smallest input the parameters allow: reflect needs pad < size, and the kernel must fit.
    pads = [max(p) for p in (conv._reversed_padding_repeated_twice[2:], conv._reversed_padding_repeated_twice[:2])]
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    low = [max(pad + 1, span - 2 * pad, 1) for pad, span in zip(pads, spans)]
    height = draw(st.integers(low[0], low[0] + 6))
    width = draw(st.integers(low[1], low[1] + 6))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return conv, (*batch, in_channels, height, width)


@given(conv2d_cases(), st.data())
def test_conv2d_matches_torch(case, data):
    conv, shape = case
    check_against_torch(conv, data.draw(tensors(shape)))


@given(conv2d_cases(), st.data())
def test_conv2d_propagates_nan_and_inf_like_torch(case, data):
    conv, shape = case
    check_against_torch(conv, data.draw(tensors(shape, special_values=True)))


def test_conv2d_refuses_channel_mismatch_naming_node_and_parameter():
    model = nn.Sequential(nn.Conv2d(3, 8, 3))
    with pytest.raises(fx2relax.ShapeError) as error:
        fx2relax.from_module(model, (1, 1, 8, 8))
    message = str(error.value)
    assert "module '0'" in message and "nn.Conv2d" in message and "in_channels" in message and "1 channels" in message


def test_conv2d_refuses_kernel_larger_than_padded_input():
    with pytest.raises(fx2relax.ShapeError, match=r"kernel_size.*larger than the padded input height 5"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 7, padding=1)), (1, 1, 3, 3))


def test_conv2d_refuses_reflect_padding_as_large_as_input():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*reflect padding"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")), (1, 1, 3, 3))


def test_conv2d_refuses_wrong_rank():
    with pytest.raises(fx2relax.ShapeError, match=r"3-D \(C, H, W\) or 4-D"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 1, 1, 8, 8))


def test_conv2d_refuses_unknown_padding_mode():
    conv = nn.Conv2d(1, 1, 3)
    conv.padding_mode = "mirror"  # PyTorch's constructor refuses it; a hand-edited module may not
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'padding_mode'"):
        fx2relax.from_module(nn.Sequential(conv), (1, 1, 8, 8))


def test_conv2d_prints_a_named_primfunc():
    script = fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)), (1, 1, 5, 5)).script()
    assert "def conv2d(" in script and 'T.sblock("pad")' in script
