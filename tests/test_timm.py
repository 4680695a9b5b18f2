"""Small timm models (random init, tiny configs of real timm architectures, 32x32 images) against
PyTorch: relative error (max |diff| / max |output|) under 1e-4. The full zoo is surveyed by
tools/timm_survey.py; these keep the architectures' distinctive ops covered: ConvNeXt (LayerNorm2d,
layer scale), Swin (window partition, roll, shifted-window masks, unbind), PiT (pooling over tokens),
ViT (forward's optional attn_mask left out, scaled dot-product attention), DINOv3's ViT (rotary
embeddings over a grid from timm's `_build_grid`, a torch.fx.wrap leaf computed at import), VOLO
(outlook attention: unfold, fold, math.ceil of sizes, max), XCiT (float floor division in its
Fourier position encoding), DeepSeek's ViT (an empty slice of the prefix tokens into torch.cat)."""

import numpy as np
import pytest
import torch

import fx2relax

timm = pytest.importorskip("timm")

TINY_MODELS = {
    "convnext": lambda: timm.models.convnext.ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), num_classes=10),
    "swin": lambda: timm.models.swin_transformer.SwinTransformer(
        img_size=32, patch_size=4, window_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 2), num_classes=10
    ),
    "vit": lambda: timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10
    ),
    "dinov3": lambda: timm.create_model(
        "vit_tiny_patch16_dinov3_qkvb", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10
    ),
    "volo": lambda: timm.models.volo.VOLO(
        layers=[1, 1, 1, 1], img_size=32, patch_size=8, stem_hidden_dim=8, embed_dims=[16, 16, 16, 16],
        num_heads=[1, 2, 2, 2], num_classes=10,
    ),
    "xcit": lambda: timm.models.xcit.Xcit(
        img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2, cls_attn_layers=1, num_classes=10
    ),
    "deepseek_vit": lambda: timm.create_model(  # no prefix tokens: q[:, :, :0] concatenated with the rest
        "deepseek_vit_412m", img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=10
    ),
    "pit": lambda: timm.models.pit.PoolingVisionTransformer(
        img_size=32, patch_size=8, stride=4, base_dims=[8, 8], depth=[1, 1], heads=[2, 4], num_classes=10
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_tiny_timm_model_matches_torch(name):
    torch.manual_seed(0)
    model = TINY_MODELS[name]().eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x).numpy()
    actual = fx2relax.build(fx2relax.from_module(model, (None, 3, 32, 32)))(x)
    assert actual.shape == expected.shape == (2, 10)
    relative_error = np.max(np.abs(actual - expected)) / np.max(np.abs(expected))
    assert relative_error < 1e-4, f"{name}: relative error {relative_error:.2e}"
