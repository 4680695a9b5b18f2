"""Embeddings, gather and advanced indexing with index tensors computed at run time against PyTorch:
nn.Embedding / F.embedding / aten.embedding, torch.gather, x[idx], x[:, rows, cols], negative
indices, and out-of-range indices (NaN, where PyTorch raises)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import ApplyBinary, check_against_torch, check_exported, int_tensors


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
