"""Compile-time weight packing: linear layers on constant weights read a panel-packed copy.

`PackLinearWeights` rewrites every call of our `linear` kernel whose weight is a constant into a
call of `kernels.linear.linear_packed` on the weight packed once here, in NumPy, so that the
GEMM/GEMV inner loop reads PACK_WIDTH contiguous weights per input feature.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, tirx

from .kernels import linear as linear_kernels
from .schedules import block_names

_CALL_TIR = tvm.ir.Op.get("relax.call_tir")
_LINEAR_BLOCKS = (["linear"], ["linear", "bias_add"])  # the stages of kernels.linear.linear


def pack_linear_weight(weight: np.ndarray, width: int = linear_kernels.PACK_WIDTH) -> np.ndarray:
    """[N, K] → [ceil(N / width), K, width] with packed[p, k, j] = weight[p * width + j, k], zero past N."""
    out_features, in_features = weight.shape
    panels = -(-out_features // width)
    padded = np.zeros((panels * width, in_features), dtype=weight.dtype)
    padded[:out_features] = weight
    return np.ascontiguousarray(padded.reshape(panels, width, in_features).transpose(0, 2, 1))


def is_linear_kernel(func: tvm.ir.BaseFunc) -> bool:
    """Whether `func` is a PrimFunc made from kernels.linear.linear (recognised by its block names)."""
    return isinstance(func, tirx.PrimFunc) and block_names(func) in _LINEAR_BLOCKS


@relax.expr_functor.mutator
class _LinearPacker(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self.mod = mod

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        if call.op != _CALL_TIR or not is_linear_kernel(self.mod[call.args[0]]):
            return call
        data, weight, *bias = call.args[1].fields
        if not isinstance(weight, tvm.ir.expr.Constant) or len(weight.ty.shape.values) != 2:
            return call
        weight_array = weight.value.numpy()
        packed = relax.const(pack_linear_weight(weight_array), str(weight_array.dtype))
        return self.builder_.call_te(
            linear_kernels.linear_packed, data, packed, bias[0] if bias else None,
            out_features=weight_array.shape[0], primfunc_name_hint="linear_packed",
        )


@tvm.transform.module_pass(opt_level=0, name="PackLinearWeights")
class PackLinearWeights:
    """Rewrite `linear` calls on constant weights to `linear_packed` on packed constants."""

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        packer = _LinearPacker(mod)
        for global_var, func in mod.functions_items():
            if isinstance(func, relax.Function):
                packer.builder_.update_func(global_var, packer.visit_expr(func))
        return relax.transform.DeadCodeElimination(["main"])(packer.builder_.get())
