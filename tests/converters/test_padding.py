"""F.pad and the nn padding modules against PyTorch: every mode, drawn shapes, amounts (negative
ones crop) and values, NaN/inf; what PyTorch refuses is refused at import, naming the parameter.
The same through torch.export: aten.pad and the per-mode ATen ops."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, tensors

MODES = ("constant", "reflect", "replicate", "circular")


def torch_outcome(model, x):
    """PyTorch's output for `x`, or None when PyTorch refuses (or gives an empty tensor). Circular
    padding past what a crop leaves fails in PyTorch on its own overlapping copies in some cases
    (fx2relax wraps around modulo, as PyTorch does where it succeeds): nothing to compare."""
    try:
        with torch.no_grad():
            out = model(x.clone())
    except RuntimeError as error:
        assume("single memory location" not in str(error))
        return None
    except (ValueError, NotImplementedError):
        return None
    return None if out.numel() == 0 else out


def wraps_an_empty_axis(shape, pad, mode):
    """Circular padding of an axis cropped to nothing: PyTorch returns uninitialized memory."""
    pairs = [(pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]
    sizes = list(reversed(shape))[: len(pairs)]
    return mode == "circular" and any(s + min(b, 0) + min(a, 0) < 1 and (b > 0 or a > 0) for s, (b, a) in zip(sizes, pairs))


def check_or_refused(model, x, input_shape=None, undefined=False):
    """Compare with PyTorch where it computes a non-empty (defined) result; otherwise fx2relax must
    refuse at import with an error naming the parameter."""
    if undefined or torch_outcome(model, x) is None:
        with pytest.raises((fx2relax.ShapeError, fx2relax.UnsupportedParameterError), match="parameter"):
            fx2relax.from_module(model, tuple(x.shape))
    else:
        check_against_torch(model, x, input_shape=input_shape)


@st.composite
def pad_cases(draw, modes=MODES):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    mode = draw(st.sampled_from(modes))
    axes = draw(st.integers(1, min(rank, 3) if mode != "constant" else rank))
    pad = tuple(draw(st.lists(st.integers(-3, 4), min_size=2 * axes, max_size=2 * axes)))
    value = draw(st.sampled_from([None, 0.0, 1.5, -2.0, float("inf"), float("nan")])) if mode == "constant" else None
    return shape, pad, mode, value


@given(pad_cases(), st.booleans(), st.data())
def test_pad_matches_torch(case, keyword, data):
    shape, pad, mode, value = case
    if keyword:
        model = Apply(lambda x: F.pad(x, pad=list(pad), mode=mode, value=value))
    else:
        model = Apply(lambda x: F.pad(x, pad, mode, value))
    check_or_refused(model, data.draw(tensors(shape, special_values=True)), undefined=wraps_an_empty_axis(shape, pad, mode))


@given(pad_cases(modes=("reflect", "replicate", "circular")), st.data())
def test_non_constant_pad_matches_torch(case, data):
    """Half the drawn non-constant cases are refused by PyTorch's rank rules; these all fit them."""
    shape, pad, mode, _ = case
    shape = (2,) * (1 + len(pad) // 2 - len(shape) % 2) + shape[-(len(pad) // 2):]
    check_or_refused(Apply(lambda x: F.pad(x, pad, mode)), data.draw(tensors(shape, special_values=True)),
                     undefined=wraps_an_empty_axis(shape, pad, mode))


PAD_MODULES = {
    1: [nn.ZeroPad1d, nn.ConstantPad1d, nn.ReflectionPad1d, nn.ReplicationPad1d, nn.CircularPad1d],
    2: [nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.CircularPad2d],
    3: [nn.ZeroPad3d, nn.ConstantPad3d, nn.ReflectionPad3d, nn.ReplicationPad3d, nn.CircularPad3d],
}


@st.composite
def pad_module_cases(draw):
    axes = draw(st.integers(1, 3))
    module_type = draw(st.sampled_from(PAD_MODULES[axes]))
    padding = draw(st.one_of(
        st.integers(0, 3), st.lists(st.integers(-2, 3), min_size=2 * axes, max_size=2 * axes).map(tuple)
    ))
    args = (padding, draw(st.floats(-5, 5))) if module_type.__name__.startswith("Constant") else (padding,)
    rank = axes + draw(st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    return module_type(*args), shape


@given(pad_module_cases(), st.data())
def test_pad_modules_match_torch(case, data):
    module, shape = case
    mode = "circular" if type(module).__name__.startswith("Circular") else "other"
    undefined = wraps_an_empty_axis(shape, module.padding, mode)
    check_or_refused(module, data.draw(tensors(shape, special_values=True)), undefined=undefined)


def test_pad_keeps_a_symbolic_batch():
    model = Apply(lambda x: F.pad(x, (1, 2, 0, 1), "replicate"))
    check_against_torch(model, torch.randn(3, 2, 4, 5), input_shape=(None, 2, 4, 5))


def test_constant_pad_of_a_symbolic_axis():
    model = Apply(lambda x: F.pad(x, (0, 0, 0, 0, 0, 0, 1, 2), value=3.0))
    check_against_torch(model, torch.randn(3, 2, 4, 5), input_shape=(None, 2, 4, 5))


def test_reflect_pad_of_a_symbolic_axis_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="parameter 'pad'.*symbolic"):
        fx2relax.from_module(Apply(lambda x: F.pad(x, (1, 1), "reflect")), (2, None))


@pytest.mark.parametrize("pad,mode,value,error,message", [
    ((1, 1, 1), "constant", None, fx2relax.ShapeError, "divisible by 2"),
    ((1, 1), "wrap", None, fx2relax.UnsupportedParameterError, "parameter 'mode'"),
    ((1, 1), "reflect", 2.0, fx2relax.UnsupportedParameterError, "parameter 'value'"),
    ((1, 1) * 4, "constant", None, fx2relax.ShapeError, "twice the input dimension"),
    ((1, 1) * 3, "reflect", None, fx2relax.ShapeError, "3 axes is not supported for a 3-D input"),
    ((5, 0), "reflect", None, fx2relax.ShapeError, "smaller than the size 5"),
    ((-3, -2), "constant", None, fx2relax.ShapeError, "leaves 0 values"),
    ((1.5, 1), "constant", None, fx2relax.UnsupportedParameterError, "sequence of ints"),
])
def test_pad_refusals_name_the_parameter(pad, mode, value, error, message):
    with pytest.raises(error, match=message) as raised:
        fx2relax.from_module(Apply(lambda x: F.pad(x, pad, mode, value)), (2, 3, 5))
    assert "F.pad" in str(raised.value)


def test_circular_pad_module_checks_the_rank():
    with pytest.raises(fx2relax.ShapeError, match="expected 3D or 4D input") as raised:
        fx2relax.from_module(nn.Sequential(nn.CircularPad2d(1)), (2, 1, 3, 4, 4))
    assert "nn.CircularPad2d" in str(raised.value)


# ---------------------------------------------------------------- the torch.export path (ATen padding ops)

ATEN_PADS = {
    ("reflect", 1): torch.ops.aten.reflection_pad1d, ("reflect", 2): torch.ops.aten.reflection_pad2d,
    ("reflect", 3): torch.ops.aten.reflection_pad3d, ("replicate", 1): torch.ops.aten.replication_pad1d,
    ("replicate", 2): torch.ops.aten.replication_pad2d, ("replicate", 3): torch.ops.aten.replication_pad3d,
    ("circular", 1): torch.ops.aten._pad_circular, ("circular", 2): torch.ops.aten._pad_circular,
    ("circular", 3): torch.ops.aten._pad_circular,
}


def check_exported_or_refused(model, x, undefined=False):
    """check_exported where PyTorch computes a defined, non-empty result; where its result is
    undefined (circular wrap of an emptied axis), from_exported_program must refuse naming the parameter."""
    assume(torch_outcome(model, x) is not None)
    if undefined:
        with pytest.raises((fx2relax.ShapeError, fx2relax.UnsupportedParameterError), match="parameter"):
            fx2relax.from_exported_program(torch.export.export(model, (x,)))
    else:
        check_exported(model, x)


@settings(max_examples=12)
@given(pad_cases(), st.booleans(), st.data())
def test_exported_pad_matches_torch(case, aten_op, data):
    """F.pad in every mode through torch.export (aten.pad kept whole), or the mode's own ATen op
    (constant_pad_nd, reflection_pad*, replication_pad*, _pad_circular) as a core-ATen program has it."""
    shape, pad, mode, value = case
    axes = len(pad) // 2
    if mode != "constant":
        shape = (2,) * (1 + axes - len(shape) % 2) + shape[-axes:]  # a rank the non-constant modes take
    if not aten_op:
        model = Apply(lambda x: F.pad(x, pad, mode, value))
    elif mode == "constant":
        model = Apply(lambda x: torch.constant_pad_nd(x, pad, 0.0 if value is None else value))
    else:
        model = Apply(lambda x: ATEN_PADS[mode, axes](x, pad))
    x = data.draw(tensors(shape, special_values=True))
    check_exported_or_refused(model, x, undefined=wraps_an_empty_axis(shape, pad, mode))

