"""Whole models: module, function and method calls mixed, a symbolic batch compiled once and run at
several sizes, several inputs and tuple outputs, weights as inputs, and user-registered converters."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fx2relax
from fx2relax.kernels import elementwise
from tests.helpers import assert_outputs_match, course_cnn


def run_both(compiled: fx2relax.CompiledModel, model: nn.Module, *inputs: torch.Tensor) -> None:
    """Run `inputs` through the compiled model and through PyTorch; assert they match."""
    with torch.no_grad():
        expected = model(*inputs)
    assert_outputs_match(compiled(*inputs), expected)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        with torch.no_grad():  # statistics as after training, so that the norm is not the identity
            self.norm.running_mean.uniform_(-1, 1)
            self.norm.running_var.uniform_(0.5, 2)
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        y = F.relu(self.norm(self.conv1(x)))
        return torch.relu(self.conv2(y) + x)


class ResidualNet(nn.Module):
    """Modules, F./torch. functions and tensor methods mixed, as users write them."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = ResidualBlock(8)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 2 * 2 + 4 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        x = self.block(x)
        left, right = x.chunk(2, dim=1)
        mixed = torch.cat([left * 0.5, right - left], 1)
        flat = F.adaptive_avg_pool2d(mixed, 2).view(mixed.size(0), -1)
        extra = torch.flatten(left.transpose(2, 3), 1)
        return F.log_softmax(self.head(torch.cat((flat, extra), dim=-1)), dim=1)


@pytest.fixture(scope="module")
def residual_net():
    torch.manual_seed(0)
    model = ResidualNet().eval()
    return model, fx2relax.build(fx2relax.from_module(model, (None, 3, 8, 8)))


@pytest.mark.parametrize("batch", [1, 3])
def test_residual_model_with_a_symbolic_batch(residual_net, batch):
    model, compiled = residual_net
    run_both(compiled, model, torch.randn(batch, 3, 8, 8))


def test_unsupported_function_and_method_are_named():
    class Model(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, 0) + x.argsort()

    with pytest.raises(fx2relax.UnsupportedOpError) as error:
        fx2relax.from_module(Model(), (3, 4))
    message = str(error.value)
    assert "2 node(s) of the graph have no fx2relax converter" in message
    assert "node 'cumprod' (function torch.cumprod)" in message
    assert "node 'argsort' (method Tensor.argsort)" in message
    assert "Tensor.view" in message.split("Supported:")[1]


def test_fashion_mnist_cnn_compiled_once_runs_any_batch():
    model = course_cnn()
    mod = fx2relax.from_module(model, (None, 1, 28, 28))
    assert str(mod["main"].params[0].ty.shape.values[0]) == "batch"
    compiled = fx2relax.build(mod)
    for batch in (1, 4, 64):
        run_both(compiled, model, torch.rand(batch, 1, 28, 28))


class TwoInOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, image, features):
        pooled = F.relu(image).flatten(2).mean(-1)  # [n, 6]
        joined = self.linear(pooled) + features
        return joined, torch.stack([joined, features], dim=1), pooled.sum(1)


@pytest.mark.parametrize("batch", [2, 5])
def test_two_inputs_and_a_tuple_output(batch):
    model = TwoInOut().eval()
    compiled = fx2relax.build(fx2relax.from_module(model, [(None, 6, 3, 3), ("batch", 4)]))
    outputs = compiled(torch.randn(batch, 6, 3, 3), torch.randn(batch, 4))
    assert isinstance(outputs, tuple) and len(outputs) == 3
    run_both(compiled, model, torch.randn(batch, 6, 3, 3), torch.randn(batch, 4))


def test_weights_as_inputs_can_be_swapped():
    torch.manual_seed(0)
    first, second = ResidualNet().eval(), ResidualNet().eval()
    mod, weights = fx2relax.from_module(first, (2, 3, 8, 8), keep_params_as_input=True)
    _, new_weights = fx2relax.from_module(second, (2, 3, 8, 8), keep_params_as_input=True)
    assert list(weights) == list(new_weights) and "stem_weight" in weights
    x = torch.randn(2, 3, 8, 8)
    run_both(fx2relax.build(mod, weights=weights), first, x)
    run_both(fx2relax.build(mod, weights=new_weights), second, x)


class Scale(nn.Module):
    """A user's own module type: multiplies by a learned per-channel factor."""

    def __init__(self, channels: int):
        super().__init__()
        self.factor = nn.Parameter(torch.randn(channels, 1, 1))

    def forward(self, x):
        return torch.special.expm1(x) * 0 + x * self.factor  # no converter for expm1: Scale needs its own


@pytest.fixture
def user_converter():
    """A converter for Scale, registered for this test only."""
    with fx2relax.REGISTRY.scope():

        @fx2relax.register_converter(Scale)
        def scale(ctx, input):
            return ctx.emit_te(elementwise.multiply, input, ctx.module_param("factor"))

        yield scale


def test_user_registered_converter_for_a_user_module(user_converter):
    model = nn.Sequential(nn.Conv2d(2, 3, 1), Scale(3), nn.ReLU()).eval()
    x = torch.randn(2, 2, 4, 4)
    run_both(fx2relax.build(fx2relax.from_module(model, (None, 2, 4, 4))), model, x)
    assert fx2relax.REGISTRY.lookup("call_module", model[1]).converter is user_converter


def test_user_module_without_converter_is_refused():
    with pytest.raises(fx2relax.UnsupportedOpError, match=r"node 'special_expm1' \(function torch._C._special.special_expm1\)"):
        fx2relax.from_module(nn.Sequential(Scale(3)), (1, 3, 2, 2))


def test_torchvision_vision_transformer_matches_torch():
    """A small torchvision ViT (patch conv, class token, 2 encoder layers of nn.MultiheadAttention and
    MLP, LayerNorm) in eval with random weights and a symbolic batch; its zero-initialised head and class token are drawn
    too, so the logits are not all 0. Relative error bound 1e-4, as the torchvision survey uses."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    ).eval()
    for parameter in model.parameters():
        if not parameter.any():
            nn.init.normal_(parameter, std=0.1)
    compiled = fx2relax.build(fx2relax.from_module(model, (None, 3, 32, 32)))
    for batch in (1, 3):
        x = torch.rand(batch, 3, 32, 32)
        with torch.no_grad():
            expected = model(x).numpy()
        assert abs(compiled(x) - expected).max() / abs(expected).max() < 1e-4
