"""GEMM/GEMV schedule for kernels.linear.linear_packed: register tiles of rows x one weight panel.

The weights are packed in panels of PACK_WIDTH output features ([panels, K, PACK_WIDTH]), so for
each input feature k the inner loop loads one contiguous vector of weights, broadcasts one input
value per row of the tile and accumulates with FMAs into a [rows, PACK_WIDTH] tile kept in
registers. Tiles (row block, panel) run in parallel. A small product (a GEMV: a few rows) is one
tile of all rows and all panels on one core instead: its accumulators are independent FMA chains
(a one-row tile per panel waits on the FMA latency), and a parallel launch costs more than the
work. k runs in order, so sums equal `linear`'s.
"""

from __future__ import annotations

import tvm
from tvm import s_tir

from ..kernels.linear import PACK_WIDTH
from .generic import SERIAL_MAX_MACS, inline_injective, parallelize_outer, static_extent

ROW_TILES = (8, 6, 4, 3, 2)
"""Rows per register tile, largest first: the first that divides the batch is used."""


TILE_ACCUMULATORS = 24
"""Vector accumulators one tile may hold (AVX-512 has 32 registers; the rest load and broadcast)."""

def row_tile(rows: int | None) -> int:
    """Rows per register tile for `rows` input rows (None: symbolic, the largest tile, its rows
    past the batch masked off)."""
    if rows is None:
        return ROW_TILES[0]
    return next((tile for tile in ROW_TILES if rows % tile == 0), 1)


def schedule_packed_matmul(sch: s_tir.Schedule, block_name: str, target: tvm.target.Target) -> None:
    """Schedule the "matmul_packed" block and its epilogue (bias, activation) in a fused function."""
    inline_injective(sch, keep=(block_name,))
    matmul = sch.get_sblock(block_name)
    epilogue = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).name_hint != block_name]
    m_loop, n_loop, k_loop = sch.get_loops(matmul)  # rows: the batch axes flattened
    panel, lane = sch.split(n_loop, factors=[None, PACK_WIDTH])
    rows, panels = static_extent(sch.get(m_loop).extent), static_extent(sch.get(panel).extent)
    depth = static_extent(sch.get(k_loop).extent)
    if None not in (rows, panels, depth) and _fits_one_tile(rows, panels, depth):
        sch.reorder(k_loop, m_loop, panel, lane)
        accumulator = sch.cache_write(matmul, 0, "local")
        tile_loops = (m_loop, panel)
    else:
        m_outer, row_loop = sch.split(m_loop, factors=[None, row_tile(rows)])
        sch.reorder(m_outer, panel, k_loop, row_loop, lane)
        outer = sch.fuse(m_outer, panel)
        sch.parallel(outer)
        accumulator = sch.cache_write(matmul, 0, "local")
        sch.reverse_compute_at(accumulator, outer)
        tile_loops = (row_loop,)
    _vectorize_tile(sch, matmul, accumulator, k_loop, tile_loops, lane)
    for block in epilogue:
        parallelize_outer(sch, block)


def _fits_one_tile(rows: int, panels: int, depth: int) -> bool:
    """Whether all rows x panels fit one register tile and the product is small enough for one core."""
    return rows * panels <= TILE_ACCUMULATORS and rows * panels * PACK_WIDTH * depth <= SERIAL_MAX_MACS


def _vectorize_tile(
    sch: s_tir.Schedule,
    matmul: s_tir.schedule.SBlockRV,
    accumulator: s_tir.schedule.SBlockRV,
    k_loop: s_tir.schedule.LoopRV,
    unrolled: tuple[s_tir.schedule.LoopRV, ...],
    lane: s_tir.schedule.LoopRV,
) -> None:
    """The register tile: `unrolled` loops (rows, panels) unrolled inside k, `lane` one vector;
    the accumulator's initialisation and write-back vectorised."""
    for loop in unrolled:
        sch.unroll(loop)
    sch.vectorize(lane)
    init = sch.decompose_reduction(matmul, k_loop)
    sch.vectorize(sch.get_loops(init)[-1])
    sch.vectorize(sch.get_loops(accumulator)[-1])
