"""roll, flip, repeat/tile, repeat_interleave, unbind and unfold against PyTorch: drawn shapes, shifts
(tuples, repeated and negative dims, no dims), repeat counts (leading new axes, symbolic sizes), every form; refusals."""

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, tensors

SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@st.composite
def roll_cases(draw):
    shape = draw(SHAPES)
    rank = len(shape)
    if draw(st.booleans()):  # no dims: the flattened tensor rolls
        shifts = draw(st.one_of(st.integers(-30, 30), st.tuples(st.integers(-30, 30))))
        return shape, shifts, None
    count = draw(st.integers(1, 3))
    dims = tuple(draw(st.lists(st.integers(-rank, rank - 1), min_size=count, max_size=count)))
    shifts = tuple(draw(st.lists(st.integers(-9, 9), min_size=count, max_size=count)))
    if count == 1 and draw(st.booleans()):
        return shape, shifts[0], dims[0]
    return shape, shifts, dims


@given(roll_cases(), st.sampled_from(["torch", "method", "keyword"]), st.data())
def test_roll_matches_torch(case, form, data):
    shape, shifts, dims = case
    model = {
        "torch": Apply(lambda x: torch.roll(x, shifts, dims)),
        "method": Apply(lambda x: x.roll(shifts, dims)),
        "keyword": Apply(lambda x: torch.roll(x, shifts=shifts, dims=dims)),
    }[form]
    check_against_torch(model, data.draw(tensors(shape, special_values=True)))


class PlusResidual(torch.nn.Module):
    """`wrap(x)` plus the residual `y`."""

    def __init__(self, wrap):
        super().__init__()
        self.wrap = wrap

    def forward(self, x, y):
        return self.wrap(x) + y


@settings(max_examples=10, deadline=None)
@given(st.integers(5, 30), st.integers(5, 30), st.sampled_from([8, 32]), st.sampled_from(["dims", "flat", "circular"]),
       st.integers(-60, 60), st.integers(-60, 60), st.integers(0, 2**31))
@example(28, 28, 32, "dims", 3, 3, 0).via("Swin-T's shifted windows at 28 x 28")
def test_wraparounds_of_planes_compiled_match_torch(height, width, channels, op, shift_rows, shift_cols, seed):
    # Swin's shifted windows: a 2-D roll of 28 x 28 planes plus the residual, compiled, read the
    # wrong columns (TVM's lowering rewrote the loops' fused floormods; kernels.rearrange.wrapped_index)
    wrap = {
        "dims": lambda x: torch.roll(x, shifts=(shift_rows, shift_cols), dims=(1, 2)),
        "flat": lambda x: torch.roll(x, shifts=shift_rows * width + shift_cols),
        "circular": lambda x: torch.nn.functional.pad(x.permute(0, 3, 1, 2), (min(abs(shift_cols), width),) * 2
                                                      + (min(abs(shift_rows), height),) * 2, mode="circular").permute(0, 2, 3, 1),
    }[op]
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, height, width, channels, generator=generator)
    check_against_torch(PlusResidual(wrap), [x, torch.randn(wrap(x).shape, generator=generator)], compiled=True)


def test_roll_keeps_a_symbolic_batch():
    check_against_torch(Apply(lambda x: torch.roll(x, (1, -2), (0, 2))), torch.randn(3, 2, 5), input_shape=(None, 2, 5))


def test_roll_refuses_misaligned_shifts():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'shifts'.*must align"):
        fx2relax.from_module(Apply(lambda x: torch.roll(x, (1, 2), (0,))), (2, 3))


@st.composite
def repeat_cases(draw):
    shape = draw(SHAPES)
    extra = draw(st.integers(0, 2))
    repeats = tuple(draw(st.lists(st.integers(1, 3), min_size=len(shape) + extra, max_size=len(shape) + extra)))
    return shape, repeats


@given(repeat_cases(), st.sampled_from(["varargs", "tuple", "tile", "torch_tile"]), st.data())
def test_repeat_matches_torch(case, form, data):
    shape, repeats = case
    model = {
        "varargs": Apply(lambda x: x.repeat(*repeats)),
        "tuple": Apply(lambda x: x.repeat(repeats)),
        "tile": Apply(lambda x: x.tile(*(repeats[1:] or repeats))),
        "torch_tile": Apply(lambda x: torch.tile(x, repeats[: len(repeats) - 1] or repeats)),
    }[form]
    check_against_torch(model, data.draw(tensors(shape, special_values=True)))


def test_repeat_by_a_symbolic_size():
    model = Apply(lambda x: x.repeat(2, x.size(0), 1))
    check_against_torch(model, torch.randn(3, 4), input_shape=(None, 4))


@pytest.mark.parametrize("sizes,message", [((2,), "can not be smaller"), ((2, 0), "must be positive")])
def test_repeat_refusals(sizes, message):
    with pytest.raises(fx2relax.ShapeError, match=f"parameter 'sizes'.*{message}"):
        fx2relax.from_module(Apply(lambda x: x.repeat(*sizes)), (2, 3))


@given(SHAPES, st.data())
def test_unbind_matches_torch(shape, data):
    rank = len(shape)
    dim = data.draw(st.integers(-rank, rank - 1))
    form = data.draw(st.sampled_from(["method", "torch", "keyword"]))
    unbind = {
        "method": lambda x: x.unbind(dim),
        "torch": lambda x: torch.unbind(x, dim),
        "keyword": lambda x: x.unbind(dim=dim),
    }[form]
    if rank == 1:  # 0-d pieces cannot be graph outputs of fx2relax; combine them with a tensor
        model = Apply(lambda x: torch.stack([unbind(x)[i] * 2 for i in range(shape[0])]))
    else:
        model = Apply(lambda x: unbind(x))
    check_against_torch(model, data.draw(tensors(shape, special_values=True)))


def test_unbind_as_attention_does():
    """`q, k, v = qkv.unbind(0)` in a timm attention block, with a symbolic batch."""

    def attend(x):
        q, k, v = x.reshape(x.shape[0], 4, 3, 2, 8).permute(2, 0, 3, 1, 4).unbind(0)
        return (q @ k.transpose(-2, -1)).softmax(-1) @ v

    check_against_torch(Apply(attend), torch.randn(2, 4, 48), input_shape=(None, 4, 48))


def test_unbind_refuses_a_symbolic_axis():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'dim'.*symbolic"):
        fx2relax.from_module(Apply(lambda x: x.unbind(0)), (None, 3))


@given(SHAPES, st.data())
def test_unfold_matches_torch(shape, data):
    rank = len(shape)
    dim = data.draw(st.integers(-rank, rank - 1))
    size = data.draw(st.integers(1, shape[dim]))
    step = data.draw(st.integers(1, 3))
    check_against_torch(Apply(lambda x: x.unfold(dim, size, step)), data.draw(tensors(shape, special_values=True)))


def test_unfold_refuses_windows_larger_than_the_axis():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'size'.*maximum size"):
        fx2relax.from_module(Apply(lambda x: x.unfold(1, 4, 1)), (2, 3))


@st.composite
def flip_dims(draw, rank):
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=0, max_size=rank, unique=True))
    return [a - rank if draw(st.booleans()) else a for a in axes]


@settings(max_examples=15)
@given(shape=SHAPES, form=st.sampled_from(["torch", "keyword", "method", "method_varargs"]), data=st.data())
def test_flip_matches_torch(shape, form, data):
    dims = data.draw(flip_dims(len(shape)), label="dims")
    if form == "method_varargs" and not dims:
        form = "method"
    model = {
        "torch": lambda x: torch.flip(x, dims),
        "keyword": lambda x: torch.flip(x, dims=tuple(dims)),
        "method": lambda x: x.flip(dims),
        "method_varargs": lambda x: x.flip(*dims),
    }[form]
    check_against_torch(Apply(model), data.draw(tensors(shape, special_values=True)))


def test_flip_with_a_repeated_dim_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="multiple times"):
        fx2relax.from_module(Apply(lambda x: x.flip(0, -2)), (2, 3))


@settings(max_examples=15)
@given(
    shape=SHAPES, repeats=st.integers(1, 4), form=st.sampled_from(["torch", "method", "keyword"]), data=st.data()
)
def test_repeat_interleave_matches_torch(shape, repeats, form, data):
    rank = len(shape)
    dim = data.draw(st.one_of(st.none(), st.integers(-rank, rank - 1)), label="dim")
    model = {
        "torch": lambda x: torch.repeat_interleave(x, repeats, dim),
        "method": lambda x: x.repeat_interleave(repeats, dim),
        "keyword": lambda x: torch.repeat_interleave(x, repeats=repeats, dim=dim),
    }[form]
    check_against_torch(Apply(model), data.draw(tensors(shape, special_values=True)))


def test_repeat_interleave_with_tensor_repeats_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="repeats"):
        fx2relax.from_module(Apply(lambda x: x.repeat_interleave(torch.tensor([1, 2]), 0)), (2, 3))


@settings(max_examples=5)
@given(shape=SHAPES, repeats=st.integers(1, 3), data=st.data())
def test_flip_and_repeat_interleave_through_export(shape, repeats, data):
    dims = data.draw(flip_dims(len(shape)), label="dims")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    model = Apply(lambda x: torch.flip(x, dims).repeat_interleave(repeats, dim))
    check_exported(model, data.draw(tensors(shape, special_values=True)))
