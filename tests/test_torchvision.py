"""torchvision classifiers, random weights, eval, 1x3x224x224: fx2relax matches PyTorch to a relative
error (max |diff| / max |output|) under 1e-4. Slow (a whole model each), still run by `make test`;
MaxViT's attention block (its bias table indexed by an int64 buffer) is tested alone, fast."""

import numpy as np
import pytest
import torch

import fx2relax
from tests.helpers import check_against_torch

torchvision = pytest.importorskip("torchvision")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_classifier_matches_torch(name):
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x).numpy()
    actual = fx2relax.build(fx2relax.from_module(model, (1, 3, 224, 224)))(x)
    assert actual.shape == expected.shape == (1, 1000)
    relative_error = np.max(np.abs(actual - expected)) / np.max(np.abs(expected))
    assert relative_error < 1e-4, f"{name}: relative error {relative_error:.2e}"


def test_maxvit_relative_position_attention_matches_torch():
    torch.manual_seed(0)
    attention = torchvision.models.maxvit.RelativePositionalMultiHeadAttention(feat_dim=16, head_dim=8, max_seq_len=16)
    check_against_torch(attention, torch.randn(2, 3, 16, 16))
