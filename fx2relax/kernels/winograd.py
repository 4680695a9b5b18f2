"""Winograd convolution F(2x2, 3x3) for 3x3, stride 1, dilation 1, groups 1 2-D convolutions.

Lavin & Gray's minimal filtering: each m x m tile of outputs (m = 2) is A^T [(G g G^T) ⊙ (B^T d B)] A
for the (m + 2)² input tile d and the 3x3 filter g. The filter transform U = G g G^T is done once
at compile time (fx2relax.packing); here are the input transform V = B^T d B per tile and channel,
one product over input channels per transform position (a batched GEMM, (m + 2)² of them, on U
packed in vectors of output channels) and the output transform. Terms with a zero coefficient are
left out of the transforms, so an input reaches exactly the outputs whose 3x3 window holds it: a
NaN or ±inf input makes the same outputs non-finite as in PyTorch, though where the transforms
meet +inf and -inf an output PyTorch has as ±inf comes out NaN. The input transform adds up to
four inputs, so finite inputs beyond a quarter of the dtype's largest value (8.5e37 in float32)
may overflow to ±inf where PyTorch's sum stays finite. F(4x4, 3x3) would do less work,
but its larger coefficients put float32 results up to 2.7x past PyTorch's rtol/atol 1e-5 (64-256
channels), so it is not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from tvm import te, tirx

from .conv import _add_bias
from .marks import mark
from .padding import pad

_HALF = Fraction(1, 2)
_TRANSFORMS: dict[int, tuple[list[list[Fraction]], list[list[Fraction]], list[list[Fraction]]]] = {
    2: (  # (B^T, G, A^T) for F(2, 3), interpolation points 0, 1, -1, ∞
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [_HALF, _HALF, _HALF], [_HALF, -_HALF, _HALF], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
}


def transform_matrices(tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B^T [a, a], G [a, 3], A^T [tile, a]) in float64 for F(tile, 3), a = tile + 2."""
    return tuple(np.array(matrix, dtype=np.float64) for matrix in _TRANSFORMS[tile])


def transform_weight(weight: np.ndarray, tile: int, lanes: int) -> np.ndarray:
    """The filter transform of a [O, C, 3, 3] weight, packed for `winograd_conv2d`: [a, a, O / lanes, C, lanes]
    with packed[i, j, b, c, l] = (G g G^T)[i, j] for g = weight[b * lanes + l, c], in float64 rounded once."""
    _, g, _ = transform_matrices(tile)
    transformed = g @ weight.astype(np.float64) @ g.T  # [O, C, a, a]
    out_channels, in_channels, size, _ = transformed.shape
    packed = transformed.reshape(out_channels // lanes, lanes, in_channels, size, size).transpose(3, 4, 0, 2, 1)
    return np.ascontiguousarray(packed).astype(weight.dtype)


def _select(index: tirx.PrimExpr, options: list[tirx.PrimExpr]) -> tirx.PrimExpr:
    """options[index] for an index in range (a chain of selects, folded once the index is unrolled)."""
    chosen = options[-1]
    for position in range(len(options) - 2, -1, -1):
        chosen = tirx.Select(index == position, options[position], chosen)
    return chosen


def _combination(terms: list[tuple[float, tirx.PrimExpr]], dtype: str) -> tirx.PrimExpr:
    """Σ coefficient * term over the terms with non-zero coefficients (a coefficient ±1 adds or subtracts)."""
    total = None
    for coefficient, term in terms:
        if coefficient == 0:
            continue
        if abs(coefficient) != 1:
            term = term * tirx.const(abs(coefficient), dtype)
        if total is None:
            total = term if coefficient > 0 else -term
        else:
            total = total + term if coefficient > 0 else total - term
    return total


def output_tiles(height: int, width: int, padding: Sequence[Sequence[int]], tile: int) -> tuple[int, int]:
    """(rows, columns) of tile x tile output tiles of winograd_conv2d over one [H, W] plane padded
    by ((top, bottom), (left, right)): the last row and column of tiles partly past the output."""
    (top, bottom), (left, right) = padding
    return -(-(height + top + bottom - 2) // tile), -(-(width + left + right - 2) // tile)


def winograd_conv2d(
    data: te.Tensor,
    transformed_weight: te.Tensor,
    bias: te.Tensor | None,
    padding: Sequence[Sequence[int]],
    tile: int,
) -> te.Tensor:
    """conv2d (3x3 kernel, stride 1, dilation 1, groups 1, zero `padding`) by Winograd F(tile, 3).

    data: [N, C, H, W]; transformed_weight: [a, a, O / lanes, C, lanes] from `transform_weight`
    (a = tile + 2); bias: [O] or None; padding: ((top, bottom), (left, right)).
    Returns [N, O, OH, OW] with OH = H + top + bottom - 2, likewise OW; equal to conv2d up to the
    roundings of the transforms (see the module docstring).
    """
    batch, channels, height, width = data.shape
    size, _, blocks, _, lanes = (int(extent) for extent in transformed_weight.shape)
    dtype = data.dtype
    (top, bottom), (left, right) = padding
    out_h, out_w = int(height) + top + bottom - 2, int(width) + left + right - 2
    tiles_h, tiles_w = output_tiles(int(height), int(width), padding, tile)
    # zeros past the bottom and right edges fill the last tiles; the outputs they make are not kept
    padded = pad(data, ((top, bottom + tiles_h * tile - out_h), (left, right + tiles_w * tile - out_w)), "constant")
    b_t, _, a_t = (matrix.tolist() for matrix in transform_matrices(tile))

    def input_transform(row, column, n, tile_row, tile_column, c):
        def value(i, j):
            return padded[n, c, tile_row * tile + i, tile_column * tile + j]

        def combined(alpha, beta):
            return _combination([(b_t[alpha][i] * b_t[beta][j], value(i, j)) for i in range(size) for j in range(size)], dtype)

        return _select(row, [_select(column, [combined(alpha, beta) for beta in range(size)]) for alpha in range(size)])

    transformed = te.compute(
        (size, size, batch, tiles_h, tiles_w, channels), input_transform, name="winograd_input",
        attrs=mark("winograd_input", tile=tile),
    )
    rc = te.reduce_axis((0, channels), name="rc")
    product = te.compute(
        (size, size, batch, tiles_h, tiles_w, blocks * lanes),
        lambda row, column, n, tile_row, tile_column, o: te.sum(
            transformed[row, column, n, tile_row, tile_column, rc] * transformed_weight[row, column, o // lanes, rc, o % lanes],
            axis=rc,
        ),
        name="winograd_product",
        attrs=mark("winograd_product"),
    )

    def output_transform(n, o, h, w):
        def combined(i, j):
            terms = [
                (a_t[i][alpha] * a_t[j][beta], product[alpha, beta, n, h // tile, w // tile, o])
                for alpha in range(size) for beta in range(size)
            ]
            return _combination(terms, dtype)

        return _select(h % tile, [_select(w % tile, [combined(i, j) for j in range(tile)]) for i in range(tile)])

    out = te.compute(
        (batch, blocks * lanes, out_h, out_w), output_transform, name="winograd_output", attrs=mark("winograd_output", tile=tile)
    )
    return _add_bias(out, bias, 2)
