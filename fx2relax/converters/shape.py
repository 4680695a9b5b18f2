"""Converters for shapes and layouts: view/reshape/flatten/unflatten, sizes, transpose/permute,
chunk/split, cat/stack, unsqueeze/squeeze, expand and basic indexing (dtype conversions: cast.py).

Sizes are Python ints, or PrimExprs for symbolic dimensions, so `x.view(x.size(0), -1)` keeps a
symbolic batch. Python tuples (a shape, the pieces of a chunk) stay Python tuples; operator.getitem
picks from them.
"""

from __future__ import annotations

import builtins
import numbers
import operator
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tvm import relax, sym, tirx

from .. import dtypes
from ..importer import Dim, NodeContext, is_tensor
from ..kernels import elementwise, indexing
from ..kernels import shape as kernels
from ..registry import register_converter, target_name
from .cast import convert
from .common import normalize_dim

aten = torch.ops.aten

# ---------------------------------------------------------------- sizes: ints and PrimExprs


def _as_expr(dim: Dim) -> tirx.Expr:
    return tirx.const(dim, "int64") if isinstance(dim, int) else dim


def _as_dim(expr: tirx.Expr) -> Dim:
    """A simplified size: an int when it is a constant, else the PrimExpr."""
    expr = sym.Analyzer().simplify(expr)
    return int(expr.value) if isinstance(expr, tirx.IntImm) else expr


def _product(dims: Sequence[Dim]) -> Dim:
    total: Dim = 1
    for dim in dims:
        total = total * dim
    return total if isinstance(total, int) else _as_dim(total)


def _equal(a: Dim, b: Dim) -> bool:
    """Whether two sizes are provably equal (two ints, or PrimExprs TVM can prove equal)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return sym.Analyzer().can_prove_equal(_as_expr(a), _as_expr(b))


def _same_shape(a: Sequence[Dim], b: Sequence[Dim]) -> bool:
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))


def _is_size(value: object) -> bool:
    """An int (not a bool) or an integer PrimExpr such as `x.size(0)`."""
    if isinstance(value, tirx.Expr):
        return not is_tensor(value) and "int" in str(getattr(value.ty, "dtype", ""))
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _sizes(ctx: NodeContext, sizes: tuple, parameter: str) -> list[Dim]:
    """`*sizes` as given to view/reshape/expand: ints or PrimExprs, or one sequence of them."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = tuple(sizes[0])
    if not all(_is_size(s) for s in sizes):
        raise ctx.unsupported(parameter, f"sizes must be integers, got {sizes!r}")
    return [int(s) if isinstance(s, numbers.Integral) else s for s in sizes]


def _infer_shape(ctx: NodeContext, shape: Sequence[Dim], requested: Sequence[Dim], parameter: str) -> list[Dim]:
    """`requested` with its one -1 (if any) replaced by the size that keeps the element count of `shape`.

    Refuses sizes below -1, two -1s and counts that differ (provably, for symbolic sizes).
    """
    given = [_as_dim(_as_expr(d)) if not isinstance(d, int) else d for d in requested]
    if any(isinstance(d, int) and d < -1 for d in given):
        raise ctx.shape_error(f"invalid shape dimension in {list(requested)}", parameter)
    unknown = [i for i, d in enumerate(given) if isinstance(d, int) and d == -1]
    if len(unknown) > 1:
        raise ctx.shape_error(f"only one dimension can be inferred, got {list(requested)}", parameter)
    total = _product(shape)
    known = _product([d for i, d in enumerate(given) if i not in unknown])
    if unknown:
        if isinstance(known, int) and known == 0:
            raise ctx.shape_error(f"cannot infer -1 in {list(requested)}: the other sizes multiply to 0", parameter)
        inferred = _as_dim(tirx.floordiv(_as_expr(total), _as_expr(known)))
        given[unknown[0]] = inferred
        known = _product(given)
    if not _equal(known, total):
        raise ctx.shape_error(
            f"shape {_describe(requested)} is invalid for an input of shape {_describe(shape)} "
            f"({total} elements)",
            parameter,
        )
    return given


def _describe(dims: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _emit_reshape(ctx: NodeContext, input: relax.Expr, new_shape: Sequence[Dim]) -> relax.Expr:
    """`input` reshaped to new_shape; no kernel when the shape does not change."""
    if _same_shape(ctx.shape(input), new_shape):
        return input
    return ctx.emit_te(kernels.reshape, input, new_shape=list(new_shape))


def _int(ctx: NodeContext, value: object, parameter: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ctx.unsupported(parameter, f"must be an int, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- view, reshape, flatten, unflatten


@register_converter("view", aten.view.default, aten._unsafe_view.default, any_dtype=("input",))
def view(ctx, input, *shape):
    if len(shape) == 1 and isinstance(shape[0], torch.dtype):
        raise ctx.unsupported("dtype", f"viewing the bytes as {shape[0]} is not supported")
    sizes = _sizes(ctx, shape, "shape")
    return _emit_reshape(ctx, input, _infer_shape(ctx, ctx.shape(input), sizes, "shape"))


@register_converter("reshape", any_dtype=("input",))
def reshape_method(ctx, input, *shape):
    sizes = _sizes(ctx, shape, "shape")
    return _emit_reshape(ctx, input, _infer_shape(ctx, ctx.shape(input), sizes, "shape"))


@register_converter(torch.reshape, aten.reshape.default, any_dtype=("input",))
def reshape(ctx, input, shape):
    sizes = _sizes(ctx, (shape,), "shape")
    return _emit_reshape(ctx, input, _infer_shape(ctx, ctx.shape(input), sizes, "shape"))


@register_converter("view_as", "reshape_as", any_dtype=("input", "other"))
def view_as(ctx, input, other):
    if not is_tensor(other):
        raise ctx.unsupported("other", f"must be a tensor, got {type(other).__name__}")
    return _emit_reshape(ctx, input, _infer_shape(ctx, ctx.shape(input), ctx.shape(other), "other"))


def _flatten(ctx: NodeContext, input: relax.Expr, start_dim: object, end_dim: object) -> relax.Expr:
    rank = len(ctx.shape(input))
    start = normalize_dim(ctx, _int(ctx, start_dim, "start_dim"), rank, "start_dim")
    end = normalize_dim(ctx, _int(ctx, end_dim, "end_dim"), rank, "end_dim")
    if start > end:
        raise ctx.shape_error(f"start_dim={start_dim} comes after end_dim={end_dim} for a rank-{rank} input", "start_dim")
    if rank == 0:  # PyTorch flattens a 0-d tensor to shape (1,)
        return ctx.emit_te(kernels.reshape, input, new_shape=[1])
    if start == end:
        return input
    return ctx.emit_te(kernels.flatten, input, start_dim=start, end_dim=end)


@register_converter(nn.Flatten, any_dtype=("input",))
def flatten_module(ctx, input):
    return _flatten(ctx, input, ctx.module.start_dim, ctx.module.end_dim)


@register_converter(torch.flatten, "flatten", aten.flatten.using_ints, any_dtype=("input",))
def flatten(ctx, input, start_dim=0, end_dim=-1):
    return _flatten(ctx, input, start_dim, end_dim)


def _unflatten(ctx: NodeContext, input: relax.Expr, dim: object, sizes: object, sizes_name: str) -> relax.Expr:
    shape = ctx.shape(input)
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), len(shape), "dim")
    if not isinstance(sizes, (tuple, list, torch.Size)) or not sizes:
        raise ctx.unsupported(sizes_name, f"must be a non-empty sequence of sizes, got {sizes!r}")
    inner = _infer_shape(ctx, [shape[axis]], _sizes(ctx, tuple(sizes), sizes_name), sizes_name)
    return _emit_reshape(ctx, input, [*shape[:axis], *inner, *shape[axis + 1 :]])


@register_converter(nn.Unflatten, any_dtype=("input",))
def unflatten_module(ctx, input):
    return _unflatten(ctx, input, ctx.module.dim, ctx.module.unflattened_size, "unflattened_size")


@register_converter(torch.unflatten, "unflatten", any_dtype=("input",))
def unflatten(ctx, input, dim, sizes):
    return _unflatten(ctx, input, dim, sizes, "sizes")


# ---------------------------------------------------------------- sizes, rank, attributes, getitem


@register_converter("size", aten.sym_size.int, any_dtype=("input",))
def size(ctx, input, dim=None):
    shape = ctx.shape(input)
    if dim is None:
        return tuple(shape)
    return shape[normalize_dim(ctx, _int(ctx, dim, "dim"), len(shape), "dim")]


@register_converter("dim", "ndimension", any_dtype=("input",))
def dim(ctx, input):
    return len(ctx.shape(input))


@register_converter(torch.numel, "numel", "nelement", any_dtype=("input",))
def numel(ctx, input):
    return _product(ctx.shape(input))


_TENSOR_ATTRIBUTES = ("shape", "ndim", "dtype")


@register_converter(builtins.getattr, any_dtype=("obj",))
def getattr_(ctx, obj, name):
    """`x.shape`, `x.ndim`, `x.dtype` (FX traces attribute reads on tensors as getattr calls)."""
    if not is_tensor(obj) or name not in _TENSOR_ATTRIBUTES:
        raise ctx.unsupported("name", f"reading attribute {name!r} is not supported (only {', '.join(_TENSOR_ATTRIBUTES)} of a tensor)")
    if name == "dtype":
        return getattr(torch, ctx.tensor_dtype(obj))
    shape = ctx.shape(obj)
    return tuple(shape) if name == "shape" else len(shape)


@register_converter(operator.getitem, any_dtype=("obj", "index"))
def getitem(ctx, obj, index):
    """`shape[0]`, `pieces[1]` on Python tuples; basic indexing (ints, slices, None, ...) on tensors,
    and one integer or boolean buffer as an index tensor (`table[self.index]`)."""
    if isinstance(obj, (tuple, list)):
        if not isinstance(index, (numbers.Integral, slice)) or isinstance(index, bool):
            raise ctx.unsupported("index", f"a tuple is indexed by an int or a slice, got {index!r}")
        try:
            return obj[index]
        except IndexError:
            raise ctx.shape_error(f"index {index} is out of range for a tuple of {len(obj)} items", "index") from None
    if not is_tensor(obj):
        raise ctx.unsupported("input", f"indexing a {type(obj).__name__} is not supported")
    return _index_tensor(ctx, obj, index)


def _index_tensor(ctx: NodeContext, input: relax.Expr, index: object) -> relax.Expr:
    """Basic indexing as `strided_slice`; one constant index tensor (a buffer) as a `take` after it;
    other advanced indexing (computed tensors, lists, bools) is refused."""
    shape = ctx.shape(input)
    items = list(index) if isinstance(index, tuple) else [index]
    tensor_items = [position for position, item in enumerate(items) if is_tensor(item)]
    if tensor_items:
        return _take(ctx, input, items, tensor_items)
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, slice) or _is_size(item)):
            raise ctx.unsupported(
                "index",
                f"advanced indexing with {_kind(item)} is not supported (only ints, slices, None and ... are)",
            )
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consumed > len(shape):
        raise ctx.shape_error(f"too many indices for a tensor of dimension {len(shape)}", "index")
    if items.count(Ellipsis) > 1:
        raise ctx.shape_error("an index can only have a single ellipsis ('...')", "index")
    fill = [slice(None)] * (len(shape) - consumed)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = fill
    else:
        items += fill
    begin, step, out_axes, out_shape = [], [], [], []
    axis = 0
    for item in items:
        if item is None:
            out_shape.append(1)
            continue
        size = shape[axis]
        if isinstance(item, slice):
            start, length, stride = _slice(ctx, item, size, axis)
            begin.append(start)
            step.append(stride)
            out_axes.append(len(out_shape))
            out_shape.append(length)
        else:
            begin.append(_position(ctx, item, size, axis))
            step.append(1)
            out_axes.append(None)
        axis += 1
    if _same_shape(out_shape, shape) and all(b == 0 and s == 1 for b, s in zip(begin, step)):
        return input
    return ctx.emit_te(kernels.strided_slice, input, begin=begin, step=step, out_axes=out_axes, out_shape=out_shape)


def _take(ctx: NodeContext, input: relax.Expr, items: list, tensor_items: list[int]) -> relax.Expr:
    """`x[..., idx, :]` with one constant integer (or 1-D boolean) index tensor: basic indexing of the
    other items, then a gather along the indexed axis, as PyTorch does with a single index tensor."""
    if any(_is_size(item) or isinstance(item, (list, tuple)) for item in items):
        raise ctx.unsupported(
            "index", "advanced indexing is supported with index tensors combined only with slices, None and ..."
        )
    if len(tensor_items) > 1 or ctx.source_name(items[tensor_items[0]]) is None:
        return _gather_computed(ctx, input, items, tensor_items)
    at = tensor_items[0]
    name, indices = _constant_index(ctx, items[at])
    rank = len(ctx.shape(input))
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consumed > rank:
        raise ctx.shape_error(f"too many indices for a tensor of dimension {rank}", "index")
    axis = sum(rank - consumed if item is Ellipsis else 1 for item in items[:at])  # in the sliced result
    input_axis = axis - sum(1 for item in items[:at] if item is None)
    size = ctx.shape(input)[input_axis]
    if not isinstance(size, int):
        raise ctx.unsupported("index", f"index tensor '{name}' on an axis of symbolic size {size} is not supported")
    indices = _checked_indices(ctx, name, indices, size, input_axis)
    sliced = _index_tensor(ctx, input, tuple(slice(None) if i == at else item for i, item in enumerate(items)))
    return ctx.emit_te(kernels.take, sliced, relax.const(indices, "int64"), axis=axis)


def _gather_computed(ctx: NodeContext, input: relax.Expr, items: list, tensor_items: list[int]) -> relax.Expr:
    """`x[ids]`, `x[:, rows, cols]` with integer index tensors known at run time: the basic items
    first, then PyTorch's advanced indexing (kernels/indexing.py) on the axes the tensors index."""
    for position in tensor_items:
        dtype = ctx.tensor_dtype(items[position])
        if dtype == "bool":
            raise ctx.unsupported("index", "a boolean mask computed at run time selects a data-dependent number of elements")
        if not dtype.startswith(("int", "uint")):
            raise ctx.unsupported("index", f"tensors used as indices must be long or int, got {dtype}")
    if any(item is None for item in items):
        raise ctx.unsupported("index", "None (a new axis) together with index tensors computed at run time is not supported")
    rank = len(ctx.shape(input))
    consumed = sum(1 for item in items if item is not Ellipsis)
    if consumed > rank:
        raise ctx.shape_error(f"too many indices for a tensor of dimension {rank}", "index")
    sliced = _index_tensor(ctx, input, tuple(slice(None) if i in tensor_items else item for i, item in enumerate(items)))
    indices: list = []
    for position, item in enumerate(items):
        if item is Ellipsis:
            indices += [None] * (rank - consumed)
        else:
            indices.append(item if position in tensor_items else None)
    try:
        shape: tuple = ()
        for position in tensor_items:
            shape = elementwise.broadcast_shape(shape, ctx.shape(items[position]))
    except ValueError as error:
        raise ctx.shape_error(f"the index tensors do not broadcast: {error}", "index") from None
    return ctx.emit_te(indexing.advanced_index, sliced, indices)


def _constant_index(ctx: NodeContext, index: relax.Expr) -> tuple[str, np.ndarray]:
    """The name and values of an index tensor read from a buffer (integer and boolean buffers stay
    constants of their own dtype, so their values are known at import)."""
    name = ctx.source_name(index)
    values = ctx.constant(index)
    if name is None:
        raise ctx.unsupported(
            "index", "advanced indexing with a computed tensor is not supported (only with an integer or boolean buffer)"
        )
    if values is None or values.dtype.kind not in "biu":
        raise ctx.unsupported(
            "index", f"index tensor '{name}' has dtype torch.{ctx.tensor_dtype(index)}; tensors used as indices must be long, int or bool"
        )
    return name, values


def _checked_indices(ctx: NodeContext, name: str, indices: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Index values in [0, size) as int64: a 1-D boolean mask becomes its True positions, negative
    indices count from the end; an out-of-range index is PyTorch's run-time error, raised now."""
    if indices.dtype == bool:
        if indices.ndim != 1:
            raise ctx.unsupported("index", f"boolean index '{name}' of shape {list(indices.shape)} is not supported (only 1-D)")
        if len(indices) != size:
            raise ctx.shape_error(
                f"the shape of the mask '{name}' [{len(indices)}] does not match dimension {axis} of size {size}", "index"
            )
        indices = indices.nonzero()[0]
        if indices.size == 0:
            raise ctx.shape_error(f"boolean index '{name}' selects nothing (empty tensors are not supported)", "index")
    bad = indices[(indices < -size) | (indices >= size)]
    if bad.size:
        raise ctx.shape_error(f"index {int(bad.flat[0])} in '{name}' is out of bounds for dimension {axis} with size {size}", "index")
    if indices.size == 0:
        raise ctx.shape_error(f"index tensor '{name}' is empty (empty tensors are not supported)", "index")
    return indices.astype("int64") % size


def _kind(item: object) -> str:
    if isinstance(item, (list, tuple)):
        return f"a list {list(item)!r}"
    return f"{type(item).__name__} {item!r}"


def _position(ctx: NodeContext, index: object, size: Dim, axis: int) -> int:
    """An integer index into an axis of static `size`, negative counting from the end."""
    if not isinstance(index, numbers.Integral) or not isinstance(size, int):
        raise ctx.unsupported("index", f"integer index {index} on axis {axis} of symbolic size {size} is not supported")
    if not -size <= index < size:
        raise ctx.shape_error(f"index {index} is out of bounds for dimension {axis} with size {size}", "index")
    return int(index) % size


def _slice(ctx: NodeContext, item: slice, size: Dim, axis: int) -> tuple[Dim, Dim, int]:
    """(start, length, step) of `item` on an axis of `size`, bounds clamped as PyTorch does."""
    stride = 1 if item.step is None else item.step
    if not isinstance(stride, numbers.Integral) or isinstance(stride, bool) or stride <= 0:
        raise ctx.unsupported("index", f"slice step must be a positive int, got {item.step!r}")
    if not isinstance(size, int):
        if item.start in (None, 0) and item.stop is None and stride == 1:
            return 0, size, 1
        raise ctx.unsupported("index", f"slicing {item} on axis {axis} of symbolic size {size} is not supported (only ':')")
    for bound in (item.start, item.stop):
        if bound is not None and (not isinstance(bound, numbers.Integral) or isinstance(bound, bool)):
            raise ctx.unsupported("index", f"slice bounds must be ints, got {item}")
    start, stop, stride = slice(item.start, item.stop, int(stride)).indices(size)
    length = len(range(start, stop, stride))
    if length == 0:
        raise ctx.shape_error(f"slice {item} on axis {axis} of size {size} is empty (empty tensors are not supported)", "index")
    return start, length, stride


@register_converter(aten.slice.Tensor, any_dtype=("input",))
def slice_aten(ctx, input, dim=0, start=None, end=None, step=1):
    """ATen's `x[..., start:end:step]` on axis `dim`; bounds may be symbolic sizes (`x[:, :seq_len]`
    of a dynamic length), which torch.export has guarded to lie within the axis."""
    shape = ctx.shape(input)
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), len(shape), "dim")
    end = None if isinstance(end, int) and end >= 2**62 else end  # ATen's "to the end"
    if not any(isinstance(v, tirx.Expr) for v in (start, end, shape[axis])):
        return _index_tensor(ctx, input, (*[slice(None)] * axis, slice(start, end, step)))
    stride = _int(ctx, step, "step")
    begin = 0 if start is None else start
    if isinstance(begin, int) and begin < 0 or isinstance(end, int) and end < 0 or stride <= 0:
        raise ctx.unsupported("start", f"a slice of a symbolic size needs non-negative bounds and step, got "
                              f"{start}:{end}:{step}")
    stop = shape[axis] if end is None else end
    if isinstance(stop, int) and isinstance(shape[axis], int):
        stop = min(stop, shape[axis])
    length = _as_dim(tirx.floordiv(_as_expr(stop) - _as_expr(begin) + stride - 1, stride))
    if _equal(length, shape[axis]) and stride == 1:
        return input
    begins = [0] * len(shape)
    begins[axis] = begin
    steps = [1] * len(shape)
    steps[axis] = stride
    out_shape = list(shape)
    out_shape[axis] = length
    return ctx.emit_te(kernels.strided_slice, input, begin=begins, step=steps, out_axes=list(range(len(shape))),
                       out_shape=out_shape)


@register_converter(aten.select.int, any_dtype=("input",))
def select(ctx, input, dim, index):
    """ATen's `x[..., index]` on axis `dim` (the axis is dropped)."""
    rank = len(ctx.shape(input))
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), rank, "dim")
    return _index_tensor(ctx, input, (*[slice(None)] * axis, index))


# ---------------------------------------------------------------- transpose, permute


def _emit_permute(ctx: NodeContext, input: relax.Expr, axes: list[int]) -> relax.Expr:
    if axes == sorted(axes):
        return input
    return ctx.emit_te(kernels.permute, input, axes=axes)


@register_converter(
    torch.transpose, torch.swapaxes, torch.swapdims, "transpose", "swapaxes", "swapdims", aten.transpose.int, any_dtype=("input",)
)
def transpose(ctx, input, dim0, dim1):
    rank = len(ctx.shape(input))
    first = normalize_dim(ctx, _int(ctx, dim0, "dim0"), rank, "dim0")
    second = normalize_dim(ctx, _int(ctx, dim1, "dim1"), rank, "dim1")
    axes = list(range(rank))
    axes[first], axes[second] = second, first
    return _emit_permute(ctx, input, axes)


@register_converter("permute", any_dtype=("input",))
def permute_method(ctx, input, *dims):
    return permute(ctx, input, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)


@register_converter(torch.permute, aten.permute.default, any_dtype=("input",))
def permute(ctx, input, dims):
    rank = len(ctx.shape(input))
    if not isinstance(dims, (tuple, list)) or len(dims) != rank:
        raise ctx.shape_error(f"the number of dims does not match: input of rank {rank}, dims {dims!r}", "dims")
    axes = [normalize_dim(ctx, _int(ctx, d, "dims"), rank, "dims") for d in dims]
    if len(set(axes)) != rank:
        raise ctx.shape_error(f"repeated dim in {list(dims)}", "dims")
    return _emit_permute(ctx, input, axes)


@register_converter("contiguous", any_dtype=("input",))
def contiguous(ctx, input, memory_format=torch.contiguous_format):
    """The identity: memory layout does not change values, and Relax tensors are always dense."""
    return input


# ---------------------------------------------------------------- chunk, split, cat, stack


def _pieces(ctx: NodeContext, input: relax.Expr, axis: int, lengths: list[int]) -> tuple:
    """`input` cut along `axis` into consecutive pieces of `lengths`, as a Python tuple."""
    if len(lengths) == 1:
        return (input,)
    shape = list(ctx.shape(input))
    pieces = []
    start = 0
    for length in lengths:
        out_shape = shape[:axis] + [length] + shape[axis + 1 :]
        begin = [start if a == axis else 0 for a in range(len(shape))]
        pieces.append(ctx.emit_te(
            kernels.strided_slice, input,
            begin=begin, step=[1] * len(shape), out_axes=list(range(len(shape))), out_shape=out_shape,
        ))
        start += length
    return tuple(pieces)


def _static_axis(ctx: NodeContext, input: relax.Expr, dim: object) -> tuple[int, int]:
    """(axis, size) of `dim`, whose size must be static to cut it."""
    shape = ctx.shape(input)
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), len(shape), "dim")
    if not isinstance(shape[axis], int):
        raise ctx.unsupported("dim", f"cutting axis {axis} of symbolic size {shape[axis]} is not supported")
    return axis, shape[axis]


@register_converter(torch.chunk, "chunk", aten.chunk.default, any_dtype=("input",))
def chunk(ctx, input, chunks, dim=0):
    chunks = _int(ctx, chunks, "chunks")
    if chunks <= 0:
        raise ctx.shape_error(f"chunk expects `chunks` to be greater than 0, got {chunks}", "chunks")
    axis, size = _static_axis(ctx, input, dim)
    step = -(-size // chunks)
    return _pieces(ctx, input, axis, [min(step, size - start) for start in range(0, size, step)])


def _split(ctx: NodeContext, input: relax.Expr, split_size: object, dim: object, parameter: str) -> tuple:
    axis, size = _static_axis(ctx, input, dim)
    if isinstance(split_size, (tuple, list)):
        lengths = [_int(ctx, s, parameter) for s in split_size]
        if any(s <= 0 for s in lengths) or sum(lengths) != size:
            raise ctx.shape_error(
                f"split sizes {lengths} must be positive and sum to the size {size} of axis {axis}", parameter
            )
        return _pieces(ctx, input, axis, lengths)
    split_size = _int(ctx, split_size, parameter)
    if split_size <= 0:
        raise ctx.shape_error(f"split size must be positive, got {split_size}", parameter)
    return _pieces(ctx, input, axis, [min(split_size, size - start) for start in range(0, size, split_size)])


@register_converter(torch.split, aten.split.Tensor, aten.split_with_sizes.default, any_dtype=("tensor",))
def split(ctx, tensor, split_size_or_sections, dim=0):
    return _split(ctx, tensor, split_size_or_sections, dim, "split_size_or_sections")


@register_converter("split", any_dtype=("input",))
def split_method(ctx, input, split_size, dim=0):
    return _split(ctx, input, split_size, dim, "split_size")


def _tensor_list(ctx: NodeContext, tensors: object) -> list[relax.Expr]:
    if not isinstance(tensors, (tuple, list)) or not tensors or not all(is_tensor(t) for t in tensors):
        raise ctx.unsupported("tensors", f"must be a non-empty sequence of tensors, got {tensors!r}")
    return list(tensors)


@register_converter(torch.cat, torch.concat, torch.concatenate, aten.cat.default, any_dtype=("tensors",))
def cat(ctx, tensors, dim=0, axis=None, out=None):
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    tensors = _tensor_list(ctx, tensors)
    shapes = [ctx.shape(t) for t in tensors]
    rank = len(shapes[0])
    axis = normalize_dim(ctx, _int(ctx, dim if axis is None else axis, "dim"), rank, "dim")
    for k, shape in enumerate(shapes):
        if len(shape) != rank or not all(_equal(a, b) for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != axis):
            raise ctx.shape_error(
                f"tensor {k} has shape {_describe(shape)}, but the sizes of tensors must match except "
                f"in dimension {axis} (tensor 0 has shape {_describe(shapes[0])})",
                "tensors",
            )
    if len(tensors) == 1:
        return tensors[0]
    return ctx.emit_te(kernels.concatenate, _promoted(ctx, tensors), axis=axis)


@register_converter(torch.stack, aten.stack.default, any_dtype=("tensors",))
def stack(ctx, tensors, dim=0, out=None):
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    tensors = _tensor_list(ctx, tensors)
    shapes = [ctx.shape(t) for t in tensors]
    for k, shape in enumerate(shapes):
        if not _same_shape(shape, shapes[0]):
            raise ctx.shape_error(
                f"stack expects each tensor to be equal size, but tensor 0 has shape {_describe(shapes[0])} "
                f"and tensor {k} has shape {_describe(shape)}",
                "tensors",
            )
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), len(shapes[0]) + 1, "dim")
    return ctx.emit_te(kernels.stack, _promoted(ctx, tensors), axis=axis)


def _promoted(ctx: NodeContext, tensors: list[relax.Expr]) -> list[relax.Expr]:
    """The tensors converted to their common dtype, as torch.cat and torch.stack promote them."""
    dtype = torch.bool
    for tensor in tensors:
        dtype = torch.promote_types(dtype, dtypes.torch_dtype(dtypes.value_dtype(tensor)))
    return [convert(ctx, tensor, dtype) for tensor in tensors]


# ---------------------------------------------------------------- unsqueeze, squeeze, expand


@register_converter(torch.unsqueeze, "unsqueeze", aten.unsqueeze.default, any_dtype=("input",))
def unsqueeze(ctx, input, dim):
    axis = normalize_dim(ctx, _int(ctx, dim, "dim"), len(ctx.shape(input)) + 1, "dim")
    return ctx.emit_te(kernels.unsqueeze, input, axis=axis)


@register_converter(torch.squeeze, "squeeze", aten.squeeze.default, aten.squeeze.dim, aten.squeeze.dims, any_dtype=("input",))
def squeeze(ctx, input, dim=None):
    shape = ctx.shape(input)
    if dim is None:
        candidates = list(range(len(shape)))
    else:
        dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
        candidates = sorted({normalize_dim(ctx, _int(ctx, d, "dim"), len(shape), "dim") for d in dims})
    symbolic = [a for a in candidates if not isinstance(shape[a], int)]
    if symbolic:
        raise ctx.unsupported(
            "dim", f"squeezing axis {symbolic[0]} of symbolic size {shape[symbolic[0]]}: whether it is 1 is known only at run time"
        )
    axes = [a for a in candidates if shape[a] == 1]
    if not axes:
        return input
    return ctx.emit_te(kernels.squeeze, input, axes=axes)


def _expand(ctx: NodeContext, input: relax.Expr, sizes: list[Dim], parameter: str) -> relax.Expr:
    shape = ctx.shape(input)
    offset = len(sizes) - len(shape)
    if offset < 0:
        raise ctx.shape_error(
            f"the number of sizes provided ({len(sizes)}) must be at least the number of dimensions ({len(shape)})", parameter
        )
    out_shape = []
    for i, size in enumerate(sizes):
        existing = shape[i - offset] if i >= offset else None
        if isinstance(size, int) and size == -1:
            if existing is None:
                raise ctx.shape_error(f"-1 is not allowed for the new leading dimension {i}", parameter)
            out_shape.append(existing)
        elif isinstance(size, int) and size <= 0:
            raise ctx.shape_error(f"invalid size {size} at dimension {i}", parameter)
        elif existing is None or _equal(existing, size) or (isinstance(existing, int) and existing == 1):
            out_shape.append(size)
        else:
            raise ctx.shape_error(
                f"the expanded size ({size}) must match the existing size ({existing}) at non-singleton dimension {i}",
                parameter,
            )
    if _same_shape(out_shape, shape):
        return input
    return ctx.emit_te(kernels.broadcast_to, input, shape=out_shape)


@register_converter("expand", aten.expand.default, any_dtype=("input",))
def expand(ctx, input, *sizes, implicit=False):
    return _expand(ctx, input, _sizes(ctx, sizes, "size"), "size")


@register_converter("expand_as", any_dtype=("input", "other"))
def expand_as(ctx, input, other):
    if not is_tensor(other):
        raise ctx.unsupported("other", f"must be a tensor, got {type(other).__name__}")
    return _expand(ctx, input, list(ctx.shape(other)), "other")


# ---------------------------------------------------------------- size arithmetic and checks


def _check_sizes(ctx: NodeContext, *operands: object) -> None:
    """Operands of size arithmetic are ints or integer PrimExprs; tensors are refused."""
    for name, value in zip(("input", "other"), operands):
        if not _is_size(value):
            what = "a tensor" if is_tensor(value) else repr(value)
            raise ctx.unsupported(name, f"{target_name(ctx.target)} is only supported on sizes (ints), got {what}")


@register_converter(operator.floordiv, operator.mod)
def size_arithmetic(ctx, input, other):
    """`channels // groups`, `size % patch` on sizes: Python ints, or a PrimExpr for a symbolic size."""
    _check_sizes(ctx, input, other)
    if isinstance(other, int) and other == 0:
        raise ctx.shape_error(f"{target_name(ctx.target)} by zero", "other")
    if isinstance(input, int) and isinstance(other, int):
        return ctx.target(input, other)
    combine = tirx.floordiv if ctx.target is operator.floordiv else tirx.floormod
    return _as_dim(combine(_as_expr(input), _as_expr(other)))


_COMPARISONS = {operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=", operator.gt: ">", operator.ge: ">="}


def size_comparison(ctx: NodeContext, compare, input: object, other: object) -> bool:
    """`compare` (operator.lt, ...) of sizes (`x.dim() == 3`, `h == 224`) as a Python bool; a
    symbolic one must be provable either way. The comparison converters call it when neither
    operand is a tensor."""
    _check_sizes(ctx, input, other)
    if isinstance(input, int) and isinstance(other, int):
        return compare(input, other)
    condition = compare(_as_expr(input), _as_expr(other))
    analyzer = sym.Analyzer()
    if analyzer.can_prove(condition):
        return True
    if analyzer.can_prove(tirx.Not(condition)):
        return False
    symbol = _COMPARISONS[compare]
    raise ctx.unsupported("input", f"whether {input} {symbol} {other} holds is known only at run time")


@register_converter(torch._assert)
def assert_(ctx, condition, message):
    """`torch._assert(cond, msg)`: checked now; a failing one is the model's own error, raised at import."""
    if condition is not True and condition is not False:
        raise ctx.unsupported("condition", f"must be decidable at import time, got {condition!r}")
    if not condition:
        raise ctx.shape_error(f"the model's assertion failed: {message}", "condition")
