"""Random nn.Sequential stacks of the FashionMNIST op set with random parameters match PyTorch,
on ordinary inputs and on inputs with NaN and ±inf."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tests.helpers import check_against_torch, tensors


def output_shape(layer: nn.Module, shape: tuple) -> tuple | None:
    """The shape `layer` gives for `shape` in PyTorch, or None where PyTorch refuses it."""
    try:
        with torch.no_grad():
            return tuple(layer(torch.zeros(shape)).shape)
    except (RuntimeError, ValueError, IndexError):
        return None


@st.composite
def layers_for(draw, shape):
    rank = len(shape)
    small = st.integers(1, 3)
    choices = ["relu", "softmax", "flatten", "linear"] + (["conv", "pool"] if rank in (3, 4) else [])
    kind = draw(st.sampled_from(choices))
    if kind == "relu":
        return nn.ReLU()
    if kind == "softmax":
        return nn.Softmax(draw(st.integers(-rank, rank - 1)))
    if kind == "flatten":
        start = draw(st.integers(-rank, rank - 1))
        return nn.Flatten(start, draw(st.integers(start % rank, rank - 1)))
    if kind == "linear":
        return nn.Linear(shape[-1], draw(st.integers(1, 12)), bias=draw(st.booleans()))
    if kind == "pool":
        kernel = draw(small)
        return nn.MaxPool2d(kernel, stride=draw(st.none() | small), padding=draw(st.integers(0, kernel // 2)),
                            dilation=draw(small), ceil_mode=draw(st.booleans()))
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if shape[-3] % g == 0]))
    padding = draw(st.sampled_from([0, 1, "same", "valid", (1, 0)]))
    return nn.Conv2d(
        shape[-3], groups * draw(small), draw(small), stride=1 if padding == "same" else draw(small),
        padding=padding, dilation=draw(small), groups=groups, bias=draw(st.booleans()),
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    )


@st.composite
def sequential_models(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(4, 10)), draw(st.integers(4, 10)))
    current, layers = shape, []
    for _ in range(draw(st.integers(1, 6))):
        layer = draw(layers_for(current))
        next_shape = output_shape(layer, current)
        if next_shape is not None and min(next_shape, default=1) > 0:
            layers.append(layer)
            current = next_shape
    return nn.Sequential(*layers, nn.ReLU()), shape


@settings(max_examples=80)
@given(sequential_models(), st.booleans(), st.data())
def test_random_sequential_stacks_match_torch(case, special_values, data):
    model, shape = case
    check_against_torch(model, data.draw(tensors(shape, special_values=special_values)))
