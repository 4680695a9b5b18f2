"""Shape and layout ops against PyTorch: view/reshape (with -1, symbolic batch), flatten/unflatten,
size/dim/shape, transpose/permute, chunk/split, cat/stack, (un)squeeze, expand, basic indexing
and the dtype no-ops; every form (module, torch., method) and the refusals naming the parameter;
aten.copy and aten.as_strided through torch.export."""

import math
import operator

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, ApplyBinary, check_against_torch, check_exported, tensors

SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def _negative_or_not(draw, axis, rank):
    """The same axis, counted from the front or from the back."""
    return draw(st.sampled_from([axis, axis - rank]))


# ---------------------------------------------------------------- view, reshape, flatten, unflatten


@st.composite
def reshape_cases(draw):
    """(shape, new_shape): new_shape regroups the same elements, maybe with one -1."""
    shape = draw(SHAPES)
    total = math.prod(shape)
    new_shape = []
    rest = total
    for _ in range(draw(st.integers(0, 3))):
        size = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
        new_shape.append(size)
        rest //= size
    new_shape.append(rest)
    new_shape = draw(st.permutations(new_shape))
    if draw(st.booleans()):
        new_shape[draw(st.integers(0, len(new_shape) - 1))] = -1
    return shape, tuple(new_shape)


RESHAPE_FORMS = {
    "view": lambda s: lambda x: x.view(*s),
    "view_tuple": lambda s: lambda x: x.view(s),
    "reshape": lambda s: lambda x: x.reshape(*s),
    "torch_reshape": lambda s: lambda x: torch.reshape(x, s),
    "torch_reshape_keyword": lambda s: lambda x: torch.reshape(x, shape=list(s)),
}


@given(case=reshape_cases(), form=st.sampled_from(sorted(RESHAPE_FORMS)), data=st.data())
def test_reshape(case, form, data):
    shape, new_shape = case
    check_against_torch(Apply(RESHAPE_FORMS[form](new_shape)), data.draw(tensors(shape)))


@st.composite
def flatten_cases(draw):
    shape = draw(SHAPES)
    rank = len(shape)
    start = draw(st.integers(0, rank - 1))
    end = draw(st.integers(start, rank - 1))
    return shape, _negative_or_not(draw, start, rank), _negative_or_not(draw, end, rank)


FLATTEN_FORMS = {
    "module": lambda s, e: nn.Flatten(s, e),
    "torch": lambda s, e: Apply(lambda x: torch.flatten(x, s, e)),
    "torch_keyword": lambda s, e: Apply(lambda x: torch.flatten(x, start_dim=s, end_dim=e)),
    "method": lambda s, e: Apply(lambda x: x.flatten(s, e)),
}


@given(case=flatten_cases(), form=st.sampled_from(sorted(FLATTEN_FORMS)), data=st.data())
def test_flatten(case, form, data):
    shape, start, end = case
    check_against_torch(FLATTEN_FORMS[form](start, end), data.draw(tensors(shape)))


def test_flatten_defaults_flatten_everything():
    check_against_torch(Apply(lambda x: torch.flatten(x) + x.flatten()), torch.randn(2, 3, 4))


@st.composite
def unflatten_cases(draw):
    shape = draw(SHAPES)
    axis = draw(st.integers(0, len(shape) - 1))
    size = shape[axis] * draw(st.sampled_from([1, 2, 6]))
    shape = shape[:axis] + (size,) + shape[axis + 1 :]
    first = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    sizes = [first, size // first]
    if draw(st.booleans()):
        sizes[draw(st.integers(0, 1))] = -1
    return shape, _negative_or_not(draw, axis, len(shape)), tuple(sizes)


UNFLATTEN_FORMS = {
    "module": lambda d, s: nn.Unflatten(d, s),
    "torch": lambda d, s: Apply(lambda x: torch.unflatten(x, d, s)),
    "method": lambda d, s: Apply(lambda x: x.unflatten(d, s)),
}


@given(case=unflatten_cases(), form=st.sampled_from(sorted(UNFLATTEN_FORMS)), data=st.data())
def test_unflatten(case, form, data):
    shape, dim, sizes = case
    if form == "module":
        sizes = tuple(abs(s) for s in sizes) if -1 not in sizes else (shape[dim], 1)  # nn.Unflatten has no -1
    check_against_torch(UNFLATTEN_FORMS[form](dim, sizes), data.draw(tensors(shape)))


class SizedView(nn.Module):
    """The idioms that keep a symbolic batch: sizes read from the tensor feed view/reshape."""

    def forward(self, x):
        a = x.view(x.size(0), -1)
        b = x.reshape(-1, 10)
        c = x.view(x.shape[0], x.size(1) * x.size(-1), -1)
        d = x.flatten(1).view(-1, x.size()[1], 15)
        return a, b, c, d, x.numel() * x, x.dim() + x.ndim + x


@pytest.mark.parametrize("batch", [1, 3])
def test_sizes_keep_a_symbolic_batch(batch):
    check_against_torch(SizedView(), torch.randn(batch, 2, 3, 5), input_shape=(None, 2, 3, 5))


def test_sizes_are_python_ints_with_static_shapes():
    check_against_torch(SizedView(), torch.randn(2, 2, 3, 5))


# ---------------------------------------------------------------- transpose, permute


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), data=st.data())
def test_transpose_and_permute(shape, data):
    rank = len(shape)
    dim0, dim1 = (_negative_or_not(data.draw, a, rank) for a in data.draw(st.tuples(st.integers(0, rank - 1), st.integers(0, rank - 1))))
    dims = tuple(_negative_or_not(data.draw, a, rank) for a in data.draw(st.permutations(range(rank))))
    forms = {
        "transpose": lambda x: x.transpose(dim0, dim1),
        "torch_transpose": lambda x: torch.transpose(x, dim0=dim0, dim1=dim1),
        "swapaxes": lambda x: x.swapaxes(dim0, dim1),
        "torch_swapdims": lambda x: torch.swapdims(x, dim0, dim1),
        "permute": lambda x: x.permute(*dims),
        "permute_tuple": lambda x: x.permute(dims),
        "torch_permute": lambda x: torch.permute(x, dims).contiguous(),
    }
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    check_against_torch(Apply(forms[form]), data.draw(tensors(shape)))


# ---------------------------------------------------------------- chunk, split, cat, stack


@given(shape=SHAPES, data=st.data())
def test_chunk_and_split(shape, data):
    rank = len(shape)
    axis = data.draw(st.integers(0, rank - 1), label="axis")
    dim = _negative_or_not(data.draw, axis, rank)
    size = shape[axis]
    count = data.draw(st.integers(1, size + 1), label="count")
    cut = data.draw(st.integers(1, size), label="first section")
    sections = [cut, size - cut] if cut < size else [size]
    forms = {
        "chunk": lambda x: x.chunk(count, dim),
        "torch_chunk": lambda x: torch.chunk(x, chunks=count, dim=dim),
        "split": lambda x: x.split(count, dim),
        "torch_split": lambda x: torch.split(x, count, dim=dim),
        "split_sections": lambda x: x.split(sections, dim),
        "torch_split_sections": lambda x: torch.split(x, sections, dim),
        "pick_last": lambda x: x.chunk(count, dim)[-1] * 2,
    }
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    check_against_torch(Apply(forms[form]), data.draw(tensors(shape)))


@given(shape=SHAPES, data=st.data())
def test_cat_and_stack(shape, data):
    rank = len(shape)
    axis = data.draw(st.integers(0, rank - 1), label="axis")
    other = shape[:axis] + (data.draw(st.integers(1, 3)),) + shape[axis + 1 :]
    cat_dim = _negative_or_not(data.draw, axis, rank)
    stack_dim = _negative_or_not(data.draw, data.draw(st.integers(0, rank)), rank + 1)
    forms = {
        "cat": (other, lambda x, y: torch.cat([x, y, x], cat_dim)),
        "cat_keyword": (other, lambda x, y: torch.cat((y, x), dim=cat_dim)),
        "concat": (other, lambda x, y: torch.concat([x, y], cat_dim)),
        "concatenate": (other, lambda x, y: torch.concatenate([y, x], axis=cat_dim)),
        "cat_one": (other, lambda x, y: torch.cat([x], cat_dim)),
        "stack": (shape, lambda x, y: torch.stack([x, y, x], stack_dim)),
        "stack_keyword": (shape, lambda x, y: torch.stack((y, x), dim=stack_dim)),
    }
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    other_shape, function = forms[form]
    x = data.draw(tensors(shape), label="x")
    y = data.draw(tensors(other_shape), label="y")
    check_against_torch(ApplyBinary(function), [x, y])


def test_cat_along_a_symbolic_batch():
    model = ApplyBinary(lambda x, y: torch.cat([x, y, x], 0))
    check_against_torch(model, [torch.randn(2, 3), torch.randn(1, 3)], input_shape=[(None, 3), (1, 3)])


# ---------------------------------------------------------------- unsqueeze, squeeze, expand


@given(shape=st.lists(st.sampled_from([1, 1, 2, 3]), min_size=1, max_size=4).map(tuple), data=st.data())
def test_unsqueeze_squeeze_and_expand(shape, data):
    rank = len(shape)
    new_axis = _negative_or_not(data.draw, data.draw(st.integers(0, rank)), rank + 1)
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = tuple(_negative_or_not(data.draw, a, rank) for a in axes)
    sizes = [data.draw(st.sampled_from([-1, 2, 3])) if d == 1 else data.draw(st.sampled_from([-1, d])) for d in shape]
    leading = data.draw(st.lists(st.integers(1, 3), max_size=2))
    forms = {
        "unsqueeze": lambda x: x.unsqueeze(new_axis),
        "torch_unsqueeze": lambda x: torch.unsqueeze(x, dim=new_axis),
        "squeeze": lambda x: x.squeeze(),
        "squeeze_dim": lambda x: x.squeeze(axes[0]),
        "torch_squeeze_dims": lambda x: torch.squeeze(x, axes),
        "expand": lambda x: x.expand(*leading, *sizes),
        "expand_tuple": lambda x: x.expand(tuple(leading + sizes)),
    }
    form = data.draw(st.sampled_from(sorted(forms) + ["expand_as"]), label="form")
    x = data.draw(tensors(shape), label="x")
    if form == "expand_as":  # the other tensor is a second input of the model
        other_shape = (*leading, *[d if s == -1 else s for s, d in zip(sizes, shape)])
        check_against_torch(ApplyBinary(lambda a, b: a.expand_as(b) * 1), [x, data.draw(tensors(other_shape))])
        return
    check_against_torch(Apply(forms[form]), x)


# ---------------------------------------------------------------- basic indexing


@st.composite
def index_items(draw, shape):
    """A basic index into `shape`: ints (maybe negative), slices (bounds past the ends, steps),
    None, at most one Ellipsis; as a lone item or a tuple."""
    items = []
    for size in shape[: draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-size, size - 1)))
        elif kind == "full":
            items.append(slice(None))
        else:
            bounds = st.one_of(st.none(), st.integers(-size - 2, size + 2))
            items.append(slice(draw(bounds), draw(bounds), draw(st.one_of(st.none(), st.integers(1, 3)))))
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    if len(items) == 1 and draw(st.booleans()):
        return items[0]
    return tuple(items)


@given(shape=SHAPES, data=st.data())
def test_basic_indexing(shape, data):
    index = data.draw(index_items(shape), label="index")
    try:
        expected_shape = torch.empty(shape)[index].shape
    except IndexError:
        return
    if 0 in expected_shape:  # empty results are refused outside torch.cat (tested below)
        return
    check_against_torch(Apply(lambda x: x[index] * 1), data.draw(tensors(shape)))


def test_indexing_keeps_a_symbolic_batch():
    model = Apply(lambda x: x[:, 1:, None, ..., ::2, -1])
    check_against_torch(model, torch.randn(3, 4, 5, 6), input_shape=(None, 4, 5, 6))


# ---------------------------------------------------------------- no-ops: contiguous, dtype, device


def test_dtype_and_layout_no_ops():
    def function(x, y):
        return (
            x.contiguous().float().to(torch.float32).to("cpu").to(x.dtype).to(y).to(dtype=torch.float32)
            .type_as(y).type(torch.float32).contiguous(memory_format=torch.channels_last)
        ) + y

    check_against_torch(ApplyBinary(function), [torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)])


def test_double_is_a_no_op_in_float64():
    model = Apply(lambda x: x.double() * 2).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    out = fx2relax.build(fx2relax.from_module(model, (2, 3), dtype="float64"))(x)
    torch.testing.assert_close(torch.from_numpy(out), x * 2)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "function, shape, error, match",
    [
        (lambda x: x.view(5, -1), (2, 3), fx2relax.ShapeError, r"parameter 'shape'.*\[5, -1\] is invalid for an input of shape \[2, 3\]"),
        (lambda x: x.view(-1, -1), (2, 3), fx2relax.ShapeError, r"parameter 'shape'.*only one dimension can be inferred"),
        (lambda x: x.reshape(7), (2, 3), fx2relax.ShapeError, r"node 'reshape' \(method Tensor.reshape\): parameter 'shape'"),
        (lambda x: x.view(torch.float16), (2, 3), fx2relax.UnsupportedParameterError, "parameter 'dtype'"),
        (lambda x: x.reshape(x.size(0), 4), (None, 3), fx2relax.ShapeError, r"\[batch, 4\] is invalid for an input of shape \[batch, 3\]"),
        (lambda x: torch.flatten(x, 2, 1), (2, 3, 4), fx2relax.ShapeError, "parameter 'start_dim'.*comes after end_dim"),
        (lambda x: x.flatten(0, 3), (2, 3, 4), fx2relax.ShapeError, r"parameter 'end_dim'.*\[-3, 2\], but got 3"),
        (lambda x: x.unflatten(1, (2, 2)), (2, 3), fx2relax.ShapeError, "parameter 'sizes'"),
        (lambda x: x.size(2), (2, 3), fx2relax.ShapeError, r"node 'size' \(method Tensor.size\): parameter 'dim'"),
        (lambda x: x.transpose(0, 2), (2, 3), fx2relax.ShapeError, "parameter 'dim1'"),
        (lambda x: x.permute(0, 0), (2, 3), fx2relax.ShapeError, "parameter 'dims': repeated dim"),
        (lambda x: x.permute(0), (2, 3), fx2relax.ShapeError, "parameter 'dims': the number of dims"),
        (lambda x: x.chunk(0), (2, 3), fx2relax.ShapeError, "parameter 'chunks'"),
        (lambda x: x.chunk(2, 0), (None, 3), fx2relax.UnsupportedParameterError, "parameter 'dim'.*symbolic size batch"),
        (lambda x: x.split([1, 1], 1), (2, 3), fx2relax.ShapeError, r"parameter 'split_size'.*sum to the size 3"),
        (lambda x: torch.split(x, 0), (2, 3), fx2relax.ShapeError, "parameter 'split_size_or_sections'"),
        (lambda x: torch.cat([x, x[:, :1]], 0), (2, 3), fx2relax.ShapeError, "parameter 'tensors'.*must match except in dimension 0"),
        (lambda x: torch.stack([x, x], 3), (2, 3), fx2relax.ShapeError, r"parameter 'dim'.*\[-3, 2\]"),
        (lambda x: x.unsqueeze(3), (2, 3), fx2relax.ShapeError, r"node 'unsqueeze' \(method Tensor.unsqueeze\): parameter 'dim'"),
        (lambda x: x.squeeze(), (None, 3), fx2relax.UnsupportedParameterError, "parameter 'dim'.*known only at run time"),
        (lambda x: x.expand(4, 3), (2, 3), fx2relax.ShapeError, r"parameter 'size'.*expanded size \(4\).*existing size \(2\)"),
        (lambda x: x.expand(3), (2, 3), fx2relax.ShapeError, "parameter 'size'.*at least the number of dimensions"),
        (lambda x: x[0, 0, 0], (2, 3), fx2relax.ShapeError, "parameter 'index': too many indices"),
        (lambda x: x[2], (2, 3), fx2relax.ShapeError, "parameter 'index': index 2 is out of bounds for dimension 0 with size 2"),
        (lambda x: x[..., ...], (2, 3), fx2relax.ShapeError, "single ellipsis"),
        (lambda x: x[:, 3:] * 1, (2, 3), fx2relax.ShapeError, "parameter 'input'.*empty tensor"),
        (lambda x: x[1:], (None, 3), fx2relax.UnsupportedParameterError, "parameter 'index'.*symbolic size batch"),
        (lambda x: x[[0, 2]], (2, 3), fx2relax.ShapeError, r"parameter 'index': index 2 in \[0, 2\] is out of bounds"),
        (lambda x: x[x > 0], (2, 3), fx2relax.UnsupportedParameterError, "a boolean mask computed at run time"),
        (lambda x: x.to(torch.float16), (2, 3), fx2relax.UnsupportedParameterError, r"node 'to' \(method Tensor.to\): parameter 'dtype'"),
        (lambda x: x.type(torch.float16), (2, 3), fx2relax.UnsupportedParameterError, "parameter 'dtype'"),
        (lambda x: x.T, (2, 3), fx2relax.UnsupportedParameterError, r"node 'getattr.*' \(function getattr\): parameter 'name'.*'T'"),
    ],
)
def test_refusals_name_the_parameter(function, shape, error, match):
    with pytest.raises(error, match=match):
        fx2relax.from_module(Apply(function), shape)


def test_getitem_on_tuples_refuses_an_index_out_of_range():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'index': index 3 is out of range for a tuple of 2 items"):
        fx2relax.from_module(Apply(lambda x: x.chunk(2)[3]), (4, 3))


def test_getitem_target_name():
    assert fx2relax.REGISTRY.lookup("call_function", operator.getitem).name == "operator.getitem"


class IndexByBuffer(nn.Module):
    """`x[index]` with `index` a tuple in which the string "buffer" stands for the registered index
    buffer; with `table`, the indexed tensor is a parameter (MaxViT's bias table lookup)."""

    def __init__(self, index: tuple, buffer: torch.Tensor, table: torch.Tensor | None = None):
        super().__init__()
        self.index = index
        self.register_buffer("positions", buffer)
        self.table = None if table is None else nn.Parameter(table)

    def forward(self, x):
        data = x if self.table is None else self.table + x.mean()
        return data[tuple(self.positions if item == "buffer" else item for item in self.index)] * 1


@st.composite
def take_cases(draw):
    """(shape, index, buffer): one index buffer (long, int or a 1-D bool mask; negative values too)
    among slices, None and ..., as torch accepts it."""
    shape = draw(SHAPES)
    axis = draw(st.integers(0, len(shape) - 1))
    size = shape[axis]
    if draw(st.booleans()):
        buffer = torch.tensor(draw(st.lists(st.booleans(), min_size=size, max_size=size).filter(any)))
    else:
        index_shape = draw(st.lists(st.integers(1, 3), max_size=3))
        values = draw(st.lists(st.integers(-size, size - 1), min_size=math.prod(index_shape), max_size=math.prod(index_shape)))
        buffer = torch.tensor(values, dtype=draw(st.sampled_from([torch.int64, torch.int32]))).reshape(index_shape)
    before = [draw(st.sampled_from([slice(None), slice(None, None, 2)])) for _ in range(axis)]
    for _ in range(draw(st.integers(0, 1))):
        before.insert(draw(st.integers(0, len(before))), None)
    if draw(st.booleans()):  # "..." standing for the leading axes
        before = [Ellipsis] + [item for item in before if item is None]
        after = [slice(None)] * (len(shape) - axis - 1)
    else:
        after = [] if draw(st.booleans()) else [Ellipsis]
    if buffer.ndim == 0 and draw(st.booleans()):  # a 0-d index acts as an int: other items may be lists
        after = [[0, -1] if item == slice(None) else item for item in after]
    return shape, tuple(before + ["buffer"] + after), buffer


@given(case=take_cases(), on_parameter=st.booleans(), data=st.data())
def test_indexing_with_a_constant_index_tensor(case, on_parameter, data):
    shape, index, buffer = case
    if on_parameter:
        model = IndexByBuffer(index, buffer, data.draw(tensors(shape)))
        check_against_torch(model, data.draw(tensors((2, 3))))
    else:
        check_against_torch(IndexByBuffer(index, buffer), data.draw(tensors(shape)))


def test_indexing_with_a_constant_index_keeps_a_symbolic_batch():
    model = IndexByBuffer((slice(None), "buffer"), torch.tensor([[2, -1], [0, 0]]))
    check_against_torch(model, torch.randn(3, 4, 5), input_shape=(None, 4, 5))


def test_an_index_buffer_is_not_a_weight_to_swap():
    model = IndexByBuffer((slice(None), "buffer"), torch.tensor([2, 0]), torch.randn(3, 4))
    mod, weights = fx2relax.from_module(model, (2, 3), keep_params_as_input=True)
    assert list(weights) == ["table"]
    assert [param.name for param in mod["main"].params] == ["x", "table"]


@pytest.mark.parametrize(
    "index, buffer, error, match",
    [
        (("buffer",), torch.tensor([0, 3]), fx2relax.ShapeError,
         r"parameter 'index': index 3 in 'positions' is out of bounds for dimension 0 with size 3"),
        ((slice(None), "buffer"), torch.tensor([-5]), fx2relax.ShapeError,
         r"index -5 in 'positions' is out of bounds for dimension 1 with size 4"),
        (("buffer",), torch.tensor([False, False, False]), fx2relax.ShapeError, "boolean index 'positions' selects nothing"),
        (("buffer",), torch.ones(3, 4, dtype=torch.bool), fx2relax.UnsupportedParameterError,
         r"boolean index 'positions' of shape \[3, 4\]"),
        ((slice(None), None, "buffer"), torch.tensor([True, False]), fx2relax.ShapeError,
         r"mask 'positions' \[2\] does not match dimension 1 of size 4"),
        ((None, slice(None), "buffer"), torch.tensor([4]), fx2relax.ShapeError,
         "index 4 in 'positions' is out of bounds for dimension 1 with size 4"),
        (("buffer",), torch.tensor([0.0]), fx2relax.UnsupportedParameterError, "index tensor 'positions' has dtype torch.float32"),
        ((0, "buffer"), torch.tensor([4, 0]), fx2relax.ShapeError, "index 4 in 'positions' is out of bounds for dimension 1"),
    ],
)
def test_constant_index_refusals(index, buffer, error, match):
    with pytest.raises(error, match=match):
        fx2relax.from_module(IndexByBuffer(index, buffer), (3, 4))


def test_indexing_with_a_float_tensor_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'index': tensors used as indices must be long or int"):
        fx2relax.from_module(ApplyBinary(lambda x, y: x[:, y]), [(2, 3), (2,)])


# ---------------------------------------------------------------- size arithmetic and checks

SIZE_OPS = [operator.floordiv, operator.mod, operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 6)), op=st.sampled_from(SIZE_OPS), data=st.data())
def test_size_arithmetic_and_comparisons(shape, op, data):
    check_against_torch(Apply(lambda x: x * op(x.size(0), x.size(1)) + op(x.dim(), 2)), data.draw(tensors(shape)))


def channel_shuffle(x):
    """ShuffleNetV2's channel shuffle (torchvision): sizes unpacked, divided and fed back to view."""
    batch, channels, height, width = x.size()
    torch._assert(x.dim() == 4, f"expected a 4-D input, got {x.shape}")
    x = x.view(batch, 2, channels // 2, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width) * (batch // 2 + batch % 2)


@pytest.mark.parametrize("batch", [1, 4])
def test_channel_shuffle_with_a_symbolic_batch(batch):
    check_against_torch(Apply(channel_shuffle), torch.randn(batch, 6, 3, 2), input_shape=(None, 6, 3, 2))


def even_channels(x):
    torch._assert(x.size(1) % 2 == 0, "channels must be even")
    return x


@pytest.mark.parametrize(
    "function, shape, error, match",
    [
        (even_channels, (2, 3), fx2relax.ShapeError,
         r"node '_assert' \(function torch._assert\): parameter 'condition': the model's assertion failed: channels must be even"),
        (lambda x: x * (x.size(1) // 2.5), (2, 3), fx2relax.UnsupportedParameterError,
         r"parameter 'other': operator.floordiv is only supported on sizes \(ints\), got 2.5"),
        (lambda x: x * (x.size(0) == 2), (None, 3), fx2relax.UnsupportedParameterError,
         "whether batch == 2 holds is known only at run time"),
        (lambda x: x * (x.size(1) // 0), (2, 3), fx2relax.ShapeError, "parameter 'other': operator.floordiv by zero"),
    ],
)
def test_size_arithmetic_refusals(function, shape, error, match):
    with pytest.raises(error, match=match):
        fx2relax.from_module(Apply(function), shape)


class UnusedAttributes(nn.Module):
    """levit reads `x.device` for a cache key that no node computes with; others pass it along."""

    def forward(self, x):
        x.device, x.is_cuda  # noqa: B018  (read, never used: traced as getattr nodes without users)
        return x.to(x.device) * 2


def test_device_and_unused_attributes_are_no_computation():
    check_against_torch(UnusedAttributes(), torch.randn(2, 3))


# ---------------------------------------------------------------- the torch.export path: copy, as_strided


@settings(max_examples=10)
@given(SHAPES, st.data())
def test_exported_copy_broadcasts_and_converts_like_torch(shape, data):
    """`y[...] = src` in a forward becomes aten.copy(y, src): src broadcast to y's shape (some axes
    of size 1 or dropped) and converted to y's dtype."""
    source_shape = tuple(1 if data.draw(st.booleans()) else d for d in shape)[data.draw(st.integers(0, len(shape) - 1)):]
    source_dtype = data.draw(st.sampled_from([torch.float32, torch.float64, torch.int64]))

    def assign(x, src):
        y = x * 2
        y[...] = src.to(source_dtype)
        return y + 1

    check_exported(ApplyBinary(assign), [data.draw(tensors(shape)), data.draw(tensors(source_shape))])


@st.composite
def strided_views(draw):
    """A static input shape and an as_strided view (size, stride, storage offset) inside its elements."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    count = math.prod(shape)
    rank = draw(st.integers(1, 3))
    size = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    stride = draw(st.lists(st.integers(0, 6), min_size=rank, max_size=rank))
    last = sum((n - 1) * s for n, s in zip(size, stride))
    assume(last < count)
    offset = draw(st.one_of(st.none(), st.integers(0, count - 1 - last)))
    return shape, size, stride, offset


@settings(max_examples=12)
@given(strided_views(), st.data())
def test_exported_as_strided_matches_torch(view, data):
    """as_strided of a contiguous computed tensor (as nest's and SAM's exported graphs have it)."""
    shape, size, stride, offset = view
    check_exported(Apply(lambda x: torch.as_strided(x + 1, size, stride, offset)), data.draw(tensors(shape)))


def test_exported_as_strided_of_a_transposed_input_is_refused():
    program = torch.export.export(Apply(lambda x: torch.as_strided(x.t(), (2, 2), (1, 2))), (torch.randn(3, 4),))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="aten.as_strided.*parameter 'input'.*contiguous"):
        fx2relax.from_exported_program(program)


def test_exported_as_strided_past_the_input_is_refused():
    """A view of a slice may read storage outside the slice: PyTorch reads the base tensor there."""
    program = torch.export.export(Apply(lambda x: torch.as_strided(x[1:], (3,), (1,), 0)), (torch.randn(4),))
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'storage_offset'.*outside"):
        fx2relax.from_exported_program(program)


@st.composite
def empty_slice_cases(draw):
    """A shape, an axis, an empty slice of it (`:0`, `k:k`, past the end, stop before start) and
    where in a torch.cat along that axis (or another) the empty operand sits."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    axis = draw(st.integers(0, len(shape) - 1))
    size = shape[axis]
    start = draw(st.integers(0, size + 2))
    stop = draw(st.sampled_from([start, min(start, size), max(start - 1, 0), 0]))
    assume(len(range(*slice(start, stop).indices(size))) == 0)
    return shape, axis, slice(start, stop), draw(st.integers(0, 2)), draw(st.booleans())


@settings(max_examples=25)
@given(empty_slice_cases(), st.data())
def test_an_empty_slice_contributes_nothing_to_cat(case, data):
    """`torch.cat([x[:, :0], y], dim)`, as timm's vision transformers without prefix tokens do."""
    shape, axis, empty, position, exported = case
    index = (*[slice(None)] * axis, empty)

    def forward(x):
        operands = [x * 2, x + 1]
        operands.insert(min(position, 2), x[index])
        return torch.cat(operands, dim=axis)

    check = check_exported if exported else check_against_torch
    check(Apply(forward), data.draw(tensors(shape)))


def test_empty_tensors_are_refused_outside_cat():
    with pytest.raises(fx2relax.ShapeError, match="parameter 'input'.*empty tensor.*only as torch.cat operands"):
        fx2relax.from_module(Apply(lambda x: torch.relu(x[:, :0])), (2, 3))
    with pytest.raises(fx2relax.ShapeError, match="parameter 'tensors'.*every operand is empty"):
        fx2relax.from_module(Apply(lambda x: torch.cat([x[:, :0], x[:, 3:]], dim=1)), (2, 3))
    with pytest.raises(fx2relax.ShapeError, match="an output is an empty tensor"):
        fx2relax.from_module(Apply(lambda x: x[:, :0]), (2, 3))
