"""nn.Unfold / F.unfold / aten.im2col and nn.Fold / F.fold / aten.col2im against PyTorch, with drawn
image sizes and kernel_size, dilation, padding and stride (ints or pairs), batched and unbatched.

Tolerance 0: unfold copies values, and fold sums each pixel's overlapping entries in PyTorch's own
order (kernel row, then kernel column, onto a zero image), so the float32 sums are the same bits.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from fx2relax.kernels.fold import blocks
from tests.helpers import Apply, check_against_torch, check_exported, tensors


def _as_given(values: tuple[int, int], draw) -> int | tuple[int, int]:
    """A pair as PyTorch accepts it: an int when both are equal (sometimes), else the tuple."""
    return values[0] if values[0] == values[1] and draw(st.booleans()) else values


@st.composite
def windows(draw):
    """(image size, kernel_size, dilation, padding, stride) with at least one block along each axis."""
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    assume(all(blocks(size[a], kernel[a], dilation[a], padding[a], stride[a]) >= 1 for a in range(2)))
    return size, *(_as_given(v, draw) for v in (kernel, dilation, padding, stride))


@settings(max_examples=30)
@given(window=windows(), batch=st.sampled_from([None, 1, 2]), channels=st.integers(1, 3),
       form=st.sampled_from(["module", "function", "keywords"]), data=st.data())
def test_unfold(window, batch, channels, form, data):
    size, kernel, dilation, padding, stride = window
    shape = (channels, *size) if batch is None else (batch, channels, *size)
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())), label="x")
    model = {
        "module": nn.Unfold(kernel, dilation, padding, stride),
        "function": Apply(lambda t: F.unfold(t, kernel, dilation, padding, stride)),
        "keywords": Apply(lambda t: F.unfold(t, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)),
    }[form]
    check_against_torch(model, x, rtol=0, atol=0)


@settings(max_examples=30)
@given(window=windows(), batch=st.sampled_from([None, 1, 2]), channels=st.integers(1, 3),
       form=st.sampled_from(["module", "function"]), specials=st.booleans(), data=st.data())
def test_fold_sums_overlapping_blocks(window, batch, channels, form, specials, data):
    """Columns drawn directly (not from an unfold), so every overlapping entry differs."""
    size, kernel, dilation, padding, stride = window
    k, d, p, s = (v if isinstance(v, tuple) else (v, v) for v in (kernel, dilation, padding, stride))
    length = blocks(size[0], k[0], d[0], p[0], s[0]) * blocks(size[1], k[1], d[1], p[1], s[1])
    shape = (channels * k[0] * k[1], length) if batch is None else (batch, channels * k[0] * k[1], length)
    x = data.draw(tensors(shape, special_values=specials), label="x")
    model = nn.Fold(size, kernel, dilation, padding, stride) if form == "module" else Apply(
        lambda t: F.fold(t, size, kernel, dilation, padding, stride))
    check_against_torch(model, x, rtol=0, atol=0)


@settings(max_examples=10)
@given(window=windows(), data=st.data())
def test_unfold_then_fold_through_torch_export(window, data):
    """aten.im2col and aten.col2im, kept whole by from_exported_program."""
    size, kernel, dilation, padding, stride = window
    x = data.draw(tensors((2, 2, *size)), label="x")
    check_exported(Apply(lambda t: F.fold(F.unfold(t, kernel, dilation, padding, stride) * 1.5, size, kernel,
                                          dilation, padding, stride)), x, rtol=0, atol=0)


def test_fold_with_a_symbolic_batch():
    x = torch.randn(3, 2 * 4, 9)
    check_against_torch(nn.Fold((4, 4), 2, stride=1), x, input_shape=(None, 8, 9), rtol=0, atol=0)


@pytest.mark.parametrize(
    "model, shape, error, match",
    [
        (nn.Unfold(3), (2, 3, 2, 2), fx2relax.ShapeError, "has no sliding block"),
        (nn.Unfold(2, padding=-1), (1, 2, 4, 4), fx2relax.ShapeError, "parameter 'padding': must be non-negative"),
        (nn.Unfold(0), (1, 2, 4, 4), fx2relax.ShapeError, "parameter 'kernel_size': must be greater than zero"),
        (nn.Unfold((2, 2, 2)), (1, 2, 4, 4), fx2relax.UnsupportedParameterError, "parameter 'kernel_size': must be an int or a pair"),
        (nn.Unfold(2), (2, 4), fx2relax.ShapeError, "expects a 3-D"),
        (nn.Fold((4, 4), 2), (1, 6, 9), fx2relax.ShapeError, "not a multiple of the kernel's 4"),
        (nn.Fold((4, 4), 2), (1, 8, 8), fx2relax.ShapeError, "parameter 'output_size': the input's 8 columns"),
    ],
)
def test_refusals(model, shape, error, match):
    with pytest.raises(error, match=match):
        fx2relax.from_module(model, shape)
