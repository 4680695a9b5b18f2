"""Marks that tell `compile` which of our kernels a stage belongs to.

A kernel passes `attrs=mark(...)` to its te.compute; the mark becomes an annotation of the stage's
TIR block and survives emit_te, FuseOps and FuseTIR, so packing, fusion and the schedule rules
recognise our kernels by what they are. A stage's display name proves nothing: a user's own
kernel may call its stage "linear" too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tvm import s_tir, tirx

KERNEL = "fx2relax.kernel"
"""The annotation key: its value names the kernel function (e.g. "linear") the stage belongs to."""

PANEL_WIDTH = "fx2relax.panel_width"
"""On a linear_packed stage: output features per packed weight panel (the schedule's vector axis)."""

BLOCKED_PARAMS = "fx2relax.blocked_params"
"""PrimFunc attribute set by layout.BlockChannels: the indices of the parameters stored
channel-blocked, [N, C / L, H, W, L] for [N, C, H, W] (L the vector lanes)."""

PLANES_REDUCED_AFTER = "fx2relax.planes_reduced_after"
"""PrimFunc attribute set by layout.BlockChannels on a function whose blocked output a later call
reduces over its planes (squeeze-and-excitation's mean): that reduction runs in parallel over
(image, channel block), so the function's own tasks had better split the work the same way."""


def blocked_index_map(lanes: int) -> tirx.IndexMap:
    """The channel-blocked layout of BLOCKED_PARAMS: [n, c, h, w] → [n, c // lanes, h, w, c % lanes]."""
    return tirx.IndexMap.from_func(lambda n, c, h, w: (n, c // lanes, h, w, c % lanes), ndim=4)


def mark(kernel: str, **details: int | float | str | Sequence[int]) -> dict[str, object]:
    """The te.compute `attrs` marking a stage of `kernel`, with `details` under their namespaced keys."""
    return {KERNEL: kernel, **{f"fx2relax.{name}": value for name, value in details.items()}}


def marked_kernel(annotations: Mapping[str, object]) -> str | None:
    """The kernel a block's annotations mark it as a stage of, or None for a block no kernel of ours marked."""
    value = annotations.get(KERNEL)
    return None if value is None else str(value)


def stages(func: tirx.PrimFunc) -> list[s_tir.SBlock]:
    """The blocks (stages) directly under a PrimFunc's root block, in order (read off its body:
    cheaper than a Schedule, which compile's passes would build for every call)."""
    root = func.body.block if isinstance(func.body, s_tir.SBlockRealize) else func.body
    found: list[s_tir.SBlock] = []
    pending = [root.body if isinstance(root, s_tir.SBlock) else root]
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            found.append(stmt.block)
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend(reversed(list(stmt.seq)))
        elif isinstance(stmt, tirx.IfThenElse):
            pending.extend(branch for branch in (stmt.else_case, stmt.then_case) if branch is not None)
        elif hasattr(stmt, "body"):  # loops, bindings, attributes, allocations
            pending.append(stmt.body)
    return found
