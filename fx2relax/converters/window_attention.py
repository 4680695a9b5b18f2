"""Converters for torchvision's Swin (v1 and v2) functions that torch.fx keeps as leaves
(`torch.fx.wrap`): `shifted_window_attention`, `_get_relative_position_bias`, `_patch_merging_pad`.

Each follows torchvision's code step by step on our kernels, with the sizes known at import: the
padding to whole windows, the cyclic shift, the window partition, multi-head attention (scaled dot
product, or v2's cosine attention with its clamped logit scale and key bias set to 0), the relative
position bias, the shifted-window mask (a constant computed here from the sizes), and back.
"""

from __future__ import annotations

import numbers

import numpy as np
from tvm import relax

from ..importer import NodeContext
from ..kernels import elementwise, linear, normalization, padding, rearrange, shape, softmax
from ..kernels import window_attention as kernels
from ..registry import register_converter
from .common import static_dims

try:  # torchvision is optional
    from torchvision.models import swin_transformer as _swin
except ImportError:
    _swin = None


def _window_mask(pad_h: int, pad_w: int, window: list[int], shift: list[int], dtype: str) -> np.ndarray:
    """torchvision's attention mask for shifted windows: -100 between tokens that came from different
    regions of the rolled map, else 0; shape [1, num_windows, 1, N, N] (N tokens per window)."""
    regions = np.zeros((pad_h, pad_w), dtype=dtype)
    count = 0
    for h in ((0, -window[0]), (-window[0], -shift[0]), (-shift[0], None)):
        for w in ((0, -window[1]), (-window[1], -shift[1]), (-shift[1], None)):
            regions[h[0] : h[1], w[0] : w[1]] = count
            count += 1
    regions = regions.reshape(pad_h // window[0], window[0], pad_w // window[1], window[1]).transpose(0, 2, 1, 3)
    regions = regions.reshape(-1, window[0] * window[1])
    differs = regions[:, None, :] - regions[:, :, None] != 0
    return np.where(differs, -100.0, 0.0).astype(dtype)[None, :, None]


def _scalar(ctx: NodeContext, value: float) -> relax.Expr:
    return relax.const(np.array(value, dtype=ctx.dtype))


def _windows(ctx: NodeContext, x, batch, grid: tuple[int, int], window: list[int], channels: int):
    """[B, pH, pW, C] → [B * num_windows, N, C], windows in row-major order."""
    x = ctx.emit_te(shape.reshape, x, new_shape=[batch, grid[0], window[0], grid[1], window[1], channels])
    x = ctx.emit_te(shape.permute, x, axes=[0, 1, 3, 2, 4, 5])
    return ctx.emit_te(shape.reshape, x, new_shape=[batch * grid[0] * grid[1], window[0] * window[1], channels])


def _unwindows(ctx: NodeContext, x, batch, grid: tuple[int, int], window: list[int], channels: int):
    """[B * num_windows, N, C] → [B, pH, pW, C] (the inverse of _windows)."""
    x = ctx.emit_te(shape.reshape, x, new_shape=[batch, grid[0], grid[1], window[0], window[1], channels])
    x = ctx.emit_te(shape.permute, x, axes=[0, 1, 3, 2, 4, 5])
    return ctx.emit_te(shape.reshape, x, new_shape=[batch, grid[0] * window[0], grid[1] * window[1], channels])


def _pair(ctx: NodeContext, value: object, parameter: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(isinstance(v, numbers.Integral) for v in value):
        raise ctx.unsupported(parameter, f"must be two ints, got {value!r}")
    return [int(v) for v in value]


def shifted_window_attention(ctx, input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads,
                             shift_size, attention_dropout=0.0, dropout=0.0, qkv_bias=None, proj_bias=None,
                             logit_scale=None, training=True):
    """Window (shifted) multi-head self-attention on [B, H, W, C]; B may be symbolic."""
    if training and (attention_dropout or dropout):
        raise ctx.unsupported("training", "dropout in training mode zeroes random elements; call model.eval() before importing")
    dims = ctx.shape(input)
    if len(dims) != 4:
        raise ctx.shape_error(f"expects an input [B, H, W, C], got shape {dims}", "input")
    batch = dims[0]
    height, width, channels = static_dims(ctx, dims, range(1, 4), "shifted_window_attention")
    window = _pair(ctx, window_size, "window_size")
    shift = _pair(ctx, shift_size, "shift_size")
    if not isinstance(num_heads, numbers.Integral) or channels % num_heads:
        raise ctx.shape_error(f"{channels} channels do not split into num_heads={num_heads!r} heads", "num_heads")
    tokens, head_dim = window[0] * window[1], channels // num_heads
    pad_b, pad_r = (window[0] - height % window[0]) % window[0], (window[1] - width % window[1]) % window[1]
    pad_h, pad_w = height + pad_b, width + pad_r
    x = ctx.emit_te(padding.pad, input, padding=[(0, pad_b), (0, pad_r), (0, 0)]) if pad_b or pad_r else input
    shift = [0 if w >= p else s for w, p, s in zip(window, (pad_h, pad_w), shift)]
    shifted = sum(shift) > 0
    if shifted:
        x = ctx.emit_te(rearrange.roll, x, shifts=[0, (-shift[0]) % pad_h, (-shift[1]) % pad_w, 0])
    grid = (pad_h // window[0], pad_w // window[1])
    num_windows = grid[0] * grid[1]
    x = _windows(ctx, x, batch, grid, window, channels)
    if logit_scale is not None and qkv_bias is not None:
        qkv_bias = ctx.emit_te(kernels.zero_key_bias, qkv_bias)
    qkv = ctx.emit_te(linear.linear, x, qkv_weight, qkv_bias)
    qkv = ctx.emit_te(shape.reshape, qkv, new_shape=[batch * num_windows, tokens, 3, num_heads, head_dim])
    qkv = ctx.emit_te(shape.permute, qkv, axes=[2, 0, 3, 1, 4])
    q, k, v = (
        ctx.emit_te(shape.strided_slice, qkv, begin=[i, 0, 0, 0, 0], step=[1] * 5, out_axes=[None, 0, 1, 2, 3],
                    out_shape=[batch * num_windows, num_heads, tokens, head_dim])
        for i in range(3)
    )
    if logit_scale is not None:
        q = ctx.emit_te(normalization.normalize, q, ord=2.0, axes=[3], eps=1e-12)
        k = ctx.emit_te(normalization.normalize, k, ord=2.0, axes=[3], eps=1e-12)
        attn = ctx.emit_te(linear.matmul, q, ctx.emit_te(shape.permute, k, axes=[0, 1, 3, 2]))
        attn = ctx.emit_te(elementwise.multiply, attn, ctx.emit_te(kernels.cosine_logit_scale, logit_scale))
    else:
        q = ctx.emit_te(elementwise.multiply, q, _scalar(ctx, head_dim**-0.5))
        attn = ctx.emit_te(linear.matmul, q, ctx.emit_te(shape.permute, k, axes=[0, 1, 3, 2]))
    attn = ctx.emit_te(elementwise.add, attn, relative_position_bias)
    if shifted:
        mask = relax.const(_window_mask(pad_h, pad_w, window, shift, ctx.dtype))
        attn = ctx.emit_te(shape.reshape, attn, new_shape=[batch, num_windows, num_heads, tokens, tokens])
        attn = ctx.emit_te(elementwise.add, attn, mask)
        attn = ctx.emit_te(shape.reshape, attn, new_shape=[batch * num_windows, num_heads, tokens, tokens])
    attn = ctx.emit_te(softmax.softmax, attn, axis=3)
    x = ctx.emit_te(linear.matmul, attn, v)
    x = ctx.emit_te(shape.permute, x, axes=[0, 2, 1, 3])
    x = ctx.emit_te(shape.reshape, x, new_shape=[batch * num_windows, tokens, channels])
    x = ctx.emit_te(linear.linear, x, proj_weight, proj_bias)
    x = _unwindows(ctx, x, batch, grid, window, channels)
    if shifted:
        x = ctx.emit_te(rearrange.roll, x, shifts=[0, shift[0] % pad_h, shift[1] % pad_w, 0])
    if pad_b or pad_r:
        x = ctx.emit_te(padding.pad, x, padding=[(0, -pad_b), (0, -pad_r), (0, 0)])
    return x


def _constant_index(ctx: NodeContext, index, parameter: str) -> np.ndarray:
    """The values of an integer buffer argument, read at import."""
    values = ctx.constant(index)
    if values is None or values.dtype.kind not in "iu":
        raise ctx.unsupported(parameter, "must be an integer buffer of the model (its values are read at import)")
    return values.astype("int64")


def get_relative_position_bias(ctx, relative_position_bias_table, relative_position_index, window_size):
    """table[index] as [1, num_heads, N, N] (N = window_size[0] * window_size[1])."""
    window = _pair(ctx, window_size, "window_size")
    tokens = window[0] * window[1]
    index = _constant_index(ctx, relative_position_index, "relative_position_index")
    rows, heads = static_dims(ctx, ctx.shape(relative_position_bias_table), range(2), "_get_relative_position_bias")
    if index.shape != (tokens * tokens,) or index.min() < 0 or index.max() >= rows:
        raise ctx.shape_error(
            f"relative_position_index of shape {index.shape} (values {index.min()}..{index.max()}) does not index "
            f"{rows} table rows for a {window[0]}x{window[1]} window",
            "relative_position_index",
        )
    bias = ctx.emit_te(shape.take, relative_position_bias_table, relax.const(index, "int64"), axis=0)
    bias = ctx.emit_te(shape.reshape, bias, new_shape=[tokens, tokens, heads])
    bias = ctx.emit_te(shape.permute, bias, axes=[2, 0, 1])
    return ctx.emit_te(shape.unsqueeze, bias, axis=0)


def patch_merging_pad(ctx, x):
    """[..., H, W, C] padded to even H and W, its 2x2 neighbours concatenated: [..., H/2, W/2, 4C]."""
    dims = ctx.shape(x)
    if len(dims) < 3:
        raise ctx.shape_error(f"expects an input [..., H, W, C], got shape {dims}", "x")
    height, width, channels = static_dims(ctx, dims, range(len(dims) - 3, len(dims)), "_patch_merging_pad")
    if height % 2 or width % 2:
        x = ctx.emit_te(padding.pad, x, padding=[(0, height % 2), (0, width % 2), (0, 0)])
    lead = len(dims) - 3
    out_shape = [*dims[:lead], (height + 1) // 2, (width + 1) // 2, channels]
    pieces = [
        ctx.emit_te(shape.strided_slice, x, begin=[0] * lead + [row, column, 0], step=[1] * lead + [2, 2, 1],
                    out_axes=list(range(len(dims))), out_shape=out_shape)
        for row, column in ((0, 0), (1, 0), (0, 1), (1, 1))
    ]
    return ctx.emit_te(shape.concatenate, pieces, axis=len(dims) - 1)


if _swin is not None:
    register_converter(_swin.shifted_window_attention)(shifted_window_attention)
    register_converter(_swin._get_relative_position_bias, any_dtype=("relative_position_index",))(get_relative_position_bias)
    register_converter(_swin._patch_merging_pad)(patch_merging_pad)
