"""dtype conversions against PyTorch: x.long()/.int()/.bool()/.float()/.double()/.to()/.type_as(),
ATen's _to_copy; float to integer truncates toward zero, NaN is True as a bool."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import Apply, check_against_torch, check_exported, tensors

DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool, torch.uint8, torch.int8]


@settings(max_examples=10)
@given(source=st.sampled_from([torch.float32, torch.int64, torch.bool]), target=st.sampled_from(DTYPES),
       x=tensors((3, 4), low=-100, high=100))
def test_to_dtype(source, target, x):
    x = x.to(source)
    if source == torch.float32:
        x[0, 0], x[0, 1] = 0.0, float("nan")
        if not target.is_floating_point and target != torch.bool:
            x[0, 1] = 1.0  # NaN to an integer is undefined behaviour in C and PyTorch
        if target in (torch.uint8, torch.int8):
            x = x.clamp(0, 100)  # out-of-range float to int is undefined too
    check_exported(Apply(lambda x: x.to(target)), x)


@pytest.mark.parametrize("function", [
    lambda x: (x > 0).long() * 3,
    lambda x: (x * 4).int(),
    lambda x: x.bool(),
    lambda x: (x > 0).float() + x,
    lambda x: (x > 0).to(torch.float32) * x,
    lambda x: x.double(),
    lambda x: (x > 0).type(torch.int32),
    lambda x: (x > 0).long().type_as(x),
])
def test_torch_level_forms(function):
    check_against_torch(Apply(function), torch.tensor([[0.5, -1.5, 0.0, 2.75], [float("nan"), -0.25, 3.0, -7.5]]))
