"""fx2relax.compile: the fused, scheduled model gives PyTorch's results; targets, tuning, errors."""

import importlib.util
import math

import numpy as np
import pytest
import torch
import tvm
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F
from tvm import relax, s_tir, tirx

import fx2relax
from fx2relax.compiler import fuse, host_target, lower
from fx2relax.kernels.marks import marked_kernel, stages
from fx2relax.packing import WINOGRAD_MIN_CHANNELS
from fx2relax.schedules.conv import (
    K_BLOCK_CHANNELS,
    K_BLOCK_MIN_CHANNELS,
    K_BLOCK_TASKS_PER_CORE,
    ROWS_OUTSIDE_MIN_INPUT_BYTES,
    ROWS_OUTSIDE_MIN_INPUT_BYTES_ONE_IMAGE,
    SHORT_COLUMN_TILE_MIN,
    UNROLLED_LANES_MIN_CHANNELS,
    _rows_outside_channels,
    computed_columns,
    tile_vectors,
)
from fx2relax.schedules.generic import largest_divisor, marked_block, target_cores
from fx2relax.schedules.vectors import vector_unit
from tests.helpers import (
    AVX512_CPUS,
    ApplyBinary,
    assert_outputs_match,
    check_against_torch,
    course_cnn,
    cpu_target,
    loops_around,
    tensors,
    vector_store_lanes,
    whole_vectors_on_every_cpu,
)


class EveryFamily(nn.Module):
    """One model with each op family: padded grouped conv, pooling, activations, element-wise
    arithmetic, reductions, flatten, linear with and without bias, softmax and log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="reflect")
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.flatten = nn.Flatten()
        self.hidden = nn.Linear(6 * 4 * 4, 20, bias=False)
        self.out = nn.Linear(20, 5)

    def forward(self, x):
        y = self.pool(F.relu6(self.conv(x)))
        y = y * torch.sigmoid(y) - y.mean(dim=(2, 3), keepdim=True) / 2
        z = F.gelu(self.hidden(self.flatten(y)))
        logits = self.out(torch.tanh(z) + z.sum(dim=1, keepdim=True))
        return torch.softmax(logits, dim=1), F.log_softmax(logits, dim=-1)


@pytest.mark.parametrize("batch", [1, 4, 64])
def test_course_cnn_compiled_matches_torch(batch):
    check_against_torch(course_cnn(), torch.rand(batch, 1, 28, 28), compiled=True)


def test_course_cnn_compiled_with_symbolic_batch_runs_any_batch():
    model = course_cnn()
    run = fx2relax.compile(fx2relax.from_module(model, (None, 1, 28, 28)))
    for batch in (1, 3, 8):
        x = torch.rand(batch, 1, 28, 28)
        with torch.no_grad():
            assert_outputs_match(run(x), model(x))


def test_model_with_every_op_family_compiled_matches_torch():
    check_against_torch(EveryFamily(), torch.randn(2, 4, 9, 9), compiled=True)


@pytest.mark.parametrize("shape", [(1, 2, 5, 4), (3, 7, 4), (4,)])
def test_linear_on_several_batch_axes_compiled_matches_torch(shape):
    # Row tiles of the GEMM span batch axes (2 rows of a 2 x 5 batch): each row must land once.
    check_against_torch(nn.Sequential(nn.Linear(4, 19, bias=False), nn.ReLU()), torch.randn(shape), compiled=True)


def test_special_values_survive_the_schedules():
    x = torch.randn(2, 4, 9, 9)
    x[0, 1, 2, 3], x[1, 0, 0, 0], x[1, 3, 5, 5] = float("nan"), float("inf"), float("-inf")
    check_against_torch(EveryFamily(), x, compiled=True)


def test_weights_kept_as_inputs_compile_unpacked():
    model = course_cnn()
    mod, weights = fx2relax.from_module(model, (2, 1, 28, 28), keep_params_as_input=True)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(mod, weights=weights)(x), model(x))


PACKED_CONVS = {
    # groups=1 on constant weights: weight packing makes these conv2d_packed, which the PackedConv
    # rule takes whatever their consumer (inputs [3, C, 12, 16]; tests/test_schedule_rules.py).
    "two channel vectors, batch norm, relu6": nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU6()),
    "half-vector channels, no consumer": nn.Sequential(nn.Conv2d(8, 24, 1)),
    "strided, dilated, max-pool over overlapping windows": nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=(1, 2), dilation=2, padding=2), nn.MaxPool2d(3, stride=2)
    ),
}
CHANNEL_VECTOR_CONVS = {
    # Output channels in whole vectors of 16, consumer windows tiling the conv output: on weights
    # given as inputs (not packed), the ChannelVectorConv rule takes these; with constant weights
    # they are packed.
    "strided padded, relu, max-pool": nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
    "grouped dilated reflect-padded, bias only": nn.Sequential(
        nn.Conv2d(4, 32, (2, 3), dilation=2, groups=2, padding=2, padding_mode="reflect")
    ),
    "no bias, tanh, average pool": nn.Sequential(nn.Conv2d(2, 16, 3, bias=False), nn.Tanh(), nn.AvgPool2d(2)),
    "prime output width, relu": nn.Sequential(nn.Conv2d(1, 16, (3, 4)), nn.ReLU()),
}
FALLBACK_CONVS = {
    # Windows that pad or leave conv outputs unread: on weights given as inputs, the PlaneConv rule
    # takes these.
    "padded ceil-mode max-pool": nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    ),
    "max-pool leaving a row and column": nn.Sequential(nn.Conv2d(1, 16, 2), nn.ReLU(), nn.MaxPool2d(2)),
}


@pytest.mark.parametrize("name", [*PACKED_CONVS, *CHANNEL_VECTOR_CONVS, *FALLBACK_CONVS])
def test_convs_with_16_channel_multiples_compiled_match_torch(name):
    model = {**PACKED_CONVS, **CHANNEL_VECTOR_CONVS, **FALLBACK_CONVS}[name].eval()
    torch.manual_seed(0)
    x = torch.randn(3, model[0].in_channels, 12, 16)
    x[0, 0, 2, 3], x[1, -1, 5, 5], x[2, 0, 0, 0] = float("nan"), float("inf"), float("-inf")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), in_channels=st.integers(1, 4), out_channels=st.sampled_from([8, 16, 32]), kernel=st.integers(1, 4),
    conv_stride=st.integers(1, 2), conv_padding=st.integers(0, 2), pool_kernel=st.integers(2, 3), pool_stride=st.integers(1, 3),
    dilation=st.integers(1, 2), ceil_mode=st.booleans(), relu=st.booleans(), batch=st.integers(1, 3),
)
def test_packed_conv_then_max_pool_compiled_matches_torch(
    data, in_channels, out_channels, kernel, conv_stride, conv_padding, pool_kernel, pool_stride, dilation, ceil_mode, relu, batch
):
    # PackedConv's pooling consumers: windows side by side (fused per plane block) or overlapping,
    # gapped, padded, dilated, a remainder left (after the conv, over its channel-blocked outputs).
    pool_padding = data.draw(st.integers(0, pool_kernel // 2), label="pool_padding")
    smallest = kernel + conv_stride * dilation * (pool_kernel - 1)  # the conv's outputs cover one pooling window
    height, width = (data.draw(st.integers(smallest, smallest + 9), label=side) for side in ("height", "width"))
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride=conv_stride, padding=conv_padding)]
    layers += [nn.ReLU()] if relu else []
    layers += [nn.MaxPool2d(pool_kernel, stride=pool_stride, padding=pool_padding, dilation=dilation, ceil_mode=ceil_mode)]
    model = nn.Sequential(*layers).eval()
    x = torch.randn(batch, in_channels, height, width)
    x[0, 0, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = float("nan")
    x[-1, -1, data.draw(st.integers(0, height - 1)), 0] = data.draw(st.sampled_from([float("inf"), float("-inf")]))
    check_against_torch(model, x, compiled=True)


@pytest.mark.parametrize("out_channels", [8, 16, 32])
@pytest.mark.parametrize("pool_kernel", [2, 3])
def test_packed_conv_then_padded_max_pool_of_side_by_side_windows_matches_torch(out_channels, pool_kernel):
    # Windows as wide as their stride but padded: they do not tile the conv's planes, so the pooling
    # is not fused per plane block as unpadded ones are (it was, and read the wrong rows: a 3x3/3
    # pool padded by 1 after a stride-2 conv lost up to 35 of 48 outputs).
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, out_channels, 3, stride=2, padding=2), nn.MaxPool2d(pool_kernel, stride=pool_kernel, padding=1)
    ).eval()
    x = torch.randn(2, 1, 9, 15)
    x[0, 0, 0, 0], x[1, 0, 4, 7], x[1, 0, 8, 14] = float("inf"), float("nan"), float("-inf")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=8, deadline=None)
@given(
    out_channels=st.sampled_from([20, 24, 36, 40]), pool_kernel=st.integers(2, 3), pool_stride=st.integers(1, 3),
    pool_padding=st.integers(0, 1), ceil_mode=st.booleans(), project=st.booleans(), batch=st.integers(1, 2),
    extra_rows=st.integers(0, 11), extra_columns=st.integers(0, 11), seed=st.integers(0, 2**16),
)
@example(24, 3, 2, 1, False, True, 1, 0, 0, 0).via("ShuffleNetV2's stem")
def test_packed_conv_of_padded_channels_then_max_pool_reads_channel_vectors(
    out_channels, pool_kernel, pool_stride, pool_padding, ceil_mode, project, batch, extra_rows, extra_columns, seed
):
    # Output channels in no whole vector (ShuffleNetV2's 24-channel stem conv, 3x3/2 max pool padded
    # by 1): the conv computes zero-padded channels and the pooling reads the real ones only, in
    # vectors of channels from the conv's channel-blocked tiles (it was a scalar loop with the bias
    # and ReLU per tap: the stem took 393 us, now 110, at 224², batch 1), into a blocked output where
    # a conv reads it next, else NCHW.
    pool_padding = min(pool_padding, pool_kernel // 2)
    height, width = 2 * pool_kernel + 1 + extra_rows, 2 * pool_kernel + 1 + extra_columns
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, out_channels, 3, stride=2, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
    layers += [nn.MaxPool2d(pool_kernel, stride=pool_stride, padding=pool_padding, ceil_mode=ceil_mode)]
    layers += [nn.Conv2d(out_channels, 16, 1)] if project else []
    model = nn.Sequential(*layers).eval()
    layers[1].running_mean.data.uniform_(-1, 1)
    layers[1].running_var.data.uniform_(0.5, 2)
    scheduled = lower(fx2relax.from_module(model, (batch, 3, height, width)), host_target(), None, None)
    (func,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc) and "max_pool2d" in func.script()]
    assert "conv2d_packed" in func.script()  # the pooling fused after the conv
    assert None not in vector_store_lanes(func, func.params[-1])
    x = torch.randn(batch, 3, height, width)
    x[0, 0, seed % height, seed % width], x[-1, -1, -1, 0] = float("nan"), float("inf") if seed % 2 else float("-inf")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=8, deadline=None)
@given(
    data=st.data(), out_width=st.sampled_from([1, 3, 13, 14, 17, 26, 28]), out_channels=st.sampled_from([32, 48, 64]),
    kernel=st.sampled_from([1, 3, 7]), stride=st.integers(1, 2), padding=st.integers(0, 3), pool=st.booleans(),
    batch=st.integers(1, 2), seed=st.integers(0, 2**16),
)
def test_packed_conv_register_tiles_over_wide_rows_match_torch(data, out_width, out_channels, kernel, stride, padding, pool, batch, seed):
    # Output rows of 13, 14, 26 or 28 columns: PackedConv's register tile takes two vectors of
    # output channels over fewer columns (7 x 2, 13 x 2) where the channels fill pairs of vectors,
    # else one over 13 or 14 columns (48 channels); rows of 1, 3 or 17 columns (no divisor from
    # SHORT_COLUMN_TILE_MIN): all vectors that fit over 1 or 3 columns; a stem-like overlapping
    # max-pool after it or not.
    width = (out_width - 1) * stride + kernel - 2 * padding
    padding = padding if width >= 1 else 0
    width = (out_width - 1) * stride + kernel - 2 * padding
    height = data.draw(st.integers(max(1, kernel - 2 * padding, 3 - 2 * padding + kernel), kernel + 6), label="height")
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, out_channels, kernel, stride=stride, padding=padding), nn.ReLU()]
    layers += [nn.MaxPool2d(3, stride=2, padding=1)] if pool else []
    model = nn.Sequential(*layers).eval()
    x = torch.randn(batch, 3, height, width)
    x[0, 0, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = float("nan")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=8, deadline=None)
@given(
    window=st.sampled_from([(3, 3), (3, 1), (1, 3), (2, 2), (3, 2)]), out_channels=st.sampled_from([32, 48, 64]),
    out_width=st.sampled_from([6, 7, 12, 17]), stride=st.integers(1, 2), batch=st.integers(1, 2), seed=st.integers(0, 2**16),
)
@example(window=(3, 3), out_channels=64, out_width=17, stride=2, batch=1, seed=0)  # Inception-v3's 4 x 6 tiles (17 computed as 18)
@example(window=(3, 1), out_channels=64, out_width=6, stride=1, batch=1, seed=0)
def test_packed_conv_windows_unrolled_whole_only_where_the_tile_leaves_registers(window, out_channels, out_width, stride, batch, seed):
    # A tile whose accumulators, broadcast inputs and weight vectors exceed the vector registers
    # (4 vectors x 6 columns: 34 of 32) has its window unrolled along the kernel row only, so LLVM
    # does not spill accumulators loading ahead across taps; a one-column window (7x1) and smaller
    # tiles are unrolled whole. The sums are the same either way.
    kernel_rows, kernel_columns = window
    height, width = kernel_rows + 3 * stride, (out_width - 1) * stride + kernel_columns
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, out_channels, window, stride=stride), nn.ReLU()).eval()
    scheduled = lower(fx2relax.from_module(model, (batch, 3, height, width)), host_target(), None, None, winograd=False)
    (conv,) = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)]
    _, unrolled, inner = loops_around(conv, "conv2d_packed")
    *taps, vectors, columns = unrolled
    whole = kernel_columns == 1 or vectors * columns + vectors + columns <= vector_unit(host_target()).registers
    assert taps == ([kernel_rows, kernel_columns] if whole else [kernel_columns]) and kernel_rows in inner
    x = torch.randn(batch, 3, height, width)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("-inf")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=8, deadline=None)
@given(
    in_channels=st.sampled_from([288, 304, 320, 384, 480]), out_channels=st.sampled_from([32, 48, 96]),
    size=st.sampled_from([(7, 7), (14, 14), (5, 9), (4, 3)]), batch=st.integers(1, 2), bias=st.booleans(),
    cpu=st.sampled_from(AVX512_CPUS), seed=st.integers(0, 2**16),
)
@example(in_channels=320, out_channels=96, size=(7, 7), batch=1, bias=True, cpu="sapphirerapids", seed=0)  # MNASNet's 1152 -> 192 in small
@example(in_channels=320, out_channels=96, size=(7, 7), batch=1, bias=True, cpu="znver4", seed=0)
def test_packed_1x1_conv_over_many_blocked_channels_unrolls_their_lanes(in_channels, out_channels, size, batch, bias, cpu, seed):
    # A 1x1 conv over a channel-blocked input of UNROLLED_LANES_MIN_CHANNELS or more channels
    # unrolls each input block's lanes inside its register tile (MNASNet's 1152 -> 192 at 7², batch
    # 1: 87 -> 70 us on a Xeon), where the tile spans SHORT_COLUMN_TILE_MIN columns or more and the
    # CPU runs whole 512-bit vectors at once (not znver4, where it lost); the sums are the same, in
    # the same order, either way.
    height, width = size
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, in_channels, 3, padding=1), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=bias), nn.ReLU()
    ).eval()
    target = cpu_target(cpu)
    scheduled = lower(fx2relax.from_module(model, (batch, 3, height, width)), target, None, None, winograd=False)
    (projection,) = [
        func for _, func in scheduled.functions_items()
        if isinstance(func, tirx.PrimFunc) and "conv2d_packed" in func.script() and len(func.params[0].shape) == 5
    ]  # the 1x1 conv, reading the first conv's output channel-blocked
    _, (*taps, _, tile_columns), _ = loops_around(projection, "conv2d_packed")
    lanes = int(projection.params[0].shape[-1])
    unrolled = in_channels >= UNROLLED_LANES_MIN_CHANNELS and tile_columns >= SHORT_COLUMN_TILE_MIN and cpu != "znver4"
    assert (lanes in taps) == unrolled
    x = torch.randn(batch, 3, height, width)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = float("nan"), float("inf")
    check_against_torch(model, x, compiled=True)


class GroupedConvBlock(nn.Module):
    """RegNet's and ResNeXt's grouped conv: optionally after a 1x1 conv (which stores its output
    channel-blocked for the grouped conv to read), with bias, batch norm and ReLU or not, and
    optionally before a 1x1 conv (which reads its output channel-blocked)."""

    def __init__(self, channels: int, groups: int, out_per_group: int, kernel: int, stride: int, padding: int,
                 dilation: int, bias: bool, norm: bool, relu: bool, widen: bool, project: bool):
        super().__init__()
        self.widen = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU()) if widen else nn.Identity()
        layers = [nn.Conv2d(channels, groups * out_per_group, kernel, stride, padding, dilation, groups=groups, bias=bias)]
        layers += [nn.BatchNorm2d(groups * out_per_group)] if norm else []
        layers += [nn.ReLU()] if relu else []
        layers += [nn.Conv2d(groups * out_per_group, 16, 1)] if project else []
        self.grouped = nn.Sequential(*layers)
        if norm:
            for value in (layers[1].weight, layers[1].bias, layers[1].running_mean):
                value.data.uniform_(-1, 1)
            layers[1].running_var.data.uniform_(0.5, 2)

    def forward(self, x):
        return self.grouped(self.widen(x))


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), groups=st.integers(2, 5), in_per_group=st.sampled_from([1, 4, 8, 16]), out_per_group=st.sampled_from([4, 8, 16, 24]),
    kernel=st.integers(1, 3), stride=st.integers(1, 2), padding=st.integers(0, 2), dilation=st.integers(1, 2),
    bias=st.booleans(), norm=st.booleans(), relu=st.booleans(), widen=st.booleans(), project=st.booleans(),
    batch=st.integers(1, 2),
)
def test_grouped_convs_with_whole_vectors_per_group_are_packed_and_match_torch(
    data, groups, in_per_group, out_per_group, kernel, stride, padding, dilation, bias, norm, relu, widen, project, batch
):
    # Output channels per group in whole, half or quarter vectors (of AVX-512's 16 float32 lanes):
    # the weights are packed and PackedConv takes the conv, each vector of outputs reading its
    # group's inputs, from [N, C, H, W] or a channel-blocked input (after a 1x1 conv); NaN and inf
    # stay within their group; a 1x1 conv after it reads its output channel-blocked.
    channels = groups * in_per_group
    smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
    height, width = (data.draw(st.integers(smallest, smallest + 8), label=side) for side in ("height", "width"))
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = GroupedConvBlock(
        channels, groups, out_per_group, kernel, stride, padding, dilation, bias, norm, relu, widen, project
    ).eval()
    shape = (batch, channels, height, width)
    fused = fuse(fx2relax.from_module(model, shape), host_target())
    convs = [(marked_kernel(block.annotations), int(block.annotations["fx2relax.groups"]))
             for _, func in fused.functions_items() if isinstance(func, tirx.PrimFunc)
             for block in stages(func) if marked_kernel(block.annotations) in ("conv2d", "conv2d_packed")]
    assert ("conv2d_packed", groups) in convs and ("conv2d", groups) not in convs
    x = torch.randn(shape)
    x[0, data.draw(st.integers(0, channels - 1)), data.draw(st.integers(0, height - 1)), 0] = float("nan")
    x[-1, -1, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = data.draw(
        st.sampled_from([float("inf"), float("-inf")])
    )
    check_against_torch(model, x, compiled=True)


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(), dtype=st.sampled_from(["float32", "float64"]), groups=st.integers(2, 4), halves=st.sampled_from([3, 5]),
    in_per_group=st.sampled_from([2, 8, 24]), kernel=st.integers(1, 3), stride=st.integers(1, 2), padding=st.integers(0, 1),
    dilation=st.integers(1, 2), bias=st.booleans(), relu=st.booleans(), reader=st.sampled_from(["none", "1x1 conv", "max pool"]),
    batch=st.integers(1, 2),
)
def test_grouped_convs_padded_to_whole_vectors_per_group_match_torch(
    data, dtype, groups, halves, in_per_group, kernel, stride, padding, dilation, bias, relu, reader, batch
):
    # Groups of 3 or 5 half vectors of output channels (RegNetX's 24 in float32's 16 lanes, 12 in
    # float64's 8): each group's channels are packed in whole vectors, its last one padded with zero
    # channels (packing.GROUP_PADDED_VECTORS_MAX_WASTE), and the kernel keeps each group's real ones:
    # into a 1x1 conv that reads them channel-blocked (stored in runs of a half vector), a max
    # pool, or the NCHW output. NaN and inf stay within their group.
    with whole_vectors_on_every_cpu():  # the padded groups run on this host whatever its CPU
        vector = vector_unit(host_target()).lanes(dtype)
        out_per_group, channels = halves * vector // 2, groups * in_per_group
        smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
        height, width = (data.draw(st.integers(smallest + 1, smallest + 9), label=side) for side in ("height", "width"))
        torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
        layers = [nn.Conv2d(channels, groups * out_per_group, kernel, stride, padding, dilation, groups=groups, bias=bias)]
        layers += [nn.ReLU()] if relu else []
        layers += {"none": [], "1x1 conv": [nn.Conv2d(groups * out_per_group, 8, 1)], "max pool": [nn.MaxPool2d(2, ceil_mode=True)]}[reader]
        model = nn.Sequential(*layers).eval().to(getattr(torch, dtype))
        shape = (batch, channels, height, width)
        mod = fx2relax.from_module(model, shape, dtype=dtype)
        packed = [[int(d) for d in param.shape] for _, func in fuse(mod, host_target()).functions_items() if isinstance(func, tirx.PrimFunc)
                  if any(int(block.annotations.get("fx2relax.groups", 1)) == groups for block in stages(func))
                  for param in func.params if [int(d) for d in param.shape[1:]] == [in_per_group, kernel, kernel, vector]]
        assert [weight[0] for weight in packed] == [groups * -(-out_per_group // vector)]  # each group's last vector padded
        if reader == "1x1 conv":
            (grouped,) = [func for _, func in lower(mod, host_target(), None, None).functions_items() if isinstance(func, tirx.PrimFunc)
                          and any(int(block.annotations.get("fx2relax.groups", 1)) == groups for block in stages(func))]
            assert vector_store_lanes(grouped, grouped.params[-1]) == {math.gcd(int(grouped.params[-1].shape[-1]), out_per_group)}
        x = torch.randn(shape, dtype=getattr(torch, dtype))
        x[0, data.draw(st.integers(0, channels - 1)), data.draw(st.integers(0, height - 1)), 0] = float("nan")
        x[-1, -1, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = data.draw(
            st.sampled_from([float("inf"), float("-inf")])
        )
        with torch.no_grad():
            assert_outputs_match(fx2relax.compile(mod)(x), model(x))
    # On znver4, where a half vector's FMA costs half a whole one, the groups stay in half vectors.
    znver4 = cpu_target("znver4")
    if vector_unit(znver4).lanes(dtype) != vector:  # this host's vectors are not AVX-512's: other groups
        return
    halves_packed = [[int(d) for d in param.shape] for _, func in fuse(mod, znver4).functions_items() if isinstance(func, tirx.PrimFunc)
                     if any(int(block.annotations.get("fx2relax.groups", 1)) == groups for block in stages(func))
                     for param in func.params
                     if len(param.shape) == 5 and [int(d) for d in param.shape[1:4]] == [in_per_group, kernel, kernel]]
    assert [weight[-1] for weight in halves_packed] == [vector_unit(znver4).lanes(dtype) // 2]


@settings(max_examples=5, deadline=None)
@given(
    data=st.data(), in_channels=st.integers(1, 3), out_channels=st.sampled_from([8, 16, 24, 32, 20]),
    kernel=st.integers(1, 3), conv_padding=st.integers(0, 1), conv_bias=st.booleans(), relu=st.booleans(),
    pool_kernel=st.integers(1, 3), pool_stride=st.integers(1, 3), out_features=st.integers(1, 40),
    batch=st.sampled_from([1, 2, 4, 5, 9]),
)
def test_conv_then_flattened_into_linear_compiled_matches_torch(
    data, in_channels, out_channels, kernel, conv_padding, conv_bias, relu, pool_kernel, pool_stride, out_features, batch
):
    # The conv's output stored channel-blocked (whole vectors, half vectors for 8 and 24 channels,
    # none for 20), flattened as it is, the linear's packed weights permuted to match; the conv
    # alone, with an epilogue, or pooled (windows side by side or overlapping), odd plane sizes,
    # GEMV and GEMM batches.
    height, width = (data.draw(st.integers(kernel + pool_kernel - 1, 15), label=side) for side in ("height", "width"))
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    layers = [nn.Conv2d(in_channels, out_channels, kernel, padding=conv_padding, bias=conv_bias), *([nn.ReLU()] if relu else [])]
    layers += [*([nn.MaxPool2d(pool_kernel, stride=pool_stride)] if pool_kernel > 1 else []), nn.Flatten()]
    features = nn.Sequential(*layers)(torch.zeros(1, in_channels, height, width)).shape[1]
    model = nn.Sequential(*layers, nn.Linear(features, out_features), nn.ReLU()).eval()
    x = torch.randn(batch, in_channels, height, width)
    x[0, 0, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = float("nan")
    x[-1, -1, data.draw(st.integers(0, height - 1)), 0] = data.draw(st.sampled_from([float("inf"), float("-inf")]))
    check_against_torch(model, x, compiled=True)


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(), channels=st.integers(9, 130).filter(lambda c: c % 8), in_channels=st.integers(1, 20),
    kind=st.sampled_from(["1x1", "3x3", "depthwise"]), stride=st.integers(1, 2), padding=st.integers(0, 1),
    epilogue=st.sampled_from(["none", "bias", "batch norm + relu", "bias + residual", "relu + max-pool"]), batch=st.integers(1, 2),
)
def test_convs_with_channels_in_no_whole_vectors_compiled_match_torch(data, channels, in_channels, kind, stride, padding, epilogue, batch):
    # Output channels filling no whole vector (nor half one): a packed conv computes its zero-padded
    # last vector of channels and drops it, so NaN and inf there must not reach a real output; its
    # element-wise epilogue runs on the real channels of each register tile, a pooling after it.
    kernel = 1 if kind == "1x1" else 3
    residual = epilogue == "bias + residual"  # x + conv(x): same channels and plane size
    in_channels = channels if kind == "depthwise" or residual else in_channels
    stride, padding = (1, kernel // 2) if residual else (stride, padding)
    groups = channels if kind == "depthwise" else 1
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    conv = nn.Conv2d(in_channels, channels, kernel, stride=stride, padding=padding, groups=groups, bias=epilogue != "none")
    tail = {"batch norm + relu": [nn.BatchNorm2d(channels), nn.ReLU()], "relu + max-pool": [nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]}
    body = nn.Sequential(conv, *tail.get(epilogue, []))
    if epilogue == "batch norm + relu":
        body[1].running_mean.uniform_(-1, 1)
        body[1].running_var.uniform_(0.5, 2)
    model = (Residual(body) if residual else body).eval()
    height, width = (data.draw(st.integers(kernel, 16), label=side) for side in ("height", "width"))
    x = torch.randn(batch, in_channels, height, width)
    x[0, 0, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = float("nan")
    x[-1, -1, data.draw(st.integers(0, height - 1)), 0] = data.draw(st.sampled_from([float("inf"), float("-inf")]))
    check_against_torch(model, x, compiled=True)


UNTILED_WIDTHS = [width for width in range(17, 80) if computed_columns(width, 12, 32) != width]
"""Output rows no column tile of COMPUTED_COLUMNS_BELOW_TILE or more divides (17, 19, 23, 29, 31, 34, ..., 79)."""


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(), out_width=st.sampled_from(UNTILED_WIDTHS), channels=st.sampled_from([16, 40, 58, 96, 192]),
    kernel=st.sampled_from([(1, 1), (3, 3), (1, 7), (7, 1)]), stride=st.integers(1, 2), dilation=st.integers(1, 2),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]), groups=st.sampled_from([1, 2]),
    epilogue=st.sampled_from(["none", "bias + relu", "bias + residual", "relu + max-pool", "relu + 1x1 conv"]), batch=st.integers(1, 2),
)
def test_packed_convs_computing_extra_columns_match_torch(
    data, out_width, channels, kernel, stride, dilation, padding_mode, groups, epilogue, batch
):
    # Rows of a width no column tile divides compute a few more columns (computed_columns), which read
    # the input's last column and are dropped: NaN and inf there, any padding mode, zero-padded
    # channels (40, 58), grouped convs, epilogues on the tiles, a pooling after, a blocked reader.
    residual = epilogue == "bias + residual"
    stride, dilation = (1, 1) if residual else (stride, dilation)
    drawn_padding = (data.draw(st.integers(0, 1), label="pad rows"), data.draw(st.integers(0, 2), label="pad columns"))
    padding = tuple(dilation * (k // 2) for k in kernel) if residual else drawn_padding
    width = (out_width - 1) * stride + dilation * (kernel[1] - 1) + 1 - 2 * padding[1]
    shortest = max(2, dilation * (kernel[0] - 1) + 1 - 2 * padding[0] + (stride if epilogue == "relu + max-pool" else 0))
    height = data.draw(st.integers(shortest, shortest + 4), label="height")
    in_channels = channels if residual else data.draw(st.sampled_from([8, 24, 64]), label="in channels")
    groups = 1 if channels % (2 * 8) or in_channels % 2 else groups
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    conv = nn.Conv2d(in_channels, channels, kernel, stride, padding, dilation, groups, bias=epilogue != "none", padding_mode=padding_mode)
    tail = {
        "bias + relu": [nn.ReLU()], "relu + max-pool": [nn.ReLU(), nn.MaxPool2d(3, 2, 1)],
        "relu + 1x1 conv": [nn.ReLU(), nn.Conv2d(channels, 32, 1)],
    }
    body = nn.Sequential(conv, *tail.get(epilogue, []))
    model = (Residual(body) if residual else body).eval()
    x = torch.randn(batch, in_channels, height, width)
    x[0, 0, data.draw(st.integers(0, height - 1)), width - 1] = float("nan")
    x[-1, -1, data.draw(st.integers(0, height - 1)), width - 1] = data.draw(st.sampled_from([float("inf"), float("-inf")]))
    check_against_torch(model, x, compiled=True)


class Residual(nn.Module):
    """x + body(x): a residual read in the body's epilogue."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@pytest.mark.parametrize("reader", ["1x1 conv", "flatten + linear"])
def test_conv_without_epilogue_before_a_blocked_reader_compiles(reader):
    # A packed conv storing its output itself (no bias, no activation) keeps it [N, C, H, W]: its
    # schedule stores channel-blocked only through an epilogue (it failed in TVM's transform_layout).
    torch.manual_seed(0)
    tail = [nn.Conv2d(16, 16, 1)] if reader == "1x1 conv" else [nn.Flatten(), nn.Linear(16 * 6 * 7, 5)]
    model = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), *tail).eval()
    x = torch.randn(2, 3, 8, 9)
    x[0, 0, 1, 1] = float("nan")
    check_against_torch(model, x, compiled=True)


def test_course_cnn_flattens_its_pooled_conv_channel_blocked():
    # The flatten reads the blocked output as it is: a reshape, no copy kernel.
    fused = fuse(fx2relax.from_module(course_cnn(), (4, 1, 28, 28)), host_target())
    shapes = [tuple(int(d) for d in func.ty.params[-1].shape.values) for _, func in fused.functions_items()
              if isinstance(func, tirx.PrimFunc) and any(marked_kernel(b.annotations) == "conv2d_packed" for b in stages(func))]
    assert shapes == [(4, 2, 13, 13, 16)]


@settings(max_examples=8, deadline=None)
@given(
    batch=st.sampled_from([(1,), (2,), (3,), (1, 3)]), out_features=st.integers(150, 300), in_features=st.integers(2000, 2400),
    bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_gemv_split_over_the_cores_matches_torch(batch, out_features, in_features, bias, seed):
    # Few rows, over SERIAL_MAX_MACS multiply-adds: the panels (zero-padded to a multiple of the cores) split over them.
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(in_features, out_features, bias=bias), nn.ReLU()).eval()
    x = torch.randn(*batch, in_features)
    x.view(-1, in_features)[0, seed % in_features] = float("nan")
    x.view(-1, in_features)[-1, 0] = float("inf")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=6, deadline=None)
@given(
    batch=st.sampled_from([(4,), (5,), (6,), (2, 2)]), panels=st.integers(3, 8), remainder=st.integers(0, 15),
    in_features=st.integers(1500, 2100), bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_gemv_of_four_to_six_rows_split_over_the_cores_matches_torch(batch, panels, remainder, in_features, bias, seed):
    # 4-6 rows x half the panels per core fit one register tile: a GEMV, its panels zero-padded
    # to a multiple of the cores (the output features rarely a whole number of panels).
    torch.manual_seed(seed)
    out_features = 16 * (panels - 1) + remainder + 1
    model = nn.Sequential(nn.Linear(in_features, out_features, bias=bias), nn.ReLU()).eval()
    x = torch.randn(*batch, in_features)
    x.view(-1, in_features)[0, seed % in_features] = float("nan")
    x.view(-1, in_features)[-1, 0] = float("-inf")
    check_against_torch(model, x, compiled=True)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 1, 2, 6), (1, 3, 7, 3)], ids=["one pooled output", "one row", "one column"])
@pytest.mark.parametrize("weights_as_inputs", [False, True], ids=["packed", "channel vectors"])
def test_conv_then_max_pool_to_a_single_row_or_column_compiles(shape, weights_as_inputs):
    # The pooled plane's unit loops stay, so the fused pooling's schedule finds its window loops.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(shape[1], 16, 1), nn.ReLU(), nn.MaxPool2d(2)).eval()
    x = torch.randn(shape)
    x[0, 0, 0, 0] = float("nan")
    mod, weights = fx2relax.from_module(model, shape, keep_params_as_input=True) if weights_as_inputs else (
        fx2relax.from_module(model, shape), None
    )
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(mod, weights=weights)(x), model(x))


@settings(max_examples=6, deadline=None)
@given(
    out_features=st.integers(1, 400), in_features=st.integers(1, 300), bias=st.booleans(),
    batches=st.lists(st.integers(1, 9), min_size=1, max_size=3), seed=st.integers(0, 2**16),
)
def test_linear_with_symbolic_batch_compiled_matches_torch(out_features, in_features, bias, batches, seed):
    # Symbolic rows: one-row tiles of all panels (4 to 24 panels) or the GEMM's masked row tiles.
    torch.manual_seed(seed)
    model = nn.Linear(in_features, out_features, bias=bias).eval()
    run = fx2relax.compile(fx2relax.from_module(model, ("N", in_features)))
    for batch in batches:
        x = torch.randn(batch, in_features)
        x[0, seed % in_features] = float("nan")
        with torch.no_grad():
            assert_outputs_match(run(x), model(x))


class ResidualBlock(nn.Module):
    """ResNet's basic block: conv, batch norm, ReLU, conv, batch norm, residual add, ReLU."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        for bn in (self.bn1, self.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        y += x
        return torch.relu(y)


def test_residual_add_and_relu_fuse_into_the_second_conv():
    torch.manual_seed(0)
    model = ResidualBlock().eval()
    fused = fuse(fx2relax.from_module(model, (2, 16, 8, 8)), host_target())
    assert sum(isinstance(func, tirx.PrimFunc) for _, func in fused.functions_items()) == 2  # one per conv
    check_against_torch(model, torch.randn(2, 16, 8, 8), compiled=True)


class ConvThenNorm(nn.Module):
    """A 1-, 2- or 3-D conv, then F.batch_norm on running statistics with or without weight and bias."""

    def __init__(self, rank: int, channels: int, groups: int, bias: bool, norm_weight: bool, norm_bias: bool):
        super().__init__()
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[rank - 1]
        self.conv = conv(2 * groups, channels, 3, padding=1, groups=groups, bias=bias)
        self.register_buffer("mean", torch.empty(channels).uniform_(-1, 1))
        self.register_buffer("var", torch.empty(channels).uniform_(0.1, 3))
        self.weight = nn.Parameter(torch.empty(channels).uniform_(-2, 2)) if norm_weight else None
        self.shift = nn.Parameter(torch.empty(channels).uniform_(-1, 1)) if norm_bias else None

    def forward(self, x):
        return F.batch_norm(self.conv(x), self.mean, self.var, self.weight, self.shift, eps=1e-3)


@settings(max_examples=8, deadline=None)
@given(
    rank=st.integers(1, 3), per_group=st.sampled_from([1, 3, 16]), groups=st.sampled_from([1, 2]),
    bias=st.booleans(), norm_weight=st.booleans(), norm_bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_batch_norm_after_a_conv_is_folded_into_its_weights(rank, per_group, groups, bias, norm_weight, norm_bias, seed):
    torch.manual_seed(seed)
    model = ConvThenNorm(rank, per_group * groups, groups, bias, norm_weight, norm_bias).eval()
    shape = (2, 2 * groups, *[6] * rank)
    fused = fuse(fx2relax.from_module(model, shape), host_target())
    functions = [func for _, func in fused.functions_items() if isinstance(func, tirx.PrimFunc)]
    assert "batch_norm" not in {marked_kernel(block.annotations) for func in functions for block in stages(func)}
    x = torch.randn(shape)
    x[0, 0, 1], x[1, -1, 0] = float("nan"), float("inf")
    check_against_torch(model, x, compiled=True)


class ReparameterizableGhost(nn.Module):
    """RepGhost's module: a conv + batch norm read by a depthwise conv + batch norm and by a second
    batch norm (its re-parameterizable branch), summed."""

    def __init__(self, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1, bias=bias)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=bias)
        self.norms = nn.ModuleList(nn.BatchNorm2d(8) for _ in range(3))
        for norm in self.norms:
            nn.init.uniform_(norm.running_mean, -1, 1)
            nn.init.uniform_(norm.running_var, 0.5, 2)
            nn.init.uniform_(norm.weight, -2, 2)

    def forward(self, x):
        primary = self.norms[0](self.conv(x))
        return self.norms[1](self.depthwise(primary)) + self.norms[2](primary)


@pytest.mark.parametrize("bias", [False, True])
def test_batch_norm_of_a_folded_conv_folds_again(bias):
    check_against_torch(ReparameterizableGhost(bias).eval(), torch.randn(2, 3, 7, 7), compiled=True)


class ConstantTables(nn.Module):
    """What a model computes from its weights alone at every call: LeViT's attention biases gathered
    by a constant index table (bias[:, index], [heads, length, length]), positions made by arange,
    and a weight-normalised linear layer's weight (g * v / |v|), each added to or applied on x."""

    def __init__(self, heads: int, offsets: int, length: int, features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(heads, offsets))
        self.register_buffer("index", torch.randint(0, offsets, (length, length)))
        self.direction = nn.Parameter(torch.randn(features, length))
        self.gain = nn.Parameter(torch.rand(features, 1) + 0.5)

    def forward(self, x):
        scores = x + self.bias[:, self.index] + torch.arange(x.shape[-1], dtype=x.dtype)
        weight = self.gain * self.direction / self.direction.norm(dim=1, keepdim=True)
        return F.linear(scores, weight)


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), heads=st.integers(1, 4), offsets=st.integers(1, 40), length=st.integers(1, 20),
    features=st.integers(1, 24), dtype=st.sampled_from(["float32", "float64"]),
)
def test_calls_of_constants_only_are_computed_once_at_compile_time(data, heads, offsets, length, features, dtype):
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    model = ConstantTables(heads, offsets, length, features).to(getattr(torch, dtype)).eval()
    x = data.draw(tensors((2, heads, length, length), special_values=True)).to(getattr(torch, dtype))
    mod = fx2relax.from_module(model, tuple(x.shape), dtype=dtype)
    fused = fuse(mod, host_target())
    calls: list[relax.Call] = []
    relax.analysis.post_order_visit(fused["main"], lambda node: calls.append(node) if isinstance(node, relax.Call)
                                    and node.op == tvm.ir.Op.get("relax.call_tir") else None)
    assert calls and all(any(not isinstance(arg, tvm.ir.expr.Constant) for arg in call.args[1].fields) for call in calls)
    kernels = {marked_kernel(block.annotations) for _, func in fused.functions_items() if isinstance(func, tirx.PrimFunc)
               for block in stages(func)}
    assert "linear_packed" in kernels  # the folded weight is a constant, so packed
    with torch.no_grad():
        expected = model(x)
    assert_outputs_match(fx2relax.compile(mod)(x), expected)


PADDED_AFTER = {  # a kernel whose fused consumer is a pad: more outputs than the kernel writes (tf_efficientnet's "same" padding)
    "packed 1x1 conv": nn.Conv2d(16, 32, 1),
    "3x3 conv": nn.Conv2d(8, 16, 3),
    "depthwise conv": nn.Conv2d(16, 16, 3, groups=16),
    "strided depthwise conv": nn.Conv2d(16, 16, 3, stride=2, groups=16),
    "linear": nn.Linear(12, 20),
    "softmax": nn.Softmax(dim=-1),
}


@pytest.mark.parametrize("name", sorted(PADDED_AFTER))
@pytest.mark.parametrize("pad", [(0, 1, 0, 1), (1, 0, 2, 0), (1, 1, 1, 1)])
def test_pad_after_a_kernel_writes_every_output(name, pad):
    layer = PADDED_AFTER[name]
    channels = layer.in_channels if isinstance(layer, nn.Conv2d) else 3
    model = nn.Sequential(layer, nn.SiLU(), nn.ZeroPad2d(pad)).eval()
    shape = (2, channels, 12, 12)
    check_against_torch(model, torch.randn(shape), compiled=True)


def test_conv_on_one_pixel_planes_with_a_consumer_compiles():
    # A squeeze-and-excitation conv (GhostNet's): 20 output channels, neither packed nor in channel vectors.
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(72, 20, 1), nn.ReLU())
    check_against_torch(model, torch.randn(2, 72, 6, 6), compiled=True)


def test_channel_vector_conv_with_symbolic_batch_runs_any_batch():
    model = CHANNEL_VECTOR_CONVS["strided padded, relu, max-pool"].eval()
    run = fx2relax.compile(fx2relax.from_module(model, (None, 3, 12, 16)))
    for batch in (1, 5):
        x = torch.randn(batch, 3, 12, 16)
        with torch.no_grad():
            assert_outputs_match(run(x), model(x))


def test_shifted_window_transformer_compiled_matches_torch():
    # torchvision's Swin at Swin-T's 224 x 224 (its second stage's 28 x 28 tokens in windows of 7,
    # shifted by 3): the compiled roll back of the shifted windows read the wrong columns (9e-3 off
    # on Swin-T's logits; see kernels.rearrange.wrapped_index)
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=96, depths=[2, 2], num_heads=[3, 6], window_size=[7, 7], num_classes=10
    ).eval()
    x = torch.rand(1, 3, 224, 224)
    run = fx2relax.compile(fx2relax.from_module(model, tuple(x.shape)))
    with torch.no_grad():
        assert_outputs_match(run(x), model(x))


@pytest.mark.parametrize("target", ["llvm", {"kind": "llvm"}, host_target()])
def test_explicit_targets_are_accepted(target):
    model = nn.Sequential(nn.Linear(8, 3), nn.ReLU())
    x = torch.randn(5, 8)
    with torch.no_grad():
        assert_outputs_match(fx2relax.compile(fx2relax.from_module(model, (5, 8)), target)(x), model(x))


def test_default_target_is_the_host_cpu_with_its_mcpu():
    target = host_target()
    assert target.kind.name == "llvm" and target.attrs["mcpu"]


def test_non_cpu_target_is_refused():
    mod = fx2relax.from_module(nn.Sequential(nn.ReLU()), (2, 3))
    with pytest.raises(ValueError, match="target kind 'cuda'"):
        fx2relax.compile(mod, {"kind": "cuda"})


@pytest.mark.parametrize("tune", [0, -3, 2.5, True, "64"])
def test_bad_trial_budget_is_refused(tune):
    mod = fx2relax.from_module(nn.Sequential(nn.ReLU()), (2, 3))
    with pytest.raises(ValueError, match="tune must be a positive number of MetaSchedule trials"):
        fx2relax.compile(mod, tune=tune)


def test_compiled_model_refuses_a_wrong_input_shape():
    run = fx2relax.compile(fx2relax.from_module(course_cnn(), (4, 1, 28, 28)))
    with pytest.raises(fx2relax.InputError, match=r"must have shape \(4, 1, 28, 28\), got shape \(2, 1, 28, 28\)"):
        run(np.zeros((2, 1, 28, 28), dtype=np.float32))


@pytest.mark.slow  # a MetaSchedule search round: about two minutes on a busy machine
@pytest.mark.skipif(
    importlib.util.find_spec("fx2relax.tuning") is None,
    reason="fx2relax/tuning.py (MetaSchedule tuning, branch bench) has not landed yet",
)
def test_tuned_model_matches_torch_and_reuses_its_records(tmp_path):
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU())  # one fused PrimFunc: one search task
    x = torch.randn(3, 16)
    mod = fx2relax.from_module(model, (3, 16))
    with torch.no_grad():
        expected = model(x)
    assert_outputs_match(fx2relax.compile(mod, tune=2, tuning_dir=tmp_path)(x), expected)
    assert any(tmp_path.iterdir()), "tuning records are written to tuning_dir"
    assert_outputs_match(fx2relax.compile(mod, tune=2, tuning_dir=tmp_path)(x), expected)


class ProductOnConstant(nn.Module):
    """A matrix product whose right operand is a parameter: torch.addmm (GPT-2's Conv1D) with
    `added` (None: mm) of the given shape, or `x @ weight` on an input of any rank."""

    def __init__(self, form: str, depth: int, columns: int, added: tuple | None, beta: float, alpha: float):
        super().__init__()
        self.form, self.beta, self.alpha = form, beta, alpha
        self.weight = nn.Parameter(torch.randn(depth, columns))
        self.added = None if added is None else nn.Parameter(torch.randn(added))

    def forward(self, x):
        if self.form == "addmm":
            return torch.addmm(self.added, x, self.weight, beta=self.beta, alpha=self.alpha)
        return torch.mm(x, self.weight) if self.form == "mm" else x @ self.weight


@settings(max_examples=8, deadline=None)
@given(
    form=st.sampled_from(["addmm", "mm", "matmul"]), rows=st.sampled_from([1, 3, 8, 12, 13, 29, 197]),
    depth=st.integers(1, 40), columns=st.integers(1, 70), added=st.sampled_from(["bias", "row", "matrix", "column"]),
    scales=st.sampled_from([(1, 1), (1, 1), (0.5, 2), (0, 1), (1, 0)]), lead=st.sampled_from([(), (2,)]),
    seed=st.integers(0, 2**16),
)
def test_products_on_constant_weights_compiled_match_torch(form, rows, depth, columns, added, scales, lead, seed):
    # addmm with beta = alpha = 1 on a bias-like addend and products on a constant matrix are packed as
    # linear layers (197 rows: padded to whole row tiles); the other addmms stay a GEMM and its epilogue.
    torch.manual_seed(seed)
    shape = {"bias": (columns,), "row": (1, columns), "matrix": (rows, columns), "column": (rows, 1)}[added]
    model = ProductOnConstant(form, depth, columns, shape if form == "addmm" else None, *scales).eval()
    x = torch.randn(*(lead if form == "matmul" else ()), rows, depth)
    x.view(-1, depth)[seed % x.view(-1, depth).shape[0], seed % depth] = float("nan")
    x.view(-1, depth)[-1, 0] = float("inf")
    check_against_torch(model, x, compiled=True)


@pytest.mark.parametrize(("form", "rows", "columns"), [("addmm", 197, 48), ("mm", 4, 48), ("matmul", 64, 48), ("matmul", 64, 49)])
def test_products_on_constant_weights_are_packed(form, rows, columns):
    # 49 columns: a matmul computes 64 on a zero-padded copy of its right operand (linear.padded_columns),
    # still packed as a linear layer where that operand is constant
    model = ProductOnConstant(form, 32, columns, (columns,), 1, 1)
    mod = fuse(fx2relax.from_module(model, (rows, 32)), host_target())
    kernels = {marked_kernel(block.annotations) for _, func in mod.functions_items() if isinstance(func, tirx.PrimFunc)
               for block in stages(func)}
    assert "linear_packed" in kernels and not kernels & {"addmm", "matmul"}


@settings(max_examples=8, deadline=None)
@given(
    data=st.data(), batch=st.sampled_from([(), (3,), (2, 3)]), rows=st.integers(1, 50), depth=st.integers(1, 40),
    columns=st.sampled_from([17, 20, 31, 49, 50, 63, 100]), bias=st.booleans(), broadcast=st.booleans(),
)
def test_products_of_columns_in_no_whole_blocks_compiled_match_torch(data, batch, rows, depth, columns, bias, broadcast):
    # Swin's Q·Kᵀ over 49 keys: the product computes whole blocks of 16 columns on a zero-padded copy
    # of its right operand and keeps the real ones (BatchedGemm tiles them); an epilogue (the position
    # bias) after it, a right operand broadcast over the batch or not, NaN and inf in its last column
    rhs_batch = batch[-1:] if broadcast else batch
    model = ApplyBinary(lambda x, y: x @ y + 0.5 if bias else x @ y).eval()
    x, y = torch.randn(*batch, rows, depth), torch.randn(*rhs_batch, depth, columns)
    y[..., data.draw(st.integers(0, depth - 1), label="NaN row"), columns - 1] = float("nan")
    y[..., 0, columns - 1] = data.draw(st.sampled_from([float("inf"), float("-inf")]), label="infinity")
    check_against_torch(model, [x, y], compiled=True)


class BottleneckConvs(nn.Module):
    """A 1x1 or 3x3 conv with batch norm as ResNet's bottleneck has them: then ReLU, a residual
    add of a 1x1 projection of the input and ReLU, or ReLU and an overlapping 3x3/2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, epilogue: str):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        for value in (self.norm.weight, self.norm.bias, self.norm.running_mean):
            value.data.uniform_(-1, 1)
        self.norm.running_var.data.uniform_(0.5, 2)
        self.project = nn.Conv2d(in_channels, out_channels, 1, stride) if epilogue == "residual" else None
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if epilogue == "pool" else nn.Identity()

    def forward(self, x):
        y = self.norm(self.conv(x))
        if self.project is not None:
            y = y + self.project(x)
        return self.pool(torch.relu(y))


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), in_channels=st.sampled_from([24, 48]), out_channels=st.sampled_from([24, 64]),
    kernel=st.sampled_from([1, 3]), stride=st.integers(1, 2), epilogue=st.sampled_from(["relu", "residual", "pool"]),
)
def test_packed_convs_on_inputs_beyond_l2_run_row_by_row_and_match_torch(data, in_channels, out_channels, kernel, stride, epilogue):
    # One image's input beyond ROWS_OUTSIDE_MIN_INPUT_BYTES and packed weights (at most 64 x 48 x
    # 3 x 3) within ROWS_OUTSIDE_MAX_WEIGHT_BYTES: PackedConv runs all channel blocks of an output
    # row before the next row (`_rows_outside_channels`; two blocks of two vectors at 64 channels),
    # through each consumer: the tile's epilogue, a residual add of another conv's output, a
    # zero-padded last channel vector (24 channels), a max-pool after it. A 3x3 stride-1 conv keeps
    # fewer than WINOGRAD_MIN_CHANNELS input channels, so it stays direct.
    if kernel == 3 and stride == 1:
        in_channels = min(in_channels, WINOGRAD_MIN_CHANNELS - 8)
    side = math.isqrt(ROWS_OUTSIDE_MIN_INPUT_BYTES // 4 // in_channels) + 1
    height, width = data.draw(st.integers(side, side + 3), label="height"), data.draw(st.integers(side, side + 3), label="width")
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = BottleneckConvs(in_channels, out_channels, kernel, stride, epilogue).eval()
    x = torch.randn(1, in_channels, height, width)
    x[0, data.draw(st.integers(0, in_channels - 1)), data.draw(st.integers(0, height - 1)), 0] = float("nan")
    x[0, -1, data.draw(st.integers(0, height - 1)), data.draw(st.integers(0, width - 1))] = data.draw(
        st.sampled_from([float("inf"), float("-inf")])
    )
    check_against_torch(model, x, compiled=True)


@settings(max_examples=4, deadline=None)
@given(data=st.data(), in_channels=st.sampled_from([96, 384]), out_channels=st.sampled_from([32, 64]), relu=st.booleans())
def test_at_batch_one_packed_convs_on_mid_sized_inputs_run_row_by_row_and_match_torch(data, in_channels, out_channels, relu):
    # A 1x1 conv on one image of 64 KiB to 1 MiB (MobileNetV2's projections at 14² and 7²) runs all
    # channel blocks of a row before the next row at batch 1, so the two cores split the rows, and
    # channel block by channel block at batch 2 (the cores split the images).
    side = data.draw(st.integers(math.isqrt(ROWS_OUTSIDE_MIN_INPUT_BYTES_ONE_IMAGE // 4 // in_channels) + 1, 14), label="side")
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), *([nn.ReLU()] if relu else [])).eval()
    for batch, row_by_row in ((1, True), (2, False)):
        mod = fuse(fx2relax.from_module(model, (batch, in_channels, side, side)), host_target())
        (func,) = [
            f for _, f in mod.functions_items()
            if isinstance(f, tirx.PrimFunc) and any(marked_kernel(b.annotations) == "conv2d_packed" for b in stages(f))
        ]
        sch = s_tir.Schedule(func)
        assert _rows_outside_channels(sch, marked_block(sch, "conv2d_packed")) is row_by_row
    x = torch.randn(1, in_channels, side, side)
    x[0, data.draw(st.integers(0, in_channels - 1)), data.draw(st.integers(0, side - 1)), 0] = data.draw(
        st.sampled_from([float("nan"), float("inf"), float("-inf")])
    )
    check_against_torch(model, x, compiled=True)


class Projection(nn.Module):
    """MobileNetV2's expand and projection 1x1 convs: the projection reads the expand's
    channel-blocked output; `epilogue` after it: none, ReLU, or the residual add of the input."""

    def __init__(self, channels: int, expanded: int, epilogue: str):
        super().__init__()
        self.expand, self.project, self.epilogue = nn.Conv2d(channels, expanded, 1), nn.Conv2d(expanded, channels, 1), epilogue

    def forward(self, x):
        y = self.project(torch.relu(self.expand(x)))
        return {"none": y, "relu": torch.relu(y), "residual": y + x}[self.epilogue]


@settings(max_examples=8, deadline=None)
@given(
    data=st.data(), channels=st.sampled_from([32, 48, 64, 96]),
    expanded=st.sampled_from([K_BLOCK_MIN_CHANNELS - 64, K_BLOCK_MIN_CHANNELS, 640, 1024]),
    batch=st.sampled_from([1, 2, 4, 8]), side=st.integers(5, 9), epilogue=st.sampled_from(["none", "relu", "residual"]),
)
@example(data=None, channels=64, expanded=1024, batch=4, side=7, epilogue="residual")
def test_packed_1x1_convs_over_many_channels_sum_in_k_blocks_and_match_torch(data, channels, expanded, batch, side, epilogue):
    # ResNet-50's 1024 -> 256 at 14², batch 1: 340 -> 284 us summed K_BLOCK_CHANNELS at a time with
    # the block of planes in cache. K-blocked exactly where the input has K_BLOCK_MIN_CHANNELS or
    # more and the (image, channel block) tasks are K_BLOCK_TASKS_PER_CORE a core; the K loop then
    # runs outside the rows, under the parallel tasks.
    seed = 0 if data is None else data.draw(st.integers(0, 2**16), label="seed")
    torch.manual_seed(seed)
    model = Projection(channels, expanded, epilogue).eval()
    target = host_target()
    lanes = vector_unit(target).lanes("float32")
    blocks = expanded // lanes
    scheduled = lower(fx2relax.from_module(model, (batch, channels, side, side)), target, None, None)
    (func,) = {  # the projection: its packed weight [O / L, expanded, 1, 1, L]
        f for _, f in scheduled.functions_items() if isinstance(f, tirx.PrimFunc) for b in stages(f)
        if marked_kernel(b.annotations) == "conv2d_packed" and any(r.source.shape[1:4] == [expanded, 1, 1] for r in b.reads)
    }
    parallel, _, inner = loops_around(func, "conv2d_packed")
    tasks = batch * channels // lanes // tile_vectors(side, channels // lanes, vector_unit(target).registers)
    k_blocked = expanded >= K_BLOCK_MIN_CHANNELS and tasks >= K_BLOCK_TASKS_PER_CORE * target_cores(target)
    if k_blocked:
        assert parallel == tasks and inner[:2] == (blocks // largest_divisor(blocks, K_BLOCK_CHANNELS // lanes), side)
    else:  # rows among the parallel tasks, all channel blocks summed inside each tile, as before
        assert parallel == tasks * side
    x = torch.randn(batch, channels, side, side)
    x[0, 0, 0, 0], x[-1, -1, side // 2, -1] = float("nan"), float("inf")
    x[batch // 2, channels // 2, -1, 0] = float("-inf")
    check_against_torch(model, x, compiled=True)
