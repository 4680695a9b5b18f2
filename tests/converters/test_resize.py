"""F.interpolate and nn.Upsample* against PyTorch: every mode, drawn shapes, sizes or scale
factors (recomputed or not), align_corners, NaN/inf; PyTorch's refusals refused at import. The
same through torch.export: the ATen upsample ops in their .vec and .default forms."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests.helpers import Apply, check_against_torch, check_exported, tensors

MODE_RANKS = {
    "nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "area": (3, 4),
    "linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,),
}
FACTORS = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 0.3, 1.7, 1 / 3, 2.25, 0.75])


@st.composite
def interpolate_cases(draw):
    mode = draw(st.sampled_from(sorted(MODE_RANKS)))
    rank = draw(st.sampled_from(MODE_RANKS[mode]))
    spatial = rank - 2
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *draw(st.lists(st.integers(1, 7 if rank < 5 else 4),
                                                                          min_size=spatial, max_size=spatial)))
    options = {}
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 11 if rank < 5 else 5), min_size=spatial, max_size=spatial))
        options["size"] = sizes[0] if draw(st.booleans()) else tuple(sizes)
    else:
        factors = draw(st.lists(FACTORS, min_size=spatial, max_size=spatial))
        assume(all(int(s * f) >= 1 for s, f in zip(shape[2:], factors)))
        options["scale_factor"] = tuple(factors)
        options["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
    if mode not in ("nearest", "nearest-exact", "area"):
        options["align_corners"] = draw(st.sampled_from([None, False, True]))
    return mode, shape, options


@given(interpolate_cases(), st.data())
def test_interpolate_matches_torch(case, data):
    mode, shape, options = case
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())))
    check_against_torch(Apply(lambda x: F.interpolate(x, mode=mode, **options)), x)


@st.composite
def upsample_cases(draw):
    kind = draw(st.sampled_from(["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    if draw(st.booleans()):
        options = {"size": (draw(st.integers(1, 10)), draw(st.integers(1, 10)))}
    else:
        options = {"scale_factor": draw(st.sampled_from([2, 3, 1.5]))}
    if kind == "Upsample":
        mode = draw(st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic"]))
        options["mode"] = mode
        if mode in ("bilinear", "bicubic"):
            options["align_corners"] = draw(st.booleans())
    return getattr(nn, kind)(**options), shape


@given(upsample_cases(), st.data())
def test_upsample_modules_match_torch(case, data):
    module, shape = case
    check_against_torch(module, data.draw(tensors(shape, special_values=True)))


def test_interpolate_keeps_a_symbolic_batch():
    model = Apply(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"))
    check_against_torch(model, torch.randn(3, 2, 4, 5), input_shape=(None, 2, 4, 5))


def test_interpolate_to_the_size_of_another_tensor():
    """A feature-pyramid merge: `F.interpolate(top, size=lateral.shape[-2:])`."""
    class Merge(nn.Module):
        def forward(self, top, lateral):
            return lateral + F.interpolate(top, size=lateral.shape[-2:], mode="nearest")

    check_against_torch(Merge(), [torch.randn(1, 3, 3, 4), torch.randn(1, 3, 7, 9)])


@pytest.mark.parametrize("shape,factor", [((1, 1, 3), 2.25), ((1, 1, 2), 1.4), ((1, 1, 1, 3), 2.25), ((1, 1, 2, 2), 1.4),
                                          ((1, 1, 1, 1, 3), 2.25), ((1, 1, 1, 1, 2), 1.4)])
def test_nearest_at_equal_or_double_size_from_another_factor(shape, factor):
    """PyTorch's 2-D nearest kernel copies at equal sizes and halves at double ones whatever the factor;
    its 1-D and 3-D kernels read floor(out / factor) there too."""
    check_against_torch(Apply(lambda x: F.interpolate(x, scale_factor=factor, mode="nearest")), torch.randn(shape))


@st.composite
def antialias_cases(draw):
    """Down- and up-sampling (each axis on its own), by size or scale factor, both modes."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 20)), draw(st.integers(1, 20)))
    options = {"mode": draw(st.sampled_from(["bilinear", "bicubic"])), "antialias": True,
               "align_corners": draw(st.sampled_from([None, False, True]))}
    if draw(st.booleans()):
        options["size"] = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    else:
        factors = draw(st.lists(st.sampled_from([0.2, 0.3, 1 / 3, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0]), min_size=2, max_size=2))
        assume(all(int(s * f) >= 1 for s, f in zip(shape[2:], factors)))
        options["scale_factor"] = tuple(factors)
        options["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    out = F.interpolate(torch.zeros(shape), **options).shape
    assume(out[-1] > 1 or out[-2] == shape[-2])  # refused: PyTorch repeats the first row (test below)
    return shape, options


# PyTorch's vectorised build fuses multiply-adds in the windowed sums (which ones depends on the CPU):
# same taps, same order, same weights, results within a few float32 ulps.
ANTIALIAS_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@settings(max_examples=40)
@given(antialias_cases(), st.data())
def test_antialiased_interpolate_matches_torch(case, data):
    shape, options = case
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())))
    check_against_torch(Apply(lambda x: F.interpolate(x, **options)), x, **ANTIALIAS_TOLERANCE)


@pytest.mark.parametrize("options,error,message", [
    ({"scale_factor": 2, "mode": "nearest", "align_corners": True}, fx2relax.UnsupportedParameterError, "'align_corners'"),
    ({"scale_factor": 2, "mode": "nearest", "antialias": True}, fx2relax.UnsupportedParameterError, "'antialias'"),
    ({"scale_factor": 2, "mode": "linear"}, fx2relax.ShapeError, "'input'.*needs a 3-D input"),
    ({"size": 4, "scale_factor": 2}, fx2relax.UnsupportedParameterError, "'scale_factor'.*only one"),
    ({"mode": "nearest"}, fx2relax.UnsupportedParameterError, "'size'.*either"),
    ({"size": (4, 4, 4)}, fx2relax.UnsupportedParameterError, "'size'"),
    ({"size": 4, "recompute_scale_factor": True}, fx2relax.UnsupportedParameterError, "'recompute_scale_factor'"),
    ({"scale_factor": 0.1}, fx2relax.ShapeError, "'size'.*greater than 0"),
    ({"size": 4, "mode": "lanczos"}, fx2relax.UnsupportedParameterError, "'mode'"),
    ({"size": (2, 1), "mode": "bilinear", "antialias": True}, fx2relax.UnsupportedParameterError, "'size'.*first row"),
])
def test_interpolate_refusals_name_the_parameter(options, error, message):
    with pytest.raises(error, match=f"parameter {message}") as raised:
        fx2relax.from_module(Apply(lambda x: F.interpolate(x, **options)), (1, 2, 5, 5))
    assert "F.interpolate" in str(raised.value)


# ---------------------------------------------------------------- the torch.export path (ATen upsample ops)

DEFAULT_FORMS = {  # mode, spatial axes → the op's .default form and whether it takes align_corners
    # (torch.export decomposes upsample_bicubic2d.default itself, into floor and index ops)
    ("nearest", 1): (torch.ops.aten.upsample_nearest1d.default, False),
    ("nearest", 2): (torch.ops.aten.upsample_nearest2d.default, False),
    ("nearest", 3): (torch.ops.aten.upsample_nearest3d.default, False),
    ("nearest-exact", 1): (torch.ops.aten._upsample_nearest_exact1d.default, False),
    ("nearest-exact", 2): (torch.ops.aten._upsample_nearest_exact2d.default, False),
    ("nearest-exact", 3): (torch.ops.aten._upsample_nearest_exact3d.default, False),
    ("linear", 1): (torch.ops.aten.upsample_linear1d.default, True),
    ("bilinear", 2): (torch.ops.aten.upsample_bilinear2d.default, True),
    ("trilinear", 3): (torch.ops.aten.upsample_trilinear3d.default, True),
}


@settings(max_examples=15)
@given(interpolate_cases(), st.data())
def test_exported_interpolate_matches_torch(case, data):
    """F.interpolate in every mode through torch.export: the upsample .vec ops (size or scale factors)
    and adaptive average pooling for 'area'."""
    mode, shape, options = case
    x = data.draw(tensors(shape, special_values=data.draw(st.booleans())))
    check_exported(Apply(lambda x: F.interpolate(x, mode=mode, **options)), x)


@settings(max_examples=12)
@given(st.sampled_from(sorted(DEFAULT_FORMS)), st.data())
def test_exported_upsample_default_forms_match_torch(form, data):
    """The .default forms a core-ATen program has: an output size and, per axis, an optional scale
    factor that places the sources independently of it."""
    (_, spatial), (op, takes_align_corners) = form, DEFAULT_FORMS[form]
    shape = (1, 2, *data.draw(st.lists(st.integers(1, 5), min_size=spatial, max_size=spatial)))
    output_size = data.draw(st.lists(st.integers(1, 8), min_size=spatial, max_size=spatial))
    scales = data.draw(st.lists(st.one_of(st.none(), FACTORS), min_size=spatial, max_size=spatial))
    if takes_align_corners:
        align_corners = data.draw(st.booleans())
        model = Apply(lambda x: op(x, output_size, align_corners, *scales))
    else:
        model = Apply(lambda x: op(x, output_size, *scales))
    # finite values: with a scale factor contradicting the output size, a source past the last input
    # takes weights (0, 1), and fx2relax's 0 * inf gives NaN where PyTorch keeps inf (not yet matched)
    check_exported(model, data.draw(tensors(shape)))


@settings(max_examples=10)
@given(antialias_cases(), st.data())
def test_exported_antialiased_interpolate_matches_torch(case, data):
    """The `_upsample_{bilinear,bicubic}2d_aa` ops torch.export records for antialias=True."""
    shape, options = case
    check_exported(Apply(lambda x: F.interpolate(x, **options)), data.draw(tensors(shape)), **ANTIALIAS_TOLERANCE)
