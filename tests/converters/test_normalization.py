"""BatchNorm (eval mode, running or batch statistics), LayerNorm, RMSNorm and GroupNorm, as modules and
F. functions, and F.normalize: every parameter against PyTorch, NaN/inf, symbolic batch, and refusals;
group and batch norm through torch.export (aten.group_norm, native_group_norm, _native_batch_norm_legit.no_stats)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, tensors

epsilons = st.sampled_from([1e-5, 1e-3, 0.1])


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Give the module's weights and running statistics non-default values (variances positive)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if tensor.is_floating_point():
                low, high = (0.05, 3.0) if name.endswith("running_var") else (-2.0, 2.0)
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
    return module


@st.composite
def batch_norm_cases(draw):
    """A BatchNorm1d/2d/3d (affine or not, running stats or not) and an input shape it accepts."""
    kind, spatial_dims = draw(st.sampled_from([(nn.BatchNorm1d, 0), (nn.BatchNorm1d, 1), (nn.BatchNorm2d, 2), (nn.BatchNorm3d, 3)]))
    channels = draw(st.integers(1, 5))
    module = kind(
        channels, eps=draw(epsilons), momentum=draw(st.sampled_from([0.1, None])),
        affine=draw(st.booleans()), track_running_stats=draw(st.booleans()), bias=draw(st.booleans()),
    )
    randomize(module, draw(st.integers(0, 2**16))).eval()
    shape = (draw(st.integers(1, 3)), channels, *draw(st.lists(st.integers(1, 5), min_size=spatial_dims, max_size=spatial_dims)))
    if not module.track_running_stats and shape[0] * torch.Size(shape[2:]).numel() == 1:
        shape = (2, *shape[1:])  # batch statistics need more than one value per channel
    return module, shape


@given(batch_norm_cases(), st.data())
def test_batch_norm_matches_torch(case, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape)))


@given(batch_norm_cases(), st.data())
def test_batch_norm_propagates_nan_and_inf_like_torch(case, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape, special_values=True)))


def test_batch_norm_with_running_stats_is_bit_exact():
    module = randomize(nn.BatchNorm2d(16), 0).eval()
    x = torch.randn(4, 16, 9, 9) * 3
    check_against_torch(module, x, rtol=0, atol=0)


@given(st.booleans(), st.data())
def test_batch_norm_accepts_a_symbolic_batch(track_running_stats, data):
    module = randomize(nn.BatchNorm2d(3, track_running_stats=track_running_stats), 1).eval()
    check_against_torch(module, data.draw(tensors((2, 3, 4, 5))), input_shape=(None, 3, 4, 5))


class FunctionalBatchNorm(nn.Module):
    """F.batch_norm with its statistics and weights as buffers (get_attr nodes), or None."""

    def __init__(self, channels, running_stats, affine, training, eps):
        super().__init__()
        for name in ("running_mean", "running_var"):
            self.register_buffer(name, torch.zeros(channels) if running_stats else None)
        for name in ("weight", "bias"):
            self.register_buffer(name, torch.zeros(channels) if affine else None)
        self.training_flag, self.eps = training, eps

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training_flag, 0.1, self.eps)


@given(st.integers(1, 4), st.booleans(), st.booleans(), epsilons, st.integers(0, 2**16), st.data())
def test_functional_batch_norm_matches_torch(channels, running_stats, affine, eps, seed, data):
    module = randomize(FunctionalBatchNorm(channels, running_stats, affine, not running_stats, eps), seed)
    check_against_torch(module, data.draw(tensors((2, channels, 3))))


def test_batch_norm_refuses_training_mode_naming_eval():
    with pytest.raises(fx2relax.UnsupportedParameterError, match=r"parameter 'training'.*model\.eval\(\)") as error:
        fx2relax.from_module(nn.Sequential(nn.BatchNorm2d(3)), (1, 3, 4, 4))
    assert "module '0'" in str(error.value) and "nn.BatchNorm2d" in str(error.value)


def test_batch_norm_refuses_channel_mismatch_naming_num_features():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'num_features'.*4 channels.*num_features=3"):
        fx2relax.from_module(nn.Sequential(nn.BatchNorm2d(3).eval()), (1, 4, 4, 4))


def test_batch_norm_refuses_wrong_rank():
    with pytest.raises(fx2relax.ShapeError, match=r"expects a 4-D input, got a 3-D input"):
        fx2relax.from_module(nn.Sequential(nn.BatchNorm2d(3).eval()), (3, 4, 4))


def test_batch_norm_refuses_batch_statistics_of_one_value():
    with pytest.raises(fx2relax.ShapeError, match="more than 1 value per channel"):
        fx2relax.from_module(nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False).eval()), (1, 3, 1, 1))


def test_functional_batch_norm_refuses_training_with_running_stats():
    module = FunctionalBatchNorm(3, running_stats=True, affine=False, training=True, eps=1e-5)
    with pytest.raises(fx2relax.UnsupportedParameterError, match=r"parameter 'training'.*updates them in place"):
        fx2relax.from_module(module, (2, 3, 4))


def test_functional_batch_norm_refuses_wrong_statistics_length():
    module = FunctionalBatchNorm(4, running_stats=True, affine=False, training=False, eps=1e-5)
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'running_mean'.*3 elements"):
        fx2relax.from_module(module, (2, 3, 4))


@st.composite
def layer_norm_cases(draw):
    """A LayerNorm over 1-3 trailing axes (affine with or without bias, or not) and an input shape."""
    normalized_shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    module = nn.LayerNorm(
        normalized_shape, eps=draw(epsilons), elementwise_affine=draw(st.booleans()), bias=draw(st.booleans())
    )
    return randomize(module, draw(st.integers(0, 2**16))), (*leading, *normalized_shape)


@given(layer_norm_cases(), st.data())
def test_layer_norm_matches_torch(case, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape)))


@given(layer_norm_cases(), st.data())
def test_layer_norm_propagates_nan_and_inf_like_torch(case, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape, special_values=True)))


class FunctionalLayerNorm(nn.Module):
    def __init__(self, normalized_shape, affine, eps):
        super().__init__()
        self.normalized_shape, self.eps = normalized_shape, eps
        self.register_buffer("weight", torch.zeros(normalized_shape) if affine else None)
        self.register_buffer("bias", torch.zeros(normalized_shape) if affine else None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=2), st.booleans(), epsilons, st.integers(0, 2**16), st.data())
def test_functional_layer_norm_matches_torch(normalized_shape, affine, eps, seed, data):
    module = randomize(FunctionalLayerNorm(normalized_shape, affine, eps), seed)
    check_against_torch(module, data.draw(tensors((2, *normalized_shape))))


def test_functional_layer_norm_refuses_an_int_normalized_shape_as_torch():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'normalized_shape'.*tuple or list"):
        fx2relax.from_module(FunctionalLayerNorm(4, affine=False, eps=1e-5), (2, 4))


def test_layer_norm_accepts_a_symbolic_batch():
    module = randomize(nn.LayerNorm(6), 2)
    check_against_torch(module, torch.randn(3, 4, 6), input_shape=(None, 4, 6))


def test_layer_norm_refuses_symbolic_normalized_dims():
    with pytest.raises(fx2relax.ShapeError, match=r"normalized_shape=\[6\] needs static sizes"):
        fx2relax.from_module(nn.Sequential(nn.LayerNorm(6)), (4, None))


def test_layer_norm_refuses_mismatched_trailing_dims_naming_normalized_shape():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'normalized_shape'.*\[\*, 3, 4\], got shape \(2, 4, 3\)"):
        fx2relax.from_module(nn.Sequential(nn.LayerNorm((3, 4))), (2, 4, 3))


@st.composite
def group_norm_cases(draw):
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 3))
    module = nn.GroupNorm(groups, channels, eps=draw(epsilons), affine=draw(st.booleans()), bias=draw(st.booleans()))
    shape = (draw(st.integers(1, 3)), channels, *draw(st.lists(st.integers(1, 5), max_size=2)))
    if shape[0] * (channels // groups) * torch.Size(shape[2:]).numel() == 1:
        shape = (2, *shape[1:])  # PyTorch refuses a single value per group
    return randomize(module, draw(st.integers(0, 2**16))), shape


def group_norm_atol(x: torch.Tensor, groups: int, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> float:
    """1e-5 plus PyTorch's own float32 rounding error: it computes x * scale + (-scale * mean) with
    scale = rstd * weight, whose terms cancel, so its error is a few ulps of |x| * rstd * |weight|.
    That is far below 1e-5 unless a group's spread is below sqrt(eps) (rstd near 1/sqrt(eps)).
    PyTorch's error is also measured against a float64 GroupNorm; the larger bound is used."""
    finite = torch.nan_to_num(x.double(), nan=0.0, posinf=0.0, neginf=0.0)
    grouped = finite.reshape(x.shape[0], groups, -1)
    rstd = 1 / torch.sqrt(grouped.var(-1, unbiased=False) + eps)
    scale = rstd.repeat_interleave(x.shape[1] // groups, dim=1)
    if weight is not None:
        scale = scale * weight.detach().double().abs()
    magnitude = finite.abs().reshape(*x.shape[:2], -1).amax(-1) * scale
    wide = [None if t is None else t.detach().double() for t in (weight, bias)]
    narrow = [None if t is None else t.detach() for t in (weight, bias)]
    exact = F.group_norm(finite, groups, *wide, eps)
    measured = (F.group_norm(finite.float(), groups, *narrow, eps).double() - exact).abs().max()
    return max(1e-5 + 8 * 2.0**-24 * float(magnitude.max()), 1e-5 + 2 * float(measured))


@given(group_norm_cases(), st.booleans(), st.data())
def test_group_norm_matches_torch(case, special_values, data):
    module, shape = case
    x = data.draw(tensors(shape, special_values=special_values))
    check_against_torch(module, x, atol=group_norm_atol(x, module.num_groups, module.weight, module.bias, module.eps))


class FunctionalGroupNorm(nn.Module):
    def __init__(self, groups, channels, affine, eps):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.register_buffer("weight", torch.zeros(channels) if affine else None)
        self.register_buffer("bias", torch.zeros(channels) if affine else None)

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)


@given(st.integers(1, 3), st.integers(1, 3), st.booleans(), epsilons, st.integers(0, 2**16), st.data())
def test_functional_group_norm_matches_torch(groups, per_group, affine, eps, seed, data):
    module = randomize(FunctionalGroupNorm(groups, groups * per_group, affine, eps), seed)
    x = data.draw(tensors((2, groups * per_group, 3, 2)))
    atol = group_norm_atol(x, groups, module.weight, module.bias, eps)
    check_against_torch(module, x, atol=atol, input_shape=(None, groups * per_group, 3, 2))


def test_group_norm_refuses_channel_mismatch_naming_num_channels():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'num_channels'.*num_channels=4"):
        fx2relax.from_module(nn.Sequential(nn.GroupNorm(2, 4)), (2, 6, 3))


def test_functional_group_norm_refuses_indivisible_channels_naming_num_groups():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'num_groups'.*divisible by num_groups.*num_groups=2"):
        fx2relax.from_module(FunctionalGroupNorm(2, 3, affine=False, eps=1e-5), (2, 3, 4))


def test_group_norm_refuses_a_single_value_per_group():
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'num_groups'.*more than 1 value per group"):
        fx2relax.from_module(nn.Sequential(nn.GroupNorm(2, 2)), (1, 2))


# ---------------------------------------------------------------- F.normalize


@st.composite
def normalize_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    rank = len(shape)
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    dim = axes[0] - draw(st.sampled_from([0, rank])) if len(axes) == 1 else tuple(axes)
    p = draw(st.sampled_from([2.0, 1, 3, 0.5, 0, float("inf"), float("-inf"), -1.5]))
    eps = draw(st.sampled_from([1e-12, 1e-3, 0.5]))
    return shape, p, dim, eps


@given(normalize_cases(), st.booleans(), st.data())
def test_normalize_matches_torch(case, keyword, data):
    shape, p, dim, eps = case
    if keyword:
        model = Apply(lambda x: F.normalize(x, p=p, dim=dim, eps=eps))
    else:
        model = Apply(lambda x: F.normalize(x, p, dim, eps))
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())))
    if data.draw(st.booleans()):
        x = x * (x.abs() > 1)  # zeros: p = 0 counts them, eps floors an all-zero slice
    check_against_torch(model, x)


def test_normalize_defaults_and_a_symbolic_batch():
    check_against_torch(Apply(lambda x: F.normalize(x)), torch.randn(3, 5, 2), input_shape=(None, 5, 2))


def test_normalize_refusals():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'dim'.*out of range"):
        fx2relax.from_module(Apply(lambda x: F.normalize(x, dim=2)), (2, 3))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'p'"):
        fx2relax.from_module(Apply(lambda x: F.normalize(x, p="fro")), (2, 3))


class FunctionalRMSNorm(nn.Module):
    """F.rms_norm (or torch.rms_norm) with a weight or none and a given or default eps."""

    def __init__(self, normalized_shape: tuple, weight: bool, eps: float | None, form: str):
        super().__init__()
        self.normalized_shape = normalized_shape
        self.weight = nn.Parameter(torch.rand(normalized_shape) * 2 - 0.5) if weight else None
        self.eps, self.form = eps, form

    def forward(self, x):
        if self.form == "torch":
            return torch.rms_norm(x, list(self.normalized_shape), self.weight, self.eps)
        return F.rms_norm(x, self.normalized_shape, weight=self.weight, eps=self.eps)


@st.composite
def rms_norm_cases(draw):
    """nn.RMSNorm or the function over 1-3 trailing axes, weight or not, eps given or None (finfo eps)."""
    normalized_shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    eps = draw(st.one_of(st.none(), epsilons))
    weight = draw(st.booleans())
    form = draw(st.sampled_from(["module", "function", "torch"]))
    if form == "module":
        module = randomize(nn.RMSNorm(normalized_shape, eps=eps, elementwise_affine=weight), draw(st.integers(0, 2**16)))
    else:
        module = FunctionalRMSNorm(normalized_shape, weight, eps, form)
    return module, (*leading, *normalized_shape)


@settings(max_examples=15)
@given(rms_norm_cases(), st.booleans(), st.data())
def test_rms_norm_matches_torch(case, special_values, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape, special_values=special_values)))


def test_rms_norm_default_eps_matters_for_tiny_inputs():
    """eps=None is float32's machine epsilon: visible when the mean square is near it."""
    x = torch.randn(2, 8) * 1e-4
    check_against_torch(FunctionalRMSNorm((8,), False, None, "function"), x)


def test_rms_norm_refuses_a_mismatched_normalized_shape():
    with pytest.raises(fx2relax.ShapeError, match="normalized_shape"):
        fx2relax.from_module(FunctionalRMSNorm((4,), True, None, "function"), (2, 5))


def test_rms_norm_through_export():
    module = FunctionalRMSNorm((3, 4), True, None, "function")
    check_exported(module, torch.randn(2, 3, 4))


# ---------------------------------------------------------------- the torch.export path (ATen norm ops)


class NativeGroupNorm(FunctionalGroupNorm):
    """Group norm as a core-ATen program records it: native_group_norm's (output, mean, rstd), one picked."""

    def __init__(self, groups, channels, affine, eps, output=0):
        super().__init__(groups, channels, affine, eps)
        self.output = output

    def forward(self, x):
        n, c = x.shape[:2]
        results = torch.ops.aten.native_group_norm(x, self.weight, self.bias, n, c, x[0, 0].numel(), self.groups, self.eps)
        return results[self.output]


@settings(max_examples=10)
@given(group_norm_cases(), st.booleans(), st.data())
def test_exported_group_norm_matches_torch(case, native, data):
    """nn.GroupNorm through torch.export (aten.group_norm kept whole), or aten.native_group_norm."""
    module, shape = case
    if native:
        native_module = NativeGroupNorm(module.num_groups, module.num_channels, module.weight is not None, module.eps)
        with torch.no_grad():
            for name in ("weight", "bias"):
                if getattr(module, name) is not None and getattr(native_module, name) is not None:
                    getattr(native_module, name).copy_(getattr(module, name))
        module = native_module
    x = data.draw(tensors(shape))
    check_exported(module, x, atol=group_norm_atol(x, module.num_groups if not native else module.groups,
                                                   module.weight, module.bias, module.eps))


def test_exported_group_norm_refuses_reading_the_saved_mean():
    program = torch.export.export(NativeGroupNorm(2, 4, True, 1e-5, output=1).eval(), (torch.randn(2, 4, 3),))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'index'.*group norm's saved mean"):
        fx2relax.from_exported_program(program)


@settings(max_examples=10)
@given(batch_norm_cases(), st.data())
def test_exported_batch_norm_matches_torch(case, data):
    """BatchNorm through torch.export: running statistics (_native_batch_norm_legit_no_training) or,
    with track_running_stats=False, the batch's own (_native_batch_norm_legit.no_stats)."""
    module, shape = case
    check_exported(module, data.draw(tensors(shape, special_values=data.draw(st.booleans()))))

