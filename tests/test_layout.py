"""layout.BlockChannels: activations between convolutions and depthwise convolutions stored
channel-blocked, and the blocked depthwise schedule, give PyTorch's results through compile."""

import pytest
import torch
import tvm
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from torch import nn
from tvm import s_tir, tirx

import fx2relax
from fx2relax.compiler import fuse, host_target, lower
from fx2relax.kernels.marks import BLOCKED_PARAMS, PLANES_REDUCED_AFTER, marked_kernel, stages
from fx2relax.packing import EXTRA_VECTOR_MAX_WASTE, PADDED_TILE_MAX_WASTE
from fx2relax.schedules import SCHEDULE_RULE, apply_schedules
from fx2relax.schedules.conv import tile_vectors
from fx2relax.schedules.generic import SERIAL_MAX_MACS, value_operations
from fx2relax.schedules.vectors import block_lanes, vector_unit
from tests.helpers import (
    AVX512_CPUS,
    assert_outputs_match,
    check_against_torch,
    cpu_target,
    loops_around,
    vector_store_lanes,
    whole_vectors_on_every_cpu,
    written_buffers,
)

LANES = vector_unit(host_target()).lanes("float32")
HASWELL = tvm.target.Target({"kind": "llvm", "mcpu": "haswell"})  # AVX2 only; runs on this znver4 too


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (a 1x1 or larger conv), depthwise conv, 1x1 projection, each
    with batch norm and an optional activation, and the residual add if `residual`."""

    def __init__(self, channels: int, expanded: int, outputs: int, kernel: int, stride: int, padding: int,
                 dilation: int, padding_mode: str, expand_kernel: int, activation: type[nn.Module], residual: bool):
        super().__init__()
        self.residual = residual
        self.expand = nn.Sequential(
            nn.Conv2d(channels, expanded, expand_kernel, padding=expand_kernel // 2), nn.BatchNorm2d(expanded), activation()
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(expanded, expanded, kernel, stride, padding, dilation, groups=expanded, padding_mode=padding_mode),
            nn.BatchNorm2d(expanded), activation(),
        )
        self.project = nn.Sequential(nn.Conv2d(expanded, outputs, 1), nn.BatchNorm2d(outputs))

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return y + x if self.residual else y


def randomize_norms(model: nn.Module, seed: int) -> nn.Module:
    """Batch norms with running statistics other than (0, 1), so folding them is tested."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.rand(module.num_features, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


@settings(max_examples=14, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.sampled_from([3, 8, 16, 32]),
    blocks=st.integers(1, 3),  # expanded channels: whole vectors
    extra=st.sampled_from([0, 0, LANES // 2, 4]),  # blocked in half vectors; not blocked
    outputs=st.sampled_from([8, 16, 32, 48]),  # several vectors: a packed tile of several (fed by a residual)
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.sampled_from([1, 2, 3, (2, 1), (1, 2)]),  # a row stride: the padded input copied per output row
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    padding_mode=st.sampled_from(["zeros", "zeros", "reflect"]),
    expand_kernel=st.sampled_from([1, 1, 3]),
    activation=st.sampled_from([nn.ReLU6, nn.ReLU, nn.Identity, nn.SiLU]),
    height=st.integers(5, 12),
    width=st.integers(5, 17),
    stacked=st.booleans(),  # a second block: the first one's output (and its residual) blocked too
    seed=st.integers(0, 2**16),
)
def test_inverted_residual_blocks_compiled_match_torch(
    batch, channels, blocks, extra, outputs, kernel, stride, padding, dilation, padding_mode, expand_kernel,
    activation, height, width, stacked, seed,
):
    reach = dilation * (kernel - 1)
    padding = min(padding, height - 1, width - 1) if padding_mode == "reflect" else padding
    if height + 2 * padding <= reach or width + 2 * padding <= reach:
        padding = reach  # the window must fit
        if padding_mode == "reflect" and padding >= min(height, width):
            padding_mode = "zeros"
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    same_size = all((size + 2 * padding - reach - 1) // step + 1 == size for size, step in zip((height, width), strides))
    torch.manual_seed(seed)
    model = randomize_norms(InvertedResidual(
        channels, blocks * LANES + extra, outputs, kernel, stride, padding, dilation, padding_mode, expand_kernel,
        activation, residual=same_size and outputs == channels,
    ), seed)
    if stacked:
        second = InvertedResidual(outputs, 2 * LANES, outputs, 3, 1, 1, 1, "zeros", 1, activation, residual=True)
        model = randomize_norms(nn.Sequential(model, second), seed + 1)
    x = torch.randn(batch, channels, height, width)
    check_against_torch(model, x, compiled=True)


def blocked_functions(
    model: nn.Module, shape: tuple, target: tvm.target.Target | None = None, dtype: str = "float32"
) -> dict[str, tuple[list[int], str]]:
    """{function: (its blocked parameters, the rule that scheduled it)} of compile's module."""
    scheduled = lower(fx2relax.from_module(model.eval(), shape, dtype=dtype), target or host_target(), None, None)
    return {
        global_var.name_hint: ([int(i) for i in func.attrs.get(BLOCKED_PARAMS, [])], str(func.attrs[SCHEDULE_RULE]))
        for global_var, func in scheduled.functions_items()
        if isinstance(func, tirx.PrimFunc)
    }


def test_activations_around_depthwise_convs_are_stored_blocked():
    model = randomize_norms(InvertedResidual(8, 2 * LANES, 8, 3, 1, 1, 1, "zeros", 1, nn.ReLU6, residual=True), 0)
    functions = blocked_functions(model, (2, 8, 14, 14))
    expand, depthwise, project = (
        next(value for name, value in functions.items() if key(name)) for key in (
            lambda name: "conv2d_packed_" in name and "add" not in name,  # the expand conv + ReLU6
            lambda name: "conv2d1" in name,
            lambda name: "add" in name,  # the projection + residual add
        )
    )
    assert expand == ([3], "PackedConv")  # its output
    assert depthwise == ([0, 3], "BlockedDepthwiseConv")  # its input and output
    assert project == ([0], "PackedConv")  # its input; the residual and its output stay [N, C, H, W]


def test_a_block_output_read_by_the_next_convs_and_its_residual_add_is_blocked():
    def block() -> InvertedResidual:
        return InvertedResidual(LANES, 2 * LANES, LANES, 3, 1, 1, 1, "zeros", 1, nn.ReLU6, residual=True)

    model = randomize_norms(nn.Sequential(block(), block()), 4)
    blocked = sorted(params for params, _ in blocked_functions(model, (2, LANES, 7, 7)).values())
    # Each expand writes blocked (the second reads the first block's output so), the depthwise
    # conv (one function for both) reads and writes blocked, the first projection writes blocked and
    # the second reads that as its residual; the model's input and output stay [N, C, H, W].
    assert blocked == [[0, 3], [0, 3], [0, 3], [0, 4], [3]]
    check_against_torch(model, torch.randn(2, LANES, 7, 7), compiled=True)


class ResidualStage(nn.Module):
    """A ResNet-like stage: 1x1 conv → a kernel x kernel conv (drawn stride and padding) → ResNet's
    basic block (two 3x3 convs, the second adding the first's input) → 1x1 conv, with batch norms
    and ReLUs: between the convs every activation is stored blocked, read by padded packed convs
    (a blocked padded copy) or by Winograd convs (32 channels and more, stride 1), which also
    write blocked and read the residual blocked."""

    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU())
        self.middle = nn.Sequential(nn.Conv2d(channels, channels, kernel, stride, padding), nn.BatchNorm2d(channels), nn.ReLU())
        self.first = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.second = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.expand = nn.Conv2d(channels, LANES, 1)

    def forward(self, x):
        y = self.middle(self.reduce(x))
        return self.expand(torch.relu(self.second(self.first(y)) + y))


@settings(max_examples=4, deadline=None)
@given(
    batch=st.integers(1, 3),
    in_channels=st.sampled_from([3, 16]),
    channels=st.sampled_from([LANES + LANES // 2, 2 * LANES, 3 * LANES]),  # half vectors; Winograd from 32 on
    kernel=st.sampled_from([1, 3, 3, 5]),
    stride=st.sampled_from([1, 1, 2, 3]),
    padding=st.integers(0, 2),
    height=st.integers(5, 12),
    width=st.integers(5, 13),
    seed=st.integers(0, 2**16),
)
def test_residual_stages_through_blocked_padded_and_winograd_convs_match_torch(
    batch, in_channels, channels, kernel, stride, padding, height, width, seed,
):
    torch.manual_seed(seed)
    model = randomize_norms(ResidualStage(in_channels, channels, kernel, stride, padding), seed)
    check_against_torch(model, torch.randn(batch, in_channels, height, width), compiled=True)


def test_padded_and_winograd_convs_read_and_write_blocked():
    model = randomize_norms(ResidualStage(8, 2 * LANES, 3, 2, 1), 6)
    functions = sorted(value for value in blocked_functions(model, (2, 8, 11, 9)).values() if value[0])
    # The 1x1 reduce writes blocked; the padded strided conv and the Winograd convs read blocked
    # and write blocked, the second one its residual too; the last 1x1 conv reads blocked.
    assert functions == [
        ([0], "PackedConv"), ([0, 3], "PackedConv"), ([0, 3], "WinogradConv"), ([0, 3, 4], "WinogradConv"), ([3], "PackedConv"),
    ]
    check_against_torch(model, torch.randn(2, 8, 11, 9), compiled=True)

def intermediate_scopes(func: tirx.PrimFunc) -> set[str]:
    """The storage scopes of the intermediate buffers a scheduled PrimFunc allocates (in its root block)."""
    return {buffer.scope() for buffer in func.body.block.alloc_buffers}


@pytest.mark.parametrize("batch", [1, 2])
def test_a_blocked_projection_adds_its_residual_on_each_register_tile(batch):
    """At batch 1 too, where rewriting the layout leaves the residual add reading the conv at batch
    index 0: the add runs on each tile in registers, no conv output goes through memory first."""
    model = randomize_norms(InvertedResidual(2 * LANES, 2 * LANES, 2 * LANES, 3, 1, 1, 1, "zeros", 1, nn.ReLU6, residual=True), 5)
    shape = (batch, 2 * LANES, 14, 14)
    scheduled = lower(fx2relax.from_module(model, shape), host_target(), None, None)
    project = next(func for global_var, func in scheduled.functions_items() if "add" in global_var.name_hint)
    assert str(project.attrs[SCHEDULE_RULE]) == "PackedConv"
    assert intermediate_scopes(project) == {"local"}
    check_against_torch(model, torch.randn(*shape), compiled=True)


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Conv2d(8, 20, 1), nn.ReLU6(), nn.Conv2d(20, 20, 3, padding=1, groups=20)),  # not whole half vectors
        nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU()),  # the model's input: not ours to lay out
        nn.Sequential(nn.Conv2d(8, 32, 1), nn.Conv2d(32, 32, 3, groups=16)),  # grouped, not depthwise
    ],
    ids=["20 channels", "depthwise on the input", "two channels per group"],
)
def test_tensors_that_do_not_fit_stay_unblocked(model):
    shape = (1, model[0].in_channels, 10, 10)
    assert all(not blocked for blocked, _ in blocked_functions(model, shape).values())
    check_against_torch(model, torch.randn(shape), compiled=True)


def test_a_blocked_tensor_read_by_something_else_stays_unblocked():
    # The depthwise conv's output goes to pooling and to the model's output: only its input is blocked.
    class TwoUses(nn.Module):
        def __init__(self):
            super().__init__()
            self.expand, self.depthwise = nn.Conv2d(8, 32, 1), nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32)

        def forward(self, x):
            y = self.depthwise(torch.relu(self.expand(x)))
            return y, nn.functional.max_pool2d(y, 2)

    model, shape = TwoUses(), (2, 8, 12, 12)
    blocked = sorted(params for params, _ in blocked_functions(model, shape).values() if params)
    assert blocked == [[0], [3]]  # the depthwise conv's input; the expand's output (after data, weight, bias)
    check_against_torch(model, torch.randn(shape), compiled=True)


def test_blocked_depthwise_conv_keeps_nan_and_inf():
    model = randomize_norms(InvertedResidual(8, LANES, 8, 3, 2, 1, 1, "zeros", 1, nn.ReLU, residual=False), 1)
    x = torch.randn(2, 8, 9, 11)
    x[0, 0, 1, 2], x[1, 3, 4, 4], x[-1, -1, -1, -1] = float("nan"), float("inf"), float("-inf")
    check_against_torch(model, x, compiled=True)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
@pytest.mark.parametrize("target", [None, HASWELL], ids=["host", "haswell"])
def test_strided_blocked_depthwise_conv_copies_no_zero_padding_and_only_the_rows_of_each_output_row(target, padding_mode):
    # MobileNetV2's stride-2 conv at 112x112: zero padding is read as zeros where a tap is outside
    # the plane (a copy of the padded rows cost 5-27 % at batches 1 and 16); another padding mode is
    # copied three rows per output row, just before it, in L1, not whole blocks (831 KB: 20 % slower).
    lanes = vector_unit(target or host_target()).lanes("float32")
    model = randomize_norms(InvertedResidual(8, lanes, 8, 3, 2, 1, 1, padding_mode, 1, nn.ReLU6, residual=False), 6)
    shape = (1, 8, 112, 112)
    scheduled = lower(fx2relax.from_module(model.eval(), shape), target or host_target(), None, None)
    (depthwise,) = [func for _, func in scheduled.functions_items()
                    if isinstance(func, tirx.PrimFunc) and str(func.attrs[SCHEDULE_RULE]) == "BlockedDepthwiseConv"]
    if padding_mode == "zeros":
        assert "pad" not in written_buffers(depthwise)
    else:
        ((_, copied),) = written_buffers(depthwise)["pad"]
        assert copied <= 3 * 114 * lanes * 4  # at most 3 padded rows of one block, not its 114 rows
    x = torch.randn(shape)
    x[0, 1, 0, 5], x[0, 2, 50, 111], x[0, 7, 111, 0] = float("nan"), float("inf"), float("-inf")
    run = fx2relax.compile(fx2relax.from_module(model, shape), target)
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


@pytest.mark.parametrize("stride", [1, 2])
def test_blocked_depthwise_conv_of_few_channel_blocks_splits_its_rows_over_the_cores(stride):
    # MobileNetV3's 16 channels at 112² at batch 1: one channel block, which ran on one core of two;
    # its rows now split into parts run in parallel, each reading its rows and their halo.
    target = tvm.target.Target({**host_target().export(), "num-cores": 2})
    lanes = vector_unit(target).lanes("float32")
    model = randomize_norms(InvertedResidual(8, lanes, 8, 3, stride, 1, 1, "zeros", 1, nn.ReLU, residual=False), 7)
    shape = (1, 8, 128, 64)  # enough multiply-adds to run in parallel at all (SERIAL_MAX_MACS)
    scheduled = lower(fx2relax.from_module(model.eval(), shape), target, None, None)
    (depthwise,) = [func for _, func in scheduled.functions_items()
                    if isinstance(func, tirx.PrimFunc) and str(func.attrs[SCHEDULE_RULE]) == "BlockedDepthwiseConv"]
    parallel, _, _ = loops_around(depthwise, "conv2d")
    assert parallel == 16  # the fewest parts dividing the 128 or 64 output rows, 8 tasks a core at least
    x = torch.randn(shape)
    x[0, 1, 0, 5], x[0, 2, 17, 23], x[0, 7, 127, 0] = float("nan"), float("inf"), float("-inf")
    run = fx2relax.compile(fx2relax.from_module(model, shape), target)
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


@pytest.mark.parametrize(
    ("target", "dtype"),
    [(None, torch.float64), (HASWELL, torch.float32), (HASWELL, torch.float64)],
    ids=["float64", "AVX2", "AVX2 float64"],
)
def test_blocked_in_the_lanes_of_the_target_and_dtype(target, dtype):
    # AVX-512 holds 8 float64, AVX2 8 float32 or 4 float64: 24 channels are whole vectors of each
    # (and whole half vectors of AVX-512's float32).
    model = randomize_norms(InvertedResidual(8, 24, 8, 3, 2, 1, 1, "zeros", 1, nn.ReLU6, residual=False), 3).to(dtype)
    x = torch.randn(2, 8, 11, 10, dtype=dtype)
    name = str(dtype).removeprefix("torch.")
    rules = sorted(rule for blocked, rule in blocked_functions(model, tuple(x.shape), target, name).values() if blocked)
    assert rules == ["BlockedDepthwiseConv", "PackedConv", "PackedConv"]
    run = fx2relax.compile(fx2relax.from_module(model, tuple(x.shape), dtype=name), target)
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


@settings(max_examples=4, deadline=None)
@given(
    vectors=st.sampled_from([7, 15]), then_pool=st.booleans(), height=st.integers(3, 13), width=st.integers(3, 13),
    special=st.booleans(), seed=st.integers(0, 2**16),
)
def test_padded_whole_vectors_write_half_vector_blocks(vectors, then_pool, height, width, special, seed):
    # 120 or 248 output channels (AVX-512 float32): packed in whole vectors padded with zero channels
    # (packing.PADDED_VECTORS_MAX_WASTE), the real channels stored blocked in half vectors for a
    # depthwise conv (MobileNetV3's 120, 184, 200) or a global average pool (SqueezeNet's 1000).
    torch.manual_seed(seed)
    channels = vectors * LANES + LANES // 2
    reader = nn.AdaptiveAvgPool2d(1) if then_pool else nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
    model = randomize_norms(nn.Sequential(nn.Conv2d(8, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(), reader), seed)
    x = torch.randn(2, 8, height, width)
    if special:
        x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), host_target(), None, None)
    conv = next(func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and any(
        "conv2d_packed" in str(block.annotations) for block in stages(func)))
    weight_shapes = [[int(d) for d in param.shape] for param in conv.params if len(param.shape) == 5 and param.shape[-1] == LANES]
    assert [shape[0] for shape in weight_shapes][:1] == [vectors + 1]  # whole vectors, the last one padded
    assert [int(i) for i in conv.attrs[BLOCKED_PARAMS]] == [len(conv.params) - 1]  # its output, in half vectors
    assert [int(d) for d in conv.params[-1].shape][-1] == LANES // 2
    assert vector_store_lanes(conv, conv.params[-1]) == {LANES // 2}  # a half-vector block per store, not a scatter per channel
    check_against_torch(model, x, compiled=True)


@settings(max_examples=8, deadline=None)
@given(
    vectors=st.integers(1, 6), width=st.sampled_from([7, 14, 28, 56]), then_pool=st.booleans(),
    special=st.booleans(), cpu=st.sampled_from(AVX512_CPUS), seed=st.integers(0, 2**16),
)
@example(vectors=1, width=56, then_pool=False, special=True, cpu="sapphirerapids", seed=0)  # MobileNetV2's 144 -> 24: as 32
@example(vectors=1, width=56, then_pool=False, special=True, cpu="znver4", seed=0)  # ... but kept at 24 on znver4
@example(vectors=4, width=56, then_pool=False, special=False, cpu="sapphirerapids", seed=0)  # MNASNet's 24 -> 72: 9 half vectors
@example(vectors=6, width=28, then_pool=False, special=False, cpu="sapphirerapids", seed=0)  # RegNetY's 104: 13 half vectors, as 112
def test_half_vector_outputs_padded_where_the_whole_vectors_tile(vectors, width, then_pool, special, cpu, seed):
    # 24, 40, 56, 72, 88 or 104 output channels (AVX-512 float32): packed in whole vectors padded
    # with zero channels where the padding is at most packing.PADDED_TILE_MAX_WASTE and the whole
    # vectors take a register tile of two vectors or more over the row, or the half vectors a tile
    # of one (72 as 5 vectors over 56 columns takes one-vector tiles and stays in 9 half vectors,
    # three a tile; 104 goes as 7 vectors, its 13 half vectors one a tile), the real channels
    # stored in half-vector blocks; on CPUs that run whole 512-bit vectors at once (not znver4,
    # where a half vector's FMA costs half a whole one and the padding lost).
    torch.manual_seed(seed)
    target = cpu_target(cpu)
    lanes = vector_unit(target).lanes("float32")
    channels = vectors * lanes + lanes // 2
    reader = nn.AdaptiveAvgPool2d(1) if then_pool else nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
    model = randomize_norms(nn.Sequential(nn.Conv2d(8, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(), reader), seed)
    x = torch.randn(1, 8, 5, width)
    if special:
        x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("inf")
    mod = fx2relax.from_module(model, tuple(x.shape))
    scheduled = lower(mod, target, None, None)
    conv = next(func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and any(
        "conv2d_packed" in str(block.annotations) for block in stages(func)))
    (weight,) = [[int(d) for d in param.shape] for param in conv.params if len(param.shape) == 5 and param.shape[1] == 8]
    whole = vectors + 1
    registers = vector_unit(target).registers
    padded = cpu != "znver4" and lanes // 2 <= PADDED_TILE_MAX_WASTE * whole * lanes and (
        tile_vectors(width, whole, registers) >= 2 or tile_vectors(width, 2 * vectors + 1, registers) == 1
    )
    assert (weight[0], weight[-1]) == ((whole, lanes) if padded else (2 * vectors + 1, lanes // 2))
    assert (vectors, width) != (1, 56) or padded or cpu == "znver4"
    assert (vectors, width) != (4, 56) or not padded
    assert (vectors, width) != (6, 28) or padded or cpu == "znver4"
    assert [int(d) for d in conv.params[-1].shape][-1] == lanes // 2  # the output in half-vector blocks either way
    with whole_vectors_on_every_cpu():  # the padded layout runs on this host whatever its CPU
        run = fx2relax.compile(mod)
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


@settings(max_examples=6, deadline=None)
@given(
    vectors=st.sampled_from([5, 7, 11, 13]), width=st.sampled_from([7, 14, 28]), reader=st.sampled_from(["depthwise", "pool", "conv"]),
    batch=st.integers(1, 2), special=st.booleans(), cpu=st.sampled_from(AVX512_CPUS), seed=st.integers(0, 2**16),
)
@example(vectors=13, width=14, reader="conv", batch=1, special=True, cpu="sapphirerapids", seed=0)  # RegNetY's 208 at 14²: as 14 vectors
@example(vectors=13, width=14, reader="conv", batch=1, special=True, cpu="znver4", seed=0)  # ... but kept at 13 on znver4
# 112: 1/8 padding for tiles of two, kept at 7
@example(vectors=7, width=28, reader="depthwise", batch=1, special=False, cpu="sapphirerapids", seed=0)
@example(vectors=11, width=28, reader="pool", batch=1, special=False, cpu="sapphirerapids", seed=0)  # 176 as 192: tiles of three
def test_whole_vectors_in_one_vector_tiles_compute_one_more_where_it_tiles(vectors, width, reader, batch, special, cpu, seed):
    # A prime count of whole vectors of output channels takes one-vector register tiles; one more
    # vector of zero channels, where it takes tiles of several vectors and is at most
    # packing.EXTRA_VECTOR_MAX_WASTE of those computed for that tile, is computed and never stored,
    # on CPUs that run whole 512-bit vectors at once (not znver4's halves, where it lost).
    torch.manual_seed(seed)
    target = cpu_target(cpu)
    channels = vectors * vector_unit(target).lanes("float32")
    after = {"depthwise": nn.Conv2d(channels, channels, 3, padding=1, groups=channels), "pool": nn.AdaptiveAvgPool2d(1),
             "conv": nn.Conv2d(channels, 16, 1)}[reader]
    model = randomize_norms(nn.Sequential(nn.Conv2d(24, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(), after), seed)
    x = torch.randn(batch, 24, 3, width)
    if special:
        x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), target, None, None)
    (weight,) = [[int(d) for d in param.shape] for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)
                 for param in func.params if len(param.shape) == 5 and param.shape[1] == 24]
    registers = vector_unit(target).registers
    wider_tile = tile_vectors(width, vectors + 1, registers)
    bound = EXTRA_VECTOR_MAX_WASTE[min(wider_tile, 3)] if wider_tile >= 2 else 0
    wider = cpu != "znver4" and tile_vectors(width, vectors, registers) == 1 and 1 <= bound * (vectors + 1)
    assert weight[0] == vectors + wider
    assert (vectors, width) != (13, 14) or wider or cpu == "znver4"
    assert (vectors, width) != (7, 28) or not wider
    assert (vectors, width) != (11, 28) or wider or cpu == "znver4"
    with whole_vectors_on_every_cpu():  # the extra vector runs on this host whatever its CPU
        run = fx2relax.compile(fx2relax.from_module(model, tuple(x.shape)))
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


class PaddedResidual(nn.Module):
    """RegNet's 440-channel stage in small: 1x1 convs whose channels fill half vectors, the last of
    the block adding the block's input (the residual in its epilogue), one more reading the sum."""

    def __init__(self, channels: int):
        super().__init__()
        self.first = nn.Sequential(nn.Conv2d(8, channels, 1), nn.ReLU())
        self.middle = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU())
        self.last = nn.Conv2d(channels, channels, 1)
        self.head = nn.Conv2d(channels, 8, 1)

    def forward(self, x):
        y = self.first(x)
        return self.head(torch.relu(self.last(self.middle(y)) + y))


@pytest.mark.parametrize("batch", [1, 2])
def test_residuals_of_padded_convs_are_read_blocked(batch):
    # The last conv computes 128 channels (its weight padded) of which 120 are real: the residual,
    # 120 channels, is read blocked in its epilogue, and the sum written blocked for the head.
    model = PaddedResidual(7 * LANES + LANES // 2).eval()
    shape = (batch, 8, 6, 9)
    functions = blocked_functions(model, shape)
    residual = [blocked for name, (blocked, rule) in functions.items() if "add" in name]
    assert residual == [[0, 3, 4]]  # data, residual, output: all blocked
    x = torch.randn(shape)
    x[0, 0, 0, 0] = float("nan")
    check_against_torch(model, x, compiled=True)


class Fire(nn.Module):
    """SqueezeNet's fire module: a 1x1 squeeze conv, then 1x1 and 3x3 expand convs side by side,
    concatenated along channels; `pool` max-pools the result as SqueezeNet does between fires."""

    def __init__(self, channels: int, squeezed: int, expanded: tuple[int, int], pool: bool):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(channels, squeezed, 1), nn.ReLU())
        self.expand1 = nn.Sequential(nn.Conv2d(squeezed, expanded[0], 1), nn.ReLU())
        self.expand3 = nn.Sequential(nn.Conv2d(squeezed, expanded[1], 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True) if pool else nn.Identity()

    def forward(self, x):
        x = self.squeeze(x)
        return self.pool(torch.cat([self.expand1(x), self.expand3(x)], 1))


@settings(max_examples=6, deadline=None)
@given(
    batch=st.integers(1, 3),
    expanded=st.sampled_from([(LANES, LANES), (2 * LANES, LANES), (LANES, LANES + LANES // 2), (LANES + 4, LANES - 4)]),
    pool=st.booleans(),
    height=st.integers(3, 12),
    width=st.integers(3, 12),
    special=st.booleans(),
    seed=st.integers(0, 2**16),
)
@example(batch=1, expanded=(2 * LANES, LANES), pool=False, height=40, width=40, special=True, seed=1)  # parts run in parallel
@example(batch=1, expanded=(2 * LANES, LANES), pool=True, height=48, width=48, special=False, seed=2)
def test_concatenated_conv_outputs_are_joined_blocked(batch, expanded, pool, height, width, special, seed):
    # Two fires: the first's concatenation (and the max pooling after it) joins conv outputs stored
    # blocked into a blocked tensor for the second's squeeze conv, where the boundaries are whole
    # vectors of the concatenation's lanes; an input blocked in other lanes (16 channels in 16
    # lanes joined in 8) is read as it is stored, [N, C, H, W]. Where a boundary falls inside a
    # vector (LANES + 4 channels), nothing is blocked. The results are PyTorch's either way.
    torch.manual_seed(seed)
    channels = sum(expanded)
    model = nn.Sequential(Fire(8, 8, expanded, pool), Fire(channels, 8, (LANES, LANES), pool=False)).eval()
    x = torch.randn(batch, 8, height, width)
    if special:  # NaN and -inf through the convs, the concatenation and the pooling's maximum
        x[0, 0, 1, 1], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    functions = blocked_functions(model, tuple(x.shape))
    joined = [(blocked, rule) for name, (blocked, rule) in functions.items() if name.startswith(("concatenate", "fused_concatenate"))]
    lanes = block_lanes(channels, LANES)
    whole = lanes is not None and all(boundary % lanes == 0 for boundary in (0, expanded[0], channels))
    inputs = [index for index, size in enumerate(expanded) if whole and block_lanes(size, LANES) == lanes]
    first = inputs + [2] if inputs else []
    assert all(rule == "Concatenation" for blocked, rule in joined if blocked)
    assert sorted(blocked for blocked, _ in joined) == sorted([first, []])  # the second fire's output is the model's
    check_against_torch(model, x, compiled=True)


class ReductionBlock(nn.Module):
    """Inception-v3's reduction block (Mixed_6a, Mixed_7a): a 1x1 conv, then two strided convs and a
    max pooling of its output side by side, concatenated, read by a 1x1 conv."""

    def __init__(self, channels: int, branches: tuple[int, int], pool: nn.MaxPool2d):
        super().__init__()
        self.pre = nn.Conv2d(8, channels, 1)
        kernel, stride, padding, dilation = (pool.kernel_size, pool.stride, pool.padding, pool.dilation)
        self.left, self.right = (nn.Conv2d(channels, size, kernel, stride, padding, dilation) for size in branches)
        self.pool, self.post = pool, nn.Conv2d(channels + sum(branches), 8, 1)

    def forward(self, x):
        x = torch.relu(self.pre(x))
        return self.post(torch.cat([torch.relu(self.left(x)), torch.relu(self.right(x)), self.pool(x)], 1))


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(),
    channels=st.sampled_from([LANES // 2, LANES, 2 * LANES, LANES + LANES // 2, LANES + 4]),
    branches=st.sampled_from([(LANES, 2 * LANES), (LANES // 2, LANES), (LANES + 4, LANES)]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    batch=st.integers(1, 2),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    special=st.booleans(),
)
@example(
    data=None, channels=2 * LANES, branches=(LANES, 2 * LANES), kernel=3, stride=2, dilation=1, batch=1, dtype=torch.float32, special=True
)
def test_a_max_pooling_beside_convs_is_concatenated_blocked(data, channels, branches, kernel, stride, dilation, batch, dtype, special):
    # The pooling is fused into the concatenation's function; where every boundary is a whole vector
    # of the concatenation's lanes (for its dtype), the inputs stored in those lanes (the pooled one
    # too) and the result are stored blocked (the pooling a vector of channels per tap, into a
    # blocked buffer the concatenation copies; an input in other lanes is read as stored), else none
    # is. NaN and -inf through the maximum, any window, stride, padding, dilation and ceil mode that
    # keeps the branches' planes equal.
    padding = 0 if data is None else data.draw(st.integers(0, kernel // 2), label="padding")
    ceil_mode = data is not None and data.draw(st.booleans(), label="ceil_mode")
    height, width = (9, 9) if data is None else (data.draw(st.integers(5, 11), label=side) for side in ("height", "width"))
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    torch.manual_seed(0 if data is None else data.draw(st.integers(0, 2**16), label="seed"))
    model = ReductionBlock(channels, branches, pool).eval().to(dtype)
    x = torch.randn(batch, 8, height, width, dtype=dtype)
    if special:
        x[0, 0, 1, 1], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    with torch.no_grad():
        planes = {tuple(branch.shape[2:]) for branch in (model.left(model.pre(x)), model.pool(model.pre(x)))}
    assume(len(planes) == 1)  # ceil mode may add a row or column the convs do not have
    name = str(dtype).removeprefix("torch.")
    mod = fx2relax.from_module(model, tuple(x.shape), dtype=name)
    fused = fuse(mod, host_target())
    (joined,) = [
        global_var for global_var, func in fused.functions_items()
        if isinstance(func, tirx.PrimFunc) and {"concatenate", "max_pool2d"} <= {marked_kernel(b.annotations) for b in stages(func)}
    ]
    vector = vector_unit(host_target()).lanes(name)
    lanes = block_lanes(channels + sum(branches), vector)
    whole = lanes is not None and all(size % lanes == 0 for size in (channels, *branches))
    blocked_inputs = sorted(size for size in (channels, *branches) if whole and block_lanes(size, vector) == lanes)
    scheduled = apply_schedules(fused, host_target())[joined]
    shapes = [[int(d) for d in param.shape] for param in scheduled.params]
    blocked = sorted(shape[1] * shape[4] for shape in shapes[:-1] if len(shape) == 5)  # an input's channels
    assert blocked == blocked_inputs and len(shapes[-1]) == (5 if blocked_inputs else 4)
    assert not blocked_inputs or str(scheduled.attrs[SCHEDULE_RULE]) == "Concatenation"
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(mod)(x), model(x))


class PoolingBranch(nn.Module):
    """Inception's and GoogLeNet's block: 1x1 convs joined by a concatenation, read by a 1x1 conv and
    by a pooling (an activation after it or not) into another 1x1 conv."""

    def __init__(self, pool: nn.Module, relu_after: bool):
        super().__init__()
        self.left, self.right = nn.Conv2d(8, 2 * LANES, 1), nn.Conv2d(8, LANES, 1)
        self.pool, self.relu_after = pool, relu_after
        self.pooled, self.direct = nn.Conv2d(3 * LANES, LANES, 1), nn.Conv2d(3 * LANES, LANES, 1)

    def forward(self, x):
        joined = torch.cat([torch.relu(self.left(x)), torch.relu(self.right(x))], 1)
        pooled = self.pool(joined)
        pooled = torch.relu(pooled) if self.relu_after else pooled
        return self.pooled(pooled), self.direct(joined)


@st.composite
def poolings(draw) -> nn.Module:
    """A max or average pooling of any parameters PyTorch takes for it."""
    kernel = draw(st.integers(1, 3), label="kernel")
    stride = draw(st.integers(1, 2), label="stride")
    padding = draw(st.integers(0, kernel // 2), label="padding")
    ceil_mode = draw(st.booleans(), label="ceil_mode")
    if draw(st.booleans(), label="max"):
        return nn.MaxPool2d(kernel, stride, padding, draw(st.integers(1, 2), label="dilation"), ceil_mode=ceil_mode)
    divisor = draw(st.sampled_from([None, 2]), label="divisor_override")
    return nn.AvgPool2d(kernel, stride, padding, ceil_mode, draw(st.booleans(), label="count_include_pad"), divisor)


@settings(max_examples=8, deadline=None)
@given(data=st.data(), batch=st.integers(1, 2), pool=poolings(), relu_after=st.booleans(), special=st.booleans())
@example(data=None, batch=1, pool=nn.MaxPool2d(3, 1, 1, ceil_mode=True), relu_after=False, special=True)  # GoogLeNet's
@example(data=None, batch=1, pool=nn.AvgPool2d(3, 1, 1), relu_after=False, special=False)  # Inception's
def test_poolings_between_a_concatenation_and_a_conv_read_and_write_blocked(data, batch, pool, relu_after, special):
    # The concatenation writes blocked for the convs and the pooling that read it, the pooling reads
    # and writes blocked (a vector of channels per tap, BlockedPooling), its 1x1 conv reads blocked;
    # NaN and -inf through the maximum, any window, stride, padding, ceil mode and divisor.
    height, width = ((5, 7) if data is None else (data.draw(st.integers(4, 9), label=side) for side in ("height", "width")))
    torch.manual_seed(0 if data is None else data.draw(st.integers(0, 2**16), label="seed"))
    model = PoolingBranch(pool, relu_after).eval()
    x = torch.randn(batch, 8, height, width)
    if special:
        x[0, 0, 1, 1], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    functions = blocked_functions(model, tuple(x.shape))
    pooling = [value for name, value in functions.items() if "pool" in name and "concatenate" not in name]
    assert pooling == [([0, 1], "BlockedPooling")]
    check_against_torch(model, x, compiled=True)


@settings(max_examples=6, deadline=None)
@given(
    batch=st.integers(1, 3),
    group_width=st.sampled_from([LANES // 2, LANES // 4, LANES]),
    groups=st.integers(2, 4),
    stride=st.sampled_from([1, 2]),
    dilation=st.sampled_from([1, 2]),
    height=st.integers(5, 14),
    width=st.integers(5, 14),
    special=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_grouped_convs_copy_the_padded_rows_they_read(batch, group_width, groups, stride, dilation, height, width, special, seed):
    # RegNet's and ResNeXt's grouped 3x3 conv between 1x1 convs: its input stored blocked, the
    # padding copied a few rows at a time inside the conv's loop (not a whole padded copy of the
    # input first), the results PyTorch's.
    torch.manual_seed(seed)
    channels = group_width * groups * (2 if group_width < LANES // 2 else 1)
    channels += -channels % LANES
    model = randomize_norms(nn.Sequential(
        nn.Conv2d(8, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, stride, dilation, dilation, groups=channels // group_width), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.Conv2d(channels, 8, 1),
    ), seed)
    x = torch.randn(batch, 8, height, width)
    if special:
        x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("inf")
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), host_target(), None, None)
    grouped = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and any(
        int(block.annotations.get("fx2relax.groups", 1)) > 1 for block in stages(func))]
    assert len(grouped) == 1 and [int(i) for i in grouped[0].attrs[BLOCKED_PARAMS]][:1] == [0]
    assert isinstance(grouped[0].body.block.body, tirx.For)  # one loop nest: the padding copied inside the conv's
    check_against_torch(model, x, compiled=True)


def test_blocked_with_weights_given_as_inputs():
    # Unpacked convs (weights as inputs, batch norms not folded) write blocked for a depthwise conv
    # to read; their own inputs stay [N, C, H, W], which only packed convs read blocked.
    model = randomize_norms(nn.Sequential(
        InvertedResidual(LANES, 2 * LANES, LANES, 3, 1, 1, 1, "zeros", 1, nn.ReLU6, residual=True),
        InvertedResidual(LANES, 2 * LANES, LANES, 3, 2, 1, 1, "zeros", 3, nn.ReLU6, residual=False),
    ), 5)
    mod, weights = fx2relax.from_module(model, (2, LANES, 9, 9), keep_params_as_input=True)
    rules = sorted(str(func.attrs[SCHEDULE_RULE]) for _, func in lower(mod, host_target(), None, None).functions_items()
                   if isinstance(func, tirx.PrimFunc) and func.attrs.get(BLOCKED_PARAMS))
    assert rules.count("BlockedDepthwiseConv") == 2
    x = torch.randn(2, LANES, 9, 9)
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(mod, weights=weights)(x), model(x))


class SqueezeExcitationBlock(nn.Module):
    """EfficientNet's MBConv and MobileNetV3's bneck: expand, depthwise conv, squeeze-and-excitation
    (the depthwise output pooled over its planes, two 1x1 convs, a gate scaling each channel of it),
    1x1 projection, the residual add if `residual`. `keepdim` pools with mean((2, 3), keepdim=True)
    (timm's), else with AdaptiveAvgPool2d (torchvision's)."""

    def __init__(self, channels: int, expanded: int, squeezed: int, kernel: int, stride: int,
                 activation: type[nn.Module], gate: type[nn.Module], residual: bool, keepdim: bool):
        super().__init__()
        self.residual, self.keepdim = residual, keepdim
        self.expand = nn.Sequential(nn.Conv2d(channels, expanded, 1), nn.BatchNorm2d(expanded), activation())
        self.depthwise = nn.Sequential(
            nn.Conv2d(expanded, expanded, kernel, stride, kernel // 2, groups=expanded), nn.BatchNorm2d(expanded), activation(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.squeeze = nn.Sequential(nn.Conv2d(expanded, squeezed, 1), activation(), nn.Conv2d(squeezed, expanded, 1), gate())
        self.project = nn.Sequential(nn.Conv2d(expanded, channels, 1), nn.BatchNorm2d(channels))

    def forward(self, x):
        y = self.depthwise(self.expand(x))
        pooled = y.mean((2, 3), keepdim=True) if self.keepdim else self.pool(y)
        out = self.project(y * self.squeeze(pooled))
        return out + x if self.residual else out


@settings(max_examples=10, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.sampled_from([8, 16, 24]),
    blocks=st.integers(1, 3),
    extra=st.sampled_from([0, 0, LANES // 2, 4]),  # whole vectors, half vectors, not blocked
    squeezed=st.sampled_from([4, 8, 20]),
    kernel=st.sampled_from([3, 5]),
    stride=st.sampled_from([1, 2]),
    activation=st.sampled_from([nn.SiLU, nn.Hardswish, nn.ReLU]),
    gate=st.sampled_from([nn.Sigmoid, nn.Hardsigmoid]),
    keepdim=st.booleans(),
    height=st.integers(3, 15),
    width=st.integers(3, 15),
    special=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_squeeze_and_excitation_blocks_compiled_match_torch(
    batch, channels, blocks, extra, squeezed, kernel, stride, activation, gate, keepdim, height, width, special, seed,
):
    torch.manual_seed(seed)
    model = randomize_norms(SqueezeExcitationBlock(
        channels, blocks * LANES + extra, squeezed, kernel, stride, activation, gate, residual=stride == 1, keepdim=keepdim,
    ), seed)
    x = torch.randn(batch, channels, height, width)
    if special:  # NaN and inf spread through the pool and the gate to whole channels, as in PyTorch
        x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("inf")
    check_against_torch(model, x, compiled=True)


def vectorized_extents(func: tirx.PrimFunc) -> list[int]:
    """The extents of the vectorised loops of `func`."""
    found, pending = [], [func.body]
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            pending.append(stmt.block.body)
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend(stmt.seq)
        elif hasattr(stmt, "body"):  # loops, blocks, bindings, attributes, allocations
            if isinstance(stmt, tirx.For) and stmt.kind == tirx.ForKind.VECTORIZED:
                found.append(int(stmt.extent))
            pending.append(stmt.body)
    return found


@pytest.mark.parametrize("keepdim", [False, True], ids=["AdaptiveAvgPool2d", "mean keepdim"])
@pytest.mark.parametrize("batch", [1, 2])
def test_squeeze_and_excitation_keeps_the_depthwise_output_blocked(batch, keepdim):
    # The depthwise conv writes blocked for the pool and the gate's multiply, which both read it a
    # vector of channels at a time; the multiply writes blocked for the projection in turn. The
    # pooled and gate values ([N, C, 1, 1]) keep their layout, the blocked one anyway.
    model = randomize_norms(SqueezeExcitationBlock(
        16, 2 * LANES, 8, 5, 1, nn.SiLU, nn.Sigmoid, residual=True, keepdim=keepdim,
    ), 7)
    shape = (batch, 16, 14, 14)
    scheduled = lower(fx2relax.from_module(model.eval(), shape), host_target(), None, None)
    functions = {global_var.name_hint: func for global_var, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)}

    def only(part: str) -> tirx.PrimFunc:
        (func,) = [func for name, func in functions.items() if part in name]
        return func

    def blocked(func: tirx.PrimFunc) -> list[int]:
        return [int(i) for i in func.attrs.get(BLOCKED_PARAMS, [])]

    depthwise, pool, scale, project = only("conv2d1_"), only("mean"), only("multiply"), only("add")
    assert blocked(depthwise) == [0, 3] and str(depthwise.attrs[SCHEDULE_RULE]) == "BlockedDepthwiseConv"
    assert blocked(pool) == [0] and str(pool.attrs[SCHEDULE_RULE]) == "TrailingAxesReduction"
    # alone at batch 1; in the epilogue of the gate's conv (its output planes 1x1) when FuseOps puts it there
    assert str(scale.attrs[SCHEDULE_RULE]) == ("VectorizedElementwise" if batch == 1 else "PackedConv")
    planes = [len(param.shape) for param in scale.params if len(param.shape) > 2 and int(param.shape[2]) == 14]
    assert planes == [5, 5]  # the depthwise output and its own, both blocked
    # the gate's exponential not inlined into the scale (over the 14x14 planes) for a blocked read either
    scale_stages = [block for block in stages(scale) if len(block.iter_vars) == 4 and int(block.iter_vars[-1].dom.extent) == 14]
    assert scale_stages and all(value_operations(block.body) <= 2 for block in scale_stages)
    assert blocked(project)[0] == 0 and str(project.attrs[SCHEDULE_RULE]) == "PackedConv"
    assert LANES in vectorized_extents(pool) and LANES in vectorized_extents(scale)  # a vector of channels per tap and position
    check_against_torch(model, torch.randn(shape), compiled=True)


def channel_of_task(func: tirx.PrimFunc, kernel: str, task: int) -> int:
    """The first channel the first `kernel` update block of `func` computes in parallel task `task`
    (every other loop at 0)."""
    pending = [(func.body, None, [])]
    while pending:
        stmt, parallel, others = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            if marked_kernel(stmt.block.annotations) == kernel and stmt.block.name_hint.endswith("_update"):
                analyzer = tvm.sym.Analyzer()
                analyzer.bind(parallel.loop_var, tirx.IntImm("int64", task))
                for loop in others:
                    analyzer.bind(loop.loop_var, tirx.IntImm("int64", 0))
                return int(analyzer.simplify(stmt.iter_values[1]))
            pending.append((stmt.block.body, parallel, others))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((child, parallel, others) for child in stmt.seq)
        elif isinstance(stmt, tirx.For):
            parallel_loop = stmt.kind == tirx.ForKind.PARALLEL
            pending.append((stmt.body, stmt if parallel_loop else parallel, others if parallel_loop else [*others, stmt]))
        elif hasattr(stmt, "body"):
            pending.append((stmt.body, parallel, others))
    raise AssertionError(f"no {kernel} block")


@settings(max_examples=8, deadline=None)
@given(
    squeeze=st.booleans(),
    kernel=st.sampled_from([3, 5]),
    stride=st.integers(1, 2),
    side=st.sampled_from([56, 112]),
    blocks=st.integers(2, 3),
    special=st.booleans(),
)
@example(squeeze=False, kernel=3, stride=2, side=112, blocks=3, special=True)  # MNASNet's 48 at 112²
def test_depthwise_row_parts_run_on_the_core_of_their_producer_or_their_reduction(squeeze, kernel, stride, side, blocks, special):
    # At batch 1 a blocked depthwise conv splits its rows into parts run as parallel tasks. With the
    # parts outside the channel blocks, a core's tasks read the rows its 1x1 producer wrote on that
    # core (MNASNet, batch 1: the 32-channel conv at 112² 73 -> 59 us, 48-channel stride 2 57 -> 47).
    # Where squeeze-and-excitation's mean then reduces the output per channel block, the channel
    # blocks stay outside, as the mean runs (EfficientNet-B0's means took 16-32 us instead of 16-17).
    expanded = blocks * LANES
    assume((side // stride) ** 2 * expanded * kernel**2 > SERIAL_MAX_MACS)  # in parallel at all
    if squeeze:
        model = SqueezeExcitationBlock(8, expanded, 8, kernel, stride, nn.SiLU, nn.Sigmoid, residual=False, keepdim=False)
    else:
        model = InvertedResidual(8, expanded, 8, kernel, stride, kernel // 2, 1, "zeros", 1, nn.ReLU6, residual=False)
    model = randomize_norms(model, side)
    x = torch.randn(1, 8, side, side)
    if special:
        x[0, 0, 1, 1], x[0, -1, -1, -1] = float("nan"), float("inf")
    scheduled = lower(fx2relax.from_module(model, tuple(x.shape)), host_target(), None, None)
    (depthwise,) = [
        func for func in scheduled.functions.values()
        if isinstance(func, tirx.PrimFunc) and str(func.attrs.get(SCHEDULE_RULE, "")) == "BlockedDepthwiseConv"
    ]
    assert bool(depthwise.attrs.get(PLANES_REDUCED_AFTER, False)) == squeeze
    parts = loops_around(depthwise, "conv2d")[0] // blocks
    assert parts > 1  # the rows split (batch 1)
    assert channel_of_task(depthwise, "conv2d", 1) == (0 if squeeze else LANES)  # the second task: the next part, or block
    check_against_torch(model, x, compiled=True)


class PlaneReduction(nn.Module):
    """conv → ReLU → a reduction over the planes (`kind`: mean, sum or amax, dims kept or not) → linear."""

    def __init__(self, channels: int, kind: str, keepdim: bool):
        super().__init__()
        self.conv, self.classify = nn.Conv2d(8, channels, 1), nn.Linear(channels, 10)
        self.kind, self.keepdim = kind, keepdim

    def forward(self, x):
        reduced = getattr(torch, self.kind)(torch.relu(self.conv(x)), dim=(2, 3), keepdim=self.keepdim)
        return self.classify(reduced.flatten(1))


@settings(max_examples=10, deadline=None)
@given(
    blocks=st.integers(1, 2),
    kind=st.sampled_from(["mean", "sum", "amax"]),
    keepdim=st.booleans(),
    batch=st.integers(1, 3),
    height=st.integers(3, 12),
    width=st.integers(3, 12),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    special=st.booleans(),
)
@example(blocks=1, kind="mean", keepdim=True, batch=2, height=12, width=12, dtype=torch.float32, special=True)
def test_a_reduction_over_planes_of_one_or_more_blocks_reads_a_vector_of_channels_at_a_time(
    blocks, kind, keepdim, batch, height, width, dtype, special
):
    # A buffer of one block of channels is read as [n, 0, h, w, c] (TIR simplifies c // L and c % L),
    # which the rule once took for an unblocked read: a 16-channel mean over 112x112 planes at batch
    # 16 went to the generic schedule, one scalar chain a channel (1973 us; 228 us a vector at a time).
    name = str(dtype).removeprefix("torch.")
    channels = blocks * vector_unit(host_target()).lanes(name)
    torch.manual_seed(blocks * 100 + height)
    model = PlaneReduction(channels, kind, keepdim).eval().to(dtype)
    x = torch.randn(batch, 8, height, width, dtype=dtype)
    if special:
        x[0, :, 1, 1], x[-1, :, -1, -1] = float("nan"), float("inf")
    functions = blocked_functions(model, tuple(x.shape), dtype=name)
    stage = {"mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_extreme"}[kind]
    (reduction,) = [value for function, value in functions.items() if stage in function]
    assert reduction == ([0], "TrailingAxesReduction")
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(fx2relax.from_module(model, tuple(x.shape), dtype=name))(x), model(x))


def test_a_global_pool_into_a_classifier_reads_the_last_conv_blocked():
    # EfficientNet's and MobileNetV3's head: conv → global average pool → flatten → linear; the pool
    # over planes of 3x3 (fewer elements than the unblocked rule's chains need) still a vector at a time.
    model = nn.Sequential(
        nn.Conv2d(8, 2 * LANES, 1), nn.Hardswish(), nn.Conv2d(2 * LANES, 2 * LANES, 3, padding=1, groups=2 * LANES), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * LANES, 10),
    )
    shape = (2, 8, 3, 3)
    functions = blocked_functions(model, shape)
    assert next(value for name, value in functions.items() if "mean" in name) == ([0], "TrailingAxesReduction")
    check_against_torch(model, torch.randn(shape), compiled=True)


@pytest.mark.parametrize(("mask", "blocked"), [((1, 1, 6, 6), [0]), ((1, LANES, 1, 1), [0, 3])], ids=["per position", "per channel"])
def test_a_tensor_scaled_by_more_than_channels_stays_unblocked(mask, blocked):
    # A multiply by a [1, 1, H, W] mask is not per channel (a vector of channels would read one
    # mask element broadcast): the depthwise output it reads stays [N, C, H, W], only the depthwise
    # input is blocked. By a [1, C, 1, 1] one it is blocked, as the pool reads it.
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.expand = nn.Conv2d(8, LANES, 1)
            self.depthwise = nn.Conv2d(LANES, LANES, 3, padding=1, groups=LANES)
            self.project = nn.Conv2d(LANES, 8, 1)
            self.mask = nn.Parameter(torch.rand(*mask))

        def forward(self, x):
            y = self.depthwise(torch.relu(self.expand(x)))
            return self.project(y * self.mask), y.mean((2, 3))

    model, shape = Masked().eval(), (2, 8, 6, 6)
    functions = blocked_functions(model, shape)
    assert next(params for name, (params, _) in functions.items() if "conv2d1" in name) == blocked
    check_against_torch(model, torch.randn(shape), compiled=True)


class ConvNeXtStage(nn.Module):
    """ConvNeXt's downsampling and blocks (torchvision's LayerNorm2d + 2x2/2 conv, then CNBlocks:
    depthwise conv, permute to [N, H, W, C], layer norm, linear, GELU, linear, permute back, layer
    scale [C, 1, 1], residual add), then the next stage's LayerNorm2d if `downsample_after`, and a 1x1
    conv: every activation between the convs passes
    through permutes, which read or write it blocked."""

    def __init__(self, channels: int, kernel: int, blocks: int, downsample_after: bool):
        super().__init__()
        self.norm, self.down = nn.LayerNorm(channels, eps=1e-6), nn.Conv2d(channels, channels, 2, 2)
        self.norm_after = nn.LayerNorm(channels, eps=1e-6) if downsample_after else None
        self.depthwise = nn.ModuleList(nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels) for _ in range(blocks))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(channels, eps=1e-6), nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))
            for _ in range(blocks)
        )
        self.scales = nn.ParameterList(nn.Parameter(torch.rand(channels, 1, 1)) for _ in range(blocks))
        self.head = nn.Conv2d(channels, 8, 1)

    def forward(self, x):
        x = self.down(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        for depthwise, mlp, scale in zip(self.depthwise, self.mlp, self.scales):
            x = x + scale * mlp(depthwise(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        if self.norm_after is not None:  # the next stage's LayerNorm2d: its permute fuses with the residual add
            x = self.norm_after(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.head(x)


@settings(max_examples=4, deadline=None)
@given(
    vectors=st.sampled_from([2, 3, 4]), kernel=st.sampled_from([3, 5, 7]), blocks=st.integers(1, 2), batch=st.integers(1, 2),
    height=st.integers(2, 7), width=st.integers(2, 7), downsample_after=st.booleans(), special=st.booleans(), seed=st.integers(0, 2**16),
)
@example(vectors=2, kernel=7, blocks=2, batch=1, height=7, width=7, downsample_after=True, special=False, seed=0)  # ConvNeXt's, narrower
@example(vectors=3, kernel=7, blocks=2, batch=2, height=5, width=6, downsample_after=False, special=True, seed=1)  # half vectors (AVX-512)
@example(vectors=2, kernel=3, blocks=1, batch=1, height=LANES, width=LANES, downsample_after=True, special=False, seed=2)  # C = H = W
def test_permutes_around_layer_norms_read_and_write_blocked(vectors, kernel, blocks, batch, height, width, downsample_after, special, seed):
    channels = vectors * LANES // 2
    torch.manual_seed(seed)
    model = ConvNeXtStage(channels, kernel, blocks, downsample_after).eval()
    shape = (batch, channels, 2 * height, 2 * width)
    functions = blocked_functions(model, shape)
    unblocked = sorted(rule for params, rule in functions.values() if not params)
    # Only the model's input is permuted unblocked; the norms and MLPs run on [N, H, W, C] as they are.
    assert "PlaneConv" not in unblocked and unblocked.count("Generic") == 1
    assert sum(rule == "BlockedDepthwiseConv" for _, rule in functions.values()) == 1  # one function for every block
    scheduled = lower(fx2relax.from_module(model, shape), host_target(), None, None)
    lanes = block_lanes(channels, LANES)
    into_channels_last = [  # the permutes from blocked into [N, H, W, C]: each stores vectors of channels
        func for _, func in scheduled.functions_items()
        if isinstance(func, tirx.PrimFunc) and str(func.attrs[SCHEDULE_RULE]) == "VectorizedElementwise" and len(func.params[-1].shape) == 4
    ]
    # the depthwise conv's output permuted (one function for every block); the last residual add and permute
    assert len(into_channels_last) == 1 + downsample_after
    assert all(vector_store_lanes(func, func.params[-1]) == {lanes} for func in into_channels_last)
    x = torch.randn(shape)
    if special:
        x[0, 0, 0, 0], x[-1, -1, -1, -1], x[0, -1, 1, 1] = float("nan"), float("inf"), float("-inf")
    check_against_torch(model, x, compiled=True, rtol=1e-4, atol=1e-4)
