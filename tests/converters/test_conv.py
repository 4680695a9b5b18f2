"""Convolutions against PyTorch: Conv1d/2d/3d and ConvTranspose1d/2d/3d with every constructor parameter,
their F. functions (weights as tensors), ConvTranspose's output_size, a symbolic batch, NaN/±inf,
and refusals."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Functional, FunctionalWeightInput, check_against_torch, tensors

CONV_MODULES = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
TRANSPOSED_MODULES = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
CONV_FUNCTIONS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSED_FUNCTIONS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
SPATIAL = st.sampled_from([1, 2, 3])


def _sizes(draw, spatial, low, high):
    """An int or a `spatial`-tuple of ints in [low, high], the two ways PyTorch takes a size."""
    return draw(st.one_of(st.integers(low, high), st.tuples(*[st.integers(low, high)] * spatial)))


def _per_axis(value, spatial):
    return (value,) * spatial if isinstance(value, int) else tuple(value)


class FunctionalComputedWeight(Functional):
    """forward(x) = function(x, weight * 0.5, bias, **params): the weight is computed in the graph."""

    def forward(self, x):
        return self.function(x, self.weight * 0.5, self.bias, **self.params)


@st.composite
def conv_cases(draw, spatial, zeros_only=False):
    """(constructor kwargs, input shape) for a Conv{spatial}d that PyTorch accepts."""
    groups = draw(st.integers(1, 3))
    kernel = _per_axis(_sizes(draw, spatial, 1, 4), spatial)
    dilation = _sizes(draw, spatial, 1, 3)
    padding = draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3), st.tuples(*[st.integers(0, 3)] * spatial)))
    stride = 1 if padding == "same" else _sizes(draw, spatial, 1, 3)
    kwargs = dict(
        in_channels=groups * draw(st.integers(1, 3)), out_channels=groups * draw(st.integers(1, 3)),
        kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
        bias=draw(st.booleans()),
        padding_mode="zeros" if zeros_only else draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    )
    # Smallest input the parameters allow: reflect needs pad < size, and the kernel must fit.
    spans = [d * (k - 1) + 1 for d, k in zip(_per_axis(dilation, spatial), kernel)]
    if padding == "valid":
        pads = [(0, 0)] * spatial
    elif padding == "same":
        pads = [((s - 1) // 2, s - 1 - (s - 1) // 2) for s in spans]
    else:
        pads = [(p, p) for p in _per_axis(padding, spatial)]
    lows = [max(max(pad) + 1, span - sum(pad), 1) for pad, span in zip(pads, spans)]
    sizes = [draw(st.integers(low, low + (6 if spatial < 3 else 2))) for low in lows]
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return kwargs, (*batch, kwargs["in_channels"], *sizes)


@st.composite
def transposed_cases(draw, spatial):
    """(constructor kwargs, input shape) for a ConvTranspose{spatial}d that PyTorch accepts."""
    groups = draw(st.integers(1, 3))
    kernel = _per_axis(_sizes(draw, spatial, 1, 4), spatial)
    stride = _per_axis(_sizes(draw, spatial, 1, 3), spatial)
    dilation = _per_axis(_sizes(draw, spatial, 1, 3), spatial)
    padding = _per_axis(_sizes(draw, spatial, 0, 3), spatial)
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    kwargs = dict(
        in_channels=groups * draw(st.integers(1, 3)), out_channels=groups * draw(st.integers(1, 3)),
        kernel_size=kernel, stride=stride, padding=padding, output_padding=output_padding,
        groups=groups, bias=draw(st.booleans()), dilation=dilation,
    )
    # Smallest input whose output has at least one pixel: (L - 1) * s - 2p + d(k - 1) + op + 1 >= 1.
    lows = [
        1 + max(0, -(-(2 * p - d * (k - 1) - op) // s))
        for k, s, d, p, op in zip(kernel, stride, dilation, padding, output_padding)
    ]
    sizes = [draw(st.integers(low, low + (5 if spatial < 3 else 2))) for low in lows]
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return kwargs, (*batch, kwargs["in_channels"], *sizes)


def _check(model, data, shape, special_values=False, symbolic=False, **kwargs):
    """Compare with PyTorch; a symbolic batch (None) when `symbolic` and the input is batched."""
    x = data.draw(tensors(shape, special_values=special_values))
    input_shape = (None, *shape[1:]) if symbolic and kwargs.pop("batched") else None
    check_against_torch(model, x, input_shape=input_shape)


@given(st.data(), SPATIAL, st.booleans(), st.booleans())
def test_conv_module_matches_torch(data, spatial, special_values, symbolic):
    kwargs, shape = data.draw(conv_cases(spatial))
    conv = CONV_MODULES[spatial](**kwargs)
    _check(conv, data, shape, special_values, symbolic, batched=len(shape) == spatial + 2)


@given(st.data(), SPATIAL, st.sampled_from(["get_attr", "input", "computed"]))
def test_conv_function_matches_torch(data, spatial, weight_source):
    """F.conv1d / F.conv2d with the weight as a get_attr tensor, a model input or computed in the graph."""
    kwargs, shape = data.draw(conv_cases(spatial, zeros_only=True))
    conv = CONV_MODULES[spatial](**kwargs)
    params = {key: kwargs[key] for key in ("stride", "padding", "dilation", "groups")}
    x = data.draw(tensors(shape))
    function = CONV_FUNCTIONS[spatial]
    if weight_source == "input":
        check_against_torch(FunctionalWeightInput(function, conv.weight, conv.bias, **params), [x, conv.weight.detach()])
    elif weight_source == "computed":
        check_against_torch(FunctionalComputedWeight(function, conv.weight, conv.bias, **params), x)
    else:
        check_against_torch(Functional(function, conv.weight, conv.bias, **params), x)


def test_torch_conv2d_is_f_conv2d_and_converts():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    model = Functional(torch.conv2d, conv.weight, conv.bias, stride=(2, 1), padding=1)
    check_against_torch(model, torch.rand(1, 2, 6, 5))


@given(st.data(), SPATIAL, st.booleans(), st.booleans())
def test_conv_transpose_module_matches_torch(data, spatial, special_values, symbolic):
    kwargs, shape = data.draw(transposed_cases(spatial))
    conv = TRANSPOSED_MODULES[spatial](**kwargs)
    _check(conv, data, shape, special_values, symbolic, batched=len(shape) == spatial + 2)


@given(st.data(), SPATIAL)
def test_conv_transpose_function_matches_torch(data, spatial):
    kwargs, shape = data.draw(transposed_cases(spatial))
    conv = TRANSPOSED_MODULES[spatial](**kwargs)
    params = {key: kwargs[key] for key in ("stride", "padding", "output_padding", "groups", "dilation")}
    model = Functional(TRANSPOSED_FUNCTIONS[spatial], conv.weight, conv.bias, **params)
    check_against_torch(model, data.draw(tensors(shape)))


class WithOutputSize(nn.Module):
    def __init__(self, conv, output_size):
        super().__init__()
        self.conv = conv
        self.output_size = output_size

    def forward(self, x):
        return self.conv(x, output_size=self.output_size)


@given(st.data(), SPATIAL, st.booleans())
def test_conv_transpose_output_size_matches_torch(data, spatial, with_leading_dims):
    """forward(x, output_size) picks output_padding within [min_size, min_size + stride - 1]."""
    kwargs, shape = data.draw(transposed_cases(spatial))
    conv = TRANSPOSED_MODULES[spatial](**kwargs)
    min_sizes = [
        (size - 1) * s - 2 * p + d * (k - 1) + 1
        for size, k, s, d, p in zip(shape[-spatial:], conv.kernel_size, conv.stride, conv.dilation, conv.padding)
    ]
    assume(all(low + s - 1 >= 1 for low, s in zip(min_sizes, conv.stride)))
    sizes = [data.draw(st.integers(max(low, 1), low + s - 1)) for low, s in zip(min_sizes, conv.stride)]
    output_size = [*shape[:-spatial - 1], conv.out_channels, *sizes] if with_leading_dims else sizes
    check_against_torch(WithOutputSize(conv, output_size), data.draw(tensors(shape)))


def test_conv_refuses_channel_mismatch_naming_node_and_parameter():
    model = nn.Sequential(nn.Conv2d(3, 8, 3))
    with pytest.raises(fx2relax.ShapeError) as error:
        fx2relax.from_module(model, (1, 1, 8, 8))
    message = str(error.value)
    assert "module '0'" in message and "nn.Conv2d" in message and "in_channels" in message and "1 channels" in message


def test_conv_function_refuses_channel_mismatch_naming_weight():
    model = Functional(F.conv1d, torch.rand(4, 3, 2), None, groups=1)
    with pytest.raises(fx2relax.ShapeError, match=r"conv1d.*parameter 'weight'.*2 channels.*in_channels=3"):
        fx2relax.from_module(model, (1, 2, 8))


def test_conv_function_refuses_bias_of_wrong_size():
    model = Functional(F.conv2d, torch.rand(4, 3, 2, 2), torch.rand(3))
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'bias'.*shape \(4,\)"):
        fx2relax.from_module(model, (1, 3, 8, 8))


def test_conv_function_refuses_strided_same_padding():
    model = Functional(F.conv2d, torch.rand(4, 3, 3, 3), None, stride=2, padding="same")
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*not supported for strided"):
        fx2relax.from_module(model, (1, 3, 8, 8))


def test_conv_function_refuses_stride_of_wrong_length():
    model = Functional(F.conv2d, torch.rand(4, 3, 3, 3), None, stride=(1, 2, 3))
    with pytest.raises(fx2relax.UnsupportedParameterError, match=r"parameter 'stride'.*int or 2 ints"):
        fx2relax.from_module(model, (1, 3, 8, 8))


def test_conv_refuses_kernel_larger_than_padded_input():
    with pytest.raises(fx2relax.ShapeError, match=r"kernel_size.*larger than the padded input height 5"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 7, padding=1)), (1, 1, 3, 3))
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'weight'.*larger than the padded input length 3"):
        fx2relax.from_module(Functional(F.conv1d, torch.rand(1, 1, 4), None), (1, 1, 3))


def test_conv_refuses_reflect_padding_as_large_as_input():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*reflect padding"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")), (1, 1, 3, 3))
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*circular padding.*length 2"):
        fx2relax.from_module(nn.Sequential(nn.Conv1d(1, 1, 3, padding=3, padding_mode="circular")), (1, 1, 2))


def test_conv_refuses_wrong_rank():
    with pytest.raises(fx2relax.ShapeError, match=r"3-D \(C, H, W\) or 4-D \(N, C, H, W\)"):
        fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 1, 1, 8, 8))
    with pytest.raises(fx2relax.ShapeError, match=r"2-D \(C, L\) or 3-D \(N, C, L\)"):
        fx2relax.from_module(nn.Sequential(nn.Conv1d(1, 1, 3)), (1, 1, 1, 8))


def test_conv_refuses_unknown_padding_mode():
    conv = nn.Conv2d(1, 1, 3)
    conv.padding_mode = "mirror"  # PyTorch's constructor refuses it; a hand-edited module may not
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'padding_mode'"):
        fx2relax.from_module(nn.Sequential(conv), (1, 1, 8, 8))


def test_conv_refuses_symbolic_spatial_size():
    with pytest.raises(fx2relax.ShapeError, match="Conv1d needs static sizes"):
        fx2relax.from_module(nn.Sequential(nn.Conv1d(1, 1, 3)), (1, 1, None))


def test_conv_transpose_refuses_output_padding_not_below_stride_or_dilation():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'output_padding'.*smaller than either stride or dilation"):
        fx2relax.from_module(nn.Sequential(nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=(1, 2))), (1, 1, 4, 4))
    model = Functional(F.conv_transpose1d, torch.rand(1, 1, 3), None, output_padding=1)
    with pytest.raises(fx2relax.ShapeError, match="parameter 'output_padding'"):
        fx2relax.from_module(model, (1, 1, 4))


def test_conv_transpose_refuses_output_size_out_of_range():
    model = WithOutputSize(nn.ConvTranspose2d(1, 1, 3, stride=2), [11, 9])
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'output_size'.*\[11, 9\].*from \[9, 9\] to \[10, 10\]"):
        fx2relax.from_module(model, (1, 1, 4, 4))
    model = WithOutputSize(nn.ConvTranspose1d(1, 1, 3), [1, 2, 3, 4])
    with pytest.raises(fx2relax.ShapeError, match="parameter 'output_size': must have 1 or 3 elements"):
        fx2relax.from_module(model, (1, 1, 4))


def test_conv_transpose_refuses_channel_mismatch_and_too_small_output():
    with pytest.raises(fx2relax.ShapeError, match=r"nn.ConvTranspose2d.*in_channels.*2 channels.*in_channels=3"):
        fx2relax.from_module(nn.Sequential(nn.ConvTranspose2d(3, 1, 3)), (1, 2, 4, 4))
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*output length would be -2"):
        fx2relax.from_module(nn.Sequential(nn.ConvTranspose1d(1, 1, 3, padding=4)), (1, 1, 4))


def test_conv_transpose_refuses_non_zeros_padding_mode():
    conv = nn.ConvTranspose2d(1, 1, 3)
    conv.padding_mode = "reflect"  # PyTorch refuses it in the constructor and in forward
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'padding_mode'.*only pad with 'zeros'"):
        fx2relax.from_module(nn.Sequential(conv), (1, 1, 4, 4))


def test_conv_prints_named_primfuncs():
    script = fx2relax.from_module(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)), (1, 1, 5, 5)).script()
    assert "def conv2d(" in script and 'T.sblock("pad")' in script
    script = fx2relax.from_module(nn.Sequential(nn.ConvTranspose1d(1, 2, 3)), (1, 1, 5)).script()
    assert "def conv_transpose1d(" in script
