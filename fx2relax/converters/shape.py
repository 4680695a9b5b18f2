"""Converters for shapes and layouts: view/reshape/flatten/unflatten, transpose/permute,
chunk/split, cat/stack, unsqueeze/squeeze, expand and dtype no-ops.

Sizes are Python ints, or PrimExprs for symbolic dimensions, so `x.view(x.size(0), -1)` keeps a
symbolic batch. Python tuples (the pieces of a chunk) stay Python tuples; operator.getitem
(indexing.py) picks from them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn
from tvm import relax, tirx

from .. import dtypes, symbolic
from ..importer import Dim, EmptyTensor, NodeContext, is_tensor
from ..kernels import shape as kernels
from ..registry import register_converter
from .cast import convert
from .common import int_argument, is_size, normalize_dim

aten = torch.ops.aten


def _sizes(ctx: NodeContext, sizes: tuple, parameter: str) -> list[Dim]:
    """`*sizes` as given to view/reshape/expand: ints or PrimExprs, or one sequence of them."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = tuple(sizes[0])
    if not all(is_size(s) for s in sizes):
        raise ctx.unsupported(parameter, f"sizes must be integers, got {sizes!r}")
    return [int(s) if isinstance(s, numbers.Integral) else s for s in sizes]


def _infer_shape(ctx: NodeContext, shape: Sequence[Dim], requested: Sequence[Dim], parameter: str) -> list[Dim]:
    """`requested` with its one -1 (if any) replaced by the size that keeps the element count of `shape`.

    Refuses sizes below -1, two -1s and counts that differ (provably, for symbolic sizes).
    """
    given = [symbolic.as_dim(symbolic.as_expr(d)) if not isinstance(d, int) else d for d in requested]
    if any(isinstance(d, int) and d < -1 for d in given):
        raise ctx.shape_error(f"invalid shape dimension in {list(requested)}", parameter)
    unknown = [i for i, d in enumerate(given) if isinstance(d, int) and d == -1]
    if len(unknown) > 1:
        raise ctx.shape_error(f"only one dimension can be inferred, got {list(requested)}", parameter)
    total = symbolic.product(shape)
    known = symbolic.product([d for i, d in enumerate(given) if i not in unknown])
    if unknown:
        if isinstance(known, int) and known == 0:
            raise ctx.shape_error(f"cannot infer -1 in {list(requested)}: the other sizes multiply to 0", parameter)
        inferred = symbolic.as_dim(tirx.floordiv(symbolic.as_expr(total), symbolic.as_expr(known)))
        given[unknown[0]] = inferred
        known = symbolic.product(given)
    if not symbolic.equal(known, total):
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
    if symbolic.same_shape(ctx.shape(input), new_shape):
        return input
    return ctx.emit_te(kernels.reshape, input, new_shape=list(new_shape))


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
    start = normalize_dim(ctx, int_argument(ctx, start_dim, "start_dim"), rank, "start_dim")
    end = normalize_dim(ctx, int_argument(ctx, end_dim, "end_dim"), rank, "end_dim")
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
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shape), "dim")
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


# ---------------------------------------------------------------- transpose, permute


def _emit_permute(ctx: NodeContext, input: relax.Expr, axes: list[int]) -> relax.Expr:
    if axes == sorted(axes):
        return input
    return ctx.emit_te(kernels.permute, input, axes=axes)


@register_converter(
    torch.transpose, torch.swapaxes, torch.swapdims, "transpose", "swapaxes", "swapdims", aten.transpose.int,
    any_dtype=("input",),
)
def transpose(ctx, input, dim0, dim1):
    rank = len(ctx.shape(input))
    first = normalize_dim(ctx, int_argument(ctx, dim0, "dim0"), rank, "dim0")
    second = normalize_dim(ctx, int_argument(ctx, dim1, "dim1"), rank, "dim1")
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
    axes = [normalize_dim(ctx, int_argument(ctx, d, "dims"), rank, "dims") for d in dims]
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
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shape), "dim")
    if not isinstance(shape[axis], int):
        raise ctx.unsupported("dim", f"cutting axis {axis} of symbolic size {shape[axis]} is not supported")
    return axis, shape[axis]


@register_converter(torch.chunk, "chunk", aten.chunk.default, any_dtype=("input",))
def chunk(ctx, input, chunks, dim=0):
    chunks = int_argument(ctx, chunks, "chunks")
    if chunks <= 0:
        raise ctx.shape_error(f"chunk expects `chunks` to be greater than 0, got {chunks}", "chunks")
    axis, size = _static_axis(ctx, input, dim)
    step = -(-size // chunks)
    return _pieces(ctx, input, axis, [min(step, size - start) for start in range(0, size, step)])


def _split(ctx: NodeContext, input: relax.Expr, split_size: object, dim: object, parameter: str) -> tuple:
    axis, size = _static_axis(ctx, input, dim)
    if isinstance(split_size, (tuple, list)):
        lengths = [int_argument(ctx, s, parameter) for s in split_size]
        if any(s <= 0 for s in lengths) or sum(lengths) != size:
            raise ctx.shape_error(
                f"split sizes {lengths} must be positive and sum to the size {size} of axis {axis}", parameter
            )
        return _pieces(ctx, input, axis, lengths)
    split_size = int_argument(ctx, split_size, parameter)
    if split_size <= 0:
        raise ctx.shape_error(f"split size must be positive, got {split_size}", parameter)
    return _pieces(ctx, input, axis, [min(split_size, size - start) for start in range(0, size, split_size)])


@register_converter(torch.split, aten.split.Tensor, aten.split_with_sizes.default, any_dtype=("tensor",))
def split(ctx, tensor, split_size_or_sections, dim=0):
    return _split(ctx, tensor, split_size_or_sections, dim, "split_size_or_sections")


@register_converter("split", any_dtype=("input",))
def split_method(ctx, input, split_size, dim=0):
    return _split(ctx, input, split_size, dim, "split_size")


def _tensor_list(ctx: NodeContext, tensors: object, empty: bool = False) -> list[relax.Expr]:
    allowed = (lambda t: is_tensor(t) or isinstance(t, EmptyTensor)) if empty else is_tensor
    if not isinstance(tensors, (tuple, list)) or not tensors or not all(allowed(t) for t in tensors):
        raise ctx.unsupported("tensors", f"must be a non-empty sequence of tensors, got {tensors!r}")
    return list(tensors)


@register_converter(torch.cat, torch.concat, torch.concatenate, aten.cat.default, any_dtype=("tensors",),
                    empty=("tensors",))
def cat(ctx, tensors, dim=0, axis=None, out=None):
    """Concatenation; an empty operand (its shape checked as PyTorch does, a 1-D (0,) one skipped
    whatever the shapes) contributes nothing."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    tensors = _tensor_list(ctx, tensors, empty=True)
    tensors = [t for t in tensors if not (isinstance(t, EmptyTensor) and t.shape == (0,))]
    if not tensors:
        raise ctx.shape_error("every operand is empty (empty tensors are supported only next to others)", "tensors")
    shapes = [t.shape if isinstance(t, EmptyTensor) else ctx.shape(t) for t in tensors]
    rank = len(shapes[0])
    axis = normalize_dim(ctx, int_argument(ctx, dim if axis is None else axis, "dim"), rank, "dim")
    for k, shape in enumerate(shapes):
        if len(shape) != rank or not all(symbolic.equal(a, b) for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != axis):
            raise ctx.shape_error(
                f"tensor {k} has shape {_describe(shape)}, but the sizes of tensors must match except "
                f"in dimension {axis} (tensor 0 has shape {_describe(shapes[0])})",
                "tensors",
            )
    empties = [t for t in tensors if isinstance(t, EmptyTensor)]
    tensors = [t for t in tensors if not isinstance(t, EmptyTensor)]
    if not tensors:
        raise ctx.shape_error("every operand is empty (empty tensors are supported only next to others)", "tensors")
    if any(t.dtype != ctx.tensor_dtype(tensors[0]) for t in empties):
        raise ctx.unsupported("tensors", "an empty operand of another dtype than the others (it would take part in "
                              "type promotion) is not supported")
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
        if not symbolic.same_shape(shape, shapes[0]):
            raise ctx.shape_error(
                f"stack expects each tensor to be equal size, but tensor 0 has shape {_describe(shapes[0])} "
                f"and tensor {k} has shape {_describe(shape)}",
                "tensors",
            )
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(shapes[0]) + 1, "dim")
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
    axis = normalize_dim(ctx, int_argument(ctx, dim, "dim"), len(ctx.shape(input)) + 1, "dim")
    return ctx.emit_te(kernels.unsqueeze, input, axis=axis)


@register_converter(torch.squeeze, "squeeze", aten.squeeze.default, aten.squeeze.dim, aten.squeeze.dims, any_dtype=("input",))
def squeeze(ctx, input, dim=None):
    shape = ctx.shape(input)
    if dim is None:
        candidates = list(range(len(shape)))
    else:
        dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
        candidates = sorted({normalize_dim(ctx, int_argument(ctx, d, "dim"), len(shape), "dim") for d in dims})
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
        elif existing is None or symbolic.equal(existing, size) or (isinstance(existing, int) and existing == 1):
            out_shape.append(size)
        else:
            raise ctx.shape_error(
                f"the expanded size ({size}) must match the existing size ({existing}) at non-singleton dimension {i}",
                parameter,
            )
    if symbolic.same_shape(out_shape, shape):
        return input
    return ctx.emit_te(kernels.broadcast_to, input, shape=out_shape)


@register_converter("expand", aten.expand.default, any_dtype=("input",))
def expand(ctx, input, *sizes, implicit=False):
    return _expand(ctx, input, _sizes(ctx, sizes, "size"), "size")


@register_converter(aten.copy.default, any_dtype=("input", "src"))
def copy_into(ctx, input, src, non_blocking=False):
    """`aten.copy(self, src)`, the functional form of `self.copy_(src)`: src broadcast to self's shape
    and converted to self's dtype (self's values are not read)."""
    if not is_tensor(input) or not is_tensor(src):
        raise ctx.unsupported("src", "copies a tensor into a tensor")
    value = _expand(ctx, src, list(ctx.shape(input)), "src")
    return convert(ctx, value, getattr(torch, dtypes.value_dtype(input)), "src")


@register_converter(aten.as_strided.default, any_dtype=("input",))
def as_strided(ctx, input, size, stride, storage_offset=None):
    """A strided view of the input's storage, exact where PyTorch's input is contiguous, so that its
    storage holds the input's row-major elements, and every position read lies inside them."""
    shape = ctx.shape(input)
    static = all(isinstance(d, int) for d in shape)
    traced = ctx.traced_tensor("input") if static else None
    if traced is None or not traced.is_contiguous():
        raise ctx.unsupported(
            "input",
            "as_strided reads PyTorch's memory layout, known here only for a contiguous input of static shape traced by torch.export",
        )
    for name, values in (("size", size), ("stride", stride)):
        if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) and v >= 0 for v in values):
            raise ctx.unsupported(name, f"must be a list of non-negative ints, got {values!r}")
    if len(size) != len(stride):
        raise ctx.shape_error(f"mismatch in length of strides ({len(stride)}) and shape ({len(size)})", "stride")
    base = int(traced.storage_offset())
    offset = base if storage_offset is None else storage_offset
    if not isinstance(offset, int) or offset < 0:
        raise ctx.unsupported("storage_offset", f"must be a non-negative int, got {storage_offset!r}")
    if 0 in size:
        raise ctx.unsupported("size", f"empty results are not supported, got size {list(size)}")
    last = offset - base + sum((n - 1) * step for n, step in zip(size, stride))
    if offset < base or last >= symbolic.product(shape):
        raise ctx.unsupported(
            "storage_offset",
            f"the view (size {list(size)}, stride {list(stride)}, offset {offset}) reads storage outside the input's "
            f"{symbolic.product(shape)} elements (which start at offset {base})",
        )
    return ctx.emit_te(kernels.as_strided, input, size=list(size), stride=list(stride), offset=offset - base)


@register_converter("expand_as", any_dtype=("input", "other"))
def expand_as(ctx, input, other):
    if not is_tensor(other):
        raise ctx.unsupported("other", f"must be a tensor, got {type(other).__name__}")
    return _expand(ctx, input, list(ctx.shape(other)), "other")
