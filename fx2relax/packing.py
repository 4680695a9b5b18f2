"""Compile-time weight packing: linear layers on constant weights read a panel-packed copy.

`PackLinearWeights(target)` rewrites every call of our `linear` kernel (recognised by its stages'
marks, kernels.marks) whose weight is a constant into a call of `kernels.linear.linear_packed` on
the weight packed once here, in NumPy, in panels one vector of the target CPU wide, so that the
GEMM/GEMV inner loop reads one vector of contiguous weights per input feature.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, tirx

from .kernels import linear as linear_kernels
from .kernels.marks import marked_kernel, stages
from .schedules.vectors import vector_unit

_CALL_TIR = tvm.ir.Op.get("relax.call_tir")


def pack_linear_weight(weight: np.ndarray, width: int) -> np.ndarray:
    """[N, K] → [ceil(N / width), K, width] with packed[p, k, j] = weight[p * width + j, k], zero past N."""
    out_features, in_features = weight.shape
    panels = -(-out_features // width)
    padded = np.zeros((panels * width, in_features), dtype=weight.dtype)
    padded[:out_features] = weight
    return np.ascontiguousarray(padded.reshape(panels, width, in_features).transpose(0, 2, 1))


def is_linear_kernel(func: tvm.ir.BaseFunc) -> bool:
    """Whether `func` is a PrimFunc made from kernels.linear.linear alone: every stage marked "linear",
    the product reading (data, weight) from the first two parameters, as the packed call passes them."""
    if not isinstance(func, tirx.PrimFunc) or len(func.params) not in (3, 4):  # data, weight[, bias], output
        return False
    blocks = stages(func)
    if not blocks or any(marked_kernel(block.annotations) != "linear" for block in blocks):
        return False
    reads = [region.source for region in blocks[0].reads]
    arguments = func.params[:2]  # data, weight
    return len(reads) == 2 and all(read.same_as(argument) for read, argument in zip(reads, arguments))


@relax.expr_functor.mutator
class _LinearPacker(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule, target: tvm.target.Target):
        super().__init__(mod)
        self.mod = mod
        self.vectors = vector_unit(target)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = self.visit_expr_post_order(call)
        if call.op != _CALL_TIR or not is_linear_kernel(self.mod[call.args[0]]):
            return call
        data, weight, *bias = call.args[1].fields
        if not isinstance(weight, tvm.ir.expr.Constant) or len(weight.ty.shape.values) != 2:
            return call
        weight_array = weight.value.numpy()
        dtype = str(weight_array.dtype)
        packed = relax.const(pack_linear_weight(weight_array, self.vectors.lanes(dtype)), dtype)
        return self.builder_.call_te(
            linear_kernels.linear_packed, data, packed, bias[0] if bias else None,
            out_features=weight_array.shape[0], primfunc_name_hint="linear_packed",
        )


@tvm.transform.module_pass(opt_level=0, name="PackLinearWeights")
class PackLinearWeights:
    """Rewrite `linear` calls on constant weights to `linear_packed` on constants packed for `target`."""

    def __init__(self, target: tvm.target.Target):
        self.target = target

    def transform_module(self, mod: tvm.IRModule, ctx: tvm.transform.PassContext) -> tvm.IRModule:
        packer = _LinearPacker(mod, self.target)
        for global_var, func in mod.functions_items():
            if isinstance(func, relax.Function):
                packer.builder_.update_func(global_var, packer.visit_expr(func))
        return relax.transform.DeadCodeElimination(["main"])(packer.builder_.get())
