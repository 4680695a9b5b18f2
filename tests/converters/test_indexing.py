"""Embeddings, gather and advanced indexing against PyTorch: nn.Embedding / F.embedding /
aten.embedding, torch.gather, x[idx], x[:, rows, cols] with index tensors computed at run time
(negative indices; out of range gives NaN where PyTorch raises), and lists of ints or bools among
ints, slices, None and ... (`x[..., [0, 1, 8]]`; out of range refused at import, as PyTorch raises)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, check_exported, int_tensors, tensors


@settings(max_examples=8)
@given(ids=int_tensors((2, 5), 0, 9), dtype=st.sampled_from([torch.int64, torch.int32]))
def test_embedding(ids, dtype):
    torch.manual_seed(0)
    check_exported(nn.Embedding(10, 4), ids.to(dtype))


def test_embedding_of_computed_indices_through_torch_fx():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(6, 3)

        def forward(self, x):
            return self.table((x > 0).long() + 2 * (x > 1).long())

    check_against_torch(Model(), torch.randn(3, 4))


def test_out_of_range_ids_give_nan_rows():
    program = torch.export.export(nn.Embedding(4, 2), (torch.tensor([[0, 1]]),))
    output = fx2relax.build(fx2relax.from_exported_program(program))(torch.tensor([[3, 4]]))
    assert np.isfinite(output[0, 0]).all() and np.isnan(output[0, 1]).all()


@settings(max_examples=8)
@given(data=st.data(), dim=st.integers(-2, 1))
def test_gather(data, dim):
    x = torch.randn(3, 4)
    index = data.draw(int_tensors((3, 2) if dim in (1, -1) else (2, 4), 0, x.shape[dim] - 1))
    check_exported(ApplyBinary(lambda x, i: torch.gather(x, dim, i)), [x, index])


INDEXING = [
    lambda x, i: x[i],
    lambda x, i: x[:, i],
    lambda x, i: x[..., i[0]],
    lambda x, i: x[i, :, i],
    lambda x, i: x[1:, i[:1], i[1:]],
    lambda x, i: x[i - 3],  # negative indices count from the end
]


@pytest.mark.parametrize("function", INDEXING)
def test_advanced_indexing(function):
    x = torch.randn(4, 3, 5)
    index = torch.tensor([[0, 2], [1, 1]])
    check_exported(ApplyBinary(function), [x, index])
    check_against_torch(ApplyBinary(lambda x, y: function(x, (y > 0).long())), [x, torch.randn(2, 2)])


@st.composite
def list_indices(draw, shape):
    """An index into `shape` mixing ints, slices, None, at most one Ellipsis and one to three lists
    (of ints, negative ones too, nested [[..], ..] or flat; or a 1-D bool mask) at drawn positions;
    the lists' lengths are drawn from {1, n} so that they mostly broadcast."""
    length = draw(st.integers(1, 3))
    axes = draw(st.integers(1, len(shape)))
    listed = set(draw(st.lists(st.integers(0, axes - 1), min_size=1, max_size=3)))
    items = []
    for axis, size in enumerate(shape[:axes]):
        if axis in listed:
            kind = draw(st.sampled_from(["ints", "ints", "nested", "mask"]))
            if kind == "mask":
                items.append(draw(st.lists(st.booleans(), min_size=size, max_size=size).filter(any)))
            else:
                entries = st.lists(st.integers(-size, size - 1), min_size=1, max_size=1) | st.lists(
                    st.integers(-size, size - 1), min_size=length, max_size=length
                )
                values = draw(entries)
                items.append([[value] for value in values] if kind == "nested" else values)
        else:
            kind = draw(st.sampled_from(["int", "slice", "full"]))
            if kind == "int":
                items.append(draw(st.integers(-size, size - 1)))
            elif kind == "full":
                items.append(slice(None))
            else:
                start = draw(st.integers(0, size - 1))
                items.append(slice(start, draw(st.integers(start + 1, size + 1)), draw(st.integers(1, 2))))
    for _ in range(draw(st.integers(0, 1))):
        items.insert(draw(st.integers(0, len(items))), None)
    if axes < len(shape) and draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    return tuple(items)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_indexing_with_lists(shape, data):
    """Where PyTorch puts the indexed axes (one list: in place; several: broadcast together, in place
    when adjacent after the ints and None are applied, else in front) and which entries it reads; an
    index PyTorch cannot broadcast is refused at import."""
    index = data.draw(list_indices(shape), label="index")
    x = data.draw(tensors(shape))
    try:
        x[index]
    except IndexError:
        with pytest.raises(fx2relax.ShapeError, match="parameter 'index'"):
            fx2relax.from_module(Apply(lambda x: x[index]), tuple(shape))
        return
    check_against_torch(Apply(lambda x: x[index]), x)


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_lists_with_computed_index_tensors_and_ints(data):
    """A computed index tensor (here cast from the float input) among lists, ints and None."""
    x = data.draw(tensors((3, 4, 5)))
    index = data.draw(int_tensors((2,), -4, 3))
    function = data.draw(st.sampled_from([
        lambda x, i: x[[0, -1], i],
        lambda x, i: x[1, i, [4, 0]],
        lambda x, i: x[None, :, i, [[0], [2]]],
        lambda x, i: x[[2], :, i],
        lambda x, i: x[:, i[0]],  # a 0-d index tensor alone drops its axis
    ]))
    check_against_torch(ApplyBinary(lambda x, y: function(x, y.long())), [x, index.float()])


@pytest.mark.parametrize(
    "function, error, match",
    [
        (lambda x: x[:, [0, 4]], fx2relax.ShapeError, r"node 'getitem'.*parameter 'index': index 4 in \[0, 4\] is out of bounds "
         "for dimension 1 with size 4"),
        (lambda x: x[[-4]], fx2relax.ShapeError, r"index -4 in \[-4\] is out of bounds for dimension 0 with size 3"),
        (lambda x: x[[0, 1], :, [0, 1, 2]], fx2relax.ShapeError, "the index tensors do not broadcast"),
        (lambda x: x[:, [True, False]], fx2relax.ShapeError, r"mask \[True, False\] \[2\] does not match dimension 1"),
        (lambda x: x[[False] * 3], fx2relax.ShapeError, "selects nothing"),
        (lambda x: x[:, []], fx2relax.ShapeError, r"index \[\] is empty"),
        (lambda x: x[:, [0, True]], fx2relax.UnsupportedParameterError, "only ints or only bools"),
        (lambda x: x[:, [[0, 1], [2]]], fx2relax.UnsupportedParameterError, "must be rectangular"),
        (lambda x: x[[[0, 1], [1, 2]]], fx2relax.UnsupportedParameterError, "ambiguous; index with a tuple"),
        (lambda x: x[:, [[True], [False]]], fx2relax.UnsupportedParameterError, "only 1-D"),
        (lambda x: x[x.sum().long(), :, [0]], fx2relax.UnsupportedParameterError, "a 0-d index tensor computed at run time"),
    ],
)
def test_list_index_refusals(function, error, match):
    with pytest.raises(error, match=match):
        fx2relax.from_module(Apply(function), (3, 4, 5))
