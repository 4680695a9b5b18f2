"""Attention: the stages of nn.MultiheadAttention and F.scaled_dot_product_attention between the
projections (kernels/linear.py) and the softmax (kernels/softmax.py).

Heads live in a [batch, heads, length, head_dim] layout. A sequence tensor's `batch_axis` says where
its batch axis is: 0 for [batch, length, embed] (batch_first), 1 for [length, batch, embed], None for
an unbatched [length, embed] (treated as batch 1).
"""

from __future__ import annotations

from tvm import te, tirx

from .elementwise import broadcast_index, broadcast_shape
from .marks import mark
from .softmax import softmax


def split_heads(data: te.Tensor, num_heads: int, batch_axis: int | None, bias: te.Tensor | None = None,
                zero_attn: bool = False) -> te.Tensor:
    """The projected sequence cut into heads, optionally with one more position `bias` (add_bias_kv)
    and then one of zeros (add_zero_attn) appended, as nn.MultiheadAttention does to keys and values.

    data: [batch, length, embed], [length, batch, embed] or [length, embed] (see `batch_axis`);
    bias: [embed] or None. Returns [batch, num_heads, length + extra, embed // num_heads].
    """
    length = data.shape[0 if batch_axis in (None, 1) else 1]
    batch = 1 if batch_axis is None else data.shape[batch_axis]
    head_dim = data.shape[-1] // num_heads
    extra = (bias is not None) + zero_attn

    def read(n, h, s, d):
        channel = h * head_dim + d
        index = (s, channel) if batch_axis is None else (n, s, channel) if batch_axis == 0 else (s, n, channel)
        value = data[index] if not extra else tirx.if_then_else(s < length, data[index], tirx.const(0, data.dtype))
        if bias is not None:
            value = tirx.if_then_else(s == length, bias[channel], value)
        return value

    return te.compute((batch, num_heads, length + extra, head_dim), read, name="split_heads")


def merge_heads(data: te.Tensor, batch_axis: int | None) -> te.Tensor:
    """The inverse of split_heads without extra positions: heads side by side again.

    data: [batch, heads, length, head_dim]. Returns [batch, length, embed], [length, batch, embed] or
    [length, embed] (see `batch_axis`), embed = heads * head_dim.
    """
    batch, heads, length, head_dim = data.shape

    def read(*index):
        n = 0 if batch_axis is None else index[batch_axis]
        s = index[0 if batch_axis in (None, 1) else 1]
        return data[n, index[-1] // head_dim, s, index[-1] % head_dim]

    shape = (length, heads * head_dim) if batch_axis is None else (
        (batch, length, heads * head_dim) if batch_axis == 0 else (length, batch, heads * head_dim))
    return te.compute(shape, read, name="merge_heads")


def grouped_batch(shape: tuple, groups: int) -> tuple:
    """The batch axes of an operand of `shape` as the query sees them: heads (axis -3) times `groups`."""
    batch = list(shape[:-2])
    if groups > 1:
        batch[-1] = batch[-1] * groups
    return tuple(batch)


def _operand_batch(shape: tuple, batch_index: tuple, groups: int) -> tuple:
    """The batch index an operand of `shape` reads for output `batch_index`: broadcast (axes of
    size 1 read 0, missing leading axes dropped), and with `groups` query heads sharing one of its
    heads (grouped-query attention), head h reads head h // groups."""
    index = list(broadcast_index(shape[:-2], batch_index))
    if groups > 1:
        index[-1] = index[-1] // groups
    return tuple(index)


KEY_BLOCK = 16
"""scaled_dot_product_attention computes the scores of more keys than this, in no whole number of
blocks of it, padded to a whole number (`padded_keys`): the softmax's rows are then whole vectors
of up to 16 lanes (AVX-512's float32), reduced lane by lane, where ViT's 197 keys left its row max
and sum scalar (one thread: 3.06 ms for 8 images' 3 heads, against 2.49 ms for 208 real keys)."""


def padded_keys(source: int | None) -> int | None:
    """The keys an attention of `source` keys (None: symbolic) computes: rounded up to a whole
    number of KEY_BLOCK where more than one block's worth fills no whole number of them; else None."""
    if source is None or source <= KEY_BLOCK or source % KEY_BLOCK == 0:
        return None
    return -(-source // KEY_BLOCK) * KEY_BLOCK


def attention_scores(query: te.Tensor, key: te.Tensor, scale: float, mask: te.Tensor | None = None,
                     causal: bool = False, groups: int = 1, real_keys: int | None = None) -> te.Tensor:
    """(query * scale) · key^T + mask, scaling the query before the product as PyTorch does; with
    `causal`, -inf where the key comes after the query (key index > query index); with `real_keys`
    (fewer than the keys given: the rest is padding), -inf for the keys from `real_keys` on.

    query: [*qbatch, length, head_dim]; key: [*kbatch, source, head_dim], batch axes broadcasting
    against the query's (as matmul's do), key heads (axis -3) read by `groups` query heads each;
    mask: additive (float) or bool (True where attending), broadcastable to [*batch, length,
    real_keys or source], or None. Returns [*batch, length, source], batch the broadcast batch axes.
    """
    d = te.reduce_axis((0, query.shape[-1]), name="d")
    factor = tirx.const(scale, query.dtype)
    # a stage of its own, so that a schedule scales each query once, not once per key it meets
    scaled = te.compute(query.shape, lambda *i: query(*i) * factor, name="scaled_query", attrs=mark("scaled_query"))
    batch = broadcast_shape(query.shape[:-2], grouped_batch(key.shape, groups))
    scores = te.compute(
        (*batch, query.shape[-2], key.shape[-2]),
        lambda *i: te.sum(scaled[(*_operand_batch(query.shape, i[:-2], 1), i[-2], d)]
                          * key[(*_operand_batch(key.shape, i[:-2], groups), i[-1], d)], axis=d),
        name="attention_scores",
        attrs=mark("attention_scores"),
    )
    padded = real_keys is not None and real_keys != key.shape[-2]
    if mask is None and not causal and not padded:
        return scores
    negative_infinity = tirx.const(float("-inf"), scores.dtype)

    def masked(*i):
        value = scores(*i)
        if mask is not None:  # read at a real key (the padded ones' scores are -inf below)
            entry = mask[broadcast_index(mask.shape, (*i[:-1], tirx.min(i[-1], real_keys - 1) if padded else i[-1]))]
            if mask.dtype == "bool":  # True: attend
                value = tirx.Select(entry, value, negative_infinity)
            else:
                value = value + entry
        if causal:
            value = tirx.Select(i[-1] > i[-2], negative_infinity, value)
        if padded:
            value = tirx.Select(i[-1] >= real_keys, negative_infinity, value)
        return value

    return te.compute(scores.shape, masked, name="masked_scores")


def multi_head_mask(attn_mask: te.Tensor | None, key_padding_mask: te.Tensor | None, batch, num_heads: int,
                    length, source) -> te.Tensor:
    """The additive mask nn.MultiheadAttention adds to every head's scores: attn_mask plus
    key_padding_mask, both padded with 0 for the positions add_bias_kv / add_zero_attn appended.

    attn_mask: [length, source'] or [batch * num_heads, length, source'] or None; key_padding_mask:
    [batch, source'] or [source'] or None (source' <= source). Returns [batch, num_heads, length, source].
    """
    dtype = (attn_mask if attn_mask is not None else key_padding_mask).dtype
    zero = tirx.const(0, dtype)

    def total(n, h, q, s):
        value = zero
        if attn_mask is not None:
            width = attn_mask.shape[-1]
            index = (q, s) if len(attn_mask.shape) == 2 else (n * num_heads + h, q, s)
            value = value + tirx.if_then_else(s < width, attn_mask[index], zero)
        if key_padding_mask is not None:
            width = key_padding_mask.shape[-1]
            index = (s,) if len(key_padding_mask.shape) == 1 else (n, s)
            value = value + tirx.if_then_else(s < width, key_padding_mask[index], zero)
        return value

    return te.compute((batch, num_heads, length, source), total, name="multi_head_mask")


def attend(weights: te.Tensor, value: te.Tensor, groups: int = 1) -> te.Tensor:
    """weights · value. weights: [*wbatch, length, source]; value: [*vbatch, source, head_dim], batch
    axes broadcasting (value heads, axis -3, each read by `groups` query heads). Returns [*batch,
    length, head_dim], batch the broadcast batch axes.
    Marked "attend": a product of two activations, as kernels.linear.matmul (compile's BatchedGemm)."""
    s = te.reduce_axis((0, value.shape[-2]), name="s")
    batch = broadcast_shape(weights.shape[:-2], grouped_batch(value.shape, groups))
    return te.compute(
        (*batch, weights.shape[-2], value.shape[-1]),
        lambda *i: te.sum(weights[(*_operand_batch(weights.shape, i[:-2], 1), i[-2], s)]
                          * value[(*_operand_batch(value.shape, i[:-2], groups), s, i[-1])], axis=s),
        name="attend",
        attrs=mark("attend"),
    )


def scaled_dot_product_attention(query: te.Tensor, key: te.Tensor, value: te.Tensor, scale: float,
                                 mask: te.Tensor | None = None, causal: bool = False,
                                 groups: tuple[int, int] = (1, 1)) -> te.Tensor:
    """softmax(`attention_scores`) · value in one kernel, a fully masked row's weights 0 (PyTorch's
    `_safe_softmax`): compile's FusedAttention then keeps each block of query rows' scores in L1
    from the product through the softmax into `attend`. Operands as `attention_scores` and `attend`
    (`groups`: query heads per key head, per value head). Returns [*batch, length, head_dim].
    The scores of `padded_keys` keys: zero keys past the real ones, their scores -inf, so their
    weights are exactly 0 (the real keys' max, sum and weights are those of the unpadded row) and
    `attend` reads only the real keys' weights."""
    source = key.shape[-2]
    real_keys = int(source) if isinstance(source, (int, tirx.IntImm)) else None
    padded = padded_keys(real_keys)
    if padded is not None:
        real = key
        zero = tirx.const(0, key.dtype)
        key = te.compute((*key.shape[:-2], padded, key.shape[-1]),
                         lambda *i: tirx.if_then_else(i[-2] < source, real(*i), zero), name="padded_keys")
    scores = attention_scores(query, key, scale, mask=mask, causal=causal, groups=groups[0],
                              real_keys=None if padded is None else real_keys)
    weights = softmax(scores, axis=len(scores.shape) - 1, zero_masked_slices=True)
    return attend(weights, value, groups=groups[1])


def head_weights(weights: te.Tensor, average: bool, batched: bool) -> te.Tensor:
    """The attention weights nn.MultiheadAttention returns: averaged over heads, or per head without
    the batch axis of an unbatched input (batched per-head weights are `weights` itself).

    weights: [batch, heads, length, source]. Returns [batch?, length, source] when `average`, else
    [heads, length, source] (not batched).
    """
    batch, heads, length, source = weights.shape
    if not average:
        return te.compute((heads, length, source), lambda h, q, s: weights[0, h, q, s], name="head_weights")
    h = te.reduce_axis((0, heads), name="h")
    total = te.compute((batch, length, source), lambda n, q, s: te.sum(weights[n, h, q, s], axis=h), name="head_sum")
    count = tirx.Cast(weights.dtype, heads)
    if batched:
        return te.compute(total.shape, lambda *i: total(*i) / count, name="head_mean")
    return te.compute((length, source), lambda q, s: total[0, q, s] / count, name="head_mean")
