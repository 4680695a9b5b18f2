"""Converters for roll, flip, repeat/tile, repeat_interleave, unbind and unfold (methods and torch.
functions).

unbind returns a Python tuple of tensors, as chunk and split do, so `q, k, v = qkv.unbind(0)`
becomes three slices.
"""

from __future__ import annotations

import numbers

import torch

from ..importer import NodeContext
from ..kernels import rearrange as kernels
from ..kernels import shape as shape_kernels
from ..registry import register_converter
from .common import is_size, normalize_dim

aten = torch.ops.aten


def _ints(ctx: NodeContext, value: object, parameter: str) -> list[int]:
    """An int or a sequence of ints as a list."""
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise ctx.unsupported(parameter, f"must be an int or a sequence of ints, got {value!r}")
    return [int(v) for v in values]


@register_converter(torch.roll, "roll")
def roll(ctx, input, shifts, dims=None):
    shape = ctx.shape(input)
    steps = _ints(ctx, shifts, "shifts")
    if dims is None:
        if len(steps) != 1:
            raise ctx.shape_error(f"shifts and dimensions must align: {len(steps)} shifts and no dims", "shifts")
        return ctx.emit_te(kernels.roll_flat, input, shift=steps[0])
    axes = [normalize_dim(ctx, d, len(shape), "dims") for d in _ints(ctx, dims, "dims")]
    if len(axes) != len(steps):
        raise ctx.shape_error(f"shifts and dimensions must align: {len(steps)} shifts and {len(axes)} dims", "shifts")
    per_axis = [0] * len(shape)
    for axis, step in zip(axes, steps):  # a dim named twice rolls by the sum, as PyTorch does
        per_axis[axis] += step
    per_axis = [s % d if isinstance(d, int) else s for s, d in zip(per_axis, shape)]
    if not any(per_axis):
        return input
    return ctx.emit_te(kernels.roll, input, shifts=per_axis)


@register_converter(torch.flip, "flip", aten.flip.default, any_dtype=("input",))
def flip(ctx, input, *dims_given, dims=None):
    """Reverse along `dims`: `torch.flip(x, dims)`, `x.flip(dims)` or `x.flip(0, 1)`."""
    if dims is None:
        dims = dims_given[0] if len(dims_given) == 1 and isinstance(dims_given[0], (tuple, list)) else dims_given
    elif dims_given:
        raise ctx.unsupported("dims", "given both by position and by keyword")
    shape = ctx.shape(input)
    axes = [normalize_dim(ctx, d, len(shape), "dims") for d in _ints(ctx, dims, "dims")] if len(shape) else []
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise ctx.shape_error(f"dim {repeated[0]} appears multiple times in the list of dims {dims!r}", "dims")
    flipped = [a for a in axes if not (isinstance(shape[a], int) and shape[a] == 1)]
    return ctx.emit_te(kernels.flip, input, axes=flipped) if flipped else input


@register_converter(
    torch.repeat_interleave, "repeat_interleave", aten.repeat_interleave.self_int, any_dtype=("input", "repeats")
)
def repeat_interleave(ctx, input, repeats=None, dim=None, *, output_size=None):
    """Each element repeated `repeats` (an int) times along `dim`, or along the flattened tensor
    when dim is None."""
    if repeats is None or not isinstance(repeats, numbers.Integral) or isinstance(repeats, bool):
        raise ctx.unsupported(
            "repeats", f"only an int number of repeats is supported (not a tensor of per-element counts), got {repeats!r}"
        )
    if repeats <= 0:
        raise ctx.shape_error(f"repeats must be positive (empty tensors are not supported), got {repeats}", "repeats")
    shape = ctx.shape(input)
    if dim is None:
        count = 1
        for d in shape:
            count = count * d
        input, axis = ctx.emit_te(shape_kernels.reshape, input, new_shape=[count]), 0
    elif isinstance(dim, numbers.Integral) and not isinstance(dim, bool):
        axis = normalize_dim(ctx, int(dim), max(len(shape), 1), "dim")
        if len(shape) == 0:
            input = ctx.emit_te(shape_kernels.reshape, input, new_shape=[1])
    else:
        raise ctx.unsupported("dim", f"must be an int or None, got {dim!r}")
    out_length = ctx.shape(input)[axis] * int(repeats)
    if output_size is not None and isinstance(out_length, int) and output_size != out_length:
        raise ctx.shape_error(f"output_size={output_size} but the result has {out_length} elements along dim", "output_size")
    return ctx.emit_te(kernels.repeat_interleave, input, axis=axis, repeats=int(repeats))


def _repeats(ctx: NodeContext, sizes: tuple, parameter: str) -> list:
    """`*sizes` as given to repeat/tile: ints or size PrimExprs, or one sequence of them."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = tuple(sizes[0])
    for size in sizes:
        if not is_size(size):
            raise ctx.unsupported(parameter, f"must be integers, got {sizes!r}")
        if isinstance(size, numbers.Integral) and size <= 0:
            raise ctx.shape_error(f"repeat counts must be positive (empty tensors are not supported), got {sizes!r}", parameter)
    return [int(s) if isinstance(s, numbers.Integral) else s for s in sizes]


@register_converter("repeat")
def repeat(ctx, input, *sizes):
    repeats = _repeats(ctx, sizes, "sizes")
    rank = len(ctx.shape(input))
    if len(repeats) < rank:
        raise ctx.shape_error(
            f"number of dimensions of repeat dims ({len(repeats)}) can not be smaller than the tensor's ({rank})", "sizes"
        )
    if len(repeats) == rank and all(isinstance(r, int) and r == 1 for r in repeats):
        return input
    return ctx.emit_te(kernels.repeat, input, repeats=repeats)


@register_converter(torch.tile, "tile")
def tile(ctx, input, *dims):
    """`torch.tile`: repeat, with fewer counts than axes padded by leading ones."""
    repeats = _repeats(ctx, dims, "dims")
    rank = len(ctx.shape(input))
    repeats = [1] * (rank - len(repeats)) + repeats
    if len(repeats) == rank and all(isinstance(r, int) and r == 1 for r in repeats):
        return input
    return ctx.emit_te(kernels.repeat, input, repeats=repeats)


@register_converter(torch.unbind, "unbind")
def unbind(ctx, input, dim=0):
    """A Python tuple of the slices of `input` along `dim` (which must have a static size)."""
    shape = ctx.shape(input)
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
        raise ctx.unsupported("dim", f"must be an int, got {dim!r}")
    if len(shape) == 0:
        raise ctx.shape_error("unbind of a 0-d tensor: dimension specified as 0 but tensor has no dimensions", "dim")
    axis = normalize_dim(ctx, int(dim), len(shape), "dim")
    if not isinstance(shape[axis], int):
        raise ctx.unsupported("dim", f"unbinding axis {axis} of symbolic size {shape[axis]} is not supported")
    out_axes = [None if a == axis else a - (a > axis) for a in range(len(shape))]
    out_shape = [d for a, d in enumerate(shape) if a != axis]
    return tuple(
        ctx.emit_te(
            shape_kernels.strided_slice, input,
            begin=[i if a == axis else 0 for a in range(len(shape))], step=[1] * len(shape),
            out_axes=out_axes, out_shape=out_shape,
        )
        for i in range(shape[axis])
    )


@register_converter("unfold")
def unfold(ctx, input, dimension, size, step):
    """`x.unfold(dim, size, step)`: sliding windows along `dim` as a new last axis (static sizes)."""
    shape = ctx.shape(input)
    for value, name in ((dimension, "dimension"), (size, "size"), (step, "step")):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ctx.unsupported(name, f"must be an int, got {value!r}")
    if len(shape) == 0:
        raise ctx.shape_error("unfolding a 0-d tensor is not supported", "dimension")
    axis = normalize_dim(ctx, int(dimension), len(shape), "dimension")
    length = shape[axis]
    if not isinstance(length, int):
        raise ctx.unsupported("dimension", f"unfolding axis {axis} of symbolic size {length} is not supported")
    if step <= 0:
        raise ctx.shape_error(f"step is {step} but must be > 0", "step")
    if not 0 < size <= length:
        raise ctx.shape_error(
            f"maximum size for tensor at dimension {axis} is {length} but size is {size} (empty windows are not supported)",
            "size",
        )
    return ctx.emit_te(kernels.unfold, input, axis=axis, size=int(size), step=int(step))
