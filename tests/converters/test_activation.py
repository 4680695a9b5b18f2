"""ReLU against PyTorch, including NaN (which a plain max would turn into 0) and ±inf."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from tests.helpers import check_against_torch, tensors

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4)


@given(shapes, st.booleans(), st.data())
def test_relu_matches_torch(shape, inplace, data):
    check_against_torch(nn.ReLU(inplace=inplace), data.draw(tensors(shape, special_values=True)))


def test_relu_keeps_nan():
    out = check_against_torch(nn.ReLU(), torch.tensor([float("nan"), -1.0, float("inf"), float("-inf")]))
    assert np.isnan(out[0]) and out[1] == 0 and out[2] == np.inf and out[3] == 0
