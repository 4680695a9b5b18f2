"""Converters for ops that are the identity at inference: nn.Identity and the dropout family in eval,
and the checks torch.export records (tensor metadata, assertions), which compute nothing.

Dropout in training mode is random, which an imported inference graph does not reproduce, so
`training=True` is refused rather than silently ignored.
"""

import numbers

import torch
import torch.nn.functional as F
from torch import nn
from tvm import sym, tirx

from .. import dtypes
from ..errors import ConversionError
from ..importer import NodeContext, is_tensor
from ..registry import register_converter

aten = torch.ops.aten


@register_converter(nn.Identity)
def identity(ctx, input):
    return input


def _check_eval(ctx: NodeContext, p: object, training: bool) -> None:
    """Refuse training-mode dropout (PyTorch would zero random elements) and invalid probabilities."""
    if ctx.module is not None:
        p, training = ctx.module.p, ctx.module.training
    if training:
        raise ctx.unsupported(
            "training", "dropout in training mode zeroes random elements; call model.eval() before importing"
        )
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ctx.unsupported("p", f"dropout probability has to be between 0 and 1, but got {p!r}")


@register_converter(nn.Dropout, nn.Dropout2d, nn.Dropout3d, F.dropout, F.dropout2d, F.dropout3d, aten.dropout.default)
def dropout(ctx, input, p=0.5, training=True, inplace=False):
    _check_eval(ctx, p, training)
    return input


@register_converter(nn.Dropout1d, F.dropout1d)
def dropout1d(ctx, input, p=0.5, training=True, inplace=False):
    _check_eval(ctx, p, training)
    rank = len(ctx.shape(input))
    if rank not in (2, 3):
        raise ctx.shape_error(f"dropout1d expects a 2-D or 3-D input, got a {rank}-D one")
    return input


@register_converter(nn.AlphaDropout, nn.FeatureAlphaDropout, F.alpha_dropout, F.feature_alpha_dropout)
def alpha_dropout(ctx, input, p=0.5, training=False, inplace=False):
    _check_eval(ctx, p, training)
    return input


@register_converter(aten.clone.default, aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default,
                    aten.contiguous.default, any_dtype=("input",))
def copy(ctx, input, *, memory_format=None):
    """A copy or an alias of the input: the same values (fx2relax computes out of place, so a copy is the value)."""
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a tensor, got {type(input).__name__} {input!r}")
    return input


@register_converter(aten._assert_tensor_metadata.default, any_dtype=("input",))
def assert_tensor_metadata(ctx, input, size=None, stride=None, dtype=None, *, device=None, layout=None):
    """torch.export's check of a tensor's dtype (and sizes): checked at import against the value fx2relax
    computed, so a dtype fx2relax got wrong stops the import instead of computing on."""
    if dtype is not None and is_tensor(input) and dtypes.value_dtype(input) != dtypes.dtype_name(dtype):
        raise ConversionError(ctx.where, f"fx2relax computed {dtypes.value_dtype(input)} where PyTorch has {dtype}")
    return None


@register_converter(aten._assert_async.msg, aten._assert_async.default, any_dtype=("input",))
def assert_async(ctx, input, assert_msg="_assert_async failed"):
    """A data check PyTorch may raise from (`one_hot`'s class range, say); nothing computes from it.
    Checked now when its one value is a constant; a value computed at run time is not checked, as
    fx2relax raises nothing at run time (the ops after it follow their kernels' rules for such
    values, as for out-of-range indices)."""
    if not is_tensor(input):
        raise ctx.unsupported("input", f"expected a one-element tensor, got {type(input).__name__}")
    value = ctx.constant(input)
    if value is not None:
        if value.size != 1:
            raise ctx.shape_error(f"expects a tensor with one element, got shape {value.shape}", "input")
        if not value.reshape(()).item():
            raise ctx.shape_error(f"the model's assertion failed: {assert_msg}", "input")
    return None


def _decide(ctx: NodeContext, condition: object, parameter: str) -> bool:
    """A size condition (a bool, or a boolean PrimExpr of symbolic sizes) that must be provable at import."""
    if isinstance(condition, bool):
        return condition
    if isinstance(condition, tirx.PrimExpr):
        analyzer = sym.Analyzer()
        if analyzer.can_prove(condition):
            return True
        if analyzer.can_prove(tirx.Not(condition)):
            return False
    raise ctx.unsupported(parameter, f"must be decidable at import time, got {condition!r}")


@register_converter(aten._assert_scalar.default)
def assert_scalar(ctx, input, assert_msg):
    """torch.export's check of a size condition (`s0 >= 2`): decided at import, a failing one raised now."""
    if not _decide(ctx, input, "input"):
        raise ctx.shape_error(f"the model's assertion failed: {assert_msg}", "input")
    return None


@register_converter(aten.sym_constrain_range_for_size.default, aten.sym_constrain_range.default)
def sym_constrain_range(ctx, size, *, min=None, max=None):  # noqa: A002 (ATen's names)
    """torch.export's range of a size (`min <= size <= max`), decided at import."""
    for bound, holds in ((min, lambda b: size >= b), (max, lambda b: size <= b)):
        if bound is not None and not _decide(ctx, holds(bound), "size"):
            raise ctx.shape_error(f"size {size} is outside the range [{min}, {max}] the program requires", "size")
    return None


try:  # torchvision is optional; its residual models (EfficientNet, ConvNeXt, Swin) call this function
    from torchvision.ops import stochastic_depth as _torchvision_stochastic_depth
except ImportError:
    _torchvision_stochastic_depth = None

if _torchvision_stochastic_depth is not None:

    @register_converter(_torchvision_stochastic_depth)
    def stochastic_depth(ctx, input, p, mode, training=True):
        """torchvision's StochasticDepth: the identity in eval mode (or with p=0), refused in training."""
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ctx.unsupported("p", f"drop probability has to be between 0 and 1, but got {p!r}")
        if mode not in ("batch", "row"):
            raise ctx.unsupported("mode", f"mode has to be either 'batch' or 'row', but got {mode!r}")
        if training and p != 0:
            raise ctx.unsupported(
                "training", "stochastic depth in training mode drops random rows; call model.eval() before importing"
            )
        return input
