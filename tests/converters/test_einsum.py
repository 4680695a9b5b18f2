"""torch.einsum against PyTorch: equations drawn with 1-3 operands, contracted and kept letters,
repeated letters (diagonals), size-1 broadcasting, "..." and implicit outputs, operands passed
separately or as one list, spaces; and refusals with PyTorch's reasons.

Sums are at most 4 * 4 * 4 products of values in [-3, 3] in float32; PyTorch contracts in another
order, a rounding difference well inside rtol=atol=1e-5 of the results' scale."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, tensors

LETTERS = "abcdXY"


class Einsum(nn.Module):
    """forward(*operands) = torch.einsum(equation, ...), operands separate or as one list."""

    def __init__(self, equation: str, as_list: bool):
        super().__init__()
        self.equation, self.as_list = equation, as_list


class OneOperand(Einsum):
    def forward(self, x):
        return torch.einsum(self.equation, [x]) if self.as_list else torch.einsum(self.equation, x)


class TwoOperands(Einsum):
    def forward(self, x, y):
        return torch.einsum(self.equation, [x, y]) if self.as_list else torch.einsum(self.equation, x, y)


class ThreeOperands(Einsum):
    def forward(self, x, y, z):
        return torch.einsum(self.equation, [x, y, z]) if self.as_list else torch.einsum(self.equation, x, y, z)


MODELS = {1: OneOperand, 2: TwoOperands, 3: ThreeOperands}


@st.composite
def einsum_cases(draw):
    """(equation, operand shapes): letters with sizes, each operand a few of them (repeats allowed),
    a size 1 now and then (broadcast), "..." in some operands, explicit or implicit output."""
    count = draw(st.integers(1, 3))
    sizes = {letter: draw(st.integers(1, 4)) for letter in LETTERS}
    ellipsis_shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    terms, shapes = [], []
    for _ in range(count):
        letters = draw(st.lists(st.sampled_from(LETTERS), min_size=1, max_size=3))  # inputs are >= 1-D
        ones = {letter for letter in letters if draw(st.integers(0, 5)) == 0}
        dims = [1 if letter in ones else sizes[letter] for letter in letters]
        if draw(st.booleans()):
            position = draw(st.integers(0, len(letters)))
            width = draw(st.integers(0, len(ellipsis_shape)))
            tail = ellipsis_shape[len(ellipsis_shape) - width:]
            tail = [1 if draw(st.integers(0, 3)) == 0 else d for d in tail]
            letters = [*letters[:position], "...", *letters[position:]]
            dims = [*dims[:position], *tail, *dims[position:]]
        terms.append(" ".join(letters) if draw(st.integers(0, 4)) == 0 else "".join(letters))
        shapes.append(tuple(dims))
    used = sorted({c for term in terms for c in term if c.isalpha()})
    equation = ",".join(terms)
    if draw(st.booleans()):
        output = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        has_ellipsis = any("..." in term for term in terms)
        if has_ellipsis and draw(st.booleans()):
            output.insert(draw(st.integers(0, len(output))), "...")
        equation += "->" + "".join(output)
    return equation, shapes


@given(einsum_cases(), st.data(), st.booleans())
def test_einsum_matches_torch(case, data, as_list):
    equation, shapes = case
    inputs = [data.draw(tensors(shape)) for shape in shapes]
    check_against_torch(MODELS[len(shapes)](equation, as_list), inputs)


def test_einsum_batched_matmul_with_special_values():
    x, y = torch.rand(2, 3, 4), torch.rand(2, 4, 5)
    x[0, 1, 2], y[1, 0, 3] = float("nan"), float("inf")
    check_against_torch(TwoOperands("bij,bjk->bik", False), [x, y])


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij->k", [(2, 2)], "output subscript k does not appear in the equation for any input operand"),
    ("ij->jj", [(2, 2)], "output subscript j appears more than once in the output"),
    ("ii->i", [(3, 1)], "subscript i is repeated for operand 0 but the sizes don't match, 3 != 1"),
    ("ij", [(2, 3, 4)], r"number of dimensions \(3\) for operand 0 and no ellipsis was given"),
    ("ij,jk", [(2, 3), (4, 5)], "subscript j has size 3 and 4"),
    ("i,i", [(2,)], r"2 operand\(s\) in the equation but 1 tensor\(s\) given"),
    ("i1->i", [(2,)], "invalid subscript '1'"),
])
def test_einsum_refuses_equations_that_do_not_fit(equation, shapes, message):
    with pytest.raises(fx2relax.ShapeError, match=rf"function torch.einsum.*parameter 'equation'.*{message}"):
        fx2relax.from_module(MODELS[len(shapes)](equation, False), shapes)


def test_einsum_refuses_the_sublist_form():
    class Sublist(nn.Module):
        def forward(self, x, y):
            return torch.einsum(x, [0, 1], y, [1, 2])

    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'equation': the sublist form"):
        fx2relax.from_module(Sublist(), [(2, 3), (3, 4)])


@pytest.mark.parametrize("batch", [1, 3])
def test_einsum_with_a_symbolic_batch(batch):
    """A symbolic size as a kept label (b) and as a contracted one (the ellipsis of 'b...->...')."""
    x, y = torch.rand(batch, 2, 4), torch.rand(batch, 4, 5)
    check_against_torch(TwoOperands("bij,bjk->bik", False), [x, y], input_shape=[(None, 2, 4), (None, 4, 5)])
    check_against_torch(OneOperand("...ij->ij", False), [x], input_shape=[(None, 2, 4)])
