"""FusedAttention: kernels.attention.scaled_dot_product_attention, block of query rows by block of
query rows, in parallel, each block's scores never leaving L1.

For each (batch entries, block of query rows): the block's queries scaled once (kernels.attention's
scaled_query stage: inlined into the tiles, each query value was multiplied once per tile of keys,
and broadcast from a register instead of from memory with its FMA), the block's scores (a register
tile of rows x column vectors over the keys, the keys copied transposed once per call so that each
head feature loads a vector of contiguous keys; the mask applied as the tile is written back), its row max and
sum of exponentials (vector-lane partials, as the row rule's), its exponentials and weights
(vectorised along the row), and the block's output rows (a register tile of rows x head-feature
vectors over the keys). The heads split before and merged after (fused by
compiler.FuseAttentionWithHeadLayouts) are read and written in place. Separately, the scores of a
128-token head (64 KB) went through L2 three times (product, softmax, attend) in three parallel
launches, and the split and merge were four more passes. Every sum runs in order, as `build`'s.

Tokens that fill no whole tile are padded (pad_einsum): the queries to whole row tiles, the keys to
whole vectors, the padded queries and keys copied once as zeros, their scores computed and never
read. ViT's 197 tokens (a prime) otherwise gave one-row blocks of scalar score columns, each a
chain of 64 dependent multiply-adds, and scalar exponentials: 5.4 ms per ViT-Ti layer at 5 GFLOP/s.
Past a block of keys (kernels.attention.KEY_BLOCK) the kernel itself scores whole blocks, the padded
keys' scores -inf, so the row max and sum run in vector lanes over whole rows (TIR cannot split
them into lane partials over a row of no whole number of vectors); here only keys between a vector
and a block are padded (AVX2's 8 lanes, 12 keys).
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight import ScheduleRule

from ..kernels.marks import marked_kernel
from .generic import (
    SERIAL_MAX_MACS,
    is_among,
    largest_divisor,
    loop_work,
    marked_block,
    output_dtype,
    parallelize_outer,
    static_extent,
    top_blocks,
    vectorize_last,
    vectorize_whole_vectors,
)
from .matmul import COLUMN_VECTORS, ROW_TILES, accumulator_budget, padded_rows, transposed_operands_copied, vectorize_tile
from .rows import interleave_rows, lane_partials, vectorize_partials
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
    function), vectors of the most lanes that divide the head features, part of a vector for odd
    sizes; keys in whole vectors (padded past a vector's worth when they fill none, the padded
    scores' own loop over blocks of rows merged into the row stages' one: computed at it, a tile
    would cover only the keys the row stages read, its last vector predicated lane by lane), else
    the lanes that divide them;
    query rows padded to whole tiles when no tile of several rows divides them; a prime number of
    head features or of fewer keys: None."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool) -> s_tir.Schedule | None:
        sch = s_tir.Schedule(func)
        scores, weights, product = (marked_block(sch, kernel) for kernel in ("attention_scores", "softmax", "attend"))
        if None in (scores, weights, product):
            return None
        blocks = top_blocks(sch)
        first, last, product_index = (_index(sch, blocks, block) for block in (scores, weights, product))
        between = blocks[first + 1 : last]  # the mask (if any), row max, exponentials, sum
        reductions = [block for block in between if _is_reduction(sch, block)]
        injective = [block for block in between if not _is_reduction(sch, block)]
        if product_index != last + 1 or len(reductions) != 2 or len(injective) not in (1, 2):
            return None
        if any(_is_reduction(sch, block) for block in [*blocks[:first], *blocks[product_index + 1 :]]):
            return None
        *batch_loops, i_loop, d_loop, _ = sch.get_loops(product)
        *_, keys_loop, depth_loop = sch.get_loops(scores)  # the keys scored, which the kernel may pad (padded_keys)
        length, head_dim, source = (static_extent(sch.get(loop).extent) for loop in (i_loop, d_loop, keys_loop))
        if None in (length, head_dim, source) or static_extent(sch.get(depth_loop).extent) == 1:
            return None  # symbolic, or queries of one feature (no loop over them for the score tiles)
        lanes = vector_unit(target).lanes(output_dtype(sch, product))
        d_width, width = largest_divisor(head_dim, lanes), largest_divisor(source, lanes)  # vectors dividing the axes
        if d_width == 1 or (width == 1 and source < lanes):  # a prime number of head features, or of few keys
            return None
        paddable = _is_einsum(sch, scores) and _is_einsum(sch, product)  # not grouped heads' keys (head h // groups)
        pad_rows, pad_keys = paddable and padded_rows(length) is not None, paddable and source % lanes != 0 and source > lanes
        weights, padded_operands = _padded(sch, scores, weights, product, len(batch_loops), pad_rows, pad_keys, lanes)
        score_width = lanes if pad_keys else width
        blocks = top_blocks(sch)  # the padding's copies (folded into their neighbours below) added
        first, product_index = _index(sch, blocks, scores), _index(sch, blocks, product)
        prologue, epilogue = blocks[:first], blocks[product_index + 1 :]  # heads split before, merged after (fused)
        prologue = [block for block in prologue if not is_among(sch, block, padded_operands)]
        *batch_loops, i_loop, d_loop, s_loop = sch.get_loops(product)
        length = static_extent(sch.get(i_loop).extent)
        columns = static_extent(sch.get(sch.get_loops(scores)[-2]).extent)  # the keys, padded or not

        budget = accumulator_budget(target)
        # the largest block of rows first (BERT's 128 tokens, 64 head features: 8 x 2 tiles, 3.1 ->
        # 2.7 ms per call at batch 16, one thread, against 4 x 4: half the blocks, each reduction
        # with eight chains); the padded scores' tiles and the product's share these blocks
        rows = _largest(ROW_TILES, lambda count: length % count == 0)
        d_vectors = _largest(COLUMN_VECTORS, lambda count: (head_dim // d_width) % count == 0 and rows * count <= budget)
        s_vectors = _largest(COLUMN_VECTORS, lambda count: (columns // score_width) % count == 0 and rows * count <= budget)
        macs = loop_work(sch, sch.get_loops(product))

        row_max, exp_sum = reductions
        exponentials = injective[-1]
        partials = [lane_partials(sch, block, width) if width > 1 else None for block in (row_max, exp_sum)]
        copies = transposed_operands_copied(sch, scores)  # from the split keys, which are inlined next
        scaled_query = None if pad_keys else _producer_marked(sch, scores, "scaled_query")
        try:
            for block in prologue:
                if scaled_query is None or not is_among(sch, block, [scaled_query]):
                    sch.compute_inline(block)
        except s_tir.ScheduleError:
            return None
        padded_operands = _copied_in_one_pass(sch, padded_operands, copies)
        for copy in copies:
            _transposed_by_vectors(sch, copy, lanes)
        for copy in [*padded_operands, *copies]:
            parallelize_outer(sch, copy)

        i_outer, i_inner = sch.split(i_loop, factors=[None, rows])
        d_outer, d_vector, lane = sch.split(d_loop, factors=[None, d_vectors, d_width])
        sch.reorder(*batch_loops, i_outer, d_outer, s_loop, i_inner, d_vector, lane)
        masked = injective[:-1]  # the mask, causal selection and padded keys' -inf, if any
        # applied as the score tile is written back, unless the scores are padded here: the mask
        # then reads the real rows and keys only, which TIR cannot inline into the padded tile
        mask_apart = bool(masked) and (pad_keys or pad_rows)
        row_stages = [weights, exp_sum, partials[1], exponentials, row_max, partials[0], *masked, None if pad_keys else scores]
        row_stages = [block for block in row_stages + [scaled_query] if block is not None]
        for block in row_stages:
            sch.compute_at(block, i_outer)
        outer = sch.fuse(*batch_loops, i_outer) if batch_loops else i_outer
        if pad_keys:  # each block of rows' padded scores, whole rows of them (see the class docstring), before its row stages
            *score_batch, score_row, _, _ = sch.get_loops(scores)
            score_outer, _ = sch.split(score_row, factors=[None, rows])
            outer = sch.merge(sch.fuse(*score_batch, score_outer), outer)
        if macs is None or macs > SERIAL_MAX_MACS:
            sch.parallel(outer)

        accumulator = sch.cache_write(product, 0, "local")
        sch.reverse_compute_at(accumulator, d_outer)
        vectorize_tile(sch, product, accumulator, s_loop, (i_inner, d_vector), lane)
        for block in epilogue:  # the output tile written through the padding's trim and the heads merge
            sch.reverse_compute_inline(block)

        *score_rows, score_columns, depth = sch.get_loops(scores)[1:]  # no row loop for one row per block
        column_outer, column_vector, column_lane = sch.split(score_columns, factors=[None, s_vectors, score_width])
        sch.reorder(column_outer, depth, *score_rows, column_vector, column_lane)
        score_accumulator = sch.cache_write(scores, 0, "local")
        sch.reverse_compute_at(score_accumulator, column_outer)
        if score_width > 1:
            vectorize_tile(sch, scores, score_accumulator, depth, (*score_rows, column_vector), column_lane)
        else:  # a prime number of keys under a vector's worth (17): a tile of rows x scalar columns
            for loop in (*score_rows, column_vector):
                sch.unroll(loop)
            sch.decompose_reduction(scores, depth)
        if masked and not mask_apart:
            sch.reverse_compute_inline(masked[0])

        for block, partial in zip((row_max, exp_sum), partials):
            if partial is not None:
                vectorize_partials(sch, partial, sch.get_loops(partial)[1:])
            inner = sch.get_loops(block)[1:]
            if inner:
                interleave_rows(sch, block, inner)
        if scaled_query is not None:
            vectorize_last(sch, sch.get_loops(scaled_query)[-1], d_width)
        for block in (*(masked if mask_apart else ()), exponentials, weights) if pad_keys or width > 1 else ():
            vectorize_whole_vectors(sch, sch.get_loops(block)[-1], lanes if pad_keys else width)
        return sch


def _index(sch: s_tir.Schedule, blocks: list[s_tir.schedule.SBlockRV], block: s_tir.schedule.SBlockRV) -> int:
    """The position of `block` among `blocks`."""
    ref = sch.get_sref(block)
    return next(i for i, other in enumerate(blocks) if sch.get_sref(other).same_as(ref))


def _producer_marked(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, kernel: str) -> s_tir.schedule.SBlockRV | None:
    """The producer of `block` marked as `kernel`'s stage, if any."""
    return next((producer for producer in sch.get_producers(block) if marked_kernel(sch.get(producer).annotations) == kernel), None)


def _is_einsum(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """Whether the block indexes every buffer by plain iterators and constants, which pad_einsum needs."""
    regions = [region for access in (*sch.get(block).reads, *sch.get(block).writes) for region in access.region]
    return all(isinstance(region.min, (tirx.Var, tirx.IntImm)) for region in regions)


def _padded(sch: s_tir.Schedule, scores: s_tir.schedule.SBlockRV, weights: s_tir.schedule.SBlockRV,
            product: s_tir.schedule.SBlockRV, batch_axes: int, pad_rows: bool, pad_keys: bool, lanes: int
            ) -> tuple[s_tir.schedule.SBlockRV, list[s_tir.schedule.SBlockRV]]:
    """Pad the query rows to whole register tiles (`pad_rows`: a ViT's 197 tokens to 200, as the
    packed GEMM's) and the keys of the scores to whole vectors (`pad_keys`: 197 to 208), the padded
    queries and keys zeros; the scores past the real ones are computed, never read, and the
    padded rows' weights are zeros, their outputs never written. Returns the weights stage, now the
    one writing the padded rows' weights, and the padded copies of the queries (scaled there, once)
    and keys (inlined into their transposed copy, `_copied_in_one_pass`): passes of their own,
    where the heads split is read once (inlined into the tiles, a padded row's index past the
    tokens left its divisions and remainders in every load, 8 x slower at batch 8). The
    trim of the scores is folded into the row stages, which read the padded scores; the trim after
    the product stays for the epilogue."""
    if not (pad_rows or pad_keys):
        return weights, []
    row_factor = ROW_TILES[0] if pad_rows else 1
    sch.pad_einsum(scores, [1] * batch_axes + [row_factor, lanes if pad_keys else 1, 1])
    padded_operands = sch.get_producers(scores)
    sch.compute_inline(sch.get_consumers(scores)[0])  # the trim back to the real scores
    if not pad_rows:
        return weights, padded_operands
    sch.pad_einsum(product, [1] * batch_axes + [row_factor, 1, 1])
    padded_weights = next(block for block in sch.get_producers(product) if not is_among(sch, block, [weights])
                          and _reads(sch, block, weights))
    sch.compute_inline(weights)
    return padded_weights, padded_operands


def _reads(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV, producer: s_tir.schedule.SBlockRV) -> bool:
    """Whether `block` reads what `producer` writes."""
    written = sch.get(producer).writes[0].source
    return any(read.source.same_as(written) for read in sch.get(block).reads)


def _transposed_by_vectors(sch: s_tir.Schedule, copy: s_tir.schedule.SBlockRV, lanes: int) -> None:
    """The keys' transposed copy ([..., key, feature] to [..., feature, key]) in vectors of `lanes`
    keys: for each block of keys, per feature one gathered vector read and one contiguous vector
    written (the keys' rows stay in L1 over the features), instead of a vector of features read per
    key and scattered lane by lane (0.23 of 2.6 ms of BERT's attention at batch 16)."""
    *_, key, feature = sch.get_loops(copy)
    keys = loop_work(sch, [key])
    if keys is None or keys % lanes:
        return
    key_block, key_lane = sch.split(key, factors=[None, lanes])
    sch.reorder(key_block, feature, key_lane)
    sch.vectorize(key_lane)


def _copied_in_one_pass(sch: s_tir.Schedule, padded_operands: list[s_tir.schedule.SBlockRV],
                        copies: list[s_tir.schedule.SBlockRV]) -> list[s_tir.schedule.SBlockRV]:
    """Inline each padded operand read only by its transposed copy (the keys) into that copy: one
    pass from the split heads into the padded, transposed keys instead of two. Returns the padded
    operands left (the queries)."""
    kept = []
    for pad in padded_operands:
        consumers = sch.get_consumers(pad)
        if len(consumers) == 1 and is_among(sch, consumers[0], copies):
            sch.compute_inline(pad)
        else:
            kept.append(pad)
    return kept
