"""Element-wise ops of three broadcast tensors: addcmul and addcdiv.

Each evaluates in PyTorch's CPU order, `input + value * t1 * t2` and `input + value * t1 / t2`
((value * t1) first), with `value` a 0-d tensor so the simplifier cannot fold `0 * x` (NaN and
±inf stay as in PyTorch).
"""

from __future__ import annotations

from tvm import te

from .elementwise import broadcast_index, broadcast_shape


def _ternary(input: te.Tensor, tensor1: te.Tensor, tensor2: te.Tensor, value: te.Tensor, name: str, combine) -> te.Tensor:
    shape = broadcast_shape(broadcast_shape(input.shape, tensor1.shape), tensor2.shape)

    def source(*i):
        a, b, c = (t[broadcast_index(t.shape, i)] for t in (input, tensor1, tensor2))
        return combine(a, value[()] * b, c)

    return te.compute(shape, source, name=name)


def addcmul(input: te.Tensor, tensor1: te.Tensor, tensor2: te.Tensor, value: te.Tensor) -> te.Tensor:
    """input + value * tensor1 * tensor2, broadcast (value: 0-d); the broadcast of the three shapes."""
    return _ternary(input, tensor1, tensor2, value, "addcmul", lambda a, scaled, c: a + scaled * c)


def addcdiv(input: te.Tensor, tensor1: te.Tensor, tensor2: te.Tensor, value: te.Tensor) -> te.Tensor:
    """input + value * tensor1 / tensor2, broadcast (value: 0-d); the broadcast of the three shapes."""
    return _ternary(input, tensor1, tensor2, value, "addcdiv", lambda a, scaled, c: a + scaled / c)
