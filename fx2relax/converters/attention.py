"""Converters for attention: nn.MultiheadAttention (eval) and F.scaled_dot_product_attention.

Composed of TE kernels: the projections of kernels/linear.py, heads split, scaled scores and masks
of kernels/attention.py, the softmax of kernels/softmax.py. Masks are additive float tensors: a
graph input or float buffer is added as is; a bool buffer (True = not allowed) becomes 0 / -inf at
import time, as PyTorch's `_canonical_mask` does. nn.MultiheadAttention returns a Python tuple
(attn_output, attn_weights or None), so `x, _ = attention(x, x, x)` picks from it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tvm import relax

from ..importer import NodeContext, is_tensor
from ..kernels import attention as kernels
from ..kernels import elementwise, linear, softmax
from ..registry import register_converter

aten = torch.ops.aten


def _additive_mask(ctx: NodeContext, value: relax.Expr, parameter: str, true_masks: bool) -> relax.Expr:
    """A mask as an additive tensor of the model's dtype: a float one as is, a bool buffer as 0 / -inf
    (computed at import). `true_masks`: True marks the positions not attended (MHA), else those attended (SDPA)."""
    dtype = ctx.tensor_dtype(value)
    if dtype == ctx.dtype:
        return value
    mask = ctx.constant(value)
    if dtype != "bool" or mask is None:
        raise ctx.dtype_error(
            f"a mask is an additive {ctx.dtype} tensor or a bool buffer, got a {dtype} "
            + ("buffer" if mask is not None else "tensor computed at run time"),
            parameter,
        )
    mask = torch.from_numpy(mask)
    additive = torch.zeros(mask.shape, dtype=getattr(torch, ctx.dtype)).masked_fill(mask if true_masks else ~mask, float("-inf"))
    return ctx.param(additive, f"{ctx.source_name(value) or parameter}.additive")


def _mask(ctx: NodeContext, value: object, parameter: str, shapes: list[tuple]) -> object:
    """An nn.MultiheadAttention mask argument as an additive float tensor or None; its shape must be
    one of `shapes`."""
    if value is None:
        return None
    if not is_tensor(value):
        raise ctx.unsupported(parameter, f"expected a tensor or None, got {type(value).__name__} {value!r}")
    if ctx.shape(value) not in shapes:
        raise ctx.shape_error(f"expected a mask of shape {' or '.join(map(str, shapes))}, got {ctx.shape(value)}", parameter)
    return _additive_mask(ctx, value, parameter, true_masks=True)


def _flag(ctx: NodeContext, value: object, parameter: str) -> bool:
    if not isinstance(value, bool):
        raise ctx.unsupported(parameter, f"must be a Python bool, got {value!r}")
    return value


@register_converter(nn.MultiheadAttention, any_dtype=("key_padding_mask", "attn_mask"))
def multihead_attention(ctx, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                        average_attn_weights=True, is_causal=False):
    """PyTorch's F.multi_head_attention_forward. A fully masked query row gives NaN with need_weights and
    0 without (its scaled_dot_product_attention path); PyTorch's fused fast path (batch_first
    self-attention under no_grad with a bool mask) gives NaN there too: that one case differs."""
    module = ctx.module
    if module.training and module.dropout > 0:
        raise ctx.unsupported("dropout", "attention dropout in training mode is random; call model.eval() first")
    need_weights = _flag(ctx, need_weights, "need_weights")
    average_attn_weights = _flag(ctx, average_attn_weights, "average_attn_weights")
    is_causal = _flag(ctx, is_causal, "is_causal")
    embed, heads = module.embed_dim, module.num_heads
    shapes = [ctx.shape(v) if is_tensor(v) else None for v in (query, key, value)]
    for name, shape, features in zip(("query", "key", "value"), shapes, (embed, module.kdim, module.vdim)):
        if shape is None or len(shape) not in (2, 3) or len(shape) != len(shapes[0]) or shape[-1] != features:
            raise ctx.shape_error(
                f"expected a 2-D (length, {features}) or 3-D tensor of {features} features like the query, got "
                + (f"shape {shape}" if shape is not None else type((query, key, value)[0]).__name__), name)
    batched = len(shapes[0]) == 3
    batch_axis = (0 if module.batch_first else 1) if batched else None
    length_axis = 1 if batch_axis == 0 else 0
    batch = shapes[0][batch_axis] if batched else 1
    if batched and not (shapes[1][batch_axis] == batch == shapes[2][batch_axis]):
        raise ctx.shape_error(f"query, key and value must have the same batch size, got shapes {shapes}", "key")
    if shapes[1][length_axis] != shapes[2][length_axis]:
        raise ctx.shape_error(f"key and value must have the same length, got shapes {shapes[1]} and {shapes[2]}", "value")
    length, source = shapes[0][length_axis], shapes[1][length_axis]
    if is_causal and attn_mask is None:
        raise ctx.unsupported("is_causal", "needs attn_mask too (PyTorch takes is_causal as a hint about attn_mask)")
    extra = (module.bias_k is not None) + module.add_zero_attn
    attn_mask = _mask(ctx, attn_mask, "attn_mask", [(length, source), (batch * heads, length, source)])
    padding_shape = (batch, source) if batched else (source,)
    key_padding_mask = _mask(ctx, key_padding_mask, "key_padding_mask", [padding_shape])
    causal = is_causal and key_padding_mask is None and not need_weights  # PyTorch then ignores attn_mask
    if causal:
        attn_mask = None

    def weight(tensor: torch.Tensor | None, name: str) -> object:
        return None if tensor is None else ctx.param(tensor, f"{ctx.module_path}.{name}")

    def projection(input, name: str, index: int):
        rows = slice(index * embed, (index + 1) * embed)
        if module._qkv_same_embed_dim:
            matrix = weight(module.in_proj_weight[rows], f"{name}_proj_weight")
        else:
            matrix = ctx.module_param(f"{name}_proj_weight")
        bias = weight(None if module.in_proj_bias is None else module.in_proj_bias[rows], f"{name}_proj_bias")
        return ctx.emit_te(linear.linear, input, matrix, bias)

    bias_k = weight(None if module.bias_k is None else module.bias_k.reshape(embed), "bias_k")
    bias_v = weight(None if module.bias_v is None else module.bias_v.reshape(embed), "bias_v")
    split = {"num_heads": heads, "batch_axis": batch_axis}
    q = ctx.emit_te(kernels.split_heads, projection(query, "q", 0), **split)
    k = ctx.emit_te(kernels.split_heads, projection(key, "k", 1), bias=bias_k, zero_attn=module.add_zero_attn, **split)
    v = ctx.emit_te(kernels.split_heads, projection(value, "v", 2), bias=bias_v, zero_attn=module.add_zero_attn, **split)
    mask = None
    if attn_mask is not None or key_padding_mask is not None:
        mask = ctx.emit_te(kernels.multi_head_mask, attn_mask=attn_mask, key_padding_mask=key_padding_mask, batch=batch,
                           num_heads=heads, length=length, source=source + extra)
    scale = math.sqrt(1.0 / module.head_dim)
    scores = ctx.emit_te(kernels.attention_scores, q, k, mask=mask, scale=scale, causal=causal)
    # need_weights=False runs PyTorch's scaled_dot_product_attention, whose softmax zeroes fully masked rows
    weights = ctx.emit_te(softmax.softmax, scores, axis=3, zero_masked_slices=not need_weights)
    heads_out = ctx.emit_te(kernels.attend, weights, v)
    merged = ctx.emit_te(kernels.merge_heads, heads_out, batch_axis=batch_axis)
    out_weight, out_bias = weight(module.out_proj.weight, "out_proj.weight"), weight(module.out_proj.bias, "out_proj.bias")
    output = ctx.emit_te(linear.linear, merged, out_weight, out_bias)
    if not need_weights:
        return output, None
    if batched and not average_attn_weights:
        return output, weights
    return output, ctx.emit_te(kernels.head_weights, weights, average=average_attn_weights, batched=batched)


@register_converter(F.scaled_dot_product_attention, aten.scaled_dot_product_attention.default, any_dtype=("attn_mask",))
def scaled_dot_product_attention(ctx, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None,
                                 enable_gqa=False):
    """softmax(q k^T * scale + mask) v over the last two axes; a fully masked row gives 0, as in PyTorch.
    Batch axes broadcast (multi-query attention's single key/value head); with enable_gqa, each
    key (value) head (axis -3) serves heads(query) / heads(key) (heads(value)) query heads."""
    if dropout_p != 0:
        raise ctx.unsupported("dropout_p", f"attention dropout is random; only dropout_p=0 is supported, got {dropout_p!r}")
    is_causal = _flag(ctx, is_causal, "is_causal")
    enable_gqa = _flag(ctx, enable_gqa, "enable_gqa")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ctx.unsupported("scale", f"must be a Python number or None, got {scale!r}")
    shapes = [ctx.shape(v) if is_tensor(v) else None for v in (query, key, value)]
    for name, shape in zip(("query", "key", "value"), shapes):
        if shape is None or len(shape) < 2:
            raise ctx.shape_error(f"query, key and value must be tensors of rank >= 2, got {shapes}", name)
    groups = [1, 1]  # query heads per key head, per value head
    if enable_gqa and all(len(shape) >= 3 for shape in shapes):  # query heads share key/value heads
        heads = [shape[-3] for shape in shapes]
        if not all(isinstance(h, int) and h > 0 for h in heads) or heads[0] % heads[1] or heads[0] % heads[2]:
            raise ctx.shape_error(f"enable_gqa needs key and value heads that divide the query heads, got shapes {shapes}",
                                  "enable_gqa")
        groups = [heads[0] // heads[1], heads[0] // heads[2]]
    try:  # batch axes broadcast as matmul's do: key against query, value against the scores
        batch = elementwise.broadcast_shape(shapes[0][:-2], kernels.grouped_batch(shapes[1], groups[0]))
        batch = elementwise.broadcast_shape(batch, kernels.grouped_batch(shapes[2], groups[1]))
    except ValueError as error:
        raise ctx.shape_error(f"query, key and value batch axes do not broadcast ({error}), got {shapes}", "key") from None
    if shapes[0][-1] != shapes[1][-1] or shapes[1][-2] != shapes[2][-2]:
        raise ctx.shape_error(f"query and key need equal features, key and value equal lengths, got {shapes}", "key")
    if attn_mask is not None:
        if is_causal:
            raise ctx.shape_error("an explicit attn_mask should not be set when is_causal=True", "attn_mask")
        if not is_tensor(attn_mask):
            raise ctx.unsupported("attn_mask", f"expected a tensor or None, got {type(attn_mask).__name__} {attn_mask!r}")
        try:
            elementwise.broadcast_shape(ctx.shape(attn_mask), (*batch, shapes[0][-2], shapes[1][-2]))
        except ValueError as error:
            raise ctx.shape_error(f"does not broadcast to the scores' shape: {error}", "attn_mask") from None
        mask_dtype = ctx.tensor_dtype(attn_mask)  # a bool mask (True: attend) is applied by the kernel as is
        if mask_dtype not in ("bool", ctx.dtype):
            raise ctx.dtype_error(f"must be a bool or an additive {ctx.dtype} mask, got {mask_dtype}", "attn_mask")
    scale = 1 / math.sqrt(shapes[0][-1]) if scale is None else float(scale)
    return ctx.emit_te(kernels.scaled_dot_product_attention, query, key, value, mask=attn_mask, scale=scale,
                       causal=is_causal, groups=tuple(groups))
