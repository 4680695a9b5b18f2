"""Converters for padding: `F.pad` in every mode and the nn padding modules (ZeroPad*, ConstantPad*,
ReflectionPad*, ReplicationPad*, CircularPad*), and their ATen ops from torch.export (`aten.pad`,
`constant_pad_nd`, `reflection_pad{1,2,3}d`, `replication_pad{1,2,3}d`, `_pad_circular`), onto
kernels/padding.py.

PyTorch's rules are checked at import: an even-length `pad` of ints, pairs from the last axis back;
constant padding on any number of axes, the other modes on the last 1-3 axes of an input with at
most one leading axis more; negative amounts crop; each mode's size limits; empty results refused.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..importer import Dim, NodeContext
from ..kernels import padding as kernels
from ..registry import register_converter

_MODULE_MODES = {
    **dict.fromkeys((nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d), "constant"),
    **dict.fromkeys((nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d), "reflect"),
    **dict.fromkeys((nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d), "replicate"),
    **dict.fromkeys((nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d), "circular"),
}
_CIRCULAR_RANKS = {nn.CircularPad1d: (2, 3), nn.CircularPad2d: (3, 4), nn.CircularPad3d: (4, 5)}

aten = torch.ops.aten
_ATEN_MODES = {  # ATen's padding ops of one mode and a fixed number of padded axes
    aten.reflection_pad1d.default: ("reflect", 1),
    aten.reflection_pad2d.default: ("reflect", 2),
    aten.reflection_pad3d.default: ("reflect", 3),
    aten.replication_pad1d.default: ("replicate", 1),
    aten.replication_pad2d.default: ("replicate", 2),
    aten.replication_pad3d.default: ("replicate", 3),
}


def _pairs(ctx: NodeContext, pad: object, rank: int) -> list[tuple[int, int]]:
    """F.pad's flat `pad` (last axis first) as (before, after) per padded axis, first axis first."""
    if not isinstance(pad, (tuple, list)) or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in pad):
        raise ctx.unsupported("pad", f"must be a sequence of ints, got {pad!r}")
    if len(pad) % 2:
        raise ctx.shape_error(f"padding length must be divisible by 2, got {len(pad)} values {tuple(pad)}", "pad")
    if len(pad) > 2 * rank:
        raise ctx.shape_error(
            f"padding length should be at most twice the input dimension, got {len(pad)} values for a {rank}-D input", "pad"
        )
    return [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in reversed(range(len(pad) // 2))]


def _check_axis(ctx: NodeContext, mode: str, axis: int, size: Dim, before: int, after: int) -> None:
    """PyTorch's limits on one padded axis for `mode`; a symbolic axis takes only non-negative constant
    or replicate padding, the modes whose result is defined for any size."""
    if before == after == 0:
        return
    if not isinstance(size, int):
        if mode in ("constant", "replicate") and before >= 0 and after >= 0:
            return
        raise ctx.unsupported("pad", f"{mode} padding ({before}, {after}) of axis {axis}, whose size {size} is symbolic")
    out = size + before + after
    if mode == "constant" and size + min(before, 0) + min(after, 0) < 0:  # PyTorch crops first (narrow)
        raise ctx.shape_error(f"padding ({before}, {after}) crops more than the size {size} of axis {axis}", "pad")
    if mode == "reflect" and not (before < size and after < size):
        raise ctx.shape_error(f"reflect padding ({before}, {after}) must be smaller than the size {size} of axis {axis}", "pad")
    if mode == "circular":  # PyTorch's limit is the axis size; past what a crop leaves, we wrap modulo
        kept = size + min(before, 0) + min(after, 0)
        if max(before, after) > size:
            raise ctx.shape_error(
                f"circular padding ({before}, {after}) of axis {axis} (size {size}) wraps around more than once", "pad"
            )
        if kept < 1 and max(before, after) > 0:
            raise ctx.shape_error(f"circular padding ({before}, {after}) of axis {axis} (size {size}) wraps an emptied axis", "pad")
    if out < 1:
        raise ctx.shape_error(
            f"padding ({before}, {after}) of axis {axis} (size {size}) leaves {out} values (empty tensors are not supported)",
            "pad",
        )


def _pad(ctx: NodeContext, input, pad: object, mode: object, value: object):
    shape = ctx.shape(input)
    rank = len(shape)
    if mode not in kernels.PAD_MODES:
        raise ctx.unsupported("mode", f"unrecognised padding mode {mode!r} (PyTorch's are {', '.join(kernels.PAD_MODES)})")
    pairs = _pairs(ctx, pad, rank)
    if mode == "constant":
        if value is None:
            value = 0.0
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ctx.unsupported("value", f"must be a real number, got {value!r}")
    else:
        if value not in (None, 0):
            raise ctx.unsupported("value", f"padding mode {mode!r} doesn't take in a value argument (got {value!r})")
        if len(pairs) not in (1, 2, 3) or rank not in (len(pairs) + 1, len(pairs) + 2):
            raise ctx.shape_error(
                f"{mode} padding of {len(pairs)} axes is not supported for a {rank}-D input (PyTorch pads the last "
                "1, 2 or 3 axes of an input with one or two axes more)",
                "pad",
            )
        value = 0.0
    for axis, (before, after) in zip(range(rank - len(pairs), rank), pairs):
        _check_axis(ctx, mode, axis, shape[axis], before, after)
    if all(before == after == 0 for before, after in pairs):
        return input
    return ctx.emit_te(kernels.pad, input, padding=pairs, mode=mode, value=float(value))


@register_converter(F.pad)
def pad(ctx, input, pad, mode="constant", value=None):
    return _pad(ctx, input, pad, mode, value)


@register_converter(*_MODULE_MODES)
def pad_module(ctx, input):
    module = ctx.module
    rank = len(ctx.shape(input))
    if type(module) in _CIRCULAR_RANKS and rank not in _CIRCULAR_RANKS[type(module)]:
        low, high = _CIRCULAR_RANKS[type(module)]
        raise ctx.shape_error(f"expected {low}D or {high}D input (got {rank}D input)")
    return _pad(ctx, input, module.padding, _MODULE_MODES[type(module)], getattr(module, "value", None))


@register_converter(aten.pad.default)
def pad_aten(ctx, input, pad, mode="constant", value=None):
    """torch.export's F.pad, with F.pad's arguments."""
    return _pad(ctx, input, pad, mode, value)


@register_converter(aten.constant_pad_nd.default)
def constant_pad_nd(ctx, input, pad, value=0):
    """Constant padding (negative amounts crop) of any number of trailing axes: F.pad's constant mode."""
    return _pad(ctx, input, pad, "constant", value)


@register_converter(*_ATEN_MODES)
def pad_axes_aten(ctx, input, padding):
    """reflection_pad{1,2,3}d / replication_pad{1,2,3}d: one mode on exactly 1, 2 or 3 trailing axes."""
    mode, axes = _ATEN_MODES[ctx.target]
    if not isinstance(padding, (tuple, list)) or len(padding) != 2 * axes:
        raise ctx.shape_error(f"padding size is expected to be {2 * axes}, got {padding!r}", "padding")
    return _pad(ctx, input, padding, mode, None)


@register_converter(aten._pad_circular.default)
def pad_circular_aten(ctx, input, pad):
    """F.pad's circular mode as ATen records it."""
    return _pad(ctx, input, pad, "circular", None)
