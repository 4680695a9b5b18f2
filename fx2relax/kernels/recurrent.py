"""The cells of recurrent layers, one time step each: nn.LSTM's gates over precomputed products.

The converter computes the input's projection for every time step at once (`linear` over the whole
sequence) and, per step, the hidden state's projection (`linear`); these kernels add the two and
apply the gates. PyTorch orders an LSTM's gates input, forget, cell, output along the 4·hidden axis.
"""

from __future__ import annotations

from tvm import te, tirx

from .activation import logistic


def _gate(pre: te.Tensor, hidden_gates: te.Tensor, step: int, time_axis: int, n: tirx.Expr, j: tirx.Expr, gate: int) -> tirx.Expr:
    """The pre-activation of gate `gate` (0..3) for batch row n, unit j at time `step`."""
    size = hidden_gates.shape[1] // 4
    index = [n, gate * size + j]
    index.insert(time_axis, step)
    return pre[tuple(index)] + hidden_gates[n, gate * size + j]


def _next_cell(pre: te.Tensor, hidden_gates: te.Tensor, cell: te.Tensor, step: int, time_axis: int, n, j) -> tirx.Expr:
    def gate(k: int) -> tirx.Expr:
        return _gate(pre, hidden_gates, step, time_axis, n, j, k)

    return logistic(gate(1)) * cell[n, j] + logistic(gate(0)) * te.tanh(gate(2))


def lstm_cell(pre: te.Tensor, hidden_gates: te.Tensor, cell: te.Tensor, step: int, time_axis: int) -> te.Tensor:
    """The next cell state c' = σ(f)·c + σ(i)·tanh(g) at time `step`.

    pre: the input projection (with bias) of the whole sequence, [T, N, 4H] (time_axis 0) or
    [N, T, 4H] (time_axis 1); hidden_gates: the hidden state's projection, [N, 4H]; cell: [N, H].
    Returns [N, H].
    """
    return te.compute(cell.shape, lambda n, j: _next_cell(pre, hidden_gates, cell, step, time_axis, n, j), name="lstm_cell")


def lstm_hidden(pre: te.Tensor, hidden_gates: te.Tensor, cell: te.Tensor, step: int, time_axis: int) -> te.Tensor:
    """The next hidden state h' = σ(o)·tanh(c') at time `step`, c' as `lstm_cell` computes it (again:
    one kernel per state keeps each a single output). Shapes as lstm_cell's; returns [N, H]."""
    return te.compute(
        cell.shape,
        lambda n, j: logistic(_gate(pre, hidden_gates, step, time_axis, n, j, 3))
        * te.tanh(_next_cell(pre, hidden_gates, cell, step, time_axis, n, j)),
        name="lstm_hidden",
    )
