"""Converters for reductions: sum, mean, amax and amin over one, several or all axes (torch. and
method forms), max/min in all their forms, argmax/argmin, vector norms (torch.norm, Tensor.norm,
torch.linalg.vector_norm), cumsum, any and all."""

import numbers

import torch

from .. import dtypes, symbolic
from ..importer import NodeContext, is_tensor
from ..kernels import reduction as kernels
from ..kernels.elementwise import cast
from ..kernels.normalization import vector_norm as vector_norm_kernel
from ..kernels.shape import reshape
from ..registry import register_converter
from .common import normalize_dim
from .comparison import maximum, minimum

aten = torch.ops.aten


def _axes(ctx: NodeContext, dim: object, rank: int) -> list[int]:
    """`dim` (an int, a sequence of ints, or None / empty for all axes) as sorted distinct axes."""
    if dim is None:
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not dims:  # PyTorch reduces over every axis for dim=[] too
        return list(range(rank))
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise ctx.unsupported("dim", f"must be an int or a sequence of ints, got {dim!r}")
    axes = [normalize_dim(ctx, d, rank, "dim") for d in dims]
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise ctx.shape_error(f"dim {repeated[0]} appears multiple times in the list of dims {dim!r}", "dim")
    return sorted(axes)


def _reduce(ctx: NodeContext, kernel, input, dim, keepdim, dtype, result: str):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    if dtype is not None:
        result = _dtype(ctx, dtype)
    axes = _axes(ctx, dim, len(ctx.shape(input)))
    return ctx.emit_te(kernel, input, axes=axes, keepdim=bool(keepdim), dtype=result)


def _dtype(ctx: NodeContext, dtype: object) -> str:
    if not isinstance(dtype, torch.dtype) or dtypes.dtype_name(dtype) not in dtypes.TENSOR_DTYPES:
        raise ctx.unsupported("dtype", f"must be one of {', '.join(dtypes.TENSOR_DTYPES)}, got {dtype!r}")
    return dtypes.dtype_name(dtype)


@register_converter(torch.sum, "sum", aten.sum.dim_IntList, aten.sum.default, any_dtype=("input",))
def reduce_sum(ctx, input, dim=None, keepdim=False, *, dtype=None):
    """The sum; integer and bool tensors sum to int64, as in PyTorch."""
    source = dtypes.value_dtype(input) if is_tensor(input) else ""
    result = source if dtypes.is_floating(source) else "int64"
    return _reduce(ctx, kernels.reduce_sum, input, dim, keepdim, dtype, result)


@register_converter(torch.mean, "mean", aten.mean.dim, aten.mean.default, any_dtype=("input",))
def reduce_mean(ctx, input, dim=None, keepdim=False, *, dtype=None):
    """The mean of a float tensor (PyTorch refuses integer ones without a float dtype)."""
    source = dtypes.value_dtype(input) if is_tensor(input) else ""
    result = dtypes.dtype_name(dtype) if isinstance(dtype, torch.dtype) else source
    if not dtypes.is_floating(result):
        raise ctx.unsupported("dtype", f"mean needs a floating input or dtype, got {result or type(input).__name__}")
    return _reduce(ctx, kernels.reduce_mean, input, dim, keepdim, dtype, result)


def _extreme(ctx: NodeContext, input, dim, keepdim, largest: bool):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    if dtypes.value_dtype(input) == "bool":
        raise ctx.unsupported("input", "amax/amin of a bool tensor is not supported")
    shape = ctx.shape(input)
    axes = _axes(ctx, dim, len(shape))
    empty = [a for a in axes if isinstance(shape[a], int) and shape[a] == 0]
    if empty:
        raise ctx.shape_error(f"cannot reduce over the zero-size dimension {empty[0]} (no identity)", "dim")
    return ctx.emit_te(kernels.reduce_extreme, input, axes=axes, keepdim=bool(keepdim), largest=largest)


@register_converter(torch.amax, "amax", aten.amax.default, any_dtype=("input",))
def amax(ctx, input, dim=(), keepdim=False, *, out=None):
    """The largest value over `dim` (all axes when empty); NaN propagates."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    return _extreme(ctx, input, dim, keepdim, largest=True)


@register_converter(torch.amin, "amin", aten.amin.default, any_dtype=("input",))
def amin(ctx, input, dim=(), keepdim=False, *, out=None):
    """The smallest value over `dim` (all axes when empty); NaN propagates."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    return _extreme(ctx, input, dim, keepdim, largest=False)


def _extreme_with_index(ctx: NodeContext, input, dim, keepdim, largest: bool):
    """(values, indices) of the largest (smallest) element along the int `dim`, as the named tuple
    PyTorch returns (`.values`, `.indices`, or unpacked)."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ctx.unsupported("dim", f"must be an int (or a tensor, for the element-wise form), got {dim!r}")
    shape = ctx.shape(input)
    if not shape:
        raise ctx.unsupported("input", "max/min along a dim of a 0-d tensor is not supported")
    values = _extreme(ctx, input, dim, keepdim, largest)
    axis = normalize_dim(ctx, dim, len(shape), "dim")
    indices = ctx.emit_te(kernels.arg_extreme, input, axis=axis, keepdim=bool(keepdim), largest=largest)
    result = torch.return_types.max if largest else torch.return_types.min
    return result((values, indices))


def _max_min(ctx: NodeContext, input, dim, keepdim, other, out, largest: bool):
    """torch.max / torch.min in their three forms: of the whole tensor, along `dim` with indices,
    and element-wise against a tensor (`other`, or a tensor passed as the second argument)."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    if is_tensor(dim) or other is not None:
        return (maximum if largest else minimum)(ctx, input, other if other is not None else dim)
    if dim is None:  # the whole tensor's (PyTorch takes no keepdim without a dim)
        return _extreme(ctx, input, None, False, largest)
    return _extreme_with_index(ctx, input, dim, keepdim, largest)


@register_converter(torch.max, "max", aten.max.default, aten.max.dim, any_dtype=("input", "dim", "other"))
def max_(ctx, input, dim=None, keepdim=False, *, other=None, out=None):
    """The largest element (NaN if any), `(values, indices)` along `dim`, or `maximum(input, other)`."""
    return _max_min(ctx, input, dim, keepdim, other, out, largest=True)


@register_converter(torch.min, "min", aten.min.default, aten.min.dim, any_dtype=("input", "dim", "other"))
def min_(ctx, input, dim=None, keepdim=False, *, other=None, out=None):
    """The smallest element (NaN if any), `(values, indices)` along `dim`, or `minimum(input, other)`."""
    return _max_min(ctx, input, dim, keepdim, other, out, largest=False)


@register_converter(torch.argmax, "argmax", aten.argmax.default, any_dtype=("input",))
def argmax(ctx, input, dim=None, keepdim=False):
    """The index of the largest element along `dim` (of the flattened tensor for None); first NaN,
    first of ties."""
    return _arg_extreme(ctx, input, dim, keepdim, largest=True)


@register_converter(torch.argmin, "argmin", aten.argmin.default, any_dtype=("input",))
def argmin(ctx, input, dim=None, keepdim=False):
    """The index of the smallest element along `dim` (of the flattened tensor for None)."""
    return _arg_extreme(ctx, input, dim, keepdim, largest=False)


def _arg_extreme(ctx: NodeContext, input, dim, keepdim, largest: bool):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    if dtypes.value_dtype(input) == "bool":
        raise ctx.unsupported("input", "argmax/argmin of a bool tensor is not supported")
    shape = ctx.shape(input)
    if dim is None:  # the flattened tensor's index; keepdim keeps every axis as size 1
        flat = ctx.emit_te(reshape, input, new_shape=[symbolic.product(shape)])
        index = ctx.emit_te(kernels.arg_extreme, flat, axis=0, keepdim=False, largest=largest)
        return ctx.emit_te(reshape, index, new_shape=[1] * len(shape)) if keepdim else index
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ctx.unsupported("dim", f"must be an int or None, got {dim!r}")
    if not shape:
        raise ctx.unsupported("input", "argmax/argmin along a dim of a 0-d tensor is not supported")
    axis = normalize_dim(ctx, dim, len(shape), "dim")
    return ctx.emit_te(kernels.arg_extreme, input, axis=axis, keepdim=bool(keepdim), largest=largest)


@register_converter(torch.cumsum, "cumsum", "cumsum_", aten.cumsum.default, any_dtype=("input",))
def cumsum(ctx, input, dim, *, dtype=None, out=None):
    """Running sum along `dim`; integer and bool tensors give int64, as in PyTorch."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    shape = ctx.shape(input)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ctx.unsupported("dim", f"must be an int, got {dim!r}")
    axis = normalize_dim(ctx, dim, len(shape), "dim")
    source = dtypes.value_dtype(input)
    result = _dtype(ctx, dtype) if dtype is not None else (source if dtypes.is_floating(source) else "int64")
    if len(shape) == 0:
        return ctx.emit_te(kernels.cumulative_sum, ctx.emit_te(reshape, input, new_shape=[1]), axis=0, dtype=result)
    return ctx.emit_te(kernels.cumulative_sum, input, axis=axis, dtype=result)


def _any_all(ctx: NodeContext, input, dim, keepdim, every: bool):
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    axes = _axes(ctx, dim, len(ctx.shape(input)))
    return ctx.emit_te(kernels.any_all, input, axes=axes, keepdim=bool(keepdim), every=every)


@register_converter(torch.any, "any", aten.any.default, aten.any.dim, aten.any.dims, any_dtype=("input",))
def any_(ctx, input, dim=None, keepdim=False, *, out=None):
    """Whether any element (over `dim`) is non-zero; bool."""
    return _any_all(ctx, input, dim, keepdim, every=False)


@register_converter(torch.all, "all", aten.all.default, aten.all.dim, aten.all.dims, any_dtype=("input",))
def all_(ctx, input, dim=None, keepdim=False, *, out=None):
    """Whether every element (over `dim`) is non-zero; bool."""
    return _any_all(ctx, input, dim, keepdim, every=True)


def _vector_norm(ctx: NodeContext, input, ord, dim, keepdim, dtype, order_parameter: str = "ord"):
    """The `ord`-norm of a float tensor over `dim` (all axes for None or ()), computed in `dtype`
    (the input cast to it first, as PyTorch does; narrowing is PyTorch's error)."""
    if not is_tensor(input) or not dtypes.is_floating(dtypes.value_dtype(input)):
        got = dtypes.value_dtype(input) if is_tensor(input) else type(input).__name__
        raise ctx.unsupported("input", f"a norm needs a floating-point tensor, got {got} (PyTorch's error)")
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise ctx.unsupported(order_parameter, f"must be a real number, got {ord!r}")
    source = dtypes.value_dtype(input)
    if dtype is not None:
        result = _dtype(ctx, dtype)
        if not dtypes.is_floating(result) or (source == "float64" and result == "float32"):
            raise ctx.unsupported("dtype", f"a {source} input cannot be computed in {result} (narrowing is PyTorch's error)")
        if result != source:
            input = ctx.emit_te(cast, input, dtype=result)
    axes = _axes(ctx, dim, len(ctx.shape(input)))
    return ctx.emit_te(vector_norm_kernel, input, ord=float(ord), axes=axes, keepdim=bool(keepdim))


def _norm_order(ctx: NodeContext, p, dim):
    """torch.norm's `p` as a vector norm's order: None and 'fro' (over at most two axes) are 2; the
    nuclear norm and matrix norms over more axes are refused."""
    if p is None:
        return 2.0
    if not isinstance(p, str):
        return p
    if p == "nuc":
        raise ctx.unsupported("p", "the nuclear norm ('nuc', a sum of singular values) is not supported")
    if p != "fro":
        raise ctx.unsupported("p", f"only valid string values are 'fro' and 'nuc', found {p!r}")
    if isinstance(dim, (tuple, list)) and len(dim) > 2:
        raise ctx.unsupported("dim", f"the Frobenius norm is over at most two dims, got {dim!r} (PyTorch's error)")
    return 2.0


@register_converter(torch.norm, any_dtype=("input",))
def norm(ctx, input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: the vector `p`-norm over `dim` (an int, a tuple, None for all); p any real number
    (0 counts nonzeros, ±inf the largest/smallest magnitude), 'fro' the 2-norm."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    return _vector_norm(ctx, input, _norm_order(ctx, p, dim), dim, keepdim, dtype, "p")


@register_converter("norm", any_dtype=("input",))
def norm_method(ctx, input, p="fro", dim=None, keepdim=False, dtype=None):
    """x.norm(p, dim, keepdim, dtype): torch.norm (whose fifth positional parameter is `out`)."""
    return _vector_norm(ctx, input, _norm_order(ctx, p, dim), dim, keepdim, dtype, "p")


@register_converter(torch.linalg.vector_norm, aten.linalg_vector_norm.default, any_dtype=("input",))
def vector_norm(ctx, input, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """torch.linalg.vector_norm (what torch.export records for torch.norm)."""
    if out is not None:
        raise ctx.unsupported("out", "writing into an `out` tensor is not supported")
    return _vector_norm(ctx, input, ord, dim, keepdim, dtype)
