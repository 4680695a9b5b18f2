"""Padding of trailing axes, as PyTorch's `F.pad` modes: constant (any value), reflect, replicate
and circular, each before/after amount positive (pad) or negative (crop).

Shared by F.pad and nn.*Pad* modules and by convolutions' `padding_mode`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .marks import mark
from .rearrange import wrapped_index

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(index: tirx.Expr, before: int, after: int, size: int, mode: str) -> tirx.Expr:
    """The input index that output position `index` of one axis reads (non-constant modes).

    Reflect and replicate read the original axis shifted by `before` (a crop only moves the window);
    circular wraps around the axis left after cropping, as PyTorch's `_pad_circular` does.
    """
    shifted = index - before
    if mode == "replicate":
        return tirx.max(tirx.min(shifted, size - 1), 0)
    if mode == "reflect":
        mirrored = tirx.Select(shifted < 0, -shifted, shifted)
        return tirx.Select(mirrored >= size, 2 * (size - 1) - mirrored, mirrored)
    start = max(0, -before)
    kept = size + min(before, 0) + min(after, 0)
    return start + wrapped_index(index - max(before, 0), kept)  # padding of at most `kept` (the converter checks)


def pad(data: te.Tensor, padding: Sequence[Sequence[int]], mode: str = "constant", value: float = 0.0) -> te.Tensor:
    """Pad (or, with negative amounts, crop) the last len(padding) axes of `data`.

    data: [*batch, S1, ..., Sk]; padding: ((before_1, after_1), ..., (before_k, after_k)); mode one
    of PAD_MODES; `value` fills constant padding. The converters check PyTorch's limits (reflect:
    pad < size; circular: pad <= the cropped size; every output size >= 1).
    Returns [*batch, S1 + before_1 + after_1, ..., Sk + before_k + after_k].
    """
    if mode not in PAD_MODES:
        raise ValueError(f"padding mode {mode!r} is not one of {PAD_MODES}")
    if all(before == after == 0 for before, after in padding):
        return data
    spatial = len(padding)
    sizes = data.shape[len(data.shape) - spatial :]
    out_shape = (*data.shape[: len(data.shape) - spatial], *(s + b + a for s, (b, a) in zip(sizes, padding)))

    if mode == "constant":
        def padded(*i):
            source = [p - before for p, (before, _) in zip(i[len(i) - spatial :], padding)]
            inside = tirx.all(*(s >= 0 for s in source), *(s < size for s, size in zip(source, sizes)))
            return te.if_then_else(inside, data[(*i[: len(i) - spatial], *source)], tirx.const(value, data.dtype))
    else:
        def padded(*i):
            source = [
                _source_index(p, before, after, size, mode)
                for p, (before, after), size in zip(i[len(i) - spatial :], padding, sizes)
            ]
            return data[(*i[: len(i) - spatial], *source)]

    return te.compute(out_shape, padded, name="pad", attrs=mark("pad"))
