"""Functions `torch.fx.wrap` made leaves of the trace (timm's `_build_grid`, `maybe_add_mask`, ...):
computed at import when their arguments are known then, traced on their static shapes when they take
run-time tensors, refused when they draw random numbers or take a symbolic size."""

import numpy as np
import pytest
import torch
import torch.fx
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from fx2relax.importer import trace
from tests.helpers import check_against_torch


def coordinate_grid(sizes, offset: float = 0.0, scale=None):
    """Python loops over sizes, which torch.fx cannot follow on size proxies: timm's `_build_grid`'s shape."""
    axes = [torch.arange(size, dtype=torch.float32) + offset for size in sizes]
    if scale is not None:
        axes = [axis / size * scale for axis, size in zip(axes, sizes)]
    return torch.stack(torch.meshgrid(axes, indexing="ij"), dim=-1)


def masked_scores(scores, bias=None, causal: bool = False):
    """Branches on an argument being None, on a flag and on a tensor's dtype and size, as timm's
    `resolve_self_attn_mask` and `maybe_add_mask` do."""
    if causal:
        scores = scores + scores.new_full((scores.shape[-2], scores.shape[-1]), float("-inf")).triu(1)
    if bias is not None:
        scores = scores + (bias.to(scores.dtype) if bias.dtype != scores.dtype else bias)
    return scores.softmax(-1) if scores.shape[-1] > 1 else scores


def noise(size):
    return torch.rand(size)


torch.fx.wrap("coordinate_grid")
torch.fx.wrap("masked_scores")
torch.fx.wrap("noise")


class GridFeatures(nn.Module):
    def __init__(self, offset: float, scale):
        super().__init__()
        self.offset, self.scale = offset, scale

    def forward(self, x):
        grid = coordinate_grid(x.shape[2:], self.offset, self.scale)  # sizes are proxies while tracing
        return x * grid.sum(-1)


class Scores(nn.Module):
    def __init__(self, bias, causal: bool):
        super().__init__()
        self.bias, self.causal = bias, causal

    def forward(self, x, y=None):
        return masked_scores(x @ x.transpose(-1, -2), self.bias if y is None else y, self.causal)


def test_the_functions_are_leaves_of_the_trace():
    graph = trace(GridFeatures(0.0, None), (1, 1, 2, 3)).graph
    assert coordinate_grid in [node.target for node in graph.nodes]


@settings(max_examples=10, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=3, max_size=5),
    offset=st.sampled_from([0.0, 0.5, -1.0]),
    scale=st.sampled_from([None, 2.0, 14.0]),
)
def test_a_function_of_sizes_is_computed_at_import(shape, offset, scale):
    x = torch.randn(*shape)
    check_against_torch(GridFeatures(offset, scale), x, input_shape=(None, *shape[1:]))  # the batch is no argument


@settings(max_examples=10, deadline=None)
@given(
    rows=st.integers(1, 4),
    columns=st.integers(1, 5),
    causal=st.booleans(),
    bias=st.sampled_from(["none", "float", "int", "input"]),
)
def test_a_function_of_run_time_tensors_is_traced_on_their_shapes(rows, columns, causal, bias):
    x = torch.randn(2, rows, columns)
    model = Scores(
        {"none": None, "input": None, "float": torch.randn(rows, rows), "int": torch.randint(-3, 3, (rows, rows))}[bias],
        causal,
    )
    inputs = [x, torch.randn(rows, rows)] if bias == "input" else [x]
    check_against_torch(model, inputs)


def test_a_function_that_draws_random_numbers_is_refused():
    class Noisy(nn.Module):
        def forward(self, x):
            return x + noise(x.shape[-1])  # its argument is known at import

    state = torch.random.get_rng_state()
    with pytest.raises(fx2relax.UnsupportedParameterError, match="draws random numbers"):
        fx2relax.from_module(Noisy(), (2, 3))
    assert torch.equal(state, torch.random.get_rng_state())


def test_a_function_of_a_symbolic_size_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="coordinate_grid.*symbolic"):
        fx2relax.from_module(GridFeatures(0.0, None), (1, 1, None, 3))


def test_a_function_with_a_converter_of_its_own_keeps_it():
    with fx2relax.REGISTRY.scope():
        @fx2relax.register_converter(coordinate_grid)
        def zeros_grid(ctx, sizes, offset=0.0, scale=None):
            raise ctx.unsupported("sizes", "the registered converter ran")

        with pytest.raises(fx2relax.UnsupportedParameterError, match="the registered converter ran"):
            fx2relax.from_module(GridFeatures(0.0, None), (1, 1, 2, 3))


def test_timm_attention_mask_functions_on_run_time_scores():
    attention = pytest.importorskip("timm.layers.attention")

    class CausalScores(nn.Module):
        def forward(self, x):
            mask = attention.resolve_self_attn_mask(x.shape[-1], x, None, True)
            return attention.maybe_add_mask(x, mask).softmax(-1)

    actual = check_against_torch(CausalScores(), torch.randn(2, 5, 5))
    assert np.all(actual[:, 0, 1:] == 0)  # the causal mask was applied


def test_a_weight_kept_as_an_input_of_main_is_a_run_time_tensor_of_the_function():
    model = Scores(nn.Parameter(torch.randn(3, 3)), causal=True).eval()
    x = torch.randn(2, 3, 4)
    mod, weights = fx2relax.from_module(model, (2, 3, 4), keep_params_as_input=True)
    assert list(weights) == ["bias"]  # traced with make_fx on the shapes, not computed at import
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(fx2relax.build(mod, weights=weights)(x), expected, rtol=1e-5, atol=1e-5)


def test_timm_position_embedding_resampled_to_the_input_size_at_import():
    pos_embed = pytest.importorskip("timm.layers.pos_embed")

    class Resampled(nn.Module):
        def __init__(self):
            super().__init__()
            self.positions = nn.Parameter(torch.randn(1, 1 + 4 * 4, 3))  # a class token and a 4x4 grid

        def forward(self, x):  # x: [batch, 3, H, W]
            grid = pos_embed.resample_abs_pos_embed(self.positions, (x.shape[2], x.shape[3]), num_prefix_tokens=1)
            return x.flatten(2).transpose(1, 2) + grid[:, 1:]

    check_against_torch(Resampled(), torch.randn(2, 3, 6, 5), input_shape=(None, 3, 6, 5))
