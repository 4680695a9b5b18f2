"""Converter for indexing (operator.getitem): picking from Python tuples (a shape, the pieces of a
chunk), basic tensor indexing (ints, slices, None, ...) as a strided slice, and one integer or
boolean buffer as an index tensor (a gather)."""

from __future__ import annotations

import numbers
import operator

import numpy as np
from tvm import relax

from .. import symbolic
from ..importer import Dim, NodeContext, is_tensor
from ..kernels import shape as kernels
from ..registry import register_converter
from .common import is_size


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
        if not (item is None or item is Ellipsis or isinstance(item, slice) or is_size(item)):
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
    if symbolic.same_shape(out_shape, shape) and all(b == 0 and s == 1 for b, s in zip(begin, step)):
        return input
    return ctx.emit_te(kernels.strided_slice, input, begin=begin, step=step, out_axes=out_axes, out_shape=out_shape)


def _take(ctx: NodeContext, input: relax.Expr, items: list, tensor_items: list[int]) -> relax.Expr:
    """`x[..., idx, :]` with one constant integer (or 1-D boolean) index tensor: basic indexing of the
    other items, then a gather along the indexed axis, as PyTorch does with a single index tensor."""
    if len(tensor_items) > 1 or any(is_size(item) or isinstance(item, (list, tuple)) for item in items):
        raise ctx.unsupported(
            "index", "advanced indexing is supported with one index tensor combined only with slices, None and ..."
        )
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
