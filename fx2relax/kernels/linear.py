"""Fully connected layers and matrix products."""

from __future__ import annotations

from collections.abc import Sequence

from tvm import te, tirx

from .. import symbolic
from .elementwise import broadcast_index, broadcast_shape
from .marks import mark


def linear(data: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y = x W^T + b.

    data: [*batch, in_features]; weight: [out_features, in_features]; bias: [out_features].
    Returns [*batch, out_features]. Both stages are marked "linear": compile packs the weight of
    exactly this function (fx2relax.packing).
    """
    in_features = data.shape[-1]
    out_features = weight.shape[0]
    k = te.reduce_axis((0, in_features), name="k")
    matmul = te.compute(
        (*data.shape[:-1], out_features),
        lambda *i: te.sum(data[(*i[:-1], k)] * weight[i[-1], k], axis=k),
        name="linear",
        attrs=mark("linear"),
    )
    if bias is None:
        return matmul
    return te.compute(matmul.shape, lambda *i: matmul(*i) + bias[i[-1]], name="bias_add", attrs=mark("linear"))


PRODUCT_COLUMN_BLOCK = 16
"""A product of activations of more columns than this, in no whole number of blocks of it, computes
them padded to a whole number (`padded_columns`) and keeps the real ones after: the batched GEMM rule
then tiles whole vectors of columns (up to 16 lanes, AVX-512's float32), where Swin's 49 keys left
Q·Kᵀ to the generic rule (4 x 12 x 49 x 49, two threads: 477 us, against 59 us for P·V)."""


def padded_columns(columns: int | None) -> int | None:
    """The columns `matmul` computes for `columns` real ones (None: symbolic): rounded up to a whole
    number of PRODUCT_COLUMN_BLOCK where more than one block's worth fills no whole number; else None."""
    if columns is None or columns <= PRODUCT_COLUMN_BLOCK or columns % PRODUCT_COLUMN_BLOCK == 0:
        return None
    return -(-columns // PRODUCT_COLUMN_BLOCK) * PRODUCT_COLUMN_BLOCK


def matmul(lhs: te.Tensor, rhs: te.Tensor) -> te.Tensor:
    """The matrix product of `torch.matmul`, batch axes broadcast.

    lhs: [*a, n, k] or a vector [k]; rhs: [*b, k, m] or a vector [k]. Returns
    [*broadcast(a, b), n, m], without n when lhs is a vector and without m when rhs is one
    (a 0-d tensor for vector · vector). The stage is marked "matmul" (compile's batched GEMM rule);
    where `padded_columns` pads m, rhs is first copied with zero columns up to it (stage
    "matmul_padded_columns"), the product computes them all and the stage "matmul_outputs" keeps
    the real ones.
    """
    lhs_vector, rhs_vector = len(lhs.shape) == 1, len(rhs.shape) == 1
    lhs_batch = () if lhs_vector else tuple(lhs.shape[:-2])
    rhs_batch = () if rhs_vector else tuple(rhs.shape[:-2])
    batch = broadcast_shape(lhs_batch, rhs_batch)
    rows = () if lhs_vector else (lhs.shape[-2],)
    real = None if rhs_vector or not isinstance(rhs.shape[-1], tirx.IntImm) else int(rhs.shape[-1])
    padded = padded_columns(real)
    columns = () if rhs_vector else (rhs.shape[-1] if padded is None else padded,)
    k = te.reduce_axis((0, lhs.shape[-1]), name="k")

    if padded is not None:  # rhs copied with zero columns up to `padded`, so the product reads whole vectors
        rhs = te.compute(
            (*rhs.shape[:-1], padded),
            lambda *i: te.if_then_else(i[-1] < real, rhs(*i[:-1], tirx.min(i[-1], real - 1)), tirx.const(0, rhs.dtype)),
            name="matmul_padded_columns", attrs=mark("matmul_padded_columns"),
        )

    def product(*i):
        b, rest = i[:len(batch)], list(i[len(batch):])
        left = lhs[k] if lhs_vector else lhs[(*broadcast_index(lhs_batch, b), rest.pop(0), k)]
        right = rhs[k] if rhs_vector else rhs[(*broadcast_index(rhs_batch, b), k, rest.pop(0))]
        return te.sum(left * right, axis=k)

    result = te.compute((*batch, *rows, *columns), product, name="matmul", attrs=mark("matmul"))
    if padded is None:
        return result
    return te.compute(
        (*batch, *rows, real), lambda *i: result(*i), name="matmul_outputs", attrs=mark("matmul_outputs"),
    )


def addmm(data: te.Tensor, lhs: te.Tensor, rhs: te.Tensor, beta: float, alpha: float) -> te.Tensor:
    """beta * data + alpha * (lhs @ rhs), as `torch.addmm`.

    data: broadcastable to [n, m]; lhs: [n, k]; rhs: [k, m]. Returns [n, m]. As in PyTorch, beta = 0
    ignores `data` and alpha = 0 the product, NaN and ±inf included. The product stage is marked
    "addmm" with beta and alpha: compile schedules it as a GEMM and, for a constant rhs and a
    bias-like `data` with beta = alpha = 1, packs it as a linear layer (fx2relax.packing).
    """
    n, m = lhs.shape[0], rhs.shape[1]
    k = te.reduce_axis((0, lhs.shape[1]), name="k")
    total = te.compute(
        (n, m), lambda i, j: te.sum(lhs[i, k] * rhs[k, j], axis=k), name="matmul", attrs=mark("addmm", beta=beta, alpha=alpha)
    )
    dtype = lhs.dtype

    def combine(i, j):
        terms = []
        if alpha != 0:
            terms.append(total[i, j] if alpha == 1 else tirx.const(alpha, dtype) * total[i, j])
        if beta != 0:
            added = data[broadcast_index(data.shape, (i, j))]
            terms.append(added if beta == 1 else tirx.const(beta, dtype) * added)
        return sum(terms[1:], terms[0]) if terms else tirx.const(0, dtype)

    return te.compute((n, m), combine, name="addmm")


def bilinear(lhs: te.Tensor, rhs: te.Tensor, weight: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
    """y_o = x1^T A_o x2 + b_o, as `torch.nn.functional.bilinear`.

    lhs: [*batch, in1]; rhs: [*batch, in2]; weight: [out, in1, in2]; bias: [out] or None.
    Returns [*batch, out].
    """
    i = te.reduce_axis((0, weight.shape[1]), name="i")
    j = te.reduce_axis((0, weight.shape[2]), name="j")
    product = te.compute(
        (*lhs.shape[:-1], weight.shape[0]),
        lambda *n: te.sum(lhs[(*n[:-1], i)] * weight[n[-1], i, j] * rhs[(*n[:-1], j)], axis=[i, j]),
        name="bilinear",
    )
    if bias is None:
        return product
    return te.compute(product.shape, lambda *n: product(*n) + bias[n[-1]], name="bias_add")


ELLIPSIS = "..."


def parse_einsum(equation: str, ranks: Sequence[int]) -> tuple[list[list[str]], list[str]]:
    """The labels of each operand's axes and of the output's, as `torch.einsum` reads `equation`.

    Spaces are ignored; "..." stands for the axes no letter names, which broadcast across operands
    aligned on the right and are labelled "...0", "...1", ... from the leftmost broadcast axis.
    Without "->" the output is the ellipsis axes, then the letters used exactly once, sorted
    (upper case first). Raises ValueError, with PyTorch's wording, for an equation that does not fit.
    """
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"{len(terms)} operand(s) in the equation but {len(ranks)} tensor(s) given")
    for term in [*terms, output]:
        letters = term.replace(ELLIPSIS, "", 1)
        bad = [c for c in letters if not (c.isascii() and c.isalpha())]
        if bad:
            raise ValueError(f"invalid subscript {bad[0]!r} in {term!r}: subscripts are letters a-z, A-Z and one '...'")
    widths = [rank - len(term.replace(ELLIPSIS, "")) for term, rank in zip(terms, ranks)]
    for position, (term, width) in enumerate(zip(terms, widths)):
        if width < 0 or (width > 0 and ELLIPSIS not in term):
            raise ValueError(
                f"the number of subscripts in {term!r} ({len(term.replace(ELLIPSIS, ''))}) does not match the "
                f"number of dimensions ({ranks[position]}) for operand {position}"
                + ("" if ELLIPSIS in term else " and no ellipsis was given")
            )
    ellipsis_width = max([w for term, w in zip(terms, widths) if ELLIPSIS in term], default=0)

    def expand(term: str, width: int) -> list[str]:
        before, _, after = term.partition(ELLIPSIS)
        broadcast = [f"{ELLIPSIS}{ellipsis_width - width + j}" for j in range(width)] if ELLIPSIS in term else []
        return [*before, *broadcast, *after]

    labels = [expand(term, width) for term, width in zip(terms, widths)]
    letters = [c for term in terms for c in term.replace(ELLIPSIS, "")]
    if not arrow:
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        return labels, [f"{ELLIPSIS}{j}" for j in range(ellipsis_width)] + once
    output_letters = output.replace(ELLIPSIS, "", 1)
    for c in output_letters:
        if output_letters.count(c) > 1:
            raise ValueError(f"output subscript {c} appears more than once in the output")
        if c not in letters:
            raise ValueError(f"output subscript {c} does not appear in the equation for any input operand")
    return labels, expand(output, ellipsis_width)


def einsum_sizes(labels: Sequence[Sequence[str]], shapes: Sequence[Sequence]) -> dict[str, object]:
    """Each label's size: its operands' sizes broadcast (equal, or 1). A label repeated within one
    operand (a diagonal) needs equal sizes there. Raises ValueError naming the label otherwise."""
    sizes: dict[str, object] = {}
    for position, (operand_labels, shape) in enumerate(zip(labels, shapes)):
        own: dict[str, object] = {}
        for label, size in zip(operand_labels, shape):
            if label in own and not symbolic.equal(own[label], size):
                raise ValueError(
                    f"subscript {label} is repeated for operand {position} but the sizes don't match, {own[label]} != {size}"
                )
            own[label] = size
        for label, size in own.items():
            try:
                sizes[label] = broadcast_shape((sizes[label],), (size,))[0] if label in sizes else size
            except ValueError:
                raise ValueError(
                    f"operands do not broadcast: subscript {label} has size {sizes[label]} and {size} (operand {position})"
                ) from None
    return sizes


def einsum(*operands: te.Tensor, equation: str) -> te.Tensor:
    """`torch.einsum(equation, *operands)`: the product of the operands summed over the labels absent
    from the output, in one te.compute whose reduce axes are those labels.

    operands: tensors whose ranks fit `equation` (see parse_einsum); a label's axes have equal sizes
    or size 1 (broadcast). Returns the output labels' sizes (a 0-d tensor when there are none).
    """
    labels, output = parse_einsum(equation, [len(t.shape) for t in operands])
    sizes = einsum_sizes(labels, [t.shape for t in operands])
    contracted = [label for label in sizes if label not in output]
    reduce_axes = {label: te.reduce_axis((0, sizes[label]), name=label.replace(ELLIPSIS, "e")) for label in contracted}

    def product(*index):
        axis_of = {**dict(zip(output, index)), **reduce_axes}
        value = None
        for operand, operand_labels in zip(operands, labels):
            term = operand[tuple(0 if symbolic.is_one(d) else axis_of[label] for label, d in zip(operand_labels, operand.shape))]
            value = term if value is None else value * term
        return te.sum(value, axis=list(reduce_axes.values())) if reduce_axes else value

    return te.compute([sizes[label] for label in output], product, name="einsum")


def linear_packed(
    data: te.Tensor, packed_weight: te.Tensor, bias: te.Tensor | None, out_features: int, padded_rows: int | None = None
) -> te.Tensor:
    """y = x W^T + b with W pre-packed in panels of `width` output features, so the inner loop
    reads `width` contiguous weights (one vector of the target CPU) per input feature.

    data: [*batch, K]; packed_weight: [ceil(N / width), K, width] with
    packed_weight[p, k, j] = W[p * width + j, k] (zero past N); bias: [N] or None.
    The stage "matmul_packed" (marked "linear_packed" with its panel width) computes all panels
    for the batch axes flattened into rows ([rows, panels * width]: one row axis, which a schedule
    tiles), or for `padded_rows` rows (static rows only, at least as many), the rows past the batch
    repeating its last one, so that a register tile of rows divides them; the last stage keeps the
    batch's rows and the first N outputs. Returns [*batch, N]. Sums run over k in order, as `linear`.
    """
    panels, in_features, width = packed_weight.shape
    batch = list(data.shape[:-1])
    rows = 1
    for size in batch:
        rows = rows * size
    last_row = rows - 1
    if padded_rows is not None:
        rows = padded_rows

    def batch_index(row):
        index = []
        for size in reversed(batch):
            index.append(tirx.floormod(row, size))
            row = tirx.floordiv(row, size)
        return tuple(reversed(index))

    def row_of(index):
        row = 0
        for position, size in zip(index, batch):
            row = row * size + position
        return row

    k = te.reduce_axis((0, in_features), name="k")
    matmul = te.compute(
        (rows, panels * width),
        lambda row, n: te.sum(
            data[(*batch_index(row if padded_rows is None else tirx.min(row, last_row)), k)]
            * packed_weight[n // width, k, n % width],
            axis=k,
        ),
        name="matmul_packed",
        attrs=mark("linear_packed", panel_width=int(width)),
    )
    shape = (*batch, out_features)
    if bias is None:
        return te.compute(shape, lambda *i: matmul[row_of(i[:-1]), i[-1]], name="unpack")
    return te.compute(shape, lambda *i: matmul[row_of(i[:-1]), i[-1]] + bias[i[-1]], name="bias_add")
