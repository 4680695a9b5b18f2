"""GEMM and GEMV rules for kernels.linear.linear_packed: register tiles of rows x one weight panel.

The weights are packed in panels of one vector of output features ([panels, K, width], the width
from the target's vector unit and the dtype, recorded in the stage's mark), so for each input
feature k the inner loop loads one contiguous vector of weights, broadcasts one input value per
row of the tile and accumulates with FMAs into a [rows, width] tile kept in registers. Tiles
(row block, panel) run in parallel (GEMM). A small product (GEMV: a few rows) is one tile of all
rows and a group of panels per core instead: its accumulators are independent FMA chains (a
one-row tile per panel waits on the FMA latency); a large one (the course CNN's 5408 -> 100 at
batch 1: 2.4 MB of weights, read from memory) splits its panels evenly over the cores, a small
one stays on one core, where a parallel launch would cost more than the work. k runs in order,
so sums equal `linear`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import PANEL_WIDTH, marked_kernel
from .generic import (
    SERIAL_MAX_MACS,
    inline_injective,
    is_among,
    loop_work,
    marked_block,
    output_dtype,
    parallelize_outer,
    static_extent,
    target_cores,
    top_blocks,
    vectorize_innermost,
)
from .vectors import vector_unit

ROW_TILES = (8, 6, 4, 3, 2)
"""Rows per register tile, largest first: the first that divides the batch is used."""

GEMM_MIN_ROWS = 4
"""A GEMM tile of fewer rows (one FMA chain each, over one panel) waits on the FMA latency."""

LARGE_PRODUCT_ROWS = 128
"""From this many rows on, a packed product's epilogue runs per register tile (`tiles_epilogue`)."""

GEMM_TILE_PANELS = 3
"""Panels per register tile of a GEMM of many rows, at most: 8 rows x 3 panels are AVX-512's 24
accumulators (ONNX Runtime's MLAS holds 12 rows x 2 vectors), 11 loads per 24 FMAs against 10 per 16
in 8 x 2 (ViT-Ti's 1576 x 192 x 576 / 768 / 192 and 1576 x 768 x 192, one thread: 3 to 8 % faster;
BERT-base's 2048 x 768 x 768 / 3072 and 2048 x 3072 x 768: 5 to 10 %, the tile's weights then read
from L2); BERT's 2048 x 256 x 1024 in 4 x 4 tiles (64 KB of weights, out of L1) took 1.2x the time of
8 x 2."""

ROW_CHUNK = 128
"""Rows of a GEMM's chunk, at most: each tile of panels runs down the chunk's row tiles, its weights
in L1 and the chunk's rows in L2, instead of each row tile reading all the weights from L2 (BERT's
2048 x 256 x 256, one thread: 1.58 -> 1.24 ms in 8 x 2 tiles; 64 to 512 rows measured alike; the
course CNN's 256 x 5408 x 100: 2.9 -> 2.0 ms)."""

GEMM_UNROLLED_DEPTH = 4
"""A GEMM's register tile runs this many input features per iteration of its k loop (unrolled) where
they divide K. Two threads, BERT's shapes (rows x K x N), A/B in one process: 2048 x 256 x 1024 +
GELU 3749 -> 3617 and 3676 -> 3651 us, 2048 x 1024 x 256 and 2048 x 256 x 256 together 3155 -> 2976
and 3206 -> 3021 us; 128 rows 216 -> 206 and 219 -> 204 us (the GELU one 238 -> 247 and 239 -> 239).
Unrolled by 8 or 16 it gained no more."""

MAX_TILE_ACCUMULATORS = 24
"""A one-tile GEMV holds at most this many vector accumulators (measured on znver4's 32 registers),
and at most all registers but two (the weight vector and the broadcast input): 14 of AVX2's 16."""


def accumulator_budget(target: tvm.target.Target) -> int:
    """Vector accumulators a register tile may hold on `target`: MAX_TILE_ACCUMULATORS, and at most
    all registers but the weight vector and the broadcast input."""
    return min(MAX_TILE_ACCUMULATORS, vector_unit(target).registers - 2)


def row_tile(rows: int | None) -> int:
    """Rows per register tile for `rows` input rows (None: symbolic, the largest tile, its rows
    past the batch masked off)."""
    if rows is None:
        return ROW_TILES[0]
    return next((tile for tile in ROW_TILES if rows % tile == 0), 1)


PADDED_ROWS_MAX_WASTE = 1 / 16
"""A packed linear whose rows ROW_TILES[0] does not divide computes them padded to its multiple
where that adds at most this fraction of rows, although a smaller tile divides them: ConvNeXt's
14 x 14 = 196 tokens as 200 rows in 8 x 3 tiles instead of 4 x 3 (196 x 384 -> 1536 and GELU, two
threads: 902 -> 819 us)."""


def padded_rows(rows: int, max_waste: float = 0.0) -> int | None:
    """The rows a product of `rows` (static) rows computes when no register tile of GEMM_MIN_ROWS
    rows or more divides them, or when ROW_TILES[0] does not and its multiple adds at most
    `max_waste` of the rows: rounded up to a multiple of ROW_TILES[0] (a ViT's 197 tokens: 200
    rows in tiles of 8, against 197 one-row tiles waiting on the FMA latency); None when they need
    no padding (a divisor tile, or at most one tile's worth of rows)."""
    padded = -(-rows // ROW_TILES[0]) * ROW_TILES[0]
    if rows <= ROW_TILES[0] or padded == rows:
        return None
    if row_tile(rows) >= GEMM_MIN_ROWS and padded - rows > max_waste * rows:
        return None
    return padded


def gemv_panel_groups(
    rows: int, panels: int, width: int, depth: int, target: tvm.target.Target, cores: int | None = None
) -> int | None:
    """Into how many groups of panels a product of `rows` x `panels` panels over `depth` splits
    as a GEMV (up to one group per core of `target`, the panels rounded up to a multiple of the
    groups, which the weight packing does; one group up to SERIAL_MAX_MACS multiply-adds), or None when all
    rows x a group's panels do not fit one register tile, or from GEMM_MIN_ROWS rows above
    SERIAL_MAX_MACS when the panels do not split over the cores (the GEMM's row tiles then share
    them). Each core reads only its group's weights, once: the course CNN's 4 x 5408 x 100 as
    4 x 4 tiles on 8 panels, half of the 2.4 MB per core (which stays in its L2 from call to call),
    instead of 2 x 7 tiles whose cores each read all of it (one thread: 55 -> 51 us). `cores`:
    the target's num-cores (else this machine's) unless given."""
    macs = rows * panels * width * depth
    if cores is None:
        cores = target_cores(target)
    per_group = -(-panels // max(1, cores)) if macs > SERIAL_MAX_MACS else panels
    groups = -(-panels // per_group)  # as few groups as the cores need: 20 panels on 16 cores are 10 of 2, not 16 of 2
    if rows >= GEMM_MIN_ROWS and macs > SERIAL_MAX_MACS and groups == 1:
        return None
    accumulators = accumulator_budget(target)
    return groups if rows * -(-panels // groups) <= accumulators else None


@dataclass(frozen=True)
class _PackedProduct:
    """The matmul_packed block of a fused function and its loop extents (None where symbolic)."""

    sch: s_tir.Schedule
    block: s_tir.schedule.SBlockRV
    width: int
    rows: int | None
    panels: int | None
    depth: int | None

    @classmethod
    def find(cls, func: tirx.PrimFunc) -> _PackedProduct | None:
        sch = s_tir.Schedule(func)
        block = marked_block(sch, "linear_packed")
        if block is None:
            return None
        width = int(sch.get(block).annotations[PANEL_WIDTH])
        m_loop, n_loop, k_loop = sch.get_loops(block)  # rows: the batch axes flattened
        columns = static_extent(sch.get(n_loop).extent)
        rows, depth = static_extent(sch.get(m_loop).extent), static_extent(sch.get(k_loop).extent)
        return cls(sch, block, width, rows, None if columns is None else columns // width, depth)

    def panel_groups(self, target: tvm.target.Target) -> int | None:
        """The GEMV's panel groups (gemv_panel_groups), one when its panels do not split evenly
        into them (weights not packed for this many cores), None when the product is no GEMV."""
        if None in (self.rows, self.panels, self.depth):
            return None
        groups = gemv_panel_groups(self.rows, self.panels, self.width, self.depth, target)
        if groups is not None and self.panels % groups:
            return gemv_panel_groups(self.rows, self.panels, self.width, self.depth, target, cores=1)
        return groups

    def tiles_epilogue(self, sch: s_tir.Schedule, epilogue: list[s_tir.schedule.SBlockRV]) -> bool:
        """Whether the blocks after the product (bias, activation, unpack) run per register tile,
        on the tile while it is in L1, instead of as a pass over the whole product: for a product
        of LARGE_PRODUCT_ROWS rows or more (a smaller one stays in L2 between the passes) whose
        columns are all output features (no padded panel to drop) and whose last batch axis (the
        rows if none) is a whole number of tiles."""
        if self.rows is None or self.rows < LARGE_PRODUCT_ROWS or len(epilogue) != 1:
            return False
        *_, last_batch, features = (static_extent(d) for d in sch.get(epilogue[0]).writes[0].source.shape)
        # a tile's rows within one index of the outer batch axes: its output rows are one box
        return features == self.panels * self.width and last_batch is not None and last_batch % row_tile(self.rows) == 0

    def inlines_epilogue(self, sch: s_tir.Schedule, epilogue: list[s_tir.schedule.SBlockRV]) -> bool:
        """Whether the one block after the product (bias, activation, residual add) may be computed
        in the tile's write-back, from its accumulators: its output has the product's rows (its batch
        axes flattened: no padded rows) and columns (no padded panel), so the write-back writes each
        output once and nothing else. It spares the product buffer's store and load per output and,
        for batch axes that tiles of rows straddle (ViT's 197 tokens, where `tiles_epilogue` runs a
        pass of its own), that pass (ViT-Ti's 8 x 197 x 192 -> 768 and GELU, one thread: 2.9 -> 2.6
        ms). TIR's inlining check decides whether the block reads the product element-wise."""
        if self.rows is None or self.panels is None or len(epilogue) != 1:
            return False
        *batch, features = (static_extent(d) for d in sch.get(epilogue[0]).writes[0].source.shape)
        return None not in batch and math.prod(batch) == self.rows and features == self.panels * self.width

    def tile(self, target: tvm.target.Target) -> tuple[int, int]:
        """The register tile (rows, panels) of a GEMM: for at most one tile's worth of rows
        (ROW_TILES[0]), where the weights are read once whatever the tile, the tile of whole
        divisors with the fewest loads per FMA, (rows + panels) / (rows x panels), within the
        accumulator budget (the course CNN's 4 x 5408 x 100, 7 panels: 2 x 7 instead of 4 x 1,
        70 -> 54 us), among those leaving a tile of panels per core where the product is large
        enough to run in parallel; else `row_tile` rows x the most panels (up to GEMM_TILE_PANELS, dividing the
        panels) whose accumulators fit the budget beside one weight vector per panel and the broadcast
        input and that still leave a (chunk, tile of panels) pair per core where some count does (a
        64 x 48 product on two cores: 8 x 1, 3 pairs, not 8 x 3 on one core): 8 x 3 on AVX-512's 32 registers where 3
        divides the panels (GEMM_TILE_PANELS), else 8 x 2 (BERT's 2048 x 256 x 1024, one thread:
        6.7 -> 5.5 ms with ROW_CHUNK, against 8 x 1's eight FMA chains, as many as the FMA latency
        needs and no more), 8 x 1 on AVX2's 16;
        symbolic rows or panels: one panel."""
        if self.rows is None or self.panels is None:
            return row_tile(self.rows), 1
        if self.rows > ROW_TILES[0]:
            rows = row_tile(self.rows)
            budget, registers = accumulator_budget(target), vector_unit(target).registers
            fitting = [
                count for count in range(1, GEMM_TILE_PANELS + 1)
                if self.panels % count == 0 and rows * count <= budget and rows * count + count + 1 <= registers
            ]
            chunks, cores = -(-self.rows // self.chunk(rows)), target_cores(target)
            # the most panels that still leave a (chunk, tile of panels) pair per core
            return rows, max(fitting, key=lambda count: (min(chunks * self.panels // count, cores), count), default=1)
        budget = accumulator_budget(target)
        tiles = [
            (rows, panels) for rows in range(1, ROW_TILES[0] + 1) for panels in range(1, self.panels + 1)
            if self.rows % rows == 0 and self.panels % panels == 0 and rows * panels <= budget
        ]
        # one chunk of rows: a large product's tiles of panels are its only parallel tasks, so first
        # as many of them as cores (the course CNN's 8 x 5408 x 100, 2.4 MB of weights: 2 x 7 ran on
        # one core, 219 us; 8 x 1, 7 tiles over two cores)
        cores = target_cores(target) if self.rows * self.panels * self.width * (self.depth or 0) > SERIAL_MAX_MACS else 1
        return min(tiles, key=lambda tile: (-min(self.panels // tile[1], cores), (tile[0] + tile[1]) / (tile[0] * tile[1]), -tile[0]))

    def chunk(self, tile_rows: int) -> int:
        """Rows per chunk (ROW_CHUNK) of a GEMM in tiles of `tile_rows` rows: as few chunks of whole
        tiles as ROW_CHUNK allows, the tiles shared out evenly, the last chunk holding those left
        (chunks dividing the rows were one tile for ViT's 8 x 197 rows, each tile of panels then
        reading its weights from L2 again: ViT-Ti's 1576 x 192 x 576 and 1576 x 192 x 192, one
        thread, 2.26 -> 1.99 and 0.83 -> 0.72 ms; ViT's 200 rows as 128 + 72 kept one core
        waiting on the other: as 104 + 96, two threads, 240 -> 198 us for 197 x 768 x 192); one tile for symbolic rows."""
        if self.rows is None:
            return tile_rows
        tiles = -(-self.rows // tile_rows)
        chunks = -(-tiles // max(1, ROW_CHUNK // tile_rows))
        return -(-tiles // chunks) * tile_rows

    def fits_row_tiles(self, target: tvm.target.Target) -> bool:
        """Whether the rows are symbolic and one row x all panels makes a register tile of enough
        independent FMA chains (GEMM_MIN_ROWS) to hide the FMA latency."""
        accumulators = accumulator_budget(target)
        return self.rows is None and self.panels is not None and GEMM_MIN_ROWS <= self.panels <= accumulators


class PackedGemv(ScheduleRule):
    """A product of few rows: one register tile of all rows x a group of panels per core, the
    groups in parallel (gemv_panel_groups). Rows of symbolic count: a tile of one row x all
    panels per row, the rows in parallel (a tile of several rows would mask the rows past the
    batch inside the k loop, which keeps LLVM from holding the tile in registers: the course
    CNN's 5408 -> 100 at batch 1 took 167 us that way, 27 us this way)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        product = _PackedProduct.find(func)
        if product is None:
            return None
        groups = product.panel_groups(target)
        row_tiles = groups is None and product.fits_row_tiles(target)
        if groups is None and not row_tiles:
            return None
        sch, matmul = product.sch, product.block
        epilogue = _epilogue(sch, matmul)
        m_loop, n_loop, k_loop = sch.get_loops(matmul)
        panel, lane = sch.split(n_loop, factors=[None, product.width])
        if row_tiles:
            sch.reorder(m_loop, k_loop, panel, lane)
            sch.parallel(m_loop)
            outer, unrolled = m_loop, (panel,)
        else:
            group, panel_in_group = sch.split(panel, factors=[groups, product.panels // groups])
            sch.reorder(group, k_loop, m_loop, panel_in_group, lane)
            if groups > 1:
                sch.parallel(group)
            outer, unrolled = group, (m_loop, panel_in_group)
        accumulator = sch.cache_write(matmul, 0, "local")
        sch.reverse_compute_at(accumulator, outer)
        vectorize_tile(sch, matmul, accumulator, k_loop, unrolled, lane)
        for block in epilogue:
            parallelize_outer(sch, block)
            vectorize_innermost(sch, block, vector_unit(target).lanes(output_dtype(sch, block)))
        return sch


class PackedGemm(ScheduleRule):
    """Any other packed product: register tiles of rows x panels (`_PackedProduct.tile`), each
    tile of panels running down a chunk of row tiles (`_PackedProduct.chunk`), the (chunk, panels)
    pairs in parallel."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        product = _PackedProduct.find(func)
        if product is None:
            return None
        sch, matmul = product.sch, product.block
        epilogue = _epilogue(sch, matmul)
        m_loop, n_loop, k_loop = sch.get_loops(matmul)
        rows, panels = product.tile(target)
        panel, panel_in_tile, lane = sch.split(n_loop, factors=[None, panels, product.width])
        tiles_per_chunk = product.chunk(rows) // rows
        m_outer, m_tile, row_loop = sch.split(m_loop, factors=[None, tiles_per_chunk, rows])
        sch.reorder(m_outer, panel, m_tile, k_loop, row_loop, panel_in_tile, lane)
        outer = sch.fuse(m_outer, panel)
        sch.parallel(outer)
        accumulator = sch.cache_write(matmul, 0, "local")
        if product.inlines_epilogue(sch, epilogue) and _inlined(sch, epilogue[0]):
            epilogue = []
        sch.reverse_compute_at(accumulator, m_tile)
        depth = static_extent(sch.get(k_loop).extent)
        if depth is not None and depth % GEMM_UNROLLED_DEPTH == 0:  # see GEMM_UNROLLED_DEPTH
            k_loop, k_unrolled = sch.split(k_loop, factors=[None, GEMM_UNROLLED_DEPTH])
            sch.unroll(k_unrolled)
        vectorize_tile(sch, matmul, accumulator, k_loop, (row_loop, panel_in_tile), lane)
        lanes = vector_unit(target).lanes(output_dtype(sch, matmul))
        if product.tiles_epilogue(sch, epilogue):
            for block in epilogue:
                sch.reverse_compute_at(block, m_tile)
                vectorize_innermost(sch, block, lanes)
            return sch
        for block in epilogue:
            parallelize_outer(sch, block)
            vectorize_innermost(sch, block, vector_unit(target).lanes(output_dtype(sch, block)))
        return sch


def transposed_operands_copied(sch: s_tir.Schedule, product: s_tir.schedule.SBlockRV) -> list[s_tir.schedule.SBlockRV]:
    """Copy each operand the product reads as [..., column, k] (attention_scores' keys) once into a
    [..., k, column] buffer, so the tile loads a vector of contiguous columns per k; the copy blocks."""
    block = sch.get(product)
    column, depth = block.iter_vars[-2].var, block.iter_vars[-1].var
    copies = []
    for index, read in enumerate(block.reads):
        region = read.region
        if len(region) >= 2 and region[-1].min.same_as(depth) and region[-2].min.same_as(column):
            copy = sch.cache_read(product, index, "global")
            sch.transform_layout(copy, ("write", 0), lambda *i: (*i[:-2], i[-1], i[-2]))
            copies.append(copy)
    return copies


def _epilogue(
    sch: s_tir.Schedule, matmul: s_tir.schedule.SBlockRV, keep: tuple[s_tir.schedule.SBlockRV, ...] = ()
) -> list[s_tir.schedule.SBlockRV]:
    """Inline the injective blocks around the product but those in `keep`; the blocks left besides
    them (unpack, bias, activation that did not inline), in order."""
    inline_injective(sch, keep=(matmul, *keep))
    return [block for block in top_blocks(sch) if not is_among(sch, block, [matmul, *keep])]


def _inlined(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """Inline `block` into its producer (the tile's write-back) where TIR allows: whether it was."""
    try:
        sch.reverse_compute_inline(block)
    except s_tir.ScheduleError:
        return False
    return True


def _covers_product(sch: s_tir.Schedule, epilogue: list[s_tir.schedule.SBlockRV], accumulator: s_tir.schedule.SBlockRV) -> bool:
    """Whether the epilogue is one block writing a buffer of the product's shape (element-wise on
    it, e.g. attention's mask), which can then run per register tile."""
    if len(epilogue) != 1:
        return False
    product_shape = [static_extent(d) for d in sch.get(accumulator).writes[0].source.shape]
    output_shape = [static_extent(d) for d in sch.get(epilogue[0]).writes[0].source.shape]
    return None not in product_shape and product_shape == output_shape


def vectorize_tile(
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


COLUMN_VECTORS = (4, 3, 2, 1)
"""Column vectors per batched-matmul register tile, tried with every row tile of ROW_TILES."""


BATCHED_PRODUCTS = ("matmul", "addmm", "attend", "attention_scores")
"""The kernels whose product stage BatchedGemm schedules: kernels.linear.matmul and addmm,
kernels.attention.attend and attention_scores."""


@dataclass(frozen=True)
class _BatchedProduct:
    """The product block of a fused function (one of BATCHED_PRODUCTS, both operands matrices) with
    static rows, columns and depth, the columns a whole number of vectors."""

    sch: s_tir.Schedule
    block: s_tir.schedule.SBlockRV
    width: int
    rows: int
    columns: int
    depth: int

    @classmethod
    def find(cls, func: tirx.PrimFunc, target: tvm.target.Target) -> _BatchedProduct | None:
        sch = s_tir.Schedule(func)
        block = next(filter(None, (marked_block(sch, kernel) for kernel in BATCHED_PRODUCTS)), None)
        if block is None or marked_block(sch, "softmax") is not None:
            return None  # none, or a whole attention (FusedAttention's, else the generic rule's)
        iter_types = [iter_var.iter_type for iter_var in sch.get(block).iter_vars]
        if len(iter_types) < 3 or iter_types[-1] != tirx.IterVar.CommReduce or tirx.IterVar.CommReduce in iter_types[:-1]:
            return None  # a vector operand (no row or column axis)
        rows, columns, depth = (static_extent(sch.get(loop).extent) for loop in sch.get_loops(block)[-3:])
        width = vector_unit(target).lanes(output_dtype(sch, block))
        if None in (rows, columns, depth) or columns % width:
            return None
        return cls(sch, block, width, rows, columns, depth)

    def tile(self, target: tvm.target.Target) -> tuple[int, int]:
        """(rows, column vectors) of the register tile: the most accumulators that fit the registers
        but two, dividing rows and columns; among equals the fewest loads per k (rows + vectors)."""
        budget = accumulator_budget(target)
        vectors = self.columns // self.width
        shapes = [
            (rows, count) for rows in (*ROW_TILES, 1) for count in COLUMN_VECTORS
            if self.rows % rows == 0 and vectors % count == 0 and rows * count <= budget
        ]
        return max(shapes, key=lambda shape: (shape[0] * shape[1], -(shape[0] + shape[1])))


class BatchedGemm(ScheduleRule):
    """A product of two activations (kernels.linear.matmul: attention's Q·Kᵀ and P·V written with
    `@`; kernels.attention.attend: P·V of nn.MultiheadAttention and scaled_dot_product_attention): register tiles
    of rows x a few column vectors, k outermost within a tile and in order (sums as `matmul`'s),
    the (batch, row block, column block) tiles in parallel; the epilogue computed per tile."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        product = _BatchedProduct.find(func, target)
        if product is None:
            return None
        sch, matmul = product.sch, product.block
        padded = [block for block in top_blocks(sch) if marked_kernel(sch.get(block).annotations) == "matmul_padded_columns"]
        epilogue = _epilogue(sch, matmul, keep=tuple(padded))
        copies = [*transposed_operands_copied(sch, matmul), *padded]
        row_count, vector_count = product.tile(target)
        *batch, i_loop, j_loop, k_loop = sch.get_loops(matmul)
        i_outer, i_inner = sch.split(i_loop, factors=[None, row_count])
        j_outer, j_vector, lane = sch.split(j_loop, factors=[None, vector_count, product.width])
        sch.reorder(*batch, i_outer, j_outer, k_loop, i_inner, j_vector, lane)
        macs = loop_work(sch, sch.get_loops(matmul))
        if copies and batch:  # each batch entry's (head's) operand copied just before its tiles read it
            outer = sch.fuse(*batch) if len(batch) > 1 else batch[0]
            tile = sch.fuse(i_outer, j_outer)
            for copy in copies:
                sch.compute_at(copy, outer)
        else:
            outer = tile = sch.fuse(*batch, i_outer, j_outer)
        if macs is None or macs > SERIAL_MAX_MACS:
            sch.parallel(outer)
        accumulator = sch.cache_write(matmul, 0, "local")
        sch.reverse_compute_at(accumulator, tile)
        vectorize_tile(sch, matmul, accumulator, k_loop, (i_inner, j_vector), lane)
        per_tile = _covers_product(sch, epilogue, accumulator)
        for block in [*copies, *epilogue]:
            if per_tile and block in epilogue:
                sch.reverse_compute_at(block, tile)
            elif not (copies and batch and block in copies):
                parallelize_outer(sch, block)
            vectorize_innermost(sch, block, vector_unit(target).lanes(output_dtype(sch, block)))
        return sch
