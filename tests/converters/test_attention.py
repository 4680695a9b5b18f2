"""nn.MultiheadAttention (eval) against PyTorch, drawing every parameter: embed_dim and num_heads,
bias, add_bias_kv, add_zero_attn, kdim/vdim, batch_first, batched or not, self-attention or not,
need_weights and average_attn_weights, float attn_mask (2-D / 3-D) and key_padding_mask as model
inputs, bool masks as buffers, is_causal; F.scaled_dot_product_attention with float and bool masks,
is_causal, scale, enable_gqa and fully masked rows (0 as in PyTorch); then the refusals.

Scores sum at most 8 products, the output projection at most 16; values in [-3, 3], well inside
rtol=atol=1e-5 for float32 rounding in another order."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import bool_tensors, check_against_torch, tensors


class Attention(nn.Module):
    """forward(query, key, value, attn_mask, key_padding_mask) calls the module with the masks that
    `masks` names ("attn_mask", "key_padding_mask" from the inputs; "bool_mask" a bool buffer)."""

    def __init__(self, attention: nn.MultiheadAttention, self_attention: bool, masks: set, bool_mask=None,
                 **params):
        super().__init__()
        self.attention, self.self_attention, self.masks, self.params = attention, self_attention, masks, params
        self.register_buffer("bool_mask", bool_mask)

    def forward(self, query, key, value, attn_mask, key_padding_mask):
        if self.self_attention:
            key = value = query
        masks = {}
        if "attn_mask" in self.masks:
            masks["attn_mask"] = attn_mask
        if "bool_mask" in self.masks:
            masks["attn_mask"] = self.bool_mask
        if "key_padding_mask" in self.masks:
            masks["key_padding_mask"] = key_padding_mask
        output, weights = self.attention(query, key, value, **masks, **self.params)
        return (output, weights) if self.params.get("need_weights", True) else output


@st.composite
def attention_cases(draw):
    heads, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    embed = heads * head_dim
    self_attention = draw(st.booleans())
    kdim, vdim = (embed, embed) if self_attention else (draw(st.sampled_from([embed, 3])), draw(st.sampled_from([embed, 5])))
    attention = nn.MultiheadAttention(
        embed, heads, bias=draw(st.booleans()), add_bias_kv=draw(st.booleans()), add_zero_attn=draw(st.booleans()),
        kdim=kdim, vdim=vdim, batch_first=draw(st.booleans()), dropout=draw(st.sampled_from([0.0, 0.5])),
    )
    for parameter in attention.parameters():  # PyTorch starts biases at 0: draw them
        nn.init.uniform_(parameter, -0.5, 0.5)
    batched = draw(st.booleans())
    batch, length = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    source = length if self_attention else draw(st.integers(1, 4))

    def sequence(size, features):
        if not batched:
            return (size, features)
        return (batch, size, features) if attention.batch_first else (size, batch, features)

    shapes = [sequence(length, embed), sequence(source, kdim), sequence(source, vdim)]
    masks = set(draw(st.lists(st.sampled_from(["attn_mask", "bool_mask", "key_padding_mask"]), unique=True, max_size=2)))
    masks -= {"bool_mask"} if "attn_mask" in masks else set()
    shapes.append(draw(st.sampled_from([(length, source), (batch * heads if batched else heads, length, source)])))
    shapes.append((batch, source) if batched else (source,))
    bool_mask = torch.rand(length, source) < 0.5
    bool_mask[:, 0] = False  # a fully masked row is NaN in PyTorch
    params = {"need_weights": draw(st.booleans()), "average_attn_weights": draw(st.booleans())}
    return Attention(attention, self_attention, masks, bool_mask, **params), shapes


@given(attention_cases(), st.data())
def test_multihead_attention_matches_torch(case, data):
    model, shapes = case
    check_against_torch(model, [data.draw(tensors(shape)) for shape in shapes])


def test_multihead_attention_causal_bool_mask():
    """is_causal with its causal attn_mask: with need_weights=False PyTorch uses the causal hint."""
    torch.manual_seed(0)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    for need_weights in (True, False):
        model = Attention(nn.MultiheadAttention(8, 2, batch_first=True), True, {"bool_mask"}, causal,
                          is_causal=True, need_weights=need_weights)
        check_against_torch(model, [torch.rand(2, 4, 8)] * 3 + [torch.rand(4, 4), torch.rand(2, 4)])


class SelfAttention(nn.Module):
    """`x, _ = attention(x, x, x, need_weights=False)`, as torchvision's ViT writes it."""

    def __init__(self, attention):
        super().__init__()
        self.attention = attention

    def forward(self, x):
        x, _ = self.attention(x, x, x, need_weights=False)
        return x


def test_multihead_attention_tuple_unpacking_and_symbolic_batch():
    torch.manual_seed(0)
    model = SelfAttention(nn.MultiheadAttention(8, 2, batch_first=True))
    check_against_torch(model, torch.rand(3, 5, 8), input_shape=(None, 5, 8))


def test_multihead_attention_refuses_training_dropout_and_bad_shapes():
    model = SelfAttention(nn.MultiheadAttention(8, 2, dropout=0.1)).train()
    with pytest.raises(fx2relax.UnsupportedParameterError, match=r"nn.MultiheadAttention.*parameter 'dropout'.*training"):
        fx2relax.from_module(model, (5, 2, 8))
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'query': expected a 2-D \(length, 8\) or 3-D"):
        fx2relax.from_module(SelfAttention(nn.MultiheadAttention(8, 2)), (5, 2, 6))
    model = Attention(nn.MultiheadAttention(8, 2), True, {"attn_mask"})
    with pytest.raises(fx2relax.ShapeError, match=r"parameter 'attn_mask': expected a mask of shape \(5, 5\) or \(4, 5, 5\)"):
        fx2relax.from_module(model, [(5, 2, 8)] * 3 + [(5, 4), (2, 5)])


def test_multihead_attention_refuses_is_causal_without_a_mask():
    model = Attention(nn.MultiheadAttention(8, 2), True, set(), is_causal=True)
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'is_causal': needs attn_mask"):
        fx2relax.from_module(model, [(5, 2, 8)] * 3 + [(5, 5), (2, 5)])


class ScaledDotProduct(nn.Module):
    """forward(query, key, value, mask) = F.scaled_dot_product_attention with the float `mask` input
    (mask="input"), the bool buffer (mask="bool") or none, and `params`."""

    def __init__(self, mask: str, bool_mask=None, **params):
        super().__init__()
        self.mask, self.params = mask, params
        self.register_buffer("bool_mask", bool_mask)

    def forward(self, query, key, value, mask):
        if self.mask == "input":
            return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, **self.params)
        if self.mask == "bool":
            return F.scaled_dot_product_attention(query, key, value, self.bool_mask, **self.params)
        return F.scaled_dot_product_attention(query, key, value, **self.params)


@given(st.data(), st.sampled_from(["none", "input", "bool", "causal"]), st.sampled_from([None, 0.5, 2]), st.booleans())
def test_scaled_dot_product_attention_matches_torch(data, mask, scale, enable_gqa):
    """Batch axes (the last one the heads), masks broadcast, and with enable_gqa key/value heads
    shared by 1-3 query heads each."""
    batch = tuple(data.draw(st.lists(st.integers(1, 3), min_size=int(enable_gqa), max_size=2)))
    groups = data.draw(st.integers(1, 3)) if enable_gqa else 1
    query_batch = (*batch[:-1], batch[-1] * groups) if batch else batch
    length, source = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    features, value_features = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 5))
    mask_shape = data.draw(st.sampled_from([(length, source), (*query_batch, length, source), (1, source)]))
    bool_mask = torch.rand(mask_shape) < 0.3  # True = attends; a row with none gives 0, as in PyTorch
    model = ScaledDotProduct("none" if mask == "causal" else mask, bool_mask, scale=scale, is_causal=mask == "causal",
                             enable_gqa=enable_gqa)
    shapes = [(*query_batch, length, features), (*batch, source, features), (*batch, source, value_features), mask_shape]
    check_against_torch(model, [data.draw(tensors(shape)) for shape in shapes])


@settings(max_examples=16, deadline=None)
@given(st.data(), st.sampled_from(["none", "input", "bool", "causal"]), st.sampled_from([17, 20, 31, 33]), st.booleans())
def test_scaled_dot_product_attention_of_keys_in_no_whole_block_matches_torch(data, mask, source, enable_gqa):
    """More keys than kernels.attention.KEY_BLOCK in no whole number of blocks: scored padded to
    whole blocks, the padded keys' weights exactly 0, masks (NaN, ±inf; bool rows attending to
    nothing) read at the real keys only, causal rows, key heads shared."""
    length, heads = data.draw(st.integers(1, 5)), data.draw(st.sampled_from([1, 2]))
    groups = data.draw(st.integers(1, 2)) if enable_gqa else 1
    features, value_features = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 5))
    mask_shape = data.draw(st.sampled_from([(length, source), (1, heads * groups, length, source), (1, source)]))
    model = ScaledDotProduct("none" if mask == "causal" else mask, data.draw(bool_tensors(mask_shape), label="bool mask"),
                             is_causal=mask == "causal", enable_gqa=enable_gqa)
    shapes = [(2, heads * groups, length, features), (2, heads, source, features), (2, heads, source, value_features)]
    inputs = [data.draw(tensors(shape), label=name) for shape, name in zip(shapes, ("query", "key", "value"))]
    check_against_torch(model, [*inputs, data.draw(tensors(mask_shape, special_values=True), label="mask")])


@settings(max_examples=40)
@given(st.data(), st.sampled_from(["none", "input", "causal"]), st.sampled_from([None, 0.5]), st.booleans())
def test_scaled_dot_product_attention_broadcasts_and_shares_heads(data, mask, scale, enable_gqa):
    """Batch axes of query, key and value broadcast against each other (multi-query attention: one
    key/value head for all query heads, as mobilenetv5's); with enable_gqa, key and value each have
    their own number of heads dividing the query's, query head h reading head h // (Hq // Hkv)."""
    batch, heads = data.draw(st.integers(1, 3)), data.draw(st.sampled_from([1, 2, 4, 6]))
    divisors = [d for d in range(1, heads + 1) if heads % d == 0]

    def operand_batch(name: str) -> tuple:
        shared = data.draw(st.sampled_from(divisors), label=f"{name} heads") if enable_gqa and name != "query" else heads
        return (data.draw(st.sampled_from([batch, 1]), label=f"{name} batch"),
                data.draw(st.sampled_from([shared, 1]), label=f"{name} heads shown"))

    length, source = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    features, value_features = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    shapes = [(*operand_batch("query"), length, features), (*operand_batch("key"), source, features),
              (*operand_batch("value"), source, value_features), (1, 1, length, source)]
    model = ScaledDotProduct("none" if mask == "causal" else mask, scale=scale, is_causal=mask == "causal",
                             enable_gqa=enable_gqa)
    inputs = [data.draw(tensors(shape)) for shape in shapes]
    try:
        model(*inputs)
    except RuntimeError:  # PyTorch refuses this combination (heads that do not broadcast)
        with pytest.raises(fx2relax.ShapeError):
            fx2relax.from_module(model, shapes)
        return
    check_against_torch(model, inputs)


def test_scaled_dot_product_attention_refusals():
    shapes = [(2, 3, 4)] * 3 + [(3, 3)]
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'dropout_p': attention dropout is random"):
        fx2relax.from_module(ScaledDotProduct("none", dropout_p=0.1), shapes)
    with pytest.raises(fx2relax.ShapeError, match="parameter 'enable_gqa': enable_gqa needs key and value heads that divide"):
        fx2relax.from_module(ScaledDotProduct("none", enable_gqa=True), [(3, 3, 4), (2, 3, 4), (2, 3, 4), (3, 3)])
    with pytest.raises(fx2relax.ShapeError, match="parameter 'attn_mask': an explicit attn_mask should not be set"):
        fx2relax.from_module(ScaledDotProduct("input", is_causal=True), shapes)
    with pytest.raises(fx2relax.ShapeError, match="parameter 'attn_mask': does not broadcast"):
        fx2relax.from_module(ScaledDotProduct("input"), [(2, 3, 4)] * 3 + [(2, 2)])
