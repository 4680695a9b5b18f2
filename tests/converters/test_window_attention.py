"""torchvision's Swin functions (shifted_window_attention, _get_relative_position_bias,
_patch_merging_pad) against PyTorch: drawn sizes, windows, shifts and heads, v1 and v2 attention,
odd sizes that need padding, a symbolic batch, and small Swin v1/v2 models."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

swin = pytest.importorskip("torchvision.models.swin_transformer")

import fx2relax  # noqa: E402
from tests.helpers import check_against_torch, tensors  # noqa: E402


@st.composite
def attention_cases(draw):
    window = [draw(st.integers(2, 4)), draw(st.integers(2, 4))]
    shift = [draw(st.integers(0, w // 2)) for w in window]
    heads = draw(st.integers(1, 3))
    channels = heads * draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9)), channels)
    version = draw(st.sampled_from([swin.ShiftedWindowAttention, swin.ShiftedWindowAttentionV2]))
    return version, channels, window, shift, heads, draw(st.booleans()), shape


@settings(max_examples=8)  # each builds ~30 kernels
@given(attention_cases(), st.data())
def test_shifted_window_attention_matches_torch(case, data):
    version, channels, window, shift, heads, bias, shape = case
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    module = version(channels, window, shift, heads, qkv_bias=bias, proj_bias=bias)
    check_against_torch(module, data.draw(tensors(shape)))


def test_shifted_window_attention_keeps_a_symbolic_batch():
    torch.manual_seed(0)
    module = swin.ShiftedWindowAttention(8, [3, 3], [1, 1], 2)
    check_against_torch(module, torch.randn(2, 7, 5, 8), input_shape=(None, 7, 5, 8))


@settings(max_examples=8)
@given(st.sampled_from([swin.PatchMerging, swin.PatchMergingV2]), st.integers(1, 7), st.integers(1, 7), st.data())
def test_patch_merging_matches_torch(version, height, width, data):
    torch.manual_seed(0)
    check_against_torch(version(4), data.draw(tensors((2, height, width, 4), special_values=True)))


def tiny_swin(v2: bool) -> torch.nn.Module:
    """Two stages of two blocks (unshifted then shifted windows), patch merging between them."""
    torch.manual_seed(0)
    extra = {"block": swin.SwinTransformerBlockV2, "downsample_layer": swin.PatchMergingV2} if v2 else {}
    return swin.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4], num_classes=10, **extra
    )


@pytest.mark.slow
@pytest.mark.parametrize("v2", [False, True], ids=["swin", "swin_v2"])
def test_tiny_swin_matches_torch(v2):
    """36x36 images: a 9x9 token map, padded to windows of 4 (and 5x5 after merging)."""
    check_against_torch(tiny_swin(v2), torch.rand(1, 3, 36, 36), rtol=1e-4, atol=1e-5)


def test_training_mode_dropout_is_refused():
    module = swin.ShiftedWindowAttention(4, [2, 2], [1, 1], 1, attention_dropout=0.1).train()
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'training'"):
        fx2relax.from_module(module, (1, 4, 4, 4))
