"""FusedAttention: kernels.attention.scaled_dot_product_attention, block of query rows by block of
query rows, in parallel, each block's scores never leaving L1.

For each (batch entries, block of query rows): the block's scores (a register tile of rows x
column vectors over the keys, the keys copied transposed once per call so that each head feature
loads a vector of contiguous keys; the mask applied as the tile is written back), its row max and
sum of exponentials (vector-lane partials, as the row rule's), its exponentials and weights
(vectorised along the row), and the block's output rows (a register tile of rows x head-feature
vectors over the keys). The heads split before and merged after (fused by
compiler.FuseAttentionWithHeadLayouts) are read and written in place. Separately, the scores of a
128-token head (64 KB) went through L2 three times (product, softmax, attend) in three parallel
launches, and the split and merge were four more passes. Every sum runs in order, as `build`'s.
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from .generic import SERIAL_MAX_MACS, largest_divisor, loop_work, marked_block, output_dtype, parallelize_outer, static_extent, top_blocks
from .matmul import COLUMN_VECTORS, ROW_TILES, accumulator_budget, transposed_operands_copied, vectorize_tile
from .rows import interleave_rows, lane_partials, vectorize_last, vectorize_partials
from .vectors import vector_unit


def _is_reduction(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """Whether the block reduces (has a reduction iterator)."""
    return any(iter_var.iter_type == tirx.IterVar.CommReduce for iter_var in sch.get(block).iter_vars)


def _largest(candidates: tuple[int, ...], fits) -> int:
    """The largest candidate that `fits`, else 1."""
    return max((candidate for candidate in candidates if fits(candidate)), default=1)


class FusedAttention(ScheduleRule):
    """scores, softmax and attend of one function (kernels.attention.scaled_dot_product_attention)
    computed per block of query rows, with the head splits and merge fused around them read and
    written in place; static lengths and head features (else None: the generic rule takes the
    function), vectors of the most lanes that divide the keys (the head features), part of a
    vector for odd sizes, scalar score columns for a prime number of keys from a vector's worth
    on; a prime number of head features or of fewer keys: None."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        scores, weights, product = (marked_block(sch, kernel) for kernel in ("attention_scores", "softmax", "attend"))
        if None in (scores, weights, product):
            return None
        blocks = top_blocks(sch)
        refs = [sch.get_sref(block) for block in blocks]
        first, last, product_index = (
            next(i for i, ref in enumerate(refs) if ref.same_as(sch.get_sref(b))) for b in (scores, weights, product)
        )
        between = blocks[first + 1 : last]  # the mask (if any), row max, exponentials, sum
        reductions = [block for block in between if _is_reduction(sch, block)]
        injective = [block for block in between if not _is_reduction(sch, block)]
        prologue, epilogue = blocks[:first], blocks[product_index + 1 :]  # heads split before, merged after (fused)
        if product_index != last + 1 or len(reductions) != 2 or len(injective) not in (1, 2):
            return None
        if any(_is_reduction(sch, block) for block in [*prologue, *epilogue]):
            return None
        *batch_loops, i_loop, d_loop, s_loop = sch.get_loops(product)
        length, head_dim, source = (static_extent(sch.get(loop).extent) for loop in (i_loop, d_loop, s_loop))
        if None in (length, head_dim, source):
            return None
        lanes = vector_unit(target).lanes(output_dtype(sch, product))
        d_width, width = largest_divisor(head_dim, lanes), largest_divisor(source, lanes)  # vectors dividing the axes
        if d_width == 1 or (width == 1 and source < lanes):  # a prime number of head features, or of few keys
            return None
        budget = accumulator_budget(target)
        d_vectors = _largest(COLUMN_VECTORS, lambda count: (head_dim // d_width) % count == 0)
        rows = _largest(ROW_TILES, lambda count: length % count == 0 and count * d_vectors <= budget)
        s_vectors = _largest(COLUMN_VECTORS, lambda count: (source // width) % count == 0 and rows * count <= budget)
        macs = loop_work(sch, sch.get_loops(product))

        row_max, exp_sum = reductions
        exponentials = injective[-1]
        partials = [lane_partials(sch, block, width) if width > 1 else None for block in (row_max, exp_sum)]
        copies = transposed_operands_copied(sch, scores)  # from the split keys, which are inlined next
        try:
            for block in prologue:
                sch.compute_inline(block)
        except s_tir.ScheduleError:
            return None
        for copy in copies:
            parallelize_outer(sch, copy)

        i_outer, i_inner = sch.split(i_loop, factors=[None, rows])
        d_outer, d_vector, lane = sch.split(d_loop, factors=[None, d_vectors, d_width])
        sch.reorder(*batch_loops, i_outer, d_outer, s_loop, i_inner, d_vector, lane)
        masked = injective[:-1]  # the mask and causal selection, if any
        row_stages = [weights, exp_sum, partials[1], exponentials, row_max, partials[0], *masked, scores]
        row_stages = [block for block in row_stages if block is not None]
        for block in row_stages:
            sch.compute_at(block, i_outer)
        outer = sch.fuse(*batch_loops, i_outer) if batch_loops else i_outer
        if macs is None or macs > SERIAL_MAX_MACS:
            sch.parallel(outer)

        accumulator = sch.cache_write(product, 0, "local")
        sch.reverse_compute_at(accumulator, d_outer)
        vectorize_tile(sch, product, accumulator, s_loop, (i_inner, d_vector), lane)
        for block in epilogue:  # the output tile written through the heads merge
            sch.reverse_compute_inline(block)

        *score_rows, score_columns, depth = sch.get_loops(scores)[1:]  # no row loop for one row per block
        column_outer, column_vector, column_lane = sch.split(score_columns, factors=[None, s_vectors, width])
        sch.reorder(column_outer, depth, *score_rows, column_vector, column_lane)
        score_accumulator = sch.cache_write(scores, 0, "local")
        sch.reverse_compute_at(score_accumulator, column_outer)
        if width > 1:
            vectorize_tile(sch, scores, score_accumulator, depth, (*score_rows, column_vector), column_lane)
        else:  # a prime number of keys (ViT's 17 or 197): a tile of rows x scalar columns
            for loop in (*score_rows, column_vector):
                sch.unroll(loop)
            sch.decompose_reduction(scores, depth)
        if masked:  # the mask and causal selection applied as the tile is written back
            sch.reverse_compute_inline(masked[0])

        for block, partial in zip((row_max, exp_sum), partials):
            if partial is not None:
                vectorize_partials(sch, partial, sch.get_loops(partial)[1:])
            inner = sch.get_loops(block)[1:]
            if inner:
                interleave_rows(sch, block, inner)
        for block in (exponentials, weights) if width > 1 else ():
            vectorize_last(sch, sch.get_loops(block)[-1], width)
        return sch
