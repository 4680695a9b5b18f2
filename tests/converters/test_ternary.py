"""addcmul and addcdiv against PyTorch: drawn broadcast shapes and values (0, negative, NaN/inf
operands), every form (torch., method, in place); refusals."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fx2relax
from tests.helpers import check_against_torch, tensors


class Ternary(torch.nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x, y, z):
        return self.function(x, y, z)


FORMS = {
    "addcmul": lambda v: lambda x, y, z: torch.addcmul(x, y, z, value=v),
    "addcdiv": lambda v: lambda x, y, z: torch.addcdiv(x, y, z, value=v),
    "method_addcmul": lambda v: lambda x, y, z: x.addcmul(y, z, value=v),
    "method_addcdiv": lambda v: lambda x, y, z: x.addcdiv(y, z, value=v),
    "inplace_addcmul": lambda v: lambda x, y, z: (x * 1).addcmul_(y, z, value=v),
    "inplace_addcdiv": lambda v: lambda x, y, z: (x * 1).addcdiv_(y, z, value=v),
}


@st.composite
def broadcast_shapes(draw):
    """Three shapes that broadcast, the first one already the full shape (so in place works)."""
    full = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    def operand():
        rank = draw(st.integers(1, len(full)))
        return tuple(draw(st.sampled_from([d, 1])) for d in full[len(full) - rank:])
    return tuple(full), operand(), operand()


@given(broadcast_shapes(), st.sampled_from(sorted(FORMS)), st.sampled_from([1, 0, -0.5, 2.5, 1e-3]), st.data())
def test_addc_matches_torch(shapes, form, value, data):
    inputs = [data.draw(tensors(s, special_values=True)) for s in shapes]
    check_against_torch(Ternary(FORMS[form](value)), inputs)


def test_addcdiv_by_zero_gives_inf_and_nan():
    x, y, z = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([1.0, 0.0, -3.0]), torch.tensor([0.0, 0.0, 0.0])
    check_against_torch(Ternary(FORMS["addcdiv"](1)), [x, y, z])


def test_addcmul_keeps_a_symbolic_batch():
    inputs = [torch.randn(3, 4), torch.randn(1, 4), torch.randn(3, 1)]
    check_against_torch(Ternary(FORMS["addcmul"](0.5)), inputs, input_shape=[(None, 4), (1, 4), (None, 1)])


def test_addcmul_refusals():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'tensor1'.*do not broadcast"):
        fx2relax.from_module(Ternary(FORMS["addcmul"](1)), [(2, 3), (2, 4), (3,)])
    with pytest.raises(fx2relax.ShapeError, match="in place"):
        fx2relax.from_module(Ternary(FORMS["inplace_addcmul"](1)), [(3,), (2, 3), (3,)])
