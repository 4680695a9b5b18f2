"""Converters for reads at computed positions: embeddings (nn.Embedding, F.embedding), gather and
advanced indexing with integer index tensors (ATen's `index.Tensor`).

Index values are known only at run time; the kernels never read out of bounds and give NaN where a
float result's index was out of range (PyTorch raises there), see kernels/indexing.py.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import dtypes
from ..importer import NodeContext, is_tensor
from ..kernels import elementwise
from ..kernels import indexing as kernels
from ..registry import register_converter
from .common import normalize_dim

aten = torch.ops.aten


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
    return ctx.emit_te(kernels.embedding, weight, input)


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
    return ctx.emit_te(kernels.gather, input, axis=axis, index=index)


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
    return ctx.emit_te(kernels.advanced_index, input, indices)
