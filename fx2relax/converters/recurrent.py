"""Converters for recurrent layers: nn.LSTM and nn.GRU, unrolled over their (static) sequence length.

Each layer and direction projects the whole input sequence at once (`linear`, with bias_ih), then
per time step projects the hidden state (`linear`, with bias_hh) and applies the gates
(kernels/recurrent.py); with an LSTM's proj_size the new hidden state is projected by weight_hr. The
hidden states of the steps are stacked along the time axis, a bidirectional layer's two directions
joined along the features. Missing initial states are zeros, as in PyTorch. The modules return
PyTorch's Python tuples, (output, (h_n, c_n)) and (output, h_n), so `out, (h, c) = lstm(x)` picks
from them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from tvm import relax

from ..importer import NodeContext, is_tensor
from ..kernels import creation, linear, recurrent
from ..kernels import shape as shape_kernels
from ..registry import register_converter

Step = Callable[[NodeContext, relax.Expr, relax.Expr, list[relax.Expr], int, int, str], list[relax.Expr]]
"""One time step: (ctx, input projection, hidden projection, states, step, time axis, weight suffix)
→ the new states, the hidden state first."""


@register_converter(nn.LSTM)
def lstm(ctx, input, hx=None):
    if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise ctx.unsupported("hx", f"expected a tuple (h_0, c_0) of tensors, got {hx!r}")
    output_size = ctx.module.proj_size or ctx.module.hidden_size
    output, (h_n, c_n) = _unroll(ctx, input, hx, [("h_0", output_size), ("c_0", ctx.module.hidden_size)], _lstm_step)
    return output, (h_n, c_n)


@register_converter(nn.GRU)
def gru(ctx, input, hx=None):
    output, (h_n,) = _unroll(ctx, input, None if hx is None else (hx,), [("h_0", ctx.module.hidden_size)], _gru_step)
    return output, h_n


def _lstm_step(ctx, pre, hidden_gates, states, step, time_axis, suffix):
    hidden, cell = states
    next_cell = ctx.emit_te(recurrent.lstm_cell, pre, hidden_gates, cell, step=step, time_axis=time_axis)
    hidden = ctx.emit_te(recurrent.lstm_hidden, pre, hidden_gates, cell, step=step, time_axis=time_axis)
    if ctx.module.proj_size:
        hidden = ctx.emit_te(linear.linear, hidden, ctx.module_param(f"weight_hr_{suffix}"))
    return [hidden, next_cell]


def _gru_step(ctx, pre, hidden_gates, states, step, time_axis, suffix):
    return [ctx.emit_te(recurrent.gru_hidden, pre, hidden_gates, states[0], step=step, time_axis=time_axis)]


def _unroll(
    ctx: NodeContext, input: object, hx: tuple | list | None, states: list[tuple[str, int]], step: Step
) -> tuple[relax.Expr, list[relax.Expr]]:
    """The layer's output sequence and the last states of each layer and direction (stacked)."""
    module = ctx.module
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor (PackedSequence is not supported), got {type(input).__name__}")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ctx.unsupported("dropout", "dropout between layers in training mode is random; call model.eval() first")
    shape = ctx.shape(input)
    if len(shape) not in (2, 3) or shape[-1] != module.input_size:
        raise ctx.shape_error(f"expected an input of shape (L, {module.input_size}) or a batch of them, got {shape}", "input")
    batched = len(shape) == 3
    time_axis = 1 if batched and module.batch_first else 0
    if not batched:  # one sequence: a batch of 1 on axis 1, removed again from the results
        input = ctx.emit_te(shape_kernels.unsqueeze, input, axis=1)
    length, batch = ctx.shape(input)[time_axis], ctx.shape(input)[1 - time_axis]
    if not isinstance(length, int):
        raise ctx.shape_error(f"the sequence length must be static to unroll the layer, got {length}", "input")
    directions = 2 if module.bidirectional else 1
    initial = _initial_states(ctx, hx, batched, module.num_layers * directions, batch, states)

    sequence, last = input, [[] for _ in states]
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            suffix = f"l{layer}{'_reverse' if direction else ''}"
            hiddens, final = _run_direction(ctx, sequence, [s[index] for s in initial], suffix, length, time_axis, direction == 1, step)
            outputs.append(ctx.emit_te(shape_kernels.stack, hiddens, axis=time_axis))
            for stacked, state in zip(last, final):
                stacked.append(state)
        sequence = outputs[0] if directions == 1 else ctx.emit_te(shape_kernels.concatenate, outputs, axis=2)
    finals = [ctx.emit_te(shape_kernels.stack, stacked, axis=0) for stacked in last]
    if not batched:
        sequence, *finals = (ctx.emit_te(shape_kernels.squeeze, value, axes=[1]) for value in (sequence, *finals))
    return sequence, finals


def _initial_states(
    ctx: NodeContext, hx: tuple | list | None, batched: bool, count: int, batch: object, states: list[tuple[str, int]]
) -> list[list[relax.Expr]]:
    """Each state's initial value per layer and direction: hx's tensors split along their first axis, or zeros."""
    if hx is None:
        return [[ctx.emit_te(creation.full, (batch, size), 0.0, ctx.dtype)] * count for _, size in states]
    result = []
    for value, (name, size) in zip(hx, states, strict=True):
        expected = (count, batch, size) if batched else (count, size)
        if not is_tensor(value):
            raise ctx.unsupported("hx", f"expected {name} as a tensor of shape {expected}, got {type(value).__name__}")
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
    ctx: NodeContext, sequence: relax.Expr, states: list[relax.Expr], suffix: str, length: int, time_axis: int,
    reverse: bool, step: Step,
) -> tuple[list[relax.Expr], list[relax.Expr]]:
    """One layer in one direction: the hidden state of every time step (in time order) and the last states."""
    bias_ih, bias_hh = (ctx.module_param(f"bias_{kind}_{suffix}") if ctx.module.bias else None for kind in ("ih", "hh"))
    pre = ctx.emit_te(linear.linear, sequence, ctx.module_param(f"weight_ih_{suffix}"), bias_ih)
    weight_hh = ctx.module_param(f"weight_hh_{suffix}")
    hiddens: list[relax.Expr] = [None] * length
    for time in reversed(range(length)) if reverse else range(length):
        hidden_gates = ctx.emit_te(linear.linear, states[0], weight_hh, bias_hh)
        states = step(ctx, pre, hidden_gates, states, time, time_axis, suffix)
        hiddens[time] = states[0]
    return hiddens, states
