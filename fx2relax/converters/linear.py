"""Converters for fully connected layers and matrix products: nn.Linear / F.linear, nn.Bilinear /
F.bilinear, torch.matmul (`@`, Tensor.matmul), torch.mm, torch.bmm and torch.addmm (and their methods),
torch.einsum."""

import numbers
import operator

import torch
import torch.nn.functional as F
from torch import nn

from .. import symbolic
from ..importer import NodeContext, is_tensor
from ..kernels import elementwise
from ..kernels import linear as kernels
from ..registry import register_converter

aten = torch.ops.aten


def _tensor(ctx: NodeContext, value: object, parameter: str) -> tuple:
    """The shape of a tensor argument; anything else is refused naming the parameter."""
    if not is_tensor(value):
        raise ctx.unsupported(parameter, f"expected a tensor, got {type(value).__name__} {value!r}")
    return ctx.shape(value)


def _check_bias(ctx: NodeContext, bias: object, out_features: object) -> None:
    if bias is not None and (len(_tensor(ctx, bias, "bias")) != 1 or not symbolic.equal(ctx.shape(bias)[0], out_features)):
        raise ctx.shape_error(f"expected a bias of shape ({out_features},), got {ctx.shape(bias)}", "bias")


def _linear(ctx: NodeContext, input, weight, bias):
    """Check x W^T + b's shapes (W may be a vector [in_features], giving x · W) and emit it."""
    shape = _tensor(ctx, input, "input")
    weight_shape = _tensor(ctx, weight, "weight")
    if len(shape) == 0 or len(weight_shape) not in (1, 2):
        raise ctx.shape_error(f"expects an input of rank >= 1 and a 1-D or 2-D weight, got shapes {shape} and {weight_shape}")
    if not symbolic.equal(shape[-1], weight_shape[-1]):
        expected = f"the module has in_features={ctx.module.in_features}" if ctx.module is not None else (
            f"the weight (shape {weight_shape}) expects in_features={weight_shape[-1]}"
        )
        raise ctx.shape_error(
            f"input has {shape[-1]} features (shape {shape}) but {expected}",
            "in_features" if ctx.module is not None else "weight",
        )
    if len(weight_shape) == 1:
        if bias is not None:
            raise ctx.unsupported("bias", "a bias with a 1-D weight is not supported (PyTorch refuses it for matrices)")
        return ctx.emit_te(kernels.matmul, input, weight)
    _check_bias(ctx, bias, weight_shape[0])
    return ctx.emit_te(kernels.linear, input, weight, bias)


@register_converter(nn.Linear)
def linear(ctx, input):
    bias = ctx.module_param("bias")
    return _linear(ctx, input, ctx.module_param("weight"), bias)


@register_converter(F.linear, aten.linear.default)
def linear_function(ctx, input, weight, bias=None):
    return _linear(ctx, input, weight, bias)


def _check_product(ctx: NodeContext, lhs, rhs, names: tuple[str, str], ranks: tuple[int, ...] | None = None,
                   broadcast: bool = True) -> None:
    """Check torch.matmul's shape rules for `lhs @ rhs`, restricted to `ranks` (mm, bmm, addmm) and,
    with broadcast=False, to equal batch sizes (bmm); errors name the parameters `names`."""
    shapes = _tensor(ctx, lhs, names[0]), _tensor(ctx, rhs, names[1])
    if ranks is not None and any(len(s) not in ranks for s in shapes):
        raise ctx.shape_error(f"expects {' or '.join(f'{r}-D' for r in ranks)} tensors, got shapes {shapes[0]} and {shapes[1]}")
    if any(len(s) == 0 for s in shapes):
        raise ctx.shape_error(f"both arguments need to be at least 1-D, got shapes {shapes[0]} and {shapes[1]}")
    contracted = shapes[1][0] if len(shapes[1]) == 1 else shapes[1][-2]
    if not symbolic.equal(shapes[0][-1], contracted):
        raise ctx.shape_error(
            f"shapes {shapes[0]} and {shapes[1]} cannot be multiplied ({shapes[0][-1]} != {contracted})", names[1]
        )
    batches = [s[:-2] for s in shapes]
    if not broadcast and not all(symbolic.equal(a, b) for a, b in zip(*batches)):
        raise ctx.shape_error(f"the batch sizes of {shapes[0]} and {shapes[1]} differ", names[1])
    try:
        elementwise.broadcast_shape(*batches)
    except ValueError as error:
        raise ctx.shape_error(f"the batch axes of {shapes[0]} and {shapes[1]} do not broadcast: {error}", names[1]) from None


@register_converter(torch.matmul, operator.matmul, "matmul", aten.matmul.default)
def matmul(ctx, input, other):
    _check_product(ctx, input, other, ("input", "other"))
    return ctx.emit_te(kernels.matmul, input, other)


@register_converter(torch.mm, "mm", aten.mm.default)
def mm(ctx, input, mat2):
    _check_product(ctx, input, mat2, ("input", "mat2"), ranks=(2,))
    return ctx.emit_te(kernels.matmul, input, mat2)


@register_converter(torch.bmm, "bmm", aten.bmm.default)
def bmm(ctx, input, mat2):
    _check_product(ctx, input, mat2, ("input", "mat2"), ranks=(3,), broadcast=False)
    return ctx.emit_te(kernels.matmul, input, mat2)


@register_converter(torch.addmm, "addmm", aten.addmm.default)
def addmm(ctx, input, mat1, mat2, *, beta=1, alpha=1):
    for name, value in (("beta", beta), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ctx.unsupported(name, f"must be a real number, got {value!r}")
    _check_product(ctx, mat1, mat2, ("mat1", "mat2"), ranks=(2,))
    shape = _tensor(ctx, input, "input")
    result = (ctx.shape(mat1)[0], ctx.shape(mat2)[1])
    try:
        broadcast = elementwise.broadcast_shape(shape, result)
    except ValueError:
        broadcast = None
    if broadcast is None or len(broadcast) != 2 or not all(symbolic.equal(a, b) for a, b in zip(broadcast, result)):
        raise ctx.shape_error(f"the input of shape {shape} does not broadcast to the product's shape {result}", "input")
    return ctx.emit_te(kernels.addmm, input, mat1, mat2, beta=float(beta), alpha=float(alpha))


def _bilinear(ctx: NodeContext, input1, input2, weight, bias):
    """Check x1^T A x2 + b's shapes (equal batch axes, as PyTorch requires) and emit it."""
    shapes = _tensor(ctx, input1, "input1"), _tensor(ctx, input2, "input2")
    weight_shape = _tensor(ctx, weight, "weight")
    if len(weight_shape) != 3:
        raise ctx.shape_error(f"the weight must be 3-D (out, in1, in2), got shape {weight_shape}", "weight")
    if len(shapes[0]) == 0 or len(shapes[0]) != len(shapes[1]) or not all(
        symbolic.equal(a, b) for a, b in zip(shapes[0][:-1], shapes[1][:-1])
    ):
        raise ctx.shape_error(f"the inputs' batch axes must match, got shapes {shapes[0]} and {shapes[1]}", "input2")
    for position, (shape, features) in enumerate(zip(shapes, weight_shape[1:]), start=1):
        if not symbolic.equal(shape[-1], features):
            raise ctx.shape_error(
                f"input{position} has {shape[-1]} features (shape {shape}) but the weight (shape {weight_shape}) "
                f"expects in{position}_features={features}",
                f"in{position}_features" if ctx.module is not None else "weight",
            )
    _check_bias(ctx, bias, weight_shape[0])
    return ctx.emit_te(kernels.bilinear, input1, input2, weight, bias)


@register_converter(nn.Bilinear)
def bilinear(ctx, input1, input2):
    bias = ctx.module_param("bias")
    return _bilinear(ctx, input1, input2, ctx.module_param("weight"), bias)


@register_converter(F.bilinear)
def bilinear_function(ctx, input1, input2, weight, bias=None):
    return _bilinear(ctx, input1, input2, weight, bias)


@register_converter(torch.einsum)
def einsum(ctx, equation, *operands):
    """torch.einsum("bij,bjk->bik", a, b) or with the operands in one list; the sublist form
    (einsum(a, [0, 1], b, [1, 2])) is refused."""
    if not isinstance(equation, str):
        raise ctx.unsupported("equation", "the sublist form einsum(op, [dims], ...) is not supported; write the equation string")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    shapes = [_tensor(ctx, operand, f"operands[{i}]") for i, operand in enumerate(operands)]
    try:
        labels, _ = kernels.parse_einsum(equation, [len(shape) for shape in shapes])
        kernels.einsum_sizes(labels, shapes)
    except ValueError as error:
        raise ctx.shape_error(f"equation {equation!r}: {error}", "equation") from None
    return ctx.emit_te(kernels.einsum, *operands, equation=equation)
