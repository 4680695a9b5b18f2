"""Element-wise activations."""

from tvm import te, tirx



def relu(data: te.Tensor) -> te.Tensor:
    """max(x, 0) for a tensor of any shape; NaN stays NaN as in PyTorch (a plain max would zero it)."""
    zero = tirx.const(0, data.dtype)
    return te.compute(data.shape, lambda *i: tirx.Select(data(*i) < zero, zero, data(*i)), name="relu")
