"""Max, average and adaptive pooling (modules and F. functions): every parameter against PyTorch
(ceil_mode's output-size rule included), NaN/inf propagation, symbolic batch, and refusals; adaptive
pooling through torch.export (aten.adaptive_avg_pool2d, _adaptive_avg_pool2d, adaptive_max_pool2d)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from fx2relax.kernels.pooling import pool_output_size
from tests.helpers import Apply, check_against_torch, check_exported, tensors

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


def functional_max_pool2d(pool: nn.MaxPool2d) -> Apply:
    """The same pooling as `pool` through F.max_pool2d, arguments passed by keyword."""
    return Apply(lambda x: F.max_pool2d(
        x, pool.kernel_size, stride=pool.stride, padding=pool.padding, dilation=pool.dilation, ceil_mode=pool.ceil_mode,
    ))


@given(max_pool2d_cases(), st.data())
def test_functional_max_pool2d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(functional_max_pool2d(pool), data.draw(tensors(shape, special_values=True)))


def test_max_pool2d_accepts_a_symbolic_batch():
    check_against_torch(nn.MaxPool2d(3, 2, 1), torch.randn(3, 2, 9, 8), input_shape=(None, 2, 9, 8))


def test_functional_max_pool2d_refuses_return_indices():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="F.max_pool2d_with_indices.*parameter 'return_indices'"):
        fx2relax.from_module(Apply(lambda x: F.max_pool2d(x, 2, return_indices=True)), (1, 1, 4, 4))


@st.composite
def avg_pool2d_cases(draw):
    """An AvgPool2d with every parameter drawn, or the same call through F.avg_pool2d, and a shape."""
    kernel = draw(sizes)
    kh, kw = as_pair(kernel)
    padding = draw(st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)))
    stride = draw(st.one_of(st.none(), sizes))
    options = dict(
        stride=stride, padding=padding, ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()),
        divisor_override=draw(st.one_of(st.none(), st.integers(1, 5))),
    )
    if draw(st.booleans()):
        pool = nn.AvgPool2d(kernel, **options)
    else:
        pool = Apply(lambda x: F.avg_pool2d(x, kernel, **options))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    shape = (*batch, draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    out = [
        pool_output_size(size, k, s, p, 1, options["ceil_mode"])
        for size, k, s, p in zip(shape[-2:], (kh, kw), as_pair(stride or kernel), padding)
    ]
    assume(min(out) >= 1)
    return pool, shape


@given(avg_pool2d_cases(), st.data())
def test_avg_pool2d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape)))


@given(avg_pool2d_cases(), st.data())
def test_avg_pool2d_propagates_nan_and_inf_like_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape, special_values=True)))


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_ceil_mode_window_past_the_padding_counts_only_up_to_it(count_include_pad):
    # size 6, kernel 3, stride 2, pad 1, ceil_mode: the last window spans [5, 8) of a padded size 8
    pool = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad)
    check_against_torch(pool, torch.arange(36.0).reshape(1, 1, 6, 6), rtol=0, atol=0)


def test_avg_pool2d_sums_in_pytorchs_order():
    pool = nn.AvgPool2d((3, 2), stride=(1, 2), padding=(1, 1), ceil_mode=True)
    check_against_torch(pool, torch.randn(2, 3, 9, 8) * 100, rtol=0, atol=0)


def test_avg_pool2d_accepts_a_symbolic_batch():
    check_against_torch(nn.AvgPool2d(2), torch.randn(3, 2, 6, 6), input_shape=(None, 2, 6, 6))


def test_avg_pool2d_refuses_padding_over_half_the_kernel():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'padding'.*at most half of kernel size") as error:
        fx2relax.from_module(nn.Sequential(nn.AvgPool2d(3, padding=2)), (1, 1, 8, 8))
    assert "nn.AvgPool2d" in str(error.value)


def test_avg_pool2d_refuses_a_zero_divisor():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'divisor_override'.*not zero"):
        fx2relax.from_module(Apply(lambda x: F.avg_pool2d(x, 2, divisor_override=0)), (1, 1, 4, 4))


output_sizes = st.one_of(
    st.integers(1, 6), st.tuples(st.one_of(st.none(), st.integers(1, 6)), st.one_of(st.none(), st.integers(1, 6)))
)


@st.composite
def adaptive_cases(draw, module_type, function):
    """An adaptive pooling module or its F. function with a drawn output_size, and an input shape."""
    output_size = draw(output_sizes)
    pool = module_type(output_size) if draw(st.booleans()) else Apply(lambda x: function(x, output_size))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return pool, (*batch, draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(1, 10)))


@given(adaptive_cases(nn.AdaptiveAvgPool2d, F.adaptive_avg_pool2d), st.data())
def test_adaptive_avg_pool2d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))


@given(adaptive_cases(nn.AdaptiveMaxPool2d, F.adaptive_max_pool2d), st.data())
def test_adaptive_max_pool2d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))


def test_adaptive_avg_pool2d_is_bit_exact_for_uneven_windows():
    check_against_torch(nn.AdaptiveAvgPool2d((5, 3)), torch.randn(2, 3, 7, 11) * 100, rtol=0, atol=0)


def test_global_average_pool_of_a_large_map_stays_within_tolerance():
    check_against_torch(nn.AdaptiveAvgPool2d(1), torch.rand(1, 4, 224, 224) + 100)


@pytest.mark.parametrize("pool", [nn.AdaptiveAvgPool2d((2, None)), nn.AdaptiveMaxPool2d(3)])
def test_adaptive_pools_accept_a_symbolic_batch(pool):
    check_against_torch(pool, torch.randn(3, 2, 7, 5), input_shape=(None, 2, 7, 5))


def test_adaptive_max_pool2d_refuses_return_indices():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="nn.AdaptiveMaxPool2d.*parameter 'return_indices'"):
        fx2relax.from_module(nn.Sequential(nn.AdaptiveMaxPool2d(2, return_indices=True)), (1, 1, 4, 4))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'return_indices'"):
        fx2relax.from_module(Apply(lambda x: F.adaptive_max_pool2d(x, 2, return_indices=True)), (1, 1, 4, 4))


def test_adaptive_avg_pool2d_refuses_a_zero_output_size():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'output_size'.*greater than zero"):
        fx2relax.from_module(nn.Sequential(nn.AdaptiveAvgPool2d((0, 2))), (1, 1, 4, 4))


@st.composite
def pool1d_cases(draw):
    """A 1-D max, average or adaptive pool (module or F. function) with drawn parameters, and a shape."""
    kernel = draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = draw(st.integers(0, kernel // 2))
    dilation = draw(st.integers(1, 3))
    ceil_mode = draw(st.booleans())
    count_include_pad = draw(st.booleans())
    output_size = draw(st.integers(1, 6))
    module = draw(st.booleans())
    kind = draw(st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max"]))
    if kind == "max":
        pool = (nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode) if module
                else Apply(lambda x: F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode)))
    elif kind == "avg":
        dilation = 1
        pool = (nn.AvgPool1d(kernel, stride, padding, ceil_mode, count_include_pad) if module
                else Apply(lambda x: F.avg_pool1d(x, kernel, stride, padding, ceil_mode, count_include_pad)))
    elif kind == "adaptive_avg":
        pool = nn.AdaptiveAvgPool1d(output_size) if module else Apply(lambda x: F.adaptive_avg_pool1d(x, output_size))
    else:
        pool = nn.AdaptiveMaxPool1d(output_size) if module else Apply(lambda x: F.adaptive_max_pool1d(x, output_size))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    shape = (*batch, draw(st.integers(1, 3)), draw(st.integers(1, 12)))
    if kind in ("max", "avg"):
        assume(pool_output_size(shape[-1], kernel, stride or kernel, padding, dilation, ceil_mode) >= 1)
    return pool, shape


@given(pool1d_cases(), st.data())
def test_pool1d_matches_torch(case, data):
    pool, shape = case
    check_against_torch(pool, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))


def test_pool1d_accepts_a_symbolic_batch():
    check_against_torch(nn.MaxPool1d(3, 2, 1), torch.randn(3, 2, 9), input_shape=(None, 2, 9))


def test_max_pool1d_refuses_a_kernel_pair():
    pool = nn.MaxPool1d(2)
    pool.kernel_size = (2, 2)  # PyTorch's constructor keeps what it is given; its forward refuses it
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'kernel_size'.*one value"):
        fx2relax.from_module(nn.Sequential(pool), (1, 2, 8))


def test_adaptive_avg_pool1d_refuses_none_like_torch():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'output_size'.*None"):
        fx2relax.from_module(nn.Sequential(nn.AdaptiveAvgPool1d(None)), (1, 2, 8))


def test_pool1d_refuses_a_4d_input():
    with pytest.raises(fx2relax.ShapeError, match=r"2-D \(C, L\) or 3-D \(N, C, L\)"):
        fx2relax.from_module(nn.Sequential(nn.AvgPool1d(2)), (1, 2, 8, 8))


# ---------------------------------------------------------------- the torch.export path (ATen pooling ops)


@settings(max_examples=10)
@given(adaptive_cases(nn.AdaptiveAvgPool2d, F.adaptive_avg_pool2d), st.tuples(st.integers(1, 6), st.integers(1, 6)),
       st.booleans(), st.data())
def test_exported_adaptive_avg_pool2d_matches_torch(case, kernel_output_size, kernel_op, data):
    """Adaptive average pooling through torch.export (aten.adaptive_avg_pool2d kept whole), or the
    window-summing kernel op aten._adaptive_avg_pool2d a core-ATen program calls (1x1 outputs too)."""
    pool, shape = case
    if kernel_op:
        pool = Apply(lambda x: torch.ops.aten._adaptive_avg_pool2d(x, list(kernel_output_size)))
    check_exported(pool, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))


@settings(max_examples=8)
@given(adaptive_cases(nn.AdaptiveMaxPool2d, F.adaptive_max_pool2d), st.data())
def test_exported_adaptive_max_pool2d_matches_torch(case, data):
    """aten.adaptive_max_pool2d's (values, indices): the values."""
    pool, shape = case
    check_exported(pool, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))


def test_exported_pooling_indices_are_refused_by_name():
    model = Apply(lambda x: F.adaptive_max_pool2d(x, 2, return_indices=True)[1].float())
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'index'.*adaptive max pooling indices"):
        fx2relax.from_exported_program(torch.export.export(model, (torch.randn(1, 2, 5, 5),)))
