"""compile's schedule rules: each kernel family gets the rule it should, on AVX-512 and AVX2 targets and
for float64, matching PyTorch; kernels are known by their marks, so a user's kernel that names its
stage "linear" is never taken for ours."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
import tvm
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from tvm import s_tir, te, tirx

import fx2relax
from fx2relax.compiler import host_target, lower
from fx2relax.kernels.elementwise import let_bound
from fx2relax.kernels.marks import marked_kernel, stages
from fx2relax.schedules import SCHEDULE_RULE
from fx2relax.schedules.conv import STACK_MAX_BYTES
from fx2relax.schedules.generic import EXPANDED_OPERATIONS_MAX, NESTED_FLOPS_MAX, expanded_operations, value_operations
from fx2relax.schedules.matmul import GEMM_UNROLLED_DEPTH
from fx2relax.schedules.reductions import MIN_REDUCED
from fx2relax.schedules.vectors import vector_unit
from tests.converters.test_attention import ScaledDotProduct
from tests.helpers import (
    Apply,
    ApplyBinary,
    ApplyTernary,
    assert_outputs_match,
    bool_tensors,
    check_against_torch,
    course_cnn,
    lane_divisions,
    loops_around,
    scalarized_functions,
    tensors,
    vector_store_lanes,
    written_buffers,
)
from tests.test_compile import CHANNEL_VECTOR_CONVS, FALLBACK_CONVS, PACKED_CONVS, EveryFamily
from tests.test_layout import PoolingBranch

HOST = host_target()
HASWELL = tvm.target.Target({"kind": "llvm", "mcpu": "haswell"})  # AVX2 only; runs on this znver4 too
CONV_INPUT = (3, 12, 16)  # (batch, height, width) of the CHANNEL_VECTOR_CONVS / FALLBACK_CONVS inputs


def kernels_in(func: tirx.PrimFunc) -> tuple[str, ...]:
    """The kernels whose marked stages `func` holds, sorted (several once fused)."""
    marks = {marked_kernel(block.annotations) for block in stages(func)}
    return tuple(sorted(mark for mark in marks if mark is not None))


def chosen_rules(
    model: nn.Module, shape: tuple, target: tvm.target.Target = HOST, dtype: str = "float32", weights_as_inputs: bool = False
) -> list:
    """(kernels in the function, rule that scheduled it) for each PrimFunc compile() would build, sorted;
    `weights_as_inputs` imports the weights as inputs, which compile() does not pack."""
    model = copy.deepcopy(model).eval().to(getattr(torch, dtype))  # a copy: shared test models stay float32
    mod = fx2relax.from_module(model, shape, dtype=dtype, keep_params_as_input=weights_as_inputs)
    scheduled = lower(mod[0] if weights_as_inputs else mod, target, None, None)
    return sorted(
        (kernels_in(func), str(func.attrs[SCHEDULE_RULE]))
        for _, func in scheduled.functions_items()
        if isinstance(func, tirx.PrimFunc)
    )


def check_compiled(model: nn.Module, x: torch.Tensor, target: tvm.target.Target | None = None) -> None:
    """Compile `model` for `target` in x's dtype and compare its output on `x` with PyTorch's."""
    dtype = str(x.dtype).removeprefix("torch.")
    model = copy.deepcopy(model).eval().to(x.dtype)  # a copy: shared test models stay float32
    run = fx2relax.compile(fx2relax.from_module(model, tuple(x.shape), dtype=dtype), target)
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


def test_vector_unit_comes_from_the_target_cpu():
    assert vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "znver4"})).lanes("float32") == 16
    assert vector_unit(HASWELL).lanes("float32") == 8
    assert vector_unit(HASWELL).lanes("float64") == 4
    assert vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "x86-64"})).lanes("float32") == 4
    # Zen 4 runs a 512-bit operation as two 256-bit halves; Intel's AVX-512 cores and AVX2 run whole vectors
    assert not vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "znver4"})).full_width
    assert vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "sapphirerapids"})).full_width
    assert vector_unit(HASWELL).full_width


@pytest.mark.parametrize("target", [HOST, HASWELL], ids=["host", "haswell"])
def test_course_cnn_gets_its_rules(target):
    pooled_conv, linear = ("conv2d_packed", "max_pool2d"), ("linear_packed",)
    assert chosen_rules(course_cnn(), (1, 1, 28, 28), target) == sorted(
        # conv + bias + ReLU + max-pool fused (the pooling-fusion pass), flatten unmarked (a copy, in vectors)
        [((), "VectorizedElementwise"), (("softmax",), "RowwiseReduction"), (pooled_conv, "PackedConv"), (linear, "PackedGemv"),
         (linear, "PackedGemv")]
    )


@pytest.mark.parametrize(("batch", "rule"), [(1, "PackedGemv"), (3, "PackedGemv"), (64, "PackedGemm"), (None, "PackedGemm")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_layers_get_the_gemv_or_gemm_rule(batch, rule, dtype):
    # 32 outputs: 2 panels in float32, 4 in float64, where a symbolic batch gets one-row tiles of all panels
    rule = "PackedGemv" if batch is None and dtype == "float64" else rule
    assert chosen_rules(nn.Linear(64, 32), (batch, 64), dtype=dtype) == [(("linear_packed",), rule)]


@pytest.mark.parametrize(("cores", "rule"), [(2, "PackedGemv"), (1, "PackedGemm")])
def test_four_rows_over_many_weights_split_their_panels_over_the_cores(cores, rule):
    # 4 rows x 4 of 8 panels per core fit one register tile: each core reads half the weights;
    # on one core the GEMM's tiles keep the 7 panels unpadded.
    target = tvm.target.Target({**HOST.export(), "num-cores": cores})
    assert chosen_rules(nn.Linear(2048, 100), (4, 2048), target) == [(("linear_packed",), rule)]


@pytest.mark.parametrize("name", CHANNEL_VECTOR_CONVS)
@pytest.mark.parametrize(("target", "dtype"), [(HOST, "float32"), (HASWELL, "float32"), (HOST, "float64")])
def test_convs_with_whole_channel_vectors_get_the_channel_vector_rule(name, target, dtype):
    model = CHANNEL_VECTOR_CONVS[name]
    batch, height, width = CONV_INPUT
    rules = chosen_rules(model, (batch, model[0].in_channels, height, width), target, dtype, weights_as_inputs=True)
    assert [rule for kernels, rule in rules if "conv2d" in kernels] == ["ChannelVectorConv"]


@pytest.mark.parametrize("name", PACKED_CONVS)
@pytest.mark.parametrize(("target", "dtype"), [(HOST, "float32"), (HASWELL, "float32"), (HOST, "float64")])
def test_convs_on_constant_weights_get_the_packed_rule(name, target, dtype):
    model = PACKED_CONVS[name]
    batch, height, width = CONV_INPUT
    rules = chosen_rules(model, (batch, model[0].in_channels, height, width), target, dtype)
    assert [rule for kernels, rule in rules if "conv2d_packed" in kernels] == ["PackedConv"]


@settings(max_examples=6, deadline=None)
@given(
    out_channels=st.integers(17, 130).filter(lambda c: c % 8), in_channels=st.integers(1, 24), kernel=st.sampled_from([1, 3]),
    stride=st.integers(1, 2), target=st.sampled_from([HOST, HASWELL]),
)
def test_convs_with_channels_in_no_whole_vectors_get_the_packed_rule(out_channels, in_channels, kernel, stride, target):
    # ShuffleNetV2's 58 and 116 (at least one vector: fewer stay unpacked): the packed weight's last
    # vector of output channels padded with zeros.
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)
    model = nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU())
    rules = chosen_rules(model, (1, in_channels, 10, 14), target)
    assert [rule for kernels, rule in rules if "conv2d_packed" in kernels] == ["PackedConv"]


def test_depthwise_convs_get_the_plane_rule():
    model = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.BatchNorm2d(32), nn.ReLU6())
    assert chosen_rules(model, (1, 32, 14, 14)) == [(("conv2d", "pad"), "PlaneConv")]  # batch norm, ReLU6 unmarked


STRIDED_PLANE_CONVS = {
    # Column stride 2 on a padded input of even width: the padded copy is stored as two planes of
    # alternate columns, so each tap reads a contiguous vector; odd width: read in place. Zero
    # padding of an input whose width the stride divides is copied as zeros, then the input.
    "depthwise, stride 2, even padded width": (nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16), (2, 16, 9, 10)),
    "depthwise, stride 2, odd padded width": (nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16), (2, 16, 9, 9)),
    "depthwise, stride 3, padding 3, even rows": (nn.Conv2d(8, 8, 5, stride=3, padding=3, groups=8), (1, 8, 10, 12)),
    "depthwise, stride 2, reflect padding": (
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, padding_mode="reflect"), (2, 8, 7, 10)
    ),
    "grouped, 2 outputs per group, stride (1, 3), dilated": (
        nn.Conv2d(8, 16, 3, stride=(1, 3), padding=2, dilation=2, groups=8), (1, 8, 7, 14)
    ),
}


@pytest.mark.parametrize("name", STRIDED_PLANE_CONVS)
def test_grouped_and_strided_convs_get_the_plane_rule_and_match_torch(name):
    # Fewer output channels per group than a vector's lanes: a channel vector would gather from several input planes.
    conv, shape = STRIDED_PLANE_CONVS[name]
    model = nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU6())
    assert chosen_rules(model, shape) == [(("conv2d", "pad"), "PlaneConv")]
    torch.manual_seed(0)
    x = torch.randn(shape)
    x[0, 0, 1, 2], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    check_compiled(model, x)


def padded_copy_stores(func: tirx.PrimFunc) -> list:
    """The values the stages marked "pad" of a scheduled function store."""
    return [block.body.value for block in stages(func) if marked_kernel(block.annotations) == "pad"]


@pytest.mark.parametrize(
    ("name", "decomposed"),
    [("depthwise, stride 2, even padded width", True), ("depthwise, stride 3, padding 3, even rows", True),
     ("depthwise, stride 2, odd padded width", False), ("depthwise, stride 2, reflect padding", False)],
)
def test_strided_zero_padding_is_zeros_then_a_copy_without_bounds_checks(name, decomposed):
    # One masked gather per vector of padded outputs was 70 % of MobileNetV2's stride-2 depthwise conv at 112².
    conv, shape = STRIDED_PLANE_CONVS[name]
    scheduled = lower(fx2relax.from_module(nn.Sequential(conv, nn.ReLU6()), shape), HOST, None, None)
    (func,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)]
    stores = padded_copy_stores(func)
    if decomposed:
        assert len(stores) == 2
        assert isinstance(stores[0], tvm.ir.prim.expr.FloatImm) and stores[0].value == 0.0
        assert isinstance(stores[1], tvm.ir.expr.TensorLoad)  # the input as it is: no if_then_else per element
    else:
        assert len(stores) == 1  # one block: a bounds check per element (zeros) or a reflected index


@pytest.mark.parametrize("name", FALLBACK_CONVS)
def test_convs_whose_windows_do_not_tile_get_the_plane_rule(name):
    model = FALLBACK_CONVS[name]
    batch, height, width = CONV_INPUT
    rules = chosen_rules(model, (batch, model[0].in_channels, height, width), weights_as_inputs=True)
    assert rules == [(("conv2d", "max_pool2d"), "PlaneConv")]


@pytest.mark.parametrize(
    ("target", "dtype", "rule"),
    [(HOST, "float32", "PlaneConv"), (HASWELL, "float32", "ChannelVectorConv"), (HOST, "float64", "ChannelVectorConv")],
    ids=["avx512-float32", "avx2-float32", "avx512-float64"],
)
def test_channel_vectors_are_as_wide_as_the_target_holds_the_dtype(target, dtype, rule):
    # 8 output channels: a whole vector of float32 on AVX2 and of float64 on AVX-512, half one of float32 there.
    model = nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
    assert chosen_rules(model, (2, 2, 10, 10), target, dtype, weights_as_inputs=True) == [(("conv2d", "max_pool2d"), rule)]


def test_functions_without_our_marked_kernels_get_the_generic_rule():
    model = nn.Sequential(nn.ReLU(), nn.LogSoftmax(dim=1))
    assert {rule for _, rule in chosen_rules(model, (4, 10))} == {"Generic"}


TRAILING_REDUCTIONS = {
    "global average pool": lambda x: F.adaptive_avg_pool2d(x, 1),
    "mean over the plane": lambda x: x.mean((2, 3)),
    "sum over the last axes": lambda x: x.sum((-2, -1), keepdim=True),
    "amax over the last axis": lambda x: x.amax(-1),
}
"""Reductions over the last two axes, or the last one (amax)."""


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), kind=st.sampled_from(sorted(TRAILING_REDUCTIONS)), batch=st.integers(1, 3),
    channels=st.sampled_from([1, 3, 8, 13, 48, 208]), height=st.integers(2, 15), width=st.integers(8, 30),
)
def test_reductions_over_trailing_axes_get_their_rule_and_match_torch(data, kind, batch, channels, height, width):
    # Squeeze-and-excitation's global average pool and other reductions over the last axes: the
    # positions reduced side by side (channels not a multiple of the chains too), in parallel at
    # the largest shapes; NaN and ±inf as PyTorch's.
    model = Apply(TRAILING_REDUCTIONS[kind])
    shape = (batch, channels, height, width)
    reduced = width if kind == "amax over the last axis" else height * width
    expected = "TrailingAxesReduction" if reduced >= MIN_REDUCED and batch * channels * height * width > reduced else "Generic"
    assert [rule for _, rule in chosen_rules(model, shape)] == [expected]
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans(), label="special values")), label="x")
    check_compiled(model, x)


class InputsByOutputs(nn.Module):
    """y = x @ W with W stored [in, out]: a user's module whose converter names its stage "linear"."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3))

    def forward(self, x):
        return x @ self.weight


def user_linear(data: te.Tensor, weight: te.Tensor) -> te.Tensor:
    """data: [N, in]; weight: [in, out]. Returns [N, out]."""
    k = te.reduce_axis((0, weight.shape[0]), name="k")
    return te.compute(
        (data.shape[0], weight.shape[1]), lambda i, j: te.sum(data[i, k] * weight[k, j], axis=k), name="linear"
    )


def _convert_inputs_by_outputs(ctx, input):
    return ctx.emit_te(user_linear, input, ctx.module_param("weight"))


def test_a_user_kernel_named_like_ours_compiles_exactly():
    with fx2relax.REGISTRY.scope():
        fx2relax.register_converter(InputsByOutputs)(_convert_inputs_by_outputs)
        check_compiled(InputsByOutputs(), torch.randn(2, 4))
        assert chosen_rules(InputsByOutputs(), (2, 4)) == [((), "Generic")]


@pytest.mark.parametrize("batch", [1, 64])
def test_course_cnn_compiled_for_avx2_matches_torch(batch):
    check_compiled(course_cnn(), torch.rand(batch, 1, 28, 28), HASWELL)


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), batch=st.integers(1, 3), in_channels=st.integers(1, 3), out_channels=st.sampled_from([16, 32, 48]),
    kernel=st.sampled_from([3, 5]), size=st.sampled_from([12, 16, 28]), target=st.sampled_from([HOST, HASWELL]),
)
def test_pooled_packed_convs_keep_tiles_and_maxima_on_the_stack_and_match_torch(
    data, batch, in_channels, out_channels, kernel, size, target
):
    # The course CNN's kernel: each register tile accumulated in a stack buffer of its own (a heap
    # workspace kept a memset per tile) and each window's maximum in one (in a heap workspace LLVM
    # stored it with masked stores and reloaded it, 35 % of the kernel); NaN and inf propagate as in PyTorch.
    model = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel), nn.ReLU(), nn.MaxPool2d(2)).eval()
    x = data.draw(tensors((batch, in_channels, size, size), special_values=True))
    check_compiled(model, x, target)
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), target, None, None)
    (pooled,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)]
    assert str(pooled.attrs[SCHEDULE_RULE]) == "PackedConv"
    for kernel_name in ("conv2d_packed", "max_pool2d"):
        scope, size_bytes = written_buffers(pooled)[kernel_name][0]
        assert scope == "global" and size_bytes < STACK_MAX_BYTES, (kernel_name, scope, size_bytes)


def test_every_op_family_compiled_for_avx2_matches_torch():
    check_compiled(EveryFamily(), torch.randn(2, 4, 9, 9), HASWELL)


@pytest.mark.parametrize("batch", [1, 64])
def test_float64_course_cnn_compiled_matches_torch(batch):
    check_compiled(course_cnn(), torch.rand(batch, 1, 28, 28, dtype=torch.float64))


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Linear(40, 37), nn.ReLU(), nn.Linear(37, 5, bias=False)),
        CHANNEL_VECTOR_CONVS["strided padded, relu, max-pool"],
        FALLBACK_CONVS["padded ceil-mode max-pool"],
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2)),
    ],
    ids=["linear", "channel-vector conv", "plane conv", "8-channel conv"],
)
@pytest.mark.parametrize("target", [None, HASWELL], ids=["host", "haswell"])
def test_float64_models_compiled_match_torch(model, target):
    shape = (5, 40) if isinstance(model[0], nn.Linear) else (3, model[0].in_channels, 12, 16)
    check_compiled(model, torch.randn(shape, dtype=torch.float64), target)


class EncoderLayer(nn.Module):
    """A small post-norm BERT layer written with the modules from_module traces: Q·Kᵀ and P·V are
    products of two activations, softmax and layer norm run over rows, GELU follows a linear."""

    def __init__(self, hidden: int = 32, heads: int = 2, intermediate: int = 64):
        super().__init__()
        self.heads, self.scale = heads, (hidden // heads) ** -0.5
        self.query, self.key, self.value, self.out = (nn.Linear(hidden, hidden) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(), nn.Linear(intermediate, hidden))

    def split(self, x):
        batch, length, hidden = x.shape
        return x.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

    def forward(self, x):
        batch, length, hidden = x.shape
        query, key, value = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.softmax(query @ key.transpose(-1, -2) * self.scale, dim=-1)
        x = self.norm1(x + self.out((scores @ value).transpose(1, 2).reshape(batch, length, hidden)))
        return self.norm2(x + self.feed_forward(x))


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(32, 2, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


ENCODER_INPUT = (2, 16, 32)  # (batch, sequence, hidden): head_dim 16, a whole vector on AVX-512


@pytest.mark.parametrize(("target", "dtype"), [(HOST, "float32"), (HASWELL, "float32"), (HOST, "float64")])
def test_encoder_products_softmax_and_layer_norm_get_their_rules(target, dtype):
    rules = chosen_rules(EncoderLayer(), ENCODER_INPUT, target, dtype)  # both layer norms share one function
    assert [rule for kernels, rule in rules if kernels == ("matmul",)] == ["BatchedGemm", "BatchedGemm"]
    assert [rule for kernels, rule in rules if kernels == ("softmax",)] == ["RowwiseReduction"]
    assert [rule for kernels, rule in rules if kernels == ("layer_norm",)] == ["RowwiseReduction"]


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (nn.Softmax(dim=1), (4, 10, 6)),  # a row is not the last axis
        (nn.LayerNorm((6, 8)), (3, 6, 8)),  # two normalized axes
        (Apply(lambda x: x @ x[0]), (3, 5, 5)),  # columns not a whole vector
    ],
    ids=["softmax-dim1", "layer-norm-2d", "odd-columns"],
)
def test_rows_and_products_the_rules_do_not_fit_fall_back_to_generic(model, shape):
    assert {rule for _, rule in chosen_rules(model, shape)} == {"Generic"}


@pytest.mark.parametrize("target", [None, HASWELL], ids=["host", "haswell"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encoder_compiled_matches_torch(target, dtype):
    check_compiled(EncoderLayer(), torch.randn(ENCODER_INPUT, dtype=dtype), target)
    check_compiled(SelfAttention(), torch.randn(ENCODER_INPUT, dtype=dtype), target)


ROW_MODELS = {
    "softmax": lambda length: nn.Softmax(dim=-1),
    "log-softmax": lambda length: nn.LogSoftmax(dim=-1),
    "layer-norm": lambda length: nn.LayerNorm(length, eps=1e-12),
}


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), kind=st.sampled_from(sorted(ROW_MODELS)), batch=st.integers(1, 4), rows=st.integers(1, 20),
    length=st.sampled_from([16, 32, 48, 128, 40, 17, 256]), target=st.sampled_from([None, HASWELL]),
)
def test_rows_compiled_match_torch(data, kind, batch, rows, length, target):
    # Rows of whole vectors reduce in lane partials (rfactor), others in order, in blocks of rows
    # along the rows or across the batch; NaN, ±inf and rows of only -inf behave as in PyTorch.
    x = data.draw(tensors((batch, rows, length), special_values=data.draw(st.booleans()), low=-30.0, high=30.0), label="x")
    if data.draw(st.booleans(), label="a row of only -inf"):
        x[0, 0] = float("-inf")
    run = fx2relax.compile(fx2relax.from_module(ROW_MODELS[kind](length), tuple(x.shape)), target)
    with torch.no_grad():
        assert_outputs_match(run(x), ROW_MODELS[kind](length)(x))


@pytest.mark.parametrize("kind", ["softmax", "layer-norm"])
@pytest.mark.parametrize("shape, axis, tile", [((8, 197, 192), 0, 8), ((2, 61, 256), 0, 2), ((3, 131, 64), 1, 1), ((4, 60, 128), 1, 4)])
def test_row_blocks_take_the_innermost_row_axis_a_tile_divides(kind, shape, axis, tile):
    # A block's rows are independent chains of sums: ROW_TILES' largest dividing the innermost row
    # axis that takes 2 rows or more (ViT's 197 tokens, prime: 8 of its images at a time), 1 row
    # where none does.
    (func,) = [f for _, f in lower(fx2relax.from_module(ROW_MODELS[kind](shape[-1]), shape), host_target(), None, None).functions_items()
               if isinstance(f, tirx.PrimFunc)]
    parallel, _, inner = loops_around(func, kind.replace("-", "_"), update=False)
    assert parallel == math.prod(shape[:-1]) // tile
    assert tile == 1 or inner[0] == tile
    x = torch.randn(shape)
    x[0, 0, 0], x[-1, -1, -1] = float("nan"), float("inf")
    check_against_torch(ROW_MODELS[kind](shape[-1]), x, compiled=True)


@settings(max_examples=6, deadline=None)
@given(data=st.data(), length=st.sampled_from([32, 48, 64]))
def test_masked_attention_rows_compiled_match_torch(data, length):
    # scaled_dot_product_attention's softmax gives 0 where a query's keys are all masked.
    inputs = [data.draw(tensors((2, 2, length, 16)), label=name) for name in ("query", "key", "value", "unused")]
    mask = data.draw(bool_tensors((2, 1, length, length)), label="mask")  # True: attends
    mask[0, 0, 0] = False  # a query that attends to no key
    model = ScaledDotProduct("bool", mask).eval()
    run = fx2relax.compile(fx2relax.from_module(model, [tuple(x.shape) for x in inputs]))
    with torch.no_grad():
        assert_outputs_match(run(*inputs), model(*inputs))


def test_multihead_attention_products_get_the_batched_gemm_rule():
    rules = chosen_rules(SelfAttention(), ENCODER_INPUT)  # the scores' keys copied transposed first
    assert [rule for kernels, rule in rules if kernels == ("attention_scores",)] == ["BatchedGemm"]
    assert [rule for kernels, rule in rules if kernels == ("attend",)] == ["BatchedGemm"]
    assert [rule for kernels, rule in rules if kernels == ("softmax",)] == ["RowwiseReduction"]


class LinearEpilogue(nn.Module):
    """A linear layer and what compile fuses after it: an activation, a residual add."""

    def __init__(self, in_features: int, out_features: int, bias: bool, activation: str, residual: bool):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = {"none": nn.Identity(), "gelu": nn.GELU(), "relu": nn.ReLU()}[activation]
        self.residual = residual

    def forward(self, x):
        y = self.activation(self.linear(x))
        return y + y.flip(-1) if self.residual else y


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), rows=st.sampled_from([128, 136, 130, 256, 2 * 128]), in_features=st.sampled_from([16, 37, 64]),
    out_features=st.sampled_from([16, 48, 40, 17]), bias=st.booleans(), activation=st.sampled_from(["none", "gelu", "relu"]),
    residual=st.booleans(),
)
def test_large_linear_epilogues_per_tile_match_torch(data, rows, in_features, out_features, bias, activation, residual):
    # From LARGE_PRODUCT_ROWS rows on, bias, activation and residual run per register tile when
    # the columns are all output features (else, e.g. 40 or 17 features, as a pass of their own).
    # (no ±inf into GELU: PyTorch's vectorised GELU gives NaN at +inf, its scalar one and ours inf)
    special_values = activation != "gelu" and data.draw(st.booleans(), label="special values")
    x = data.draw(tensors((2, rows // 2, in_features), special_values=special_values), label="x")
    check_compiled(LinearEpilogue(in_features, out_features, bias, activation, residual), x)


@settings(max_examples=8, deadline=None)
@given(data=st.data(), length=st.sampled_from([16, 32, 48]), source=st.sampled_from([16, 64, 20]),
       heads=st.integers(1, 3), head_dim=st.sampled_from([8, 16, 5]))
def test_attention_scores_per_head_copies_and_tile_masks_match_torch(data, length, source, heads, head_dim):
    # Q·Kᵀ copies each head's keys transposed just before its tiles, and adds the float mask per tile.
    shapes = [(2, heads, length, head_dim), (2, heads, source, head_dim), (2, heads, source, head_dim), (length, source)]
    inputs = [data.draw(tensors(shape, special_values=index == 3 and data.draw(st.booleans())), label=f"input {index}")
              for index, shape in enumerate(shapes)]
    model = ScaledDotProduct("input").eval()
    run = fx2relax.compile(fx2relax.from_module(model, shapes))
    with torch.no_grad():
        assert_outputs_match(run(*inputs), model(*inputs))


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), rows=st.integers(4, 8), in_features=st.sampled_from([1, 19, 64]),
    out_features=st.sampled_from([16, 40, 100, 112, 17]), bias=st.booleans(), activation=st.sampled_from(["none", "relu"]),
    target=st.sampled_from([HOST, HASWELL]), dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_gemm_tiles_of_several_panels_match_torch(data, rows, in_features, out_features, bias, activation, target, dtype):
    # 4-8 rows (one tile's worth): a register tile of rows x panels with the fewest loads per FMA
    # (e.g. 2 x 7 for 100 features in float32 vectors of 16), within each target's register budget.
    x = data.draw(tensors((rows, in_features), special_values=data.draw(st.booleans())), label="x").to(dtype)
    check_compiled(LinearEpilogue(in_features, out_features, bias, activation, residual=False), x, target)


AVX512 = tvm.target.Target({"kind": "llvm", "mcpu": "sapphirerapids"})  # 32 vector registers, whatever the host


def innermost_loop(func: tirx.PrimFunc, name_suffix: str) -> tirx.For:
    """The loop directly around the first block of `func` whose name ends with `name_suffix`."""
    pending = [(func.body, None)]
    while pending:
        stmt, loop = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            if stmt.block.name_hint.endswith(name_suffix):
                return loop
            pending.append((stmt.block.body, loop))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((child, loop) for child in stmt.seq)
        elif isinstance(stmt, tirx.For):
            pending.append((stmt.body, stmt))
        elif hasattr(stmt, "body"):
            pending.append((stmt.body, loop))
    raise AssertionError(f"no block named *{name_suffix}")


def only_function(model: nn.Module, shape: tuple, target: tvm.target.Target, kernel: str) -> tirx.PrimFunc:
    """The scheduled function compile() would build for `model` that holds `kernel`'s stages."""
    scheduled = lower(fx2relax.from_module(model.eval(), shape), target, None, None)
    (func,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and kernel in kernels_in(func)]
    return func


@pytest.mark.parametrize(("target", "tile"), [(AVX512, (8, 2)), (HASWELL, (8, 1))], ids=["avx512", "avx2"])
def test_gemm_of_many_rows_runs_tiles_of_panels_down_chunks_of_rows(target, tile):
    # 512 rows x 128 features: register tiles of 8 rows x 2 panels in AVX-512's 32 registers (half of
    # them accumulators), 8 x 1 in AVX2's 16; the (chunk of 128 rows, tile of panels) pairs in parallel.
    func = only_function(nn.Linear(64, 128), (512, 64), target, "linear_packed")
    assert str(func.attrs[SCHEDULE_RULE]) == "PackedGemm"
    panels = 128 // vector_unit(target).lanes("float32")
    parallel, unrolled, _ = loops_around(func, "linear_packed")
    assert (parallel, unrolled[-2:]) == (512 // 128 * panels // tile[1], tile)


@pytest.mark.parametrize("in_features", [64, 5408, 19, 7])
def test_gemm_tiles_run_input_features_in_unrolled_groups_where_they_divide_k(in_features):
    # the register tile's k loop runs GEMM_UNROLLED_DEPTH input features per iteration where they
    # divide K (BERT's 2048 x 256 x 256 + 2048 x 1024 x 256: 3155 -> 2976 us), else one at a time;
    # the sums keep their order (the GEMM property tests draw K of 1, 7, 19 and 64)
    func = only_function(nn.Linear(in_features, 96), (256, in_features), AVX512, "linear_packed")
    _, unrolled, inner = loops_around(func, "linear_packed")
    unrolled_depth = in_features % GEMM_UNROLLED_DEPTH == 0
    assert unrolled[:-2] == ((GEMM_UNROLLED_DEPTH,) if unrolled_depth else ())
    assert (in_features // GEMM_UNROLLED_DEPTH if unrolled_depth else in_features) in inner


def test_gemm_of_rows_no_chunk_divides_runs_whole_chunks_and_one_of_the_rest():
    # ViT-Ti's 8 x 197 tokens (197 tiles of 8 rows, prime): 12 chunks of 16 tiles and one of 5, not
    # 197 chunks of one tile each reading the weights again
    func = only_function(nn.Linear(64, 128), (8 * 197, 64), AVX512, "linear_packed")
    parallel, unrolled, _ = loops_around(func, "linear_packed")
    assert (parallel, unrolled[-2:]) == (-(-197 // 16) * 8 // 2, (8, 2))


@pytest.mark.parametrize(("rows", "chunk_tiles"), [(197, 13), (260, 11), (8 * 128, 16)])
def test_gemm_chunks_share_the_row_tiles_evenly(rows, chunk_tiles):
    # ViT-Ti's 197 tokens: 25 tiles of 8 rows (padded to 200) as chunks of 13 and 12 tiles, not 16
    # and 9 (the core taking the larger chunk worked while the other waited); 260 rows (33 tiles,
    # padded to 264): 3 chunks of 11; chunks of 16 where they divide the tiles
    func = only_function(nn.Linear(64, 96), (rows, 64), AVX512, "linear_packed")
    parallel, unrolled, inner = loops_around(func, "linear_packed")
    assert unrolled[-2:] == (8, 3) and inner[0] == chunk_tiles
    assert parallel == -(-rows // (8 * chunk_tiles)) * 2


@pytest.mark.parametrize(("rows", "tile_rows"), [(196, 8), (100, 8), (20, 4), (12, 6)])
def test_gemm_rows_are_padded_to_whole_tiles_of_eight_where_little_is_added(rows, tile_rows):
    # ConvNeXt's 14 x 14 = 196 tokens computed as 200 rows in tiles of 8, not 49 tiles of 4 (4 rows
    # added: 2 %); 20 rows stay in tiles of 4 and 12 in tiles of 6 (padding would add 20 % and 33 %)
    func = only_function(nn.Linear(64, 48), (rows, 64), tvm.target.Target({"kind": "llvm", "mcpu": "sapphirerapids", "num-cores": 1}),
                         "linear_packed")
    _, unrolled, _ = loops_around(func, "linear_packed")
    assert unrolled[-2] == tile_rows


@pytest.mark.parametrize(("target", "tile"), [(AVX512, (8, 3)), (HASWELL, (8, 1))], ids=["avx512", "avx2"])
def test_gemm_of_panels_three_divide_runs_tiles_of_three_panels(target, tile):
    # 192 features (12 panels of 16): 8 rows x 3 panels, AVX-512's 24 accumulators beside 3 weight
    # vectors and the broadcast input (ViT-Ti's 192, 576 and 768 features); AVX2's 16 registers: 8 x 1
    func = only_function(nn.Linear(64, 192), (512, 64), target, "linear_packed")
    panels = 192 // vector_unit(target).lanes("float32")
    parallel, unrolled, _ = loops_around(func, "linear_packed")
    assert (parallel, unrolled[-2:]) == (512 // 128 * panels // tile[1], tile)


@pytest.mark.parametrize(("cores", "tile"), [(1, (8, 3)), (2, (8, 1))])
def test_gemm_of_one_chunk_keeps_a_tile_of_panels_per_core(cores, tile):
    # 64 rows (one chunk) x 48 features: 8 x 3 on one core, but 8 x 1 (3 tiles of panels) on two,
    # rather than one tile of 3 panels leaving the second core idle
    target = tvm.target.Target({"kind": "llvm", "mcpu": "sapphirerapids", "num-cores": cores})
    func = only_function(nn.Linear(64, 48), (64, 64), target, "linear_packed")
    parallel, unrolled, _ = loops_around(func, "linear_packed")
    assert (parallel, unrolled[-2:]) == (3 // tile[1], tile)


@pytest.mark.parametrize(("width", "tile"), [(17, (4, 6)), (1, (12, 1)), (3, (6, 3)), (14, (3, 7))])
def test_packed_conv_rows_of_no_short_divisor_take_every_vector_that_fits(width, tile):
    # 192 output channels (12 vectors of 16): rows of one column (a squeeze-and-excitation conv on
    # pooled planes) in tiles of all 12 vectors x 1 column, 12 FMA chains, not 2 x 1 waiting on the
    # FMA latency; 3 columns: 6 x 3; 14 as before, 3 x 7; a prime 17 (Inception's 17 x 17) computes
    # 18 columns (computed_columns), 4 x 6
    model = nn.Sequential(nn.Conv2d(64, 192, 1), nn.ReLU())
    func = only_function(model, (1, 64, 5, width), AVX512, "conv2d_packed")
    _, unrolled, _ = loops_around(func, "conv2d_packed")
    assert tuple(extent for extent in unrolled if extent > 1) == tuple(extent for extent in tile if extent > 1)


@pytest.mark.parametrize(("cores", "tile"), [(1, (2, 7)), (2, (8, 1))])
def test_gemm_of_few_rows_on_large_weights_keeps_a_tile_of_panels_per_core(cores, tile):
    # the course CNN's linear at batch 8 (8 x 5408 -> 100, 7 panels, 2.4 MB of weights): 2 x 7 tiles
    # on one core, but on two 8 x 1 tiles, 7 of them in parallel (a 2 x 7 tile was the only task: 219 -> 48 us)
    target = tvm.target.Target({"kind": "llvm", "mcpu": "sapphirerapids", "num-cores": cores})
    func = only_function(nn.Linear(5408, 100), (8, 5408), target, "linear_packed")
    assert str(func.attrs[SCHEDULE_RULE]) == "PackedGemm"
    parallel, unrolled, _ = loops_around(func, "linear_packed")
    assert (parallel, unrolled[-2:]) == (7 // tile[1], tile)


def allocated_scopes(func: tirx.PrimFunc) -> list[str]:
    """The scopes of the buffers `func` allocates besides its parameters (at its root block)."""
    return [buffer.scope() for buffer in func.body.block.alloc_buffers]


class LinearResidual(nn.Module):
    """ViT's projections: a linear layer, an activation and the block's input added back."""

    def __init__(self, features: int, activation: str):
        super().__init__()
        self.linear = nn.Linear(features, features)
        self.activation = {"none": nn.Identity(), "gelu": nn.GELU(), "relu": nn.ReLU()}[activation]

    def forward(self, x):
        return x + self.activation(self.linear(x))


@pytest.mark.parametrize(
    "model", [nn.Sequential(nn.Linear(64, 96), nn.GELU()), LinearResidual(64, "none"), nn.Linear(64, 96, bias=False)],
    ids=["gelu", "residual", "unpack"],
)
def test_gemm_epilogue_of_tokens_tiles_straddle_runs_in_the_write_back(model):
    # 8 x 197 tokens: tiles of 8 rows straddle the 197-token images, yet the bias, activation and
    # residual add run on the accumulators as the tile writes them back, no product buffer between
    func = only_function(model, (8, 197, 64), AVX512, "linear_packed")
    assert str(func.attrs[SCHEDULE_RULE]) == "PackedGemm"
    assert allocated_scopes(func) == ["local"]


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), batch=st.sampled_from([(8, 197), (2, 68), (136,), (3, 8, 16)]), features=st.sampled_from([48, 96, 40]),
    activation=st.sampled_from(["none", "gelu", "relu"]), residual=st.booleans(),
    target=st.sampled_from([HOST, HASWELL]), dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_gemm_epilogues_in_the_write_back_match_torch(data, batch, features, activation, residual, target, dtype):
    # tiles of 8 rows x 3 panels (48, 96 features) or 2 / 1 (40: a padded panel, the epilogue a pass
    # of its own); the epilogue in the write-back whether or not tiles straddle the batch axes (197,
    # 68 tokens), with the block's input added back or not
    special_values = activation != "gelu" and data.draw(st.booleans(), label="special values")
    x = data.draw(tensors((*batch, features), special_values=special_values), label="x").to(dtype)
    model = LinearResidual(features, activation) if residual else LinearEpilogue(features, features, True, activation, False)
    check_compiled(model, x, target)


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), rows=st.sampled_from([16, 136, 196, 200, 384]), in_features=st.sampled_from([7, 64]),
    out_features=st.sampled_from([32, 48, 96, 40]), activation=st.sampled_from(["none", "gelu"]),
    target=st.sampled_from([HOST, HASWELL]), dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_gemm_tiles_of_panels_down_chunks_of_rows_match_torch(data, rows, in_features, out_features, activation, target, dtype):
    # tiles of 8 rows x up to 2 panels (1 of 3, 2 of 6), in one chunk (16), two chunks sharing the
    # tiles (136, 200 rows: 17, 25 tiles; 196 padded to 200) or three (384), the epilogue per tile or
    # as a pass (40 features: a padded panel; 196 rows: padded rows)
    special_values = activation != "gelu" and data.draw(st.booleans(), label="special values")
    x = data.draw(tensors((rows, in_features), special_values=special_values), label="x").to(dtype)
    check_compiled(LinearEpilogue(in_features, out_features, True, activation, residual=False), x, target)


def holds_isnan(func: tirx.PrimFunc) -> bool:
    """Whether `func` calls TVM's isnan intrinsic (which its vectoriser runs lane by lane)."""
    return "T.isnan(" in func.script()


class SoftmaxAndExp(nn.Module):
    """softmax (row max, exponentials) and exp: the kernels whose NaN tests sit in vectorised loops."""

    def forward(self, x):
        return torch.softmax(x, -1), torch.exp(x), torch.sigmoid(x)


@settings(max_examples=8, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(4, 64), (3, 5, 32), (2, 40)]), target=st.sampled_from([HOST, HASWELL]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_softmax_and_exp_test_nan_by_bits_in_vectors_and_match_torch(data, shape, target, dtype):
    # NaN found from the bits (kernels.elementwise.is_nan), no isnan intrinsic left in a
    # vectorised loop; NaN, +inf and -inf rows as in PyTorch
    model = SoftmaxAndExp()
    scheduled = lower(fx2relax.from_module(model, shape, dtype=str(dtype).removeprefix("torch.")), target, None, None)
    assert not any(holds_isnan(func) for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc))
    x = data.draw(tensors(shape, special_values=True), label="x").to(dtype)
    check_compiled(model, x, target)


class HeadsAttention(nn.Module):
    """Projections split into heads (view + transpose), scaled_dot_product_attention with a bool
    buffer mask (or causal), heads merged again: what compile fuses into one FusedAttention function."""

    def __init__(self, heads: int, head_dim: int, mask: torch.Tensor | None):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.query, self.key, self.value = (nn.Linear(heads * head_dim, heads * head_dim) for _ in range(3))
        self.register_buffer("mask", mask)

    def split(self, x):
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        query, key, value = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        causal = self.mask is None
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=self.mask, is_causal=causal)
        return out.transpose(1, 2).reshape(x.shape)


def test_attention_gets_the_fused_attention_rule_with_its_head_layouts():
    # the heads split and merge fuse into the attention: one function, no copies around it
    rules = chosen_rules(HeadsAttention(2, 16, torch.rand(32, 32) < 0.5), (2, 32, 32))
    attention = [(kernels, rule) for kernels, rule in rules if "attend" in kernels]
    assert attention == [(("attend", "attention_scores", "scaled_query", "softmax"), "FusedAttention")]
    assert all(rule == "PackedGemm" for kernels, rule in rules if kernels != attention[0][0])


@pytest.mark.parametrize(("target", "tile"), [(AVX512, (8, 2)), (HASWELL, (8, 1))], ids=["avx512", "avx2"])
def test_fused_attention_takes_blocks_of_eight_rows_and_scales_their_queries_once(target, tile):
    # 64 tokens, 32 head features: blocks of 8 query rows, the product in 8 x 2 tiles of AVX-512's
    # 16 lanes (8 x 1 in AVX2's 14 accumulators), each block's queries scaled once, before its tiles
    func = only_function(HeadsAttention(2, 32, torch.rand(64, 64) < 0.5), (2, 64, 64), target, "attend")
    assert str(func.attrs[SCHEDULE_RULE]) == "FusedAttention"
    parallel, unrolled, _ = loops_around(func, "attend")
    assert (parallel, unrolled) == (2 * 2 * 64 // 8, tile)
    parallel, _, inner = loops_around(func, "scaled_query", update=False)
    assert parallel == 2 * 2 * 64 // 8 and math.prod(inner) == 8 * 32
    # the keys copied transposed a vector of keys at a time (gathered, written whole), not scattered
    copy_loop = innermost_loop(func, "_global")
    assert copy_loop.kind == tirx.ForKind.VECTORIZED and int(copy_loop.extent) == vector_unit(target).lanes("float32")


@settings(max_examples=5, deadline=None)
@given(
    data=st.data(), length=st.sampled_from([1, 5, 7, 16, 36, 50]), source=st.sampled_from([1, 8, 12, 17, 20, 32, 48]),
    heads=st.integers(1, 3), head_dim=st.sampled_from([5, 16, 32]), mask=st.sampled_from(["none", "input", "bool", "causal"]),
    target=st.sampled_from([None, HASWELL]), dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_fused_attention_compiled_matches_torch(data, length, source, heads, head_dim, mask, target, dtype):
    # FusedAttention: blocks of 1-8 query rows (lengths with no tile of several rows too, 50 padded
    # to 56), keys and head features of 1-4 vectors or part of one (8, 5: the lanes dividing them;
    # 12 keys padded here to whole vectors past AVX2's 8 lanes, 17 and 20 scored as 32 by the
    # kernel, the padded keys' scores -inf; 1 key the generic rule); float masks with -inf, NaN and inf, bool masks with rows that
    # attend to nothing (0, as PyTorch's), causal selection; AVX-512 and AVX2, float32 and float64.
    special = mask == "input" and data.draw(st.booleans(), label="special values")
    shapes = [(2, heads, length, head_dim), (2, heads, source, head_dim), (2, heads, source, head_dim), (length, source)]
    inputs = [data.draw(tensors(shape, special_values=special and index == 3), label=f"input {index}").to(dtype)
              for index, shape in enumerate(shapes)]
    bool_mask = data.draw(bool_tensors((2, 1, length, source)), label="bool mask")
    bool_mask[0, 0, 0] = False  # a query that attends to no key
    model = ScaledDotProduct("none" if mask == "causal" else mask, bool_mask, is_causal=mask == "causal").eval()
    run = fx2relax.compile(fx2relax.from_module(model.to(dtype), shapes, dtype=str(dtype).removeprefix("torch.")), target)
    with torch.no_grad():
        assert_outputs_match(run(*inputs), model(*inputs))


@settings(max_examples=4, deadline=None)
@given(data=st.data(), length=st.sampled_from([7, 32, 48]), heads=st.integers(1, 3), causal=st.booleans())
def test_fused_attention_with_its_head_layouts_matches_torch(data, length, heads, causal):
    # the split heads read and the merged heads written in place by the fused attention
    mask = None if causal else data.draw(bool_tensors((length, length)), label="mask")
    x = data.draw(tensors((2, length, heads * 16)), label="x")
    check_compiled(HeadsAttention(heads, 16, mask), x)


class PackedQkvAttention(nn.Module):
    """timm's ViT attention: one projection packs query, key and value, split by reshape
    (batch, tokens, 3, heads, head_dim), permute(2, 0, 3, 1, 4) and unbind, attended (scale given
    or not, a bool buffer mask, causal or none), heads merged back by transpose and reshape."""

    def __init__(self, heads: int, head_dim: int, scale: float | None, mask: torch.Tensor | None, causal: bool):
        super().__init__()
        self.heads, self.head_dim, self.scale, self.causal = heads, head_dim, scale, causal
        self.qkv = nn.Linear(heads * head_dim, 3 * heads * head_dim)
        self.register_buffer("mask", mask)

    def forward(self, x):
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=self.mask, is_causal=self.causal, scale=self.scale)
        return out.transpose(1, 2).reshape(batch, tokens, channels)


def realizes_in_vectorized_loops(func: tirx.PrimFunc) -> list[s_tir.SBlockRealize]:
    """The block realizes of `func` that sit inside a vectorised loop."""
    found, pending = [], [(func.body, False)]
    while pending:
        stmt, vectorized = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            if vectorized:
                found.append(stmt)
            pending.append((stmt.block.body, vectorized))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((inner, vectorized) for inner in stmt.seq)
        elif isinstance(stmt, tirx.For):
            pending.append((stmt.body, vectorized or stmt.kind == tirx.ForKind.VECTORIZED))
        elif hasattr(stmt, "body"):  # bindings, attributes, allocations
            pending.append((stmt.body, vectorized))
    return found


def vectorized_score_tiles(func: tirx.PrimFunc) -> list[bool]:
    """For each attention_scores block inside a vectorised loop of `func`: whether it runs unpredicated
    (whole vectors; a predicate on the lanes would make TVM compute the vector element by element)."""
    return [isinstance(realize.predicate, tirx.IntImm) and bool(realize.predicate.value)
            for realize in realizes_in_vectorized_loops(func) if marked_kernel(realize.block.annotations) == "attention_scores"]


@pytest.mark.parametrize("target", [HOST, HASWELL], ids=["host", "haswell"])
def test_packed_qkv_attention_of_a_prime_number_of_tokens_gets_vector_score_tiles(target):
    # ViT-Ti's 197 tokens (prime): the queries padded to 200 rows and the keys to whole vectors, the
    # scores computed in register tiles of whole vectors (before: 197 scalar columns, 5 GFLOP/s)
    model = PackedQkvAttention(3, 16, None, None, causal=False).eval()
    mod = fx2relax.from_module(model, (1, 197, 48))
    scheduled = lower(mod, target, None, None)
    attention = [func for _, func in scheduled.functions_items()
                 if isinstance(func, tirx.PrimFunc) and "attend" in kernels_in(func)]
    assert [str(func.attrs[SCHEDULE_RULE]) for func in attention] == ["FusedAttention"]
    tiles = vectorized_score_tiles(attention[0])
    assert tiles and all(tiles)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_of_keys_in_no_whole_vector_reduces_its_rows_by_vector_lanes(causal):
    # ViT-Ti's 197 keys are scored as 208 (kernels.attention.padded_keys), the padded ones -inf: the
    # softmax's row max and sum of exponentials run as one partial per vector lane (before: scalar
    # chains over 197 keys, a quarter of the attention's time)
    model = PackedQkvAttention(3, 16, None, None, causal=causal).eval()
    func = only_function(model, (1, 197, 48), AVX512, "attend")
    assert str(func.attrs[SCHEDULE_RULE]) == "FusedAttention"
    vectorized = {realize.block.name_hint for realize in realizes_in_vectorized_loops(func)}
    assert {"T_softmax_maxelem_rf_update", "T_softmax_expsum_rf_update"} <= vectorized


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), batch=st.integers(1, 2), tokens=st.sampled_from([17, 37, 50, 77]), heads=st.integers(1, 3),
    head_dim=st.sampled_from([8, 16, 24]), scale=st.sampled_from([None, 0.3]), mask=st.sampled_from(["none", "bool", "causal"]),
    target=st.sampled_from([None, HASWELL]),
)
def test_packed_qkv_attention_compiled_matches_torch(data, batch, tokens, heads, head_dim, scale, mask, target):
    # Tokens that fill no whole register tile of queries nor whole vectors of keys: padded queries
    # and keys, the padded scores never read, the padded rows never written; NaN and inf as PyTorch.
    bool_mask = data.draw(bool_tensors((tokens, tokens)), label="bool mask") if mask == "bool" else None
    x = data.draw(tensors((batch, tokens, heads * head_dim), special_values=data.draw(st.booleans())), label="x")
    check_compiled(PackedQkvAttention(heads, head_dim, scale, bool_mask, causal=mask == "causal"), x, target)


def scores_products_scale(func: tirx.PrimFunc) -> bool:
    """Whether an attention_scores stage of `func` multiplies by a float constant (the scale) in
    its product, i.e. scales each query again for every key it meets."""
    def scales(expr) -> bool:
        if isinstance(expr, tirx.FloatImm):
            return float(expr.value) != 0.0
        return isinstance(expr, (tirx.Add, tirx.Mul)) and (scales(expr.a) or scales(expr.b))

    updates = [block.body for block in stages(func) if marked_kernel(block.annotations) == "attention_scores"]
    return any(scales(update.value) for update in updates if isinstance(update, tirx.BufferStore))


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), batch=st.integers(1, 2), tokens=st.sampled_from([17, 37, 50, 197]), heads=st.integers(1, 3),
    head_dim=st.sampled_from([8, 16]), scale=st.sampled_from([None, 0.3, 2.0]), mask=st.sampled_from(["none", "causal"]),
)
def test_padded_attention_queries_scaled_once_match_torch(data, batch, tokens, heads, head_dim, scale, mask):
    # Padded queries (ViT-Ti's 197 tokens to 200 rows) are scaled in their padded copy, once, and
    # the padded keys copied transposed in one pass: the score tiles multiply and add only (before:
    # a scalar multiply by the scale and a broadcast per FMA); NaN and inf as PyTorch.
    model = PackedQkvAttention(heads, head_dim, scale, None, causal=mask == "causal").eval()
    x = data.draw(tensors((batch, tokens, heads * head_dim), special_values=data.draw(st.booleans())), label="x")
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), HOST, None, None)
    attention = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and "attend" in kernels_in(func)]
    assert [str(func.attrs[SCHEDULE_RULE]) for func in attention] == ["FusedAttention"]
    assert not scores_products_scale(attention[0])
    check_compiled(model, x)


NESTED_TRANSCENDENTALS = {  # a model, and the formulas in it that bind values (kernels.elementwise.let_bound)
    "softmax, silu": (nn.Sequential(nn.Softmax(dim=-1), nn.SiLU()), 3),  # softmax: its sum's exponential, its output's
    "silu, sigmoid": (nn.Sequential(nn.SiLU(), nn.Sigmoid()), 2),
    "sigmoid, sigmoid, sigmoid": (nn.Sequential(nn.Sigmoid(), nn.Sigmoid(), nn.Sigmoid()), 3),
    "tanh, gelu-tanh, pad": (nn.Sequential(nn.Tanh(), nn.GELU(approximate="tanh"), nn.ZeroPad2d(1)), 2),
    "layer norm, gelu-tanh": (nn.Sequential(nn.LayerNorm(16), nn.GELU(approximate="tanh")), 1),
    "linear, sigmoid, tanh": (nn.Sequential(nn.Linear(16, 32), nn.Sigmoid(), nn.Tanh()), 2),
    "1x1 conv, tanh, tanh": (nn.Sequential(nn.Conv2d(3, 16, 1), nn.Tanh(), nn.Tanh()), 2),
    "depthwise conv, sigmoid, tanh": (nn.Sequential(nn.Conv2d(3, 3, 3, groups=3), nn.Sigmoid(), nn.Tanh()), 2),
}


@pytest.mark.parametrize("name", sorted(NESTED_TRANSCENDENTALS))
def test_nested_exponentials_are_not_inlined_into_each_other(name):
    # Inlined into each other their expression trees could multiply (~14,000 operations an
    # element), and TVM's code generator re-simplifies lets nested in let values: tanh into
    # GELU-tanh took 100 s to compile, three sigmoids more. Each formula that binds values stays
    # a stage of its own (a norm may join one), bounded both ways, and the result is PyTorch's.
    model, formulas = NESTED_TRANSCENDENTALS[name]
    x = torch.randn(2, 3, 8, 16)
    scheduled = lower(fx2relax.from_module(model.eval(), tuple(x.shape)), HOST, None, None)
    sizes = [(value_operations(block.body), expanded_operations(block.body)[0]) for _, func in scheduled.functions_items()
             if isinstance(func, tirx.PrimFunc) for block in stages(func)]
    assert max(shared for shared, _ in sizes) <= 2 * NESTED_FLOPS_MAX, (name, sizes)
    binding = [expanded for shared, expanded in sizes if expanded > shared]
    assert len(binding) == formulas and max(binding) <= 2 * EXPANDED_OPERATIONS_MAX, (name, sizes)
    check_compiled(model.eval(), x)


def test_expanded_operations_count_each_let_where_it_is_read():
    # x bound once and read three times: the let-shared count has its two operations once, the
    # expanded one three times, and the reads of x's buffer are counted through the variable.
    data = te.placeholder((4,), name="data")
    out = te.compute((4,), lambda i: let_bound(data[i] * 2.0 + 1.0, lambda v: v * v + v), name="out")
    block = stages(te.create_prim_func([data, out]))[0]
    assert value_operations(block.body) == 4
    assert expanded_operations(block.body, block.reads[0].source) == (8, 3)


def stage_operations(model: nn.Module, shape: tuple[int, ...]) -> list[int]:
    """The operations of each stage of `model` lowered on the host (value_operations)."""
    scheduled = lower(fx2relax.from_module(model, shape), HOST, None, None)
    return [value_operations(block.body) for _, func in scheduled.functions_items()
            if isinstance(func, tirx.PrimFunc) for block in stages(func)]


@pytest.mark.parametrize("activation", [nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Hardswish()],
                         ids=lambda module: repr(module))
def test_activations_compute_their_argument_once(activation):
    # A batch norm inlined into GELU's erf (its argument read ~60 times) made FastViT's conv
    # epilogues take 4 s each to compile: each formula binds its argument once (let_bound), so the
    # norm is inlined into one stage that costs the activation's operations plus the norm's.
    x = torch.randn(2, 8, 5, 5)
    norm = nn.BatchNorm2d(8).eval()
    [alone], [norm_operations] = stage_operations(activation, tuple(x.shape)), stage_operations(norm, tuple(x.shape))
    assert stage_operations(nn.Sequential(norm, activation).eval(), tuple(x.shape)) == [alone + norm_operations]
    check_compiled(nn.Sequential(norm, activation).eval(), x)


@pytest.mark.parametrize(("activation", "operations"), [(nn.SiLU(), 31), (nn.Sigmoid(), 31), (nn.Tanh(), 52)],
                         ids=["SiLU", "Sigmoid", "Tanh"])
def test_silu_sigmoid_and_tanh_take_the_lean_exponential(activation, operations):
    # SiLU and sigmoid cost more than EfficientNet's 1x1 convs they are fused into: their 1 + e^-x
    # (kernels.math.one_plus_exp_of_negated) is 31 operations where 1 + exp_value(-x) was 47; tanh's
    # large branch takes it too (66 operations before). (29 read n as sum - magic, which a simplifier
    # folded once tuning substituted the sum: two more to read it from the sum's bits.)
    x = torch.randn(2, 8, 5, 5)
    assert stage_operations(activation, tuple(x.shape)) == [operations]
    check_compiled(activation, x)


class ScaleShift(nn.Module):
    """x * scale + shift, then an activation: the scale and shift broadcast over the axes where their shape has 1."""

    def __init__(self, scale_shape: tuple, shift_shape: tuple, activation: nn.Module):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(scale_shape))
        self.shift = nn.Parameter(torch.randn(shift_shape))
        self.activation = activation

    def forward(self, x):
        return self.activation(x * self.scale + self.shift)


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), shape=st.lists(st.sampled_from([1, 2, 3, 7, 8, 16, 28]), min_size=1, max_size=4),
    activation=st.sampled_from([nn.ReLU(), nn.Sigmoid(), nn.Hardswish(), nn.Identity()]),
    target=st.sampled_from([None, HASWELL]), dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_elementwise_and_broadcast_functions_compiled_match_torch(data, shape, activation, target, dtype):
    # Vectorised over the inner axes every operand indexes alike (VectorizedElementwise) or left to
    # Generic; either way PyTorch's results, NaN and ±inf included.
    scale_shape = tuple(extent if data.draw(st.booleans(), label="scaled axis") else 1 for extent in shape)
    shift_shape = tuple(extent if data.draw(st.booleans(), label="shifted axis") else 1 for extent in shape)
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())), label="x").to(dtype)
    check_compiled(ScaleShift(scale_shape, shift_shape, activation), x, target)


@pytest.mark.parametrize(
    ("shape", "scale_shape", "rule"),
    [
        ((1, 120, 28, 28), (1, 120, 1, 1), "VectorizedElementwise"),  # a squeeze-and-excitation scale
        ((4, 64), (4, 64), "VectorizedElementwise"),
        ((1, 960, 7, 7), (1, 960, 1, 1), "Generic"),  # 49 elements a channel: no whole vectors
        ((1, 3, 5, 7), (1, 3, 5, 7), "Generic"),
    ],
)
def test_elementwise_functions_of_whole_vectors_get_the_vectorized_rule(shape, scale_shape, rule):
    model = ScaleShift(scale_shape, (1,) * len(shape), nn.ReLU())
    assert {found for _, found in chosen_rules(model, shape)} == {rule}


class SqueezeExcite(nn.Module):
    """A depthwise conv + SiLU, squeeze-and-excitation's scale of it (x * gate(conv(act(conv(mean(x)))))),
    then a 1x1 projection (which makes the scaled tensor channel-blocked) or none."""

    def __init__(self, channels: int, squeezed: int, gate: nn.Module, excite_bias: bool, project: int | None):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.squeeze = nn.Conv2d(channels, squeezed, 1)
        self.excite = nn.Conv2d(squeezed, channels, 1, bias=excite_bias)
        self.gate = gate
        self.project = nn.Conv2d(channels, project, 1) if project else nn.Identity()

    def forward(self, x):
        x = F.silu(self.depthwise(x))
        scale = self.gate(self.excite(F.silu(self.squeeze(x.mean((2, 3), keepdim=True)))))
        return self.project(x * scale)


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), batch=st.sampled_from([1, 2, 3]), channels=st.sampled_from([8, 16, 24, 48]),
    size=st.sampled_from([1, 3, 7, 14]), gate=st.sampled_from([nn.Sigmoid(), nn.Hardsigmoid(), nn.Identity()]),
    excite_bias=st.booleans(), project=st.sampled_from([None, 16, 24]),
)
def test_squeeze_excitation_scales_compiled_match_torch(data, batch, channels, size, gate, excite_bias, project):
    # Batch > 1: the excite conv, its gate and the scale are one function; the gate runs once per
    # (image, channel) on the conv's tiles (PackedConv's _ScaleAfter; with no gate and no bias the
    # conv's results scale directly), the scale vectorised on its own, over channel-blocked vectors
    # where a projection follows. NaN and ±inf as in PyTorch.
    model = SqueezeExcite(channels, 4, gate, excite_bias, project)
    x = data.draw(tensors((batch, channels, size, size), special_values=data.draw(st.booleans())), label="x")
    check_compiled(model, x)


def test_squeeze_excitation_gate_runs_once_per_channel_not_per_position():
    # The excite conv, its bias and sigmoid gate, and the scale are one function at batch 8: the
    # scale stage (over the 14x14 planes) multiplies, the gate's exponential is not inlined into it.
    model = SqueezeExcite(32, 8, nn.Sigmoid(), True, 24).eval()
    scheduled = lower(fx2relax.from_module(model, (8, 32, 14, 14)), HOST, None, None)
    excite = [
        func for _, func in scheduled.functions_items()
        if isinstance(func, tirx.PrimFunc) and "conv2d_packed" in kernels_in(func)
        and any(tuple(int(d) for d in read.source.shape) == (8, 32, 14, 14) for block in stages(func) for read in block.reads)
    ]
    assert len(excite) == 1
    scale_stages = [block for block in stages(excite[0]) if len(block.iter_vars) == 4 and int(block.iter_vars[-1].dom.extent) == 14]
    assert scale_stages and all(value_operations(block.body) <= 2 for block in scale_stages)


class CatEpilogue(nn.Module):
    """torch.cat of operands picked (with repeats) from three inputs along `dim`, then an epilogue
    FuseOps fuses after it: DenseNet's batch norm + ReLU, or another element-wise op. Integer and
    bool operands are made from the (float) inputs, a conversion fused before the concatenation."""

    def __init__(self, order: list[int], dim: int, epilogue: str, channels: int, dtype: str = "float32"):
        super().__init__()
        self.order, self.dim, self.epilogue, self.dtype = order, dim, epilogue, dtype
        self.norm = nn.BatchNorm2d(channels)
        with torch.no_grad():  # statistics of a trained network, not the identity
            for tensor in (self.norm.running_mean, self.norm.weight, self.norm.bias):
                tensor.uniform_(-1, 1, generator=torch.Generator().manual_seed(channels))
            self.norm.running_var.uniform_(0.5, 2, generator=torch.Generator().manual_seed(channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        inputs = (x, y, z)
        if self.dtype == "bool":
            inputs = tuple(t > 0 for t in inputs)
        elif self.dtype.startswith("int"):
            inputs = tuple((t * 4).to(getattr(torch, self.dtype)) for t in inputs)
        joined = torch.cat([inputs[k] for k in self.order], self.dim)
        if self.epilogue == "batch norm, relu":
            return torch.relu(self.norm(joined))
        if self.epilogue == "relu":
            return torch.relu(joined)
        if self.epilogue == "affine":
            return joined * 3 - 1
        if self.epilogue == "not":
            return ~joined
        return joined


CAT_EPILOGUES = {"float32": ["none", "relu", "affine", "batch norm, relu"], "float64": ["none", "batch norm, relu"],
                 "int32": ["none", "affine"], "int64": ["none", "affine"], "bool": ["none", "not"]}


@settings(max_examples=10, deadline=None)
@given(data=st.data(), rank=st.integers(1, 4), dtype=st.sampled_from(sorted(CAT_EPILOGUES)), large=st.booleans())
def test_concatenations_compiled_match_torch_exactly(data, rank, dtype, large):
    # Each input becomes its own copy loop (schedules.concat), vectorised and run in parallel over
    # the outer axes or cut pieces of the contiguous runs (a batch of one), every axis possibly the
    # concatenated one, the last one too (its parts start at their offsets), in each dtype: a copy,
    # so exact, and a float epilogue within the usual tolerance.
    if large:  # enough elements to run in parallel (over the batch, or pieces of rows for a batch of one)
        rank = 4
        choices = ([1, 2], [8, 16], [14, 28], [14, 28, 56])
        shape = [data.draw(st.sampled_from(sizes), label=f"size {i}") for i, sizes in enumerate(choices)]
    else:
        shape = [data.draw(st.sampled_from([1, 2, 3, 5, 7, 16]), label=f"size {i}") for i in range(rank)]
    axis = data.draw(st.integers(0, rank - 1), label="axis")
    dim = data.draw(st.sampled_from([axis, axis - rank]), label="dim")
    order = data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=6), label="operands")
    epilogues = [e for e in CAT_EPILOGUES[dtype] if e != "batch norm, relu" or rank == 4]
    epilogue = data.draw(st.sampled_from(epilogues), label="epilogue")
    shapes = []
    for k in range(3):
        shapes.append(tuple(data.draw(st.integers(1, 40 if large else 5), label=f"input {k} size") if i == axis else d
                            for i, d in enumerate(shape)))
    float_dtype = dtype if dtype.startswith("float") else "float32"
    inputs = [data.draw(tensors(s, special_values=dtype.startswith("float")), label=f"input {k}").to(getattr(torch, float_dtype))
              for k, s in enumerate(shapes)]
    channels = sum(shapes[k][1] for k in order) if axis == 1 else shape[1] if rank > 1 else 1
    model = CatEpilogue(order, dim, epilogue, channels, dtype).eval().to(getattr(torch, float_dtype))
    mod = fx2relax.from_module(model, shapes, dtype=float_dtype)
    assert {rule for _, rule in _rules(mod)} == {"Concatenation"}
    with torch.no_grad():
        expected = model(*inputs)
    exact = epilogue in ("none", "relu", "not") or not dtype.startswith("float")  # (LLVM may fuse a float multiply-add)
    assert_outputs_match(fx2relax.compile(mod)(*inputs), expected, **({"rtol": 0, "atol": 0} if exact else {}))


def _rules(mod: tvm.IRModule) -> list[tuple[tuple[str, ...], str]]:
    """(kernels, rule) of each PrimFunc compile() builds from `mod`."""
    scheduled = lower(mod, HOST, None, None)
    functions = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)]
    return [(kernels_in(func), str(func.attrs[SCHEDULE_RULE])) for func in functions]


def test_dense_layer_concatenation_gets_the_concatenation_rule():
    # DenseNet's dense layer input: torch.cat of the block's features -> batch norm -> ReLU, one
    # function scheduled as one copy loop per input, for a fixed and a symbolic batch.
    model = CatEpilogue([0, 1, 2, 1], 1, "batch norm, relu", 16 + 8 + 4 + 8).eval()
    shapes = [(1, 16, 14, 14), (1, 8, 14, 14), (1, 4, 14, 14)]
    assert _rules(fx2relax.from_module(model, shapes)) == [((), "Concatenation")]  # (its marked stages inlined)
    symbolic = [(None, *shape[1:]) for shape in shapes]
    assert _rules(fx2relax.from_module(model, symbolic)) == [((), "Concatenation")]
    inputs = [torch.randn(3, *shape[1:]) for shape in shapes]
    run = fx2relax.compile(fx2relax.from_module(model, symbolic))
    with torch.no_grad():
        assert_outputs_match(run(*inputs), model.eval()(*inputs))


def test_concatenation_along_a_symbolic_axis_falls_back_to_generic():
    model = ApplyTernary(lambda x, y, z: torch.relu(torch.cat([x, y, z], 0)))
    shapes = [(None, 3), (2, 3), (1, 3)]
    assert {rule for _, rule in _rules(fx2relax.from_module(model, shapes))} == {"Generic"}
    inputs = [torch.randn(4, 3), torch.randn(2, 3), torch.randn(1, 3)]
    run = fx2relax.compile(fx2relax.from_module(model, shapes))
    assert_outputs_match(run(*inputs), model(*inputs), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "model", "shapes"),
    [
        (
            "conv + ReLU + max pool",
            nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Conv2d(16, 16, 1)), [(1, 3, 32, 32)],
        ),
        ("blocked max pool", PoolingBranch(nn.MaxPool2d(3, 1, 1, ceil_mode=True), relu_after=False), [(1, 8, 14, 14)]),
        ("maximum", ApplyBinary(torch.maximum), [(8, 64), (8, 64)]),
        ("isfinite, isinf, isnan", Apply(lambda x: torch.isfinite(x) & ~torch.isinf(x) | torch.isnan(x)), [(8, 64)]),
        ("nan_to_num", Apply(torch.nan_to_num), [(8, 64)]),
        ("not equal", ApplyBinary(torch.ne), [(8, 64), (8, 64)]),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_nan_tests_vectorise(name, model, shapes):
    # TVM's isnan, isinf and isfinite intrinsics do not vectorise: a vectorised loop holding one ran
    # lane by lane (a blocked 512 x 14 x 14 max pool: 107 us, vectorised 18 us); our kernels test
    # the bits instead (kernels.elementwise.is_nan and the others)
    mod = fx2relax.from_module(model.eval(), shapes[0] if len(shapes) == 1 else shapes)
    scheduled = lower(mod, host_target(), None, None)
    assert scalarized_functions(scheduled, host_target()) == {}


class ScaleAndBias(nn.Module):
    """x * scale + bias, the bias over all axes but the first (LeViT's attention biases added to its
    scaled scores, [1, heads, tokens, tokens]) or over the last only."""

    def __init__(self, shape: tuple[int, ...], per_row: bool):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(*(shape[-1:] if per_row else shape[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.25 + self.bias


@settings(max_examples=8, deadline=None)
@given(
    data=st.data(), leading=st.lists(st.integers(1, 5), min_size=1, max_size=3), per_row=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]), whole_vectors=st.integers(1, 3), tail=st.integers(0, 15),
)
def test_rows_of_no_whole_number_of_vectors_run_in_vectors_and_match_torch(data, leading, per_row, dtype, whole_vectors, tail):
    # Fused with the axes before it, a row of 196 (LeViT's scores) put vectors across two rows, each
    # lane's index a division and a remainder: gathers and scatters, 146 us for 1x4x196x196 (two
    # threads), 37-50 us in whole vectors of each row and a scalar tail.
    lanes = vector_unit(HOST).lanes(dtype)
    shape = (*leading, whole_vectors * lanes + tail % lanes)
    model = ScaleAndBias(shape, per_row).to(getattr(torch, dtype))
    x = data.draw(tensors(shape, special_values=True)).to(getattr(torch, dtype))
    mod = fx2relax.from_module(model, shape, dtype=dtype)
    scheduled = lower(mod, HOST, None, None)
    assert lane_divisions(scheduled, HOST) == {}
    (func,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)]
    assert str(func.attrs[SCHEDULE_RULE]) == "VectorizedElementwise"
    assert lanes in vector_store_lanes(func, func.params[-1])
    with torch.no_grad():
        expected = model(x)
    assert_outputs_match(fx2relax.compile(mod)(x), expected)


class HeadsAndWindows(nn.Module):
    """Copies that keep the last axis, as Swin's and ViT's attention makes them: [B, T, 3 * H * D]
    split into q, k and v of [B, H, T, D] (q scaled and its heads merged again into [B, T, H * D]),
    and [B, S, S, C] cut into windows of W x W positions, [B * (S / W)², W², C]."""

    def __init__(self, heads: int, head_dim: int, window: int):
        super().__init__()
        self.heads, self.head_dim, self.window = heads, head_dim, window

    def forward(self, tokens: torch.Tensor, image: torch.Tensor) -> tuple:
        b, t, _ = tokens.shape
        q, k, v = tokens.reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        n, s, _, c = image.shape
        w = self.window
        windows = image.view(n, s // w, w, s // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)
        merged = (q * 0.5).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)  # the heads merged again
        return merged, k + 0, v, windows


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), batch=st.integers(1, 2), tokens=st.integers(1, 20), heads=st.integers(1, 4),
    head_dim=st.sampled_from([4, 6, 8, 12, 16, 32]), window=st.integers(1, 4), windows=st.integers(1, 3),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_copies_that_keep_the_last_axis_are_vectorised_and_match_torch(data, batch, tokens, heads, head_dim, window, windows, dtype):
    model = HeadsAndWindows(heads, head_dim, window)
    size = window * windows
    inputs = [
        data.draw(tensors((batch, tokens, 3 * heads * head_dim), special_values=True)).to(getattr(torch, dtype)),
        data.draw(tensors((batch, size, size, head_dim), special_values=True)).to(getattr(torch, dtype)),
    ]
    mod = fx2relax.from_module(model, [tuple(x.shape) for x in inputs], dtype=dtype)
    scheduled = lower(mod, HOST, None, None)
    lanes = vector_unit(HOST).lanes(dtype)
    width = next((w for w in (lanes, lanes // 2, lanes // 4) if w >= 4 and head_dim % w == 0), None)
    for _, func in scheduled.functions_items():
        if isinstance(func, tirx.PrimFunc) and width is not None:
            assert str(func.attrs[SCHEDULE_RULE]) == "VectorizedElementwise"
            assert None not in vector_store_lanes(func, func.params[-1])
    with torch.no_grad():
        expected = model(*inputs)
    assert_outputs_match(fx2relax.compile(mod)(*inputs), expected)
