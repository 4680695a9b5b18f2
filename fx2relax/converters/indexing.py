"""Converters for indexing: operator.getitem (picking from Python tuples such as a shape or the
pieces of a chunk; basic tensor indexing with ints, slices, None and ... as a strided slice; advanced
indexing by constant lists and buffers checked at import, by tensors computed at run time), ATen's
slice/select/index, embeddings (nn.Embedding, F.embedding) and gather.

Index values computed at run time are known only then; the kernels never read out of bounds and
give NaN where a float result's index was out of range (PyTorch raises there), see kernels/indexing.py."""

from __future__ import annotations

import numbers
import operator
import reprlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tvm import relax, tirx

from .. import dtypes, symbolic
from ..importer import Dim, EmptyTensor, NodeContext, is_tensor
from ..kernels import elementwise
from ..kernels import indexing as indexing_kernels
from ..kernels import shape as kernels
from ..registry import register_converter
from .common import NotComputed, int_argument, is_size, normalize_dim

aten = torch.ops.aten


@register_converter(operator.getitem, any_dtype=("obj", "index"))
def getitem(ctx, obj, index):
    """`shape[0]`, `pieces[1]` on Python tuples; on tensors basic indexing (ints, slices, None, ...)
    and advanced indexing by lists of ints or bools, buffers (`table[self.index]`) and integer tensors."""
    if isinstance(obj, (tuple, list)):
        if not isinstance(index, (numbers.Integral, slice)) or isinstance(index, bool):
            raise ctx.unsupported("index", f"a tuple is indexed by an int or a slice, got {index!r}")
        try:
            item = obj[index]
        except IndexError:
            raise ctx.shape_error(f"index {index} is out of range for a tuple of {len(obj)} items", "index") from None
        for picked in item if isinstance(index, slice) else [item]:
            if isinstance(picked, NotComputed):
                raise ctx.unsupported("index", f"{picked.what} is not computed by fx2relax (only the op's main result is)")
        return item
    if not is_tensor(obj):
        raise ctx.unsupported("input", f"indexing a {type(obj).__name__} is not supported")
    if isinstance(index, list) and not all(isinstance(item, numbers.Integral) for item in index):
        raise ctx.unsupported(  # PyTorch reads such a list as a tuple of indices, a deprecated form
            "index", f"a list of indices {reprlib.repr(index)} is ambiguous; index with a tuple or a flat list of ints"
        )
    return _index_tensor(ctx, obj, index)


def _index_tensor(ctx: NodeContext, input: relax.Expr, index: object) -> relax.Expr:
    """Basic indexing (ints, slices, None, ...) as `strided_slice`; with index tensors or lists among
    the items, the basic items first and then the advanced ones (`_advanced`)."""
    shape = ctx.shape(input)
    items = [_as_int(ctx, item) for item in (index if isinstance(index, tuple) else [index])]
    advanced = [position for position, item in enumerate(items) if is_tensor(item) or isinstance(item, list)]
    if advanced:
        return _advanced(ctx, input, items, advanced)
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, slice) or is_size(item)):
            raise ctx.unsupported(
                "index",
                f"indexing with {type(item).__name__} {item!r} is not supported (only ints, slices, None, ..., "
                "lists and tensors are)",
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
    if symbolic.same_shape(out_shape, shape) and all(b == 0 and s == 1 for b, s in zip(begin, step)):
        return input
    if 0 in out_shape:
        return EmptyTensor(tuple(out_shape), ctx.tensor_dtype(input))
    return ctx.emit_te(kernels.strided_slice, input, begin=begin, step=step, out_axes=out_axes, out_shape=out_shape)


def _as_int(ctx: NodeContext, item: object) -> object:
    """A constant 0-d integer tensor as the int it holds: PyTorch indexes with it as with an int."""
    if is_tensor(item) and (value := ctx.constant(item)) is not None and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value)
    return item


def _advanced(ctx: NodeContext, input: relax.Expr, items: list, advanced: list[int]) -> relax.Expr:
    """`x[..., [0, 1, 8]]`, `x[0, idx, :, [1, -1]]`: PyTorch applies the ints, slices and None first
    (an int drops its axis, None adds one), then the index tensors and lists on the axes they sit on
    in that result: one keeps its place, several broadcast together and stay in place when adjacent,
    else move to the front (kernels/indexing.py). Constant indices (lists, buffers) are checked now;
    a single one is a `take` along its axis."""
    rank = len(ctx.shape(input))
    if items.count(Ellipsis) > 1:
        raise ctx.shape_error("an index can only have a single ellipsis ('...')", "index")
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consumed > rank:
        raise ctx.shape_error(f"too many indices for a tensor of dimension {rank}", "index")
    input_axis = sliced_axis = 0
    axes = {}  # item position -> (its axis in the input, its axis after the basic items)
    for position, item in enumerate(items):
        if item is Ellipsis:
            input_axis += rank - consumed
            sliced_axis += rank - consumed
        elif item is None:
            sliced_axis += 1
        elif is_size(item):
            input_axis += 1
        else:
            axes[position] = (input_axis, sliced_axis)
            input_axis += 1
            sliced_axis += 1
    if len(advanced) > 1 and any(is_tensor(items[position]) and not ctx.shape(items[position]) for position in advanced):
        raise ctx.unsupported(  # PyTorch selects with it first, by a position known only at run time
            "index", "a 0-d index tensor computed at run time together with other index tensors or lists is not supported"
        )
    sliced = _index_tensor(ctx, input, tuple(slice(None) if i in advanced else item for i, item in enumerate(items)))
    indices: dict[int, relax.Expr | np.ndarray] = {}
    for position in advanced:
        input_axis, sliced_axis = axes[position]
        indices[sliced_axis] = _index_values(ctx, items[position], ctx.shape(input)[input_axis], input_axis)
    if len(indices) == 1 and isinstance(values := next(iter(indices.values())), np.ndarray):
        return ctx.emit_te(kernels.take, sliced, relax.const(values, "int64"), axis=next(iter(indices)))
    try:
        shape: tuple = ()
        for values in indices.values():
            shape = elementwise.broadcast_shape(shape, values.shape if isinstance(values, np.ndarray) else ctx.shape(values))
    except ValueError as error:
        raise ctx.shape_error(f"the index tensors do not broadcast: {error}", "index") from None
    tensors = [relax.const(values, "int64") if isinstance(values, np.ndarray) else values for values in indices.values()]
    slots = dict(zip(indices, tensors))
    return ctx.emit_te(indexing_kernels.advanced_index, sliced, [slots.get(axis) for axis in range(max(slots) + 1)])


def _index_values(ctx: NodeContext, item: object, size: Dim, axis: int) -> relax.Expr | np.ndarray:
    """One advanced index on input axis `axis` of `size`: a constant (list, buffer) as its checked
    positions in [0, size); an integer tensor computed at run time as it is."""
    if isinstance(item, list):
        label, values = reprlib.repr(item), _list_values(ctx, item)
    else:
        label, values = f"'{ctx.source_name(item)}'", ctx.constant(item)
        if values is None:
            dtype = ctx.tensor_dtype(item)
            if dtype == "bool":
                raise ctx.unsupported("index", "a boolean mask computed at run time selects a data-dependent number of elements")
            if not dtype.startswith(("int", "uint")):
                raise ctx.unsupported("index", f"tensors used as indices must be long or int, got {dtype}")
            return item
        if values.dtype.kind not in "biu":
            raise ctx.unsupported(
                "index", f"index tensor {label} has dtype torch.{ctx.tensor_dtype(item)}; tensors used as indices must be long, int or bool"
            )
    if not isinstance(size, int):
        raise ctx.unsupported("index", f"index {label} on an axis of symbolic size {size} is not supported")
    return _checked_indices(ctx, label, values, size, axis)


def _list_values(ctx: NodeContext, item: list) -> np.ndarray:
    """A (nested) list of ints, or of bools (a mask), as an array; other lists are refused."""
    leaves = list(_leaves(item))
    label = reprlib.repr(item)
    if not leaves:
        raise ctx.shape_error(f"index {label} is empty (empty tensors are not supported)", "index")
    kinds = {isinstance(leaf, bool) if isinstance(leaf, numbers.Integral) else None for leaf in leaves}
    if None in kinds or len(kinds) > 1:
        raise ctx.unsupported("index", f"a list used as an index must hold only ints or only bools, got {label}")
    try:
        return np.array(item, dtype=bool if True in kinds else np.int64)
    except ValueError:
        raise ctx.unsupported("index", f"a nested list used as an index must be rectangular, got {label}") from None


def _leaves(item: object):
    """The non-list entries of a nested list."""
    for entry in item:
        if isinstance(entry, list):
            yield from _leaves(entry)
        else:
            yield entry


def _checked_indices(ctx: NodeContext, label: str, indices: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Index values in [0, size) as int64: a 1-D boolean mask becomes its True positions, negative
    indices count from the end; an out-of-range index is PyTorch's run-time error, raised now."""
    if indices.dtype == bool:
        if indices.ndim != 1:
            raise ctx.unsupported("index", f"boolean index {label} of shape {list(indices.shape)} is not supported (only 1-D)")
        if len(indices) != size:
            raise ctx.shape_error(
                f"the shape of the mask {label} [{len(indices)}] does not match dimension {axis} of size {size}", "index"
            )
        indices = indices.nonzero()[0]
        if indices.size == 0:
            raise ctx.shape_error(f"boolean index {label} selects nothing (empty tensors are not supported)", "index")
    bad = indices[(indices < -size) | (indices >= size)]
    if bad.size:
        raise ctx.shape_error(f"index {int(bad.flat[0])} in {label} is out of bounds for dimension {axis} with size {size}", "index")
    if indices.size == 0:
        raise ctx.shape_error(f"index tensor {label} is empty (empty tensors are not supported)", "index")
    return indices.astype("int64") % size


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
    return start, len(range(start, stop, stride)), stride


@register_converter(aten.slice.Tensor, any_dtype=("input",))
def slice_aten(ctx, input, dim=0, start=None, end=None, step=1):
    """ATen's `x[..., start:end:step]` on axis `dim`; bounds may be symbolic sizes (`x[:, :seq_len]`
    of a dynamic length), which torch.export has guarded to lie within the axis."""
    shape = ctx.shape(input)
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shape), "dim")
    end = None if isinstance(end, int) and end >= 2**62 else end  # ATen's "to the end"
    if not any(isinstance(v, tirx.Expr) for v in (start, end, shape[axis])):
        return _index_tensor(ctx, input, (*[slice(None)] * axis, slice(start, end, step)))
    stride = int_argument(ctx, step, "step")
    begin = 0 if start is None else start
    if isinstance(begin, int) and begin < 0 or isinstance(end, int) and end < 0 or stride <= 0:
        raise ctx.unsupported("start", f"a slice of a symbolic size needs non-negative bounds and step, got "
                              f"{start}:{end}:{step}")
    stop = shape[axis] if end is None else end
    if isinstance(stop, int) and isinstance(shape[axis], int):
        stop = min(stop, shape[axis])
    length = symbolic.as_dim(tirx.floordiv(symbolic.as_expr(stop) - symbolic.as_expr(begin) + stride - 1, stride))
    if symbolic.equal(length, shape[axis]) and stride == 1:
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
    """ATen's `x[..., index]` on axis `dim` (the axis is dropped). On an axis of symbolic size (a
    dynamic sequence length) the index is one torch.export has guarded to lie within it."""
    shape = ctx.shape(input)
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shape), "dim")
    if isinstance(shape[axis], int):
        return _index_tensor(ctx, input, (*[slice(None)] * axis, index))
    position = int_argument(ctx, index, "index")
    begin = [0] * len(shape)
    begin[axis] = position if position >= 0 else symbolic.as_dim(shape[axis] + position)
    out_axes = [a - (a > axis) if a != axis else None for a in range(len(shape))]
    out_shape = [d for a, d in enumerate(shape) if a != axis]
    return ctx.emit_te(kernels.strided_slice, input, begin=begin, step=[1] * len(shape), out_axes=out_axes,
                       out_shape=out_shape)


def _indices(ctx: NodeContext, value: object, parameter: str) -> None:
    """Refuse an index argument that is not an integer tensor."""
    if not is_tensor(value):
        raise ctx.unsupported(parameter, f"expected an integer tensor, got {type(value).__name__} {value!r}")
    dtype = dtypes.value_dtype(value)
    if dtypes.is_floating(dtype) or dtype == "bool":
        raise ctx.unsupported(parameter, f"tensors used as indices must be long or int, got {dtype}")


def _embedding(ctx: NodeContext, input, weight, max_norm=None):
    _indices(ctx, input, "input")
    if not is_tensor(weight) or len(ctx.shape(weight)) != 2:
        raise ctx.shape_error(f"the weight must be a 2-D tensor, got {weight!r}", "weight")
    if max_norm is not None:
        raise ctx.unsupported("max_norm", "max_norm renormalizes the weight in place at every call; it is not supported")
    return ctx.emit_te(indexing_kernels.embedding, weight, input)


@register_converter(nn.Embedding, any_dtype=("input",))
def embedding_module(ctx, input):
    """nn.Embedding (padding_idx and scale_grad_by_freq only change gradients)."""
    if ctx.module.sparse is not False and ctx.module.training:
        raise ctx.unsupported("sparse", "sparse gradients need training mode; call model.eval() first")
    return _embedding(ctx, input, ctx.module_param("weight"), ctx.module.max_norm)


@register_converter(F.embedding, any_dtype=("input", "weight"))
def embedding_function(ctx, input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                       sparse=False):
    return _embedding(ctx, input, weight, max_norm)


@register_converter(aten.embedding.default, any_dtype=("weight", "indices"))
def embedding_aten(ctx, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """ATen's embedding(weight, indices, ...): the weight comes first."""
    return _embedding(ctx, indices, weight)


@register_converter(torch.gather, "gather", aten.gather.default, any_dtype=("input", "index"))
def gather(ctx, input, dim, index, *, sparse_grad=False, out=None):
    """out[i][j] = input[index[i][j]][j] for dim=0 (and so on): index has input's rank and no larger sizes
    on the other axes."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    _indices(ctx, index, "index")
    shape, index_shape = ctx.shape(input), ctx.shape(index)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise ctx.unsupported("dim", f"must be an int, got {dim!r}")
    axis = normalize_dim(ctx, int(dim), len(shape), "dim")
    if len(index_shape) != len(shape):
        raise ctx.shape_error(f"index (shape {index_shape}) must have as many dimensions as input (shape {shape})", "index")
    for a, (size, limit) in enumerate(zip(index_shape, shape)):
        if a != axis and isinstance(size, int) and isinstance(limit, int) and size > limit:
            raise ctx.shape_error(f"index size {size} exceeds the input's size {limit} at dimension {a}", "index")
    return ctx.emit_te(indexing_kernels.gather, input, axis=axis, index=index)


@register_converter(aten.index.Tensor, any_dtype=("input", "indices"))
def index(ctx, input, indices):
    """input[indices]: a list with one integer tensor or None (a full slice) per leading axis."""
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    indices = list(indices)
    if len(indices) > len(ctx.shape(input)):
        raise ctx.shape_error(f"too many indices ({len(indices)}) for a tensor of dimension {len(ctx.shape(input))}", "indices")
    if all(item is None for item in indices):
        return input
    for item in indices:
        if item is not None:
            _indices(ctx, item, "indices")
    try:
        shape: tuple = ()
        for item in indices:
            if item is not None:
                shape = elementwise.broadcast_shape(shape, ctx.shape(item))
    except ValueError as error:
        raise ctx.shape_error(f"the index tensors do not broadcast: {error}", "indices") from None
    return ctx.emit_te(indexing_kernels.advanced_index, input, indices)
