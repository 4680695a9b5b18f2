"""Winograd F(2x2, 3x3) convolutions under fx2relax.compile (packing.WinogradConvs, kernels.winograd,
schedules.winograd) against PyTorch: drawn channels, planes (tile remainders), batches and zero
paddings, with bias, batch norm, residual add and ReLU epilogues; NaN/±inf; the compile option."""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from tvm import s_tir, tirx

import fx2relax
from fx2relax.compiler import fuse, host_target, lower
from fx2relax.kernels.marks import marked_kernel, stages
from fx2relax.kernels.winograd import output_tiles, transform_matrices
from fx2relax.packing import WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE, WINOGRAD_MIN_CHANNELS, WINOGRAD_TILE, winograd_pays
from fx2relax.schedules.winograd import ROW_BLOCKED_MAX_WEIGHT_BYTES, ROW_BLOCKED_MIN_ROW_TILES, ROW_BLOCKED_MIN_ROWS
from tests.helpers import cached_build, check_against_torch, tensors


class ConvBlock(nn.Module):
    """conv 3x3 (stride 1) [+ batch norm] [+ x] [→ ReLU]: the epilogues FuseOps puts after a conv."""

    def __init__(self, in_channels, out_channels, padding, bias, norm, residual, relu):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=padding, bias=bias)
        self.norm = nn.BatchNorm2d(out_channels) if norm else None
        if norm:
            self.norm.running_mean.uniform_(-1, 1)
            self.norm.running_var.uniform_(0.5, 2)
        self.residual, self.relu = residual, relu

    def forward(self, x):
        y = self.conv(x)
        if self.norm is not None:
            y = self.norm(y)
        if self.residual:
            y = y + x
        return torch.relu(y) if self.relu else y


def winograd_functions(model: nn.Module, shape: tuple[int, ...], dtype: str = "float32") -> int:
    """How many fused functions of `model`'s compile pipeline hold a Winograd product."""
    fused = fuse(fx2relax.from_module(model.eval(), shape, dtype=dtype), host_target())
    return sum(
        any(marked_kernel(block.annotations) == "winograd_product" for block in stages(func))
        for _, func in fused.functions_items() if isinstance(func, tirx.PrimFunc)
    )


def transformed_weight_bytes(channels: int) -> int:
    """The float32 transformed weights of a 3x3 conv of `channels` inputs and outputs (4x4 per pair)."""
    return 16 * channels * channels * 4


BEYOND_L2_CHANNELS = 192
"""Channels whose transformed weights (2.25 MiB) exceed ROW_BLOCKED_MAX_WEIGHT_BYTES."""


def row_blocked(model: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether the compiled Winograd conv of `model` runs row-blocked: its products and output
    transform under one parallel loop (the three passes run each under a parallel loop of its own)."""
    scheduled = lower(fx2relax.from_module(model.eval(), shape), host_target(), None, None)
    funcs = [func for _, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)
             and any(marked_kernel(block.annotations) == "winograd_product" for block in stages(func))]
    assert len(funcs) == 1
    under_parallel_loops: list[set[str]] = []
    pending: list[tuple[object, set[str] | None]] = [(funcs[0].body, None)]
    while pending:
        stmt, kernels = pending.pop()
        if isinstance(stmt, tirx.For) and stmt.kind == tirx.ForKind.PARALLEL and kernels is None:
            kernels = set()
            under_parallel_loops.append(kernels)
        if isinstance(stmt, s_tir.SBlockRealize):
            if kernels is not None and marked_kernel(stmt.block.annotations):
                kernels.add(marked_kernel(stmt.block.annotations))
            pending.append((stmt.block.body, kernels))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((inner, kernels) for inner in stmt.seq)
        elif hasattr(stmt, "body"):
            pending.append((stmt.body, kernels))
    return any({"winograd_product", "winograd_output"} <= kernels for kernels in under_parallel_loops)


@pytest.mark.parametrize(
    ("channels", "plane", "batch", "expected"),
    [
        (64, 56, 1, True),  # weights in L2
        (160, 14, 8, True),  # 1.6 MiB: in L2
        (BEYOND_L2_CHANNELS, 14, 8, False),  # beyond L2, rows of 7 tiles: three passes
        (256, 14, 8, False),  # ResNet-50's 14² convs at batch 8 (4 MiB)
        (256, 28, 2, True),  # beyond L2, rows of 14 tiles: read from L3 once per row
        (256, 14, 1, False),  # 7 rows: too few
    ],
)
def test_winograd_row_blocked_where_weights_fit_l2_or_rows_are_long(channels, plane, batch, expected):
    # The Xeon, one thread: 256 channels at 14² and batch 8 three passes 6.2 ms, row-blocked 9.4
    assert (transformed_weight_bytes(channels) <= ROW_BLOCKED_MAX_WEIGHT_BYTES) == (channels <= 160)
    model = ConvBlock(channels, channels, (1, 1), bias=True, norm=False, residual=False, relu=True)
    assert row_blocked(model, (batch, channels, plane, plane)) == expected


@pytest.mark.parametrize(
    "shape",
    [(8, BEYOND_L2_CHANNELS, 14, 14), (8, BEYOND_L2_CHANNELS, 6, 6), (1, BEYOND_L2_CHANNELS, 13, 3), (1, BEYOND_L2_CHANNELS, 13, 8)],
    ids=["14x14", "6x6", "13x3", "13x8"],
)
def test_winograd_three_passes_over_images_whose_tiles_fill_no_register_tile_match_pytorch(shape):
    # ResNet's 14² planes at batch 8 (49 tiles an image): the products' register tiles of 8 tiles
    # once ran across two images and were wrong (3.99 off at 256 channels); now within one image.
    # 7 x 2 and 7 x 4 tiles an image: register tiles of 7 tiles ended inside rows of tiles and were
    # wrong (2.6 off); now they divide a row or span whole rows
    torch.manual_seed(0)
    model = ConvBlock(shape[1], shape[1], (1, 1), bias=True, norm=False, residual=True, relu=True)
    assert not row_blocked(model, shape)
    check_against_torch(model, torch.randn(shape), compiled=True)


@st.composite
def winograd_cases(draw):
    """(model, input shape) of a 3x3 stride-1 conv that takes the Winograd path, with an epilogue."""
    residual = draw(st.booleans())
    channel_counts = [WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS + 16, BEYOND_L2_CHANNELS]  # weights in L2 (row-blocked) or not
    in_channels = draw(st.sampled_from(channel_counts))
    out_channels = in_channels if residual else draw(st.sampled_from(channel_counts))
    if not residual:  # input channels that fill no whole vector: the input transform's scalar path
        in_channels += draw(st.sampled_from([0, 3]))
    padding = (1, 1) if residual else draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    height, width = (draw(st.integers(max(1, 3 - 2 * p), 9)) for p in padding)  # odd sizes: a tile half outside
    batch = draw(st.integers(1, 2))
    tiles = batch * math.prod(output_tiles(height, width, ((padding[0],) * 2, (padding[1],) * 2), WINOGRAD_TILE))
    assume(winograd_pays(in_channels, out_channels, tiles))  # BEYOND_L2_CHANNELS over a few tiles: direct
    model = ConvBlock(
        in_channels, out_channels, padding, bias=draw(st.booleans()), norm=draw(st.booleans()),
        residual=residual, relu=draw(st.booleans()),
    )
    return model, (batch, in_channels, height, width)


@settings(max_examples=8)
@given(case=winograd_cases(), data=st.data())
def test_winograd_conv_matches_pytorch(case, data):
    model, shape = case
    torch.manual_seed(0)
    assert winograd_functions(model, shape) == 1
    check_against_torch(model, data.draw(tensors(shape)), compiled=True)


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(), channels=st.sampled_from([WINOGRAD_MIN_CHANNELS, 48, BEYOND_L2_CHANNELS]), batch=st.integers(1, 2),
    kernel=st.integers(2, 3), stride=st.integers(1, 2), padding=st.integers(0, 1), ceil_mode=st.booleans(), reader=st.booleans(),
)
def test_winograd_conv_then_max_pool_matches_pytorch(data, channels, batch, kernel, stride, padding, ceil_mode, reader):
    # GoogLeNet's and Inception's conv 3x3 + ReLU + max pool 3x3/2: the output transform stores its
    # tiles in blocks of one vector of channels for the pooling to read a vector per tap; a NaN
    # reaches the windows that hold it (±inf may meet in a tile's transforms, see above); the pooled
    # output read by a conv (blocked) or not
    height, width = (data.draw(st.integers(kernel + 1, 15), label=side) for side in ("height", "width"))
    padding = min(padding, kernel // 2)
    torch.manual_seed(0)
    layers = [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)]
    model = nn.Sequential(*layers, *([nn.Conv2d(channels, 16, 1)] if reader else []))
    shape = (batch, channels, height, width)
    assert winograd_functions(model, shape) == 1
    x = data.draw(tensors(shape))
    nan_row, nan_column = data.draw(st.integers(0, height - 1), label="NaN row"), data.draw(st.integers(0, width - 1), label="NaN column")
    x[-1, -1, nan_row, nan_column] = float("nan")
    check_against_torch(model, x, compiled=True)


@settings(max_examples=3)
@given(data=st.data())
def test_winograd_conv_on_weights_beyond_l2_row_blocked_matches_pytorch(data):
    """BEYOND_L2_CHANNELS channels over at least ROW_BLOCKED_MIN_ROWS rows of at least
    ROW_BLOCKED_MIN_ROW_TILES tiles: the row-blocked schedule reading its weights from L3
    (schedules.winograd), drawn planes and epilogues."""
    height = data.draw(st.integers(7, 9))
    width = data.draw(st.integers(2 * ROW_BLOCKED_MIN_ROW_TILES - 1, 2 * ROW_BLOCKED_MIN_ROW_TILES))
    shape = (-(-ROW_BLOCKED_MIN_ROWS // 4), BEYOND_L2_CHANNELS, height, width)  # 4 rows of tiles per image at least
    torch.manual_seed(0)
    model = ConvBlock(BEYOND_L2_CHANNELS, BEYOND_L2_CHANNELS, (1, 1), bias=data.draw(st.booleans()), norm=True,
                      residual=True, relu=True)
    assert row_blocked(model, shape)
    check_against_torch(model, data.draw(tensors(shape)), compiled=True)


@settings(max_examples=3)
@given(data=st.data())
def test_winograd_conv_of_one_image_row_blocked_matches_pytorch(data):
    """One image of ROW_BLOCKED_MIN_ROWS rows of tiles (27 or 28 rows: a last tile half outside or
    not) with 128 channels (1 MiB of transformed weights, in L2), as ResNet-50's 28² convs at batch 1:
    row-blocked, the rows split between the cores; drawn widths and epilogues."""
    height, width = data.draw(st.integers(2 * ROW_BLOCKED_MIN_ROWS - 1, 2 * ROW_BLOCKED_MIN_ROWS)), data.draw(st.integers(5, 28))
    residual = data.draw(st.booleans())
    torch.manual_seed(0)
    model = ConvBlock(128, 128, (1, 1), bias=data.draw(st.booleans()), norm=True, residual=residual, relu=data.draw(st.booleans()))
    x = data.draw(tensors((1, 128, height, width)))
    assert winograd_functions(model, tuple(x.shape)) == 1
    check_against_torch(model, x, compiled=True)


@pytest.mark.parametrize(("channels", "plane", "batch", "winograd"), [
    (256, 7, 1, True), (384, 7, 1, False), (512, 7, 1, False), (512, 7, 2, True), (512, 14, 1, True), (512, 9, 1, False),
])
def test_winograd_takes_only_convs_with_enough_tiles_for_their_weights(channels, plane, batch, winograd):
    # ResNet's 512-channel 3x3 convs at 7², batch 1: 16 tiles read 16 MiB of transformed weights;
    # the direct conv, 9 MiB, is faster (WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE).
    tiles = batch * (-(-plane // WINOGRAD_TILE)) ** 2
    assert (16 * channels**2 * 4 <= WINOGRAD_MAX_WEIGHT_BYTES_PER_TILE * tiles) == winograd
    conv = nn.Conv2d(channels, channels, 3, padding=1).eval()
    assert winograd_functions(conv, (batch, channels, plane, plane)) == int(winograd)


def test_winograd_takes_only_convs_where_it_pays():
    """Fewer channels, a stride, dilation, groups or a non-zero padding mode keep the direct conv."""
    channels = WINOGRAD_MIN_CHANNELS
    for conv in (
        nn.Conv2d(channels // 2, channels // 2, 3, padding=1),
        nn.Conv2d(channels, channels, 3, stride=2, padding=1),
        nn.Conv2d(channels, channels, 3, dilation=2, padding=2),
        nn.Conv2d(channels, channels, 3, groups=2, padding=1),
        nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(channels, channels, 5, padding=2),
    ):
        assert winograd_functions(conv.eval(), (1, conv.in_channels, 8, 8)) == 0, conv


@pytest.mark.parametrize("channels", [WINOGRAD_MIN_CHANNELS, BEYOND_L2_CHANNELS])  # row-blocked or three passes
def test_non_finite_inputs_reach_the_outputs_whose_window_holds_them(channels):
    """F(2x2, 3x3) leaves zero terms out of its transforms, so a NaN or ±inf input reaches exactly
    the outputs whose 3x3 window holds it, as in PyTorch, and every other output matches; inside
    a tile the transforms may meet +inf and -inf, so such an output can be NaN where PyTorch has
    ±inf. compile(winograd=False) gives PyTorch's values exactly (the direct conv)."""
    torch.manual_seed(0)
    model = ConvBlock(channels, channels, (1, 1), bias=True, norm=False, residual=False, relu=False).eval()
    x = torch.randn(1, channels, 7, 7)
    x[0, 3, 2, 4], x[0, 5, 6, 0], x[0, 9, 0, 6], x[0, 11, 4, 4] = float("inf"), float("-inf"), float("nan"), float("inf")
    expected = model(x).detach().numpy()
    mod = fx2relax.from_module(model, tuple(x.shape))
    actual = fx2relax.compile(mod)(x)
    finite = np.isfinite(expected)
    assert not finite.all() and finite.any()
    np.testing.assert_array_equal(np.isfinite(actual), finite)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-5, atol=1e-5)
    infinite = np.isinf(actual)
    np.testing.assert_array_equal(actual[infinite], expected[infinite])  # an inf has PyTorch's sign
    direct = fx2relax.compile(mod, winograd=False)(x)
    np.testing.assert_allclose(direct, expected, rtol=1e-5, atol=1e-5)  # NaN and ±inf where PyTorch has them


@settings(max_examples=6)
@given(data=st.data())
def test_drawn_non_finite_inputs_make_the_outputs_pytorch_makes_non_finite(data):
    """As above, for NaN and ±inf sprinkled at drawn rates over drawn inputs (one model, one build)."""
    torch.manual_seed(0)
    model = ConvBlock(WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS, (1, 1), bias=True, norm=True, residual=True, relu=False).eval()
    shape = (1, WINOGRAD_MIN_CHANNELS, 6, 5)
    x = data.draw(tensors(shape, special_values=True))
    with torch.no_grad():
        expected = model(x).numpy()
    actual = cached_build(fx2relax.from_module(model, shape), compiled=True)(x)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-5, atol=1e-5)
    infinite = np.isinf(actual)
    np.testing.assert_array_equal(actual[infinite], expected[infinite])


def test_float64_winograd_conv_matches_pytorch():
    """float64 takes the Winograd path too (vectors of 8 lanes on AVX-512), within PyTorch's float64 tolerance."""
    torch.manual_seed(0)
    model = ConvBlock(WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS, (1, 1), bias=True, norm=False, residual=True, relu=True)
    model = model.double().eval()
    shape = (2, WINOGRAD_MIN_CHANNELS, 5, 7)
    assert winograd_functions(model, shape, dtype="float64") == 1
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x).numpy()
    actual = fx2relax.compile(fx2relax.from_module(model, shape, dtype="float64"))(x)
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("row", range(WINOGRAD_TILE + 2))
def test_each_input_row_of_a_tile_reaches_the_output_rows_whose_window_holds_it(row):
    """The dependency pattern the NaN/inf behaviour rests on, read off the transform matrices:
    input row i of a tile reaches output row p through the transforms' non-zero terms iff
    p <= i <= p + 2 (one axis; the other is the same)."""
    b_t, _, a_t = transform_matrices(WINOGRAD_TILE)
    reached = {p for p in range(WINOGRAD_TILE) for alpha in range(WINOGRAD_TILE + 2) if b_t[alpha, row] and a_t[p, alpha]}
    assert reached == {p for p in range(WINOGRAD_TILE) if p <= row <= p + 2}
