"""Converters for recurrent layers: nn.LSTM, unrolled over its (static) sequence length.

Each layer and direction projects the whole input sequence at once (`linear`, with bias_ih), then
per time step projects the hidden state (`linear`, with bias_hh) and applies the gates
(kernels/recurrent.py); with proj_size the new hidden state is projected by weight_hr. The outputs
of a step are stacked along the time axis, a bidirectional layer's two directions joined along the
features. Missing initial states are zeros, as in PyTorch. The module returns PyTorch's nested
Python tuple (output, (h_n, c_n)), so `out, (h, c) = lstm(x)` picks from it.
"""

from __future__ import annotations

from torch import nn
from tvm import relax

from ..importer import NodeContext, is_tensor
from ..kernels import creation, linear, recurrent
from ..kernels import shape as shape_kernels
from ..registry import register_converter


@register_converter(nn.LSTM)
def lstm(ctx: NodeContext, input, hx=None):
    module: nn.LSTM = ctx.module
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor (PackedSequence is not supported), got {type(input).__name__}")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ctx.unsupported("dropout", "dropout between LSTM layers in training mode is random; call model.eval() first")
    shape = ctx.shape(input)
    if len(shape) not in (2, 3) or shape[-1] != module.input_size:
        raise ctx.shape_error(
            f"expected an input of shape (L, {module.input_size}) or a batch of them, got {shape}", "input"
        )
    batched = len(shape) == 3
    time_axis = 1 if batched and module.batch_first else 0
    if not batched:  # one sequence: a batch of 1 on axis 1, removed again from the results
        input = ctx.emit_te(shape_kernels.unsqueeze, input, axis=1)
    length = ctx.shape(input)[time_axis]
    batch = ctx.shape(input)[1 - time_axis]
    if not isinstance(length, int):
        raise ctx.shape_error(f"the sequence length must be static to unroll the LSTM, got {length}", "input")
    directions = 2 if module.bidirectional else 1
    output_size = module.proj_size or module.hidden_size
    states = [("h_0", output_size), ("c_0", module.hidden_size)]
    initial = _initial_states(ctx, hx, batched, module.num_layers * directions, batch, states)

    sequence, last_hidden, last_cell = input, [], []
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            hidden, cell = initial[0][index], initial[1][index]
            hiddens, (hidden, cell) = _run_direction(
                ctx, sequence, hidden, cell, f"l{layer}{'_reverse' if direction else ''}", length, time_axis, direction == 1
            )
            outputs.append(ctx.emit_te(shape_kernels.stack, hiddens, axis=time_axis))
            last_hidden.append(hidden)
            last_cell.append(cell)
        sequence = outputs[0] if directions == 1 else ctx.emit_te(shape_kernels.concatenate, outputs, axis=2)
    h_n = ctx.emit_te(shape_kernels.stack, last_hidden, axis=0)
    c_n = ctx.emit_te(shape_kernels.stack, last_cell, axis=0)
    if not batched:
        sequence, h_n, c_n = (ctx.emit_te(shape_kernels.squeeze, value, axes=[1]) for value in (sequence, h_n, c_n))
    return sequence, (h_n, c_n)


def _initial_states(
    ctx: NodeContext, hx: object, batched: bool, count: int, batch: object, states: list[tuple[str, int]]
) -> list[list[relax.Expr]]:
    """The initial hidden and cell states of each layer and direction: `hx`'s (h_0, c_0) split along
    their first axis, or zeros."""
    if hx is None:
        return [[ctx.emit_te(creation.full, (batch, size), 0.0, ctx.dtype)] * count for _, size in states]
    if not isinstance(hx, (tuple, list)) or len(hx) != 2 or not all(is_tensor(value) for value in hx):
        raise ctx.unsupported("hx", f"expected a tuple (h_0, c_0) of tensors, got {hx!r}")
    result = []
    for value, (name, size) in zip(hx, states):
        expected = (count, batch, size) if batched else (count, size)
        if tuple(ctx.shape(value)) != expected:
            raise ctx.shape_error(f"expected {name} of shape {expected}, got {ctx.shape(value)}", "hx")
        if not batched:
            value = ctx.emit_te(shape_kernels.unsqueeze, value, axis=1)
        result.append([  # value[k]: [N, size]
            ctx.emit_te(shape_kernels.strided_slice, value, [k, 0, 0], [1, 1, 1], [None, 0, 1], (batch, size))
            for k in range(count)
        ])
    return result


def _run_direction(
    ctx: NodeContext, sequence: relax.Expr, hidden: relax.Expr, cell: relax.Expr, suffix: str, length: int,
    time_axis: int, reverse: bool,
) -> tuple[list[relax.Expr], tuple[relax.Expr, relax.Expr]]:
    """One layer in one direction: the hidden state of every time step (in time order) and the last
    (hidden, cell) pair."""
    projection = ctx.module_param(f"weight_hr_{suffix}") if ctx.module.proj_size else None
    bias_ih, bias_hh = (ctx.module_param(f"bias_{kind}_{suffix}") if ctx.module.bias else None for kind in ("ih", "hh"))
    pre = ctx.emit_te(linear.linear, sequence, ctx.module_param(f"weight_ih_{suffix}"), bias_ih)
    weight_hh = ctx.module_param(f"weight_hh_{suffix}")
    hiddens: list[relax.Expr] = [None] * length
    for step in reversed(range(length)) if reverse else range(length):
        hidden_gates = ctx.emit_te(linear.linear, hidden, weight_hh, bias_hh)
        next_cell = ctx.emit_te(recurrent.lstm_cell, pre, hidden_gates, cell, step=step, time_axis=time_axis)
        hidden = ctx.emit_te(recurrent.lstm_hidden, pre, hidden_gates, cell, step=step, time_axis=time_axis)
        if projection is not None:
            hidden = ctx.emit_te(linear.linear, hidden, projection)
        cell, hiddens[step] = next_cell, hidden
    return hiddens, (hidden, cell)
