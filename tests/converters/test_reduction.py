"""sum, mean, amax and amin against PyTorch: dim as int, tuple, list, negative, None or empty; keepdim; every
alias; NaN/±inf; a large spatial mean (ShuffleNetV2's x.mean([2, 3])) and a symbolic batch."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, check_exported, int_tensors, tensors

FORMS = {
    "sum": {
        "torch": lambda dim, keepdim: lambda x: torch.sum(x, dim, keepdim),
        "torch_keyword": lambda dim, keepdim: lambda x: torch.sum(x, dim=dim, keepdim=keepdim, dtype=torch.float32),
        "method": lambda dim, keepdim: lambda x: x.sum(dim, keepdim=keepdim),
    },
    "mean": {
        "torch": lambda dim, keepdim: lambda x: torch.mean(x, dim, keepdim),
        "torch_keyword": lambda dim, keepdim: lambda x: torch.mean(x, dim=dim, keepdim=keepdim, dtype=torch.float32),
        "method": lambda dim, keepdim: lambda x: x.mean(dim, keepdim),
    },
}


@st.composite
def dims(draw, rank):
    """An int, a tuple or list of distinct axes (possibly negative), None or [] (all axes)."""
    kind = draw(st.sampled_from(["int", "tuple", "list", "none", "empty"]))
    if kind == "none":
        return None
    if kind == "empty":
        return []
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    if kind == "int":
        return axes[0]
    return tuple(axes) if kind == "tuple" else axes


@given(data=st.data(), op=st.sampled_from(sorted(FORMS)), keepdim=st.booleans())
def test_reduction(data, op, keepdim):
    shape = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple), label="shape")
    dim = data.draw(dims(len(shape)), label="dim")
    form = data.draw(st.sampled_from(sorted(FORMS[op])), label="form")
    if dim is None and form != "torch_keyword":
        function = {"sum": torch.sum, "mean": torch.mean}[op] if form == "torch" else (lambda x: getattr(x, op)())
    else:
        function = FORMS[op][form](dim, keepdim)
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())), label="x")
    check_against_torch(Apply(function), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_spatial_reduction_of_a_large_map(op):
    """224x224 elements per channel: the float64 accumulation stays within 1e-5 of PyTorch's."""
    x = torch.rand(2, 3, 224, 224) * 4 - 1
    check_against_torch(Apply(lambda t: getattr(t, op)([2, 3])), x)


@pytest.mark.parametrize("batch", [1, 3])
def test_mean_with_a_symbolic_batch(batch):
    x = torch.randn(batch, 4, 5)
    check_against_torch(Apply(lambda t: t.mean([0, 2], keepdim=True)), x, input_shape=(None, 4, 5))


def test_repeated_dim_is_refused():
    with pytest.raises(fx2relax.ShapeError, match="multiple times"):
        fx2relax.from_module(Apply(lambda x: x.sum((1, -1))), (2, 3))


@pytest.mark.parametrize("function", [
    lambda x: x.mean(1, dtype=torch.float64),
    lambda x: x.sum(-1, dtype=torch.float64),
    lambda x: (x > 0).sum(1),  # a bool sum counts: int64
    lambda x: (x > 0).long().sum((0, 1), keepdim=True),
])
def test_dtypes(function):
    check_against_torch(Apply(function), torch.randn(3, 4))


def test_integer_mean_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="dtype"):
        fx2relax.from_module(Apply(lambda x: (x > 0).long().mean(1)), (2, 3))


EXTREMES = {
    "amax_torch": lambda dim, keepdim: lambda x: torch.amax(x, dim, keepdim),
    "amax_method": lambda dim, keepdim: lambda x: x.amax(dim=dim, keepdim=keepdim),
    "amin_torch": lambda dim, keepdim: lambda x: torch.amin(x, dim=dim, keepdim=keepdim),
    "amin_method": lambda dim, keepdim: lambda x: x.amin(dim, keepdim),
}


@settings(max_examples=15)
@given(data=st.data(), form=st.sampled_from(sorted(EXTREMES)), keepdim=st.booleans())
def test_amax_amin(data, form, keepdim):
    """dim as int, tuple, list, negative or empty (all axes); a NaN in a slice gives NaN."""
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), label="shape")
    dim = data.draw(dims(len(shape)).filter(lambda d: d is not None), label="dim")
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())), label="x")
    check_against_torch(Apply(EXTREMES[form](dim, keepdim)), x)


@settings(max_examples=6)
@given(x=int_tensors((3, 4), -9, 9), largest=st.booleans(), dim=st.sampled_from([0, 1, (0, 1), ()]))
def test_amax_amin_on_integers_through_export(x, largest, dim):
    check_exported(Apply(lambda t: t.amax(dim) if largest else t.amin(dim)), x)


def test_amax_default_reduces_every_axis():
    x = torch.randn(2, 3, 4)
    check_against_torch(Apply(lambda t: t.amax()), x)


# ---------------------------------------------------------------- vector norms

NORM_ORDERS = st.one_of(
    st.sampled_from([2, 1, float("inf"), float("-inf"), 0, 3, 0.5, -1, -2.5, "fro", None]),
    st.floats(0.3, 4),
)
NORM_FORMS = {
    "torch": lambda p, dim, keepdim: lambda x: torch.norm(x, p, dim, keepdim),
    "torch_keyword": lambda p, dim, keepdim: lambda x: torch.norm(x, p=p, dim=dim, keepdim=keepdim),
    "method": lambda p, dim, keepdim: lambda x: x.norm(p, dim, keepdim),
    "method_keyword": lambda p, dim, keepdim: lambda x: x.norm(p=p, dim=dim, keepdim=keepdim),
    "linalg": lambda p, dim, keepdim: lambda x: torch.linalg.vector_norm(x, 2 if p in ("fro", None) else p, dim, keepdim),
}


@settings(max_examples=30)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), p=NORM_ORDERS,
    form=st.sampled_from(sorted(NORM_FORMS)), keepdim=st.booleans(), specials=st.booleans(), data=st.data(),
)
def test_norm_with_drawn_order_dims_and_keepdim(shape, p, form, keepdim, specials, data):
    """Any real p (zeros in the input matter for p = 0 and p < 0), 'fro' and None (2-norm); NaN/±inf."""
    dim = data.draw(dims(len(shape)), label="dim")
    if p == "fro" and isinstance(dim, (tuple, list)) and len(dim) > 2:
        dim = dim[:2]
    x = data.draw(tensors(shape, special_values=specials), label="x")
    x = x * (x.abs() > 0.5)  # zeros
    check_against_torch(Apply(NORM_FORMS[form](p, dim, keepdim)), x)


@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), p=NORM_ORDERS,
       keepdim=st.booleans(), data=st.data())
def test_norm_through_torch_export(shape, p, keepdim, data):
    """torch.export records every form as aten.linalg_vector_norm."""
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="dim")
    check_exported(Apply(lambda x: x.norm(p, dim, keepdim)), data.draw(tensors(shape), label="x"))


def test_norm_in_another_dtype():
    """dtype=float64 on a float32 input computes in float64, as PyTorch casts the input first."""
    x = torch.randn(3, 5)
    check_against_torch(Apply(lambda t: (torch.norm(t, 3, 1, dtype=torch.float64),
                                         t.norm(dim=0, dtype=torch.float64),
                                         torch.linalg.vector_norm(t, 1, dtype=torch.float64))), x)


@pytest.mark.parametrize(
    "function, match",
    [
        (lambda x: torch.norm(x, "nuc"), "parameter 'p': the nuclear norm"),
        (lambda x: x.norm("fro", (0, 1, 2)), "parameter 'dim': the Frobenius norm is over at most two dims"),
        (lambda x: x.norm("max"), "parameter 'p': only valid string values"),
        (lambda x: x.norm(p=True), "parameter 'p': must be a real number"),
        (lambda x: torch.norm(x.long()), "parameter 'input': a norm needs a floating-point tensor"),
        (lambda x: torch.norm(x.double(), dtype=torch.float32), "parameter 'dtype': a float64 input cannot"),
    ],
)
def test_norm_refusals(function, match):
    with pytest.raises(fx2relax.UnsupportedParameterError, match=match):
        fx2relax.from_module(Apply(function), (2, 3, 4))


# ---------------------------------------------------------------- max / min in all forms, argmax / argmin


def _unpacked_max(x, dim, keepdim):
    values, indices = torch.max(x, dim, keepdim)
    return values * 2, indices


MAX_MIN_ALONG_DIM = {
    "torch_max": lambda dim, keepdim: lambda x: torch.max(x, dim, keepdim),
    "torch_min_keyword": lambda dim, keepdim: lambda x: torch.min(x, dim=dim, keepdim=keepdim),
    "method_max": lambda dim, keepdim: lambda x: x.max(dim, keepdim=keepdim),
    "method_min": lambda dim, keepdim: lambda x: x.min(dim, keepdim),
    "fields": lambda dim, keepdim: lambda x: (x.max(dim, keepdim).indices, x.min(dim=dim, keepdim=keepdim).values),
    "getitem": lambda dim, keepdim: lambda x: (torch.max(x, dim, keepdim)[1], torch.min(x, dim, keepdim)[0]),
    "unpacked": lambda dim, keepdim: lambda x: _unpacked_max(x, dim, keepdim),
    "argmax": lambda dim, keepdim: lambda x: torch.argmax(x, dim, keepdim),
    "argmin_method": lambda dim, keepdim: lambda x: x.argmin(dim=dim, keepdim=keepdim),
}


@st.composite
def tied_tensors(draw, shape, integer=False):
    """float32 values from a few integers (ties everywhere), with NaN and ±inf sometimes (never
    with `integer`: the model converts those to int64 itself, as from_module's inputs are float)."""
    x = draw(tensors(shape, special_values=not integer and draw(st.booleans()), low=-2, high=2))
    return torch.where(x.isfinite(), x.round(), x)


def _as(dtype, function):
    """`function` on the input converted to `dtype` first (int64: an integer tensor inside the model)."""
    return function if dtype == torch.float32 else lambda x: function(x.to(dtype))


@settings(max_examples=30)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), form=st.sampled_from(sorted(MAX_MIN_ALONG_DIM)),
    keepdim=st.booleans(), dtype=st.sampled_from([torch.float32, torch.int64]), data=st.data(),
)
def test_max_min_along_a_dim_with_indices(shape, form, keepdim, dtype, data):
    """Indices as PyTorch picks them: the first NaN, else the first of tied extremes."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = data.draw(tied_tensors(shape, integer=dtype == torch.int64), label="x")
    check_against_torch(Apply(_as(dtype, MAX_MIN_ALONG_DIM[form](dim, keepdim))), x)


@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), keepdim=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.int64]), data=st.data())
def test_whole_tensor_max_min_and_flat_argmax(shape, keepdim, dtype, data):
    x = data.draw(tied_tensors(shape, integer=dtype == torch.int64), label="x")
    check_against_torch(Apply(_as(dtype, lambda t: (torch.max(t), t.min(), t.argmax(keepdim=keepdim), torch.argmin(t)))), x)


@settings(max_examples=15)
@given(shapes=st.sampled_from([((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((3,), (2, 3))]),
       specials=st.booleans(), data=st.data())
def test_binary_max_min_are_maximum_minimum(shapes, specials, data):
    x, y = (data.draw(tensors(s, special_values=specials)) for s in shapes)
    check_against_torch(ApplyBinary(lambda a, b: (torch.max(a, b), a.min(b), torch.min(a, other=b), a.max(other=b))), [x, y])


@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), keepdim=st.booleans(), data=st.data())
def test_max_min_through_torch_export(shape, keepdim, data):
    """aten.max.dim / aten.min.dim (tuples read by getitem), aten.max.default, aten.argmax."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = data.draw(tied_tensors(shape), label="x")
    check_exported(Apply(lambda t: (*t.max(dim, keepdim), t.min(dim).indices, t.max(), t.argmax(dim, keepdim), t.argmin())), x)


@pytest.mark.parametrize(
    "function, match",
    [
        (lambda x: x.max((0, 1)), "parameter 'dim': must be an int"),
        (lambda x: x.argmax(dim=(0, 1)), "parameter 'dim': must be an int or None"),
        (lambda x: (x > 0).max(1), "bool"),
    ],
)
def test_max_min_refusals(function, match):
    with pytest.raises(fx2relax.UnsupportedParameterError, match=match):
        fx2relax.from_module(Apply(function), (2, 3))
