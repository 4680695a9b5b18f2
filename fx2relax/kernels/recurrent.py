"""The cells of recurrent layers, one time step each: nn.LSTM's and nn.GRU's gates over precomputed
products.

The converter computes the input's projection for every time step at once (`linear` over the whole
sequence) and, per step, the hidden state's projection (`linear`); these kernels add the two and
apply the gates. PyTorch orders an LSTM's gates input, forget, cell, output along the 4·hidden axis,
a GRU's reset, update, new along the 3·hidden axis.
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


def gru_hidden(pre: te.Tensor, hidden_gates: te.Tensor, hidden: te.Tensor, step: int, time_axis: int) -> te.Tensor:
    """nn.GRU's next hidden state at time `step`, as ATen's gru_cell computes it: r = σ(i_r + h_r),
    z = σ(i_z + h_z), n = tanh(i_n + r·h_n), h' = (h - n)·z + n (gates reset, update, new along 3H).

    pre: the input projection (with bias_ih) of the sequence, [T, N, 3H] (time_axis 0) or [N, T, 3H]
    (time_axis 1); hidden_gates: the hidden state's projection (with bias_hh), [N, 3H]; hidden: [N, H].
    Returns [N, H].
    """
    size = hidden.shape[1]

    def read(n, j, gate):
        index = [n, gate * size + j]
        index.insert(time_axis, step)
        return pre[tuple(index)]

    def next_hidden(n, j):
        reset = logistic(read(n, j, 0) + hidden_gates[n, j])
        update = logistic(read(n, j, 1) + hidden_gates[n, size + j])
        new = te.tanh(read(n, j, 2) + hidden_gates[n, 2 * size + j] * reset)
        return (hidden[n, j] - new) * update + new

    return te.compute(hidden.shape, next_hidden, name="gru_hidden")
