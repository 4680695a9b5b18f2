"""Activations against PyTorch: every alias (module, F., torch., method, in-place), drawn parameters,
NaN/±inf and large |x| where sigmoid, tanh and erf saturate."""

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fx2relax
from tests import helpers
from tests.helpers import Apply, assert_outputs_match, cached_build, check_against_torch, check_exported, tensors

SHAPES = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
# Magnitudes up to 100 reach the saturated tails of sigmoid, tanh, erf and exp.
BOUNDS = st.sampled_from([3.0, 20.0, 100.0])
FLOATS = st.floats(-3, 3, allow_nan=False, width=32)


def check_forms(data: st.DataObject, forms: dict[str, Callable[[], nn.Module]], special_values: bool = True) -> None:
    """Draw an input and one of the op's forms (aliases) and compare it with PyTorch."""
    bound = data.draw(BOUNDS, label="bound")
    x = data.draw(tensors(data.draw(SHAPES, label="shape"), special_values, -bound, bound), label="x")
    form = data.draw(st.sampled_from(sorted(forms)), label="form")
    check_against_torch(forms[form](), x)


@given(data=st.data(), inplace=st.booleans())
def test_relu(data, inplace):
    check_forms(data, {
        "module": lambda: nn.ReLU(inplace),
        "F": lambda: Apply(lambda x: F.relu(x, inplace=inplace)),
        "F_": lambda: Apply(F.relu_),
        "torch": lambda: Apply(torch.relu),
        "torch_": lambda: Apply(torch.relu_),
        "method": lambda: Apply(lambda x: x.relu()),
        "method_": lambda: Apply(lambda x: x.relu_()),
    })


@given(data=st.data(), inplace=st.booleans(), low=FLOATS, width=st.floats(0, 4, width=32))
def test_hardtanh(data, inplace, low, width):
    high = low + width
    forms = {
        "F_positional": lambda: Apply(lambda x: F.hardtanh(x, low, high, inplace)),
        "F_keyword": lambda: Apply(lambda x: F.hardtanh(x, max_val=high, min_val=low)),
        "F_": lambda: Apply(lambda x: F.hardtanh_(x, low, high)),
    }
    if high > low:  # the module asserts it; the functions accept equal bounds
        forms["module"] = lambda: nn.Hardtanh(low, high, inplace)
    check_forms(data, forms)


@given(data=st.data(), inplace=st.booleans())
def test_relu6(data, inplace):
    check_forms(data, {
        "module": lambda: nn.ReLU6(inplace),
        "F": lambda: Apply(lambda x: F.relu6(x, inplace)),
    })


@given(data=st.data())
def test_sigmoid(data):
    check_forms(data, {
        "module": nn.Sigmoid,
        "F": lambda: Apply(F.sigmoid),
        "torch": lambda: Apply(torch.sigmoid),
        "torch_": lambda: Apply(torch.sigmoid_),
        "method": lambda: Apply(lambda x: x.sigmoid()),
        "method_": lambda: Apply(lambda x: x.sigmoid_()),
    })


@given(data=st.data())
def test_tanh(data):
    check_forms(data, {
        "module": nn.Tanh,
        "F": lambda: Apply(F.tanh),
        "torch": lambda: Apply(torch.tanh),
        "torch_": lambda: Apply(torch.tanh_),
        "method": lambda: Apply(lambda x: x.tanh()),
        "method_": lambda: Apply(lambda x: x.tanh_()),
    })


@given(data=st.data(), inplace=st.booleans())
def test_silu(data, inplace):
    check_forms(data, {
        "module": lambda: nn.SiLU(inplace),
        "F": lambda: Apply(lambda x: F.silu(x, inplace=inplace)),
    })


@given(data=st.data(), approximate=st.sampled_from(["none", "tanh"]))
def test_gelu(data, approximate):
    """PyTorch's exact GELU gives NaN for +inf in its vectorised loop but inf in its scalar tail
    (see test_gelu_of_infinity), so +inf is left out of this comparison."""
    bound = data.draw(BOUNDS, label="bound")
    x = data.draw(tensors(data.draw(SHAPES, label="shape"), True, -bound, bound), label="x")
    x[x == float("inf")] = float("-inf")
    model = data.draw(st.sampled_from([
        nn.GELU(approximate),
        Apply(lambda t: F.gelu(t, approximate=approximate)),
    ]), label="form")
    check_against_torch(model, x)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_infinity(approximate):
    """gelu(+inf) = +inf and gelu(-inf) = NaN, as PyTorch's element-at-a-time path computes them."""
    for value in (float("inf"), float("-inf")):
        check_against_torch(nn.GELU(approximate), torch.tensor([value]))


@given(data=st.data(), inplace=st.booleans())
def test_hardswish(data, inplace):
    check_forms(data, {
        "module": lambda: nn.Hardswish(inplace),
        "F": lambda: Apply(lambda x: F.hardswish(x, inplace)),
    })


@given(data=st.data(), inplace=st.booleans())
def test_hardsigmoid(data, inplace):
    check_forms(data, {
        "module": lambda: nn.Hardsigmoid(inplace),
        "F": lambda: Apply(lambda x: F.hardsigmoid(x, inplace=inplace)),
    })


@given(data=st.data(), inplace=st.booleans(), slope=FLOATS)
def test_leaky_relu(data, inplace, slope):
    check_forms(data, {
        "module": lambda: nn.LeakyReLU(slope, inplace),
        "F_positional": lambda: Apply(lambda x: F.leaky_relu(x, slope, inplace)),
        "F_keyword": lambda: Apply(lambda x: F.leaky_relu(x, negative_slope=slope)),
        "F_": lambda: Apply(lambda x: F.leaky_relu_(x, slope)),
    })


@given(data=st.data(), inplace=st.booleans(), alpha=FLOATS)
def test_elu(data, inplace, alpha):
    check_forms(data, {
        "module": lambda: nn.ELU(alpha, inplace),
        "F_positional": lambda: Apply(lambda x: F.elu(x, alpha, inplace)),
        "F_keyword": lambda: Apply(lambda x: F.elu(x, alpha=alpha)),
        "F_": lambda: Apply(lambda x: F.elu_(x, alpha)),
    })


def test_elu_is_accurate_over_a_dense_sweep():
    """elu needs expm1: exp(x) - 1 in float32 loses all digits of alpha * x for tiny x, and the
    accurate form must hold down to where exp(x) is denormal."""
    tiny = torch.tensor([-1e-8, -3e-7, -1e-4, -0.0, 1e-8])
    actual = check_against_torch(nn.ELU(2.0), tiny)
    torch.testing.assert_close(torch.from_numpy(actual), 2.0 * torch.expm1(tiny.clamp(max=0)) + tiny.clamp(min=0), rtol=1e-6, atol=0)
    check_against_torch(nn.ELU(1.5), torch.linspace(-110, 1, 200_001))


@given(data=st.data(), lambd=st.floats(0, 3, width=32))
def test_softshrink(data, lambd):
    check_forms(data, {
        "module": lambda: nn.Softshrink(lambd),
        "F_positional": lambda: Apply(lambda x: F.softshrink(x, lambd)),
        "F_default": lambda: Apply(F.softshrink),
    })


@pytest.mark.parametrize("lambd", [-0.5, float("inf"), float("nan"), 3.4028235e38])
def test_softshrink_lambd_out_of_range_is_refused(lambd):
    """PyTorch raises for lambd outside [0, the largest float32] (its check is in double: 3.4028235e38 is above it)."""
    with pytest.raises(RuntimeError, match="lambda"):
        F.softshrink(torch.zeros(2), lambd)
    for model in (nn.Softshrink(lambd), Apply(lambda x: F.softshrink(x, lambd))):
        with pytest.raises(fx2relax.UnsupportedParameterError, match="lambd"):
            fx2relax.from_module(model, (2, 3))


@pytest.mark.parametrize("compiled", [False, True], ids=["built", "compiled"])
@pytest.mark.parametrize("model", [nn.Softshrink(0.25), nn.Softshrink(0.0), nn.Hardshrink(0.25)], ids=repr)
def test_shrinks_keep_the_sign_of_zero(model, compiled):
    # Softshrink gives x * 0 inside the band (-0 for negative x), Hardshrink +0; at ±lambd exactly,
    # ±0 and the largest floats too.
    x = torch.tensor([0.0, -0.0, 0.1, -0.1, 0.25, -0.25, 0.2500001, -0.2500001, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38,
                      float("nan"), float("inf"), float("-inf")])
    actual = torch.from_numpy(check_against_torch(model, x, rtol=0, atol=0, compiled=compiled))
    assert torch.equal(torch.signbit(actual[:-3]), torch.signbit(model(x)[:-3]))

@given(data=st.data(), lambd=st.one_of(FLOATS, st.sampled_from([0.0, float("inf"), float("nan")])))
def test_hardshrink(data, lambd):
    """Any lambd: a negative or NaN one keeps every x, an infinite one zeroes every number."""
    check_forms(data, {
        "module": lambda: nn.Hardshrink(lambd),
        "F_positional": lambda: Apply(lambda x: F.hardshrink(x, lambd)),
        "torch": lambda: Apply(lambda x: torch.hardshrink(x, lambd=lambd)),
        "method": lambda: Apply(lambda x: x.hardshrink(lambd)),
    })


SPECIAL_OR_FLOATS = st.one_of(FLOATS, st.sampled_from([float("inf"), float("-inf"), float("nan")]))


@given(data=st.data(), inplace=st.booleans(), threshold=SPECIAL_OR_FLOATS, value=SPECIAL_OR_FLOATS)
def test_threshold(data, inplace, threshold, value):
    check_forms(data, {
        "module": lambda: nn.Threshold(threshold, value, inplace),
        "F_positional": lambda: Apply(lambda x: F.threshold(x, threshold, value, inplace)),
        "F_keyword": lambda: Apply(lambda x: F.threshold(x, value=value, threshold=threshold)),
        "F_": lambda: Apply(lambda x: F.threshold_(x, threshold, value)),
        "torch": lambda: Apply(lambda x: torch.threshold(x, threshold, value)),
    })


@given(data=st.data(), inplace=st.booleans(), lower=FLOATS, width=st.floats(0, 2, width=32))
def test_rrelu_in_eval_mode(data, inplace, lower, width):
    """Leaky ReLU with slope (lower + upper) / 2 (negative, or 0 where -inf * 0 gives NaN, too)."""
    upper = lower + width
    check_forms(data, {
        "module": lambda: nn.RReLU(lower, upper, inplace),
        "F_positional": lambda: Apply(lambda x: F.rrelu(x, lower, upper, False, inplace)),
        "F_default": lambda: Apply(F.rrelu),
        "F_": lambda: Apply(lambda x: F.rrelu_(x, lower, upper)),
        "torch": lambda: Apply(lambda x: torch.rrelu(x, lower, upper, training=False)),
    })


@pytest.mark.parametrize("model", [nn.RReLU().train(), Apply(lambda x: F.rrelu(x, training=True))], ids=["module", "F"])
def test_rrelu_in_training_mode_is_refused(model):
    with pytest.raises(fx2relax.UnsupportedParameterError, match="training"):
        fx2relax.from_module(model, (2, 3))


def test_rrelu_bounds_in_wrong_order_are_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="lower"):
        fx2relax.from_module(Apply(lambda x: F.rrelu(x, 0.5, 0.1)), (2, 3))


class PReLUFunction(nn.Module):
    """forward(x) = F.prelu(x, weight) (or the tensor method), the weight read as a get_attr tensor."""

    def __init__(self, weight: torch.Tensor, method: bool):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.method = method

    def forward(self, x):
        return x.prelu(self.weight) if self.method else F.prelu(x, self.weight)


@given(data=st.data(), per_channel=st.booleans(), form=st.sampled_from(["module", "F", "method", "F_0d_weight"]))
def test_prelu(data, per_channel, form):
    """One slope, or one per channel (axis 1; rank-1 inputs have one channel); slopes of either sign, 0 and ±inf
    (inf * 0 is NaN), the input's NaN and ±inf too."""
    shape = data.draw(SHAPES, label="shape")
    slopes = shape[1] if per_channel and len(shape) >= 2 and form != "F_0d_weight" else 1
    weight = data.draw(tensors((slopes,), special_values=True), label="weight")
    if form == "module":
        model = nn.PReLU(slopes)
        model.weight.data = weight
    else:
        model = PReLUFunction(weight.reshape(()) if form == "F_0d_weight" else weight, method=form == "method")
    x = data.draw(tensors(shape, special_values=True), label="x")
    check_against_torch(model, x)


@pytest.mark.parametrize(("model", "shape", "parameter"), [
    (nn.PReLU(4), (2, 3), "num_parameters"),
    (nn.PReLU(3), (3,), "num_parameters"),
    (PReLUFunction(torch.ones(3), method=False), (2, 4, 5), "weight"),
    (PReLUFunction(torch.ones(1, 3), method=False), (2, 3), "weight"),
])
def test_prelu_weight_of_wrong_shape_is_refused(model, shape, parameter):
    with pytest.raises(RuntimeError):
        model(torch.zeros(shape))
    with pytest.raises(fx2relax.ShapeError, match=parameter):
        fx2relax.from_module(model, shape)


@given(data=st.data(), form=st.sampled_from(["module", "F", "F_default"]))
def test_glu(data, form):
    """a * sigmoid(b) of the halves along dim (drawn, negative too), NaN and ±inf (inf * sigmoid(-inf) is NaN)."""
    shape = list(data.draw(SHAPES, label="shape"))
    dim = -1 if form == "F_default" else data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    shape[dim] *= 2
    bound = data.draw(BOUNDS, label="bound")
    x = data.draw(tensors(shape, True, -bound, bound), label="x")
    model = {"module": lambda: nn.GLU(dim), "F": lambda: Apply(lambda t: F.glu(t, dim)), "F_default": lambda: Apply(F.glu)}[form]()
    check_against_torch(model, x)


@pytest.mark.parametrize(("model", "parameter"), [
    (nn.GLU(1), "dim"), (Apply(F.glu), "dim"), (Apply(lambda x: F.glu(x.sum())), "input"),
])
def test_glu_of_odd_size_or_scalar_is_refused(model, parameter):
    with pytest.raises(RuntimeError):
        model(torch.zeros(2, 3))
    with pytest.raises(fx2relax.ShapeError, match=parameter):
        fx2relax.from_module(model, (2, 3))


def _exported_glu(data: st.DataObject) -> tuple[nn.Module, torch.Tensor]:
    shape = list(data.draw(SHAPES, label="shape"))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    shape[dim] *= 2
    return nn.GLU(dim), data.draw(tensors(shape, True), label="x")


def _exported_prelu(data: st.DataObject) -> tuple[nn.Module, torch.Tensor]:
    shape = data.draw(SHAPES, label="shape")
    model = nn.PReLU(shape[1] if len(shape) >= 2 and data.draw(st.booleans(), label="per channel") else 1)
    model.weight.data = data.draw(tensors(model.weight.shape, special_values=True), label="weight")
    return model, data.draw(tensors(shape, True), label="x")


def _exported_elementwise(module: Callable[[st.DataObject], nn.Module]) -> Callable[[st.DataObject], tuple]:
    return lambda data: (module(data), data.draw(tensors(data.draw(SHAPES, label="shape"), True), label="x"))


EXPORTED = {
    "softshrink": _exported_elementwise(lambda data: nn.Softshrink(data.draw(st.floats(0, 3, width=32), label="lambd"))),
    "hardshrink": _exported_elementwise(lambda data: nn.Hardshrink(data.draw(FLOATS, label="lambd"))),
    "threshold": _exported_elementwise(lambda data: nn.Threshold(data.draw(FLOATS, label="threshold"),
                                                                 data.draw(SPECIAL_OR_FLOATS, label="value"))),
    "rrelu": _exported_elementwise(lambda data: nn.RReLU(*sorted(data.draw(st.tuples(FLOATS, FLOATS), label="bounds")))),
    "prelu": _exported_prelu,
    "glu": _exported_glu,
}
"""The models whose torch.export graphs hold aten.softshrink, hardshrink, threshold, rrelu, prelu and glu:
a drawn model and input for each."""


@settings(max_examples=12)
@given(data=st.data(), name=st.sampled_from(sorted(EXPORTED)))
def test_exported(data, name):
    check_exported(*EXPORTED[name](data))


class ReadsMutatedInput(nn.Module):
    """relu_ mutates x, which the addition reads afterwards: PyTorch adds relu(x) to itself."""

    def forward(self, x):
        y = F.relu(x, inplace=True)
        return x + y


class MutatesThroughAnAlias(nn.Module):
    """Dropout in eval returns its input itself, so relu_ on its result mutates `doubled` too."""

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout()

    def forward(self, x):
        doubled = x * 2
        torch.relu_(self.dropout(doubled))
        return doubled


@pytest.mark.parametrize("model", [ReadsMutatedInput(), MutatesThroughAnAlias()])
def test_inplace_with_observed_mutation_is_refused(model):
    with pytest.raises(fx2relax.UnsupportedParameterError, match="inplace"):
        fx2relax.from_module(model.eval(), (2, 3))


def test_hardtanh_bounds_in_wrong_order_are_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="min_val"):
        fx2relax.from_module(Apply(lambda x: F.hardtanh(x, 2.0, 1.0)), (2, 3))


def test_unknown_gelu_approximation_is_refused():
    with pytest.raises(fx2relax.UnsupportedParameterError, match="approximate"):
        fx2relax.from_module(Apply(lambda x: F.gelu(x, approximate="erf")), (2, 3))


def test_relu_keeps_nan():
    out = check_against_torch(nn.ReLU(), torch.tensor([float("nan"), -1.0, float("inf"), float("-inf")]))
    assert torch.isnan(torch.from_numpy(out))[0] and out[1] == 0 and out[2] == float("inf") and out[3] == 0


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "silu", "gelu_tanh"])
def test_vectorised_exponentials_are_accurate_relative_to_the_value(name):
    # tanh, sigmoid and SiLU are computed with our vectorised exp and tanh (kernels.math): within a
    # few float32 ulps of PyTorch over magnitudes from 1e-30 to 100, where atol would hide tiny values.
    magnitudes = torch.logspace(-30, 2, 2001)
    x = torch.cat([magnitudes, -magnitudes, torch.linspace(-10, 10, 4001)])
    function = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "silu": F.silu,
                "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}[name]
    # GELU's 1 + tanh(...) cancels where tanh is near -1: one ulp of tanh is ~1e-7 of absolute error there.
    check_against_torch(Apply(function), x, rtol=1e-6, atol=1e-6 if name == "gelu_tanh" else 1e-37)


LOGISTIC_EDGES = torch.tensor([
    float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38, -1.1754944e-38,
    16.65, -16.65, 86.8, 86.9, 87.0, 104.0, -86.9, -87.0, -88.3, -88.5, -88.72, -88.73, -89.4, -89.5, -89.6, -104.0,
    1e30, -1e30, 3.4028235e38, -3.4028235e38,
])
"""Where sigmoid and SiLU's 1 + e^-x (kernels.math.one_plus_exp_of_negated, tanh's at -2|x|) is clamped
(x = -89.5 and 86.9), where e^-x overflows float32 (x < -88.72), denormals, ±0, ±inf, NaN and the
largest floats."""


LEAN_EXPONENTIALS = {"sigmoid": torch.sigmoid, "silu": F.silu, "tanh": torch.tanh}
"""The activations computed with kernels.math.one_plus_exp_of_negated, by name."""


@pytest.mark.parametrize("compiled", [False, True], ids=["built", "compiled"])
@pytest.mark.parametrize("name", sorted(LEAN_EXPONENTIALS))
def test_lean_exponentials_at_edge_values(name, compiled):
    # PyTorch's values within 3e-7 (each within 1.7e-7 of the exact value), its zeros' signs:
    # sigmoid(±inf) = 1 and 0 exactly, tanh(±inf) = ±1, silu(inf) = inf, silu(-inf) = NaN (-inf /
    # inf), silu(-0) = -0, silu(x < -88.72) = -0 (x / inf).
    function = LEAN_EXPONENTIALS[name]
    actual = torch.from_numpy(check_against_torch(Apply(function), LOGISTIC_EDGES, rtol=3e-7, atol=0, compiled=compiled))
    expected = function(LOGISTIC_EDGES)
    numbers = ~torch.isnan(expected)
    assert torch.equal(torch.signbit(actual[numbers]), torch.signbit(expected[numbers]))
    torch.testing.assert_close(actual[1:3], expected[1:3], rtol=0, atol=0, equal_nan=True)  # at ±inf exactly


GELU_EDGES = torch.tensor([
    float("nan"), float("-inf"), 0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, 4.0, -4.0, 5.656854, -5.656854,
    5.6568546, -5.6568546, 6.0, -6.0, 100.0, -100.0, 1e30, -1e30, -3.4028235e38,
])
"""Around GELU's erf clamp (x / √2 = ±4), ±0, denormals, -inf, NaN and large |x| (+inf, where PyTorch's
vectorised and scalar loops differ, is test_gelu_of_infinity's; at the largest float PyTorch's x (1 +
erf) overflows to inf before it halves, where we give the float itself, as PyTorch's formula does)."""


@pytest.mark.parametrize("compiled", [False, True], ids=["built", "compiled"])
def test_gelu_at_edge_values(compiled):
    # PyTorch's values and its zeros' signs: gelu(-inf) = NaN (-inf * 0), gelu(-0) = -0, and x itself
    # from x / √2 = 4 on, where erf is exactly 1.
    actual = torch.from_numpy(check_against_torch(nn.GELU(), GELU_EDGES, compiled=compiled))
    expected = F.gelu(GELU_EDGES)
    numbers = ~torch.isnan(expected)
    assert torch.equal(torch.signbit(actual[numbers]), torch.signbit(expected[numbers]))
    large = GELU_EDGES >= 6
    assert torch.equal(actual[large], GELU_EDGES[large])


def float32_sweep() -> torch.Tensor:
    """Every 997th float32 from the smallest normal to 104, of both signs, and 200,001 evenly spaced in [-100, 100]."""
    magnitudes = torch.arange(0x00800000, 0x42D00000, 997, dtype=torch.int32).view(torch.float32)
    return torch.cat([magnitudes, -magnitudes, torch.linspace(-100, 100, 200_001)])


@pytest.mark.parametrize("name", sorted(LEAN_EXPONENTIALS))
def test_lean_exponentials_are_accurate_over_a_dense_sweep(name):
    # Within 2e-7 of the exact value (PyTorch's own float32 results are within 1.7e-7, ours too),
    # and within 3e-7 of PyTorch's; where e^-x overflows float32 (x < -88.72) SiLU is -0, as PyTorch's x / inf.
    function = LEAN_EXPONENTIALS[name]
    x = float32_sweep()
    actual = torch.from_numpy(check_against_torch(Apply(function), x, rtol=3e-7, atol=0, compiled=True)).double()
    exact = function(x.double())
    normal = (exact.abs() >= torch.finfo(torch.float32).tiny) & (x > -88.72)
    assert (actual[normal] / exact[normal] - 1).abs().max() <= 2e-7


# ---------------------------------------- ELU's family: CELU, SELU, and torch.export's aten.elu


@given(data=st.data(), inplace=st.booleans(), alpha=FLOATS.filter(lambda alpha: alpha != 0))
def test_celu(data, inplace, alpha):
    check_forms(data, {
        "module": lambda: nn.CELU(alpha, inplace),
        "F_positional": lambda: Apply(lambda x: F.celu(x, alpha, inplace)),
        "F_keyword": lambda: Apply(lambda x: F.celu(x, alpha=alpha)),
        "torch": lambda: Apply(lambda x: torch.celu(x, alpha)),
        "torch_": lambda: Apply(lambda x: torch.celu_(x, alpha)),
    })


@given(data=st.data(), inplace=st.booleans())
def test_selu(data, inplace):
    check_forms(data, {
        "module": lambda: nn.SELU(inplace),
        "F": lambda: Apply(lambda x: F.selu(x, inplace)),
        "torch": lambda: Apply(torch.selu),
        "torch_": lambda: Apply(torch.selu_),
    })


@pytest.mark.parametrize("model", [nn.CELU(0.0), Apply(lambda x: F.celu(x, 0.0))], ids=["module", "F"])
def test_celu_with_alpha_zero_is_refused(model):
    # PyTorch raises ZeroDivisionError for it.
    with pytest.raises(fx2relax.UnsupportedParameterError, match="alpha"):
        fx2relax.from_module(model, (2, 3))


EXPORTED_ELUS_AND_SMOOTH_ACTIVATIONS = {
    "elu": nn.ELU(0.7), "selu": nn.SELU(), "celu": nn.CELU(-0.5), "softplus": nn.Softplus(2.0, 10.0),
    "mish": nn.Mish(), "log_sigmoid": nn.LogSigmoid(), "softsign": nn.Softsign(), "tanhshrink": nn.Tanhshrink(),
}
"""What torch.export records: aten.elu (SELU decomposes into it, with a scale), aten.celu, aten.softplus,
aten.mish, aten.log_sigmoid; Softsign and Tanhshrink decompose into abs, add, div, tanh and sub."""


@pytest.mark.parametrize("name", sorted(EXPORTED_ELUS_AND_SMOOTH_ACTIVATIONS))
def test_smooth_activations_through_torch_export(name):
    x = torch.cat([LOGISTIC_EDGES, torch.linspace(-100, 100, 1001)])
    check_exported(EXPORTED_ELUS_AND_SMOOTH_ACTIVATIONS[name], x)


# ---------------------------------------- smooth activations: Softplus, Mish, LogSigmoid, Softsign, Tanhshrink

BETAS = st.sampled_from([1.0, 2.0, 0.3, -1.5, 0.0, -0.0])
THRESHOLDS = st.sampled_from([20.0, 1.0, 100.0, -2.5])
"""Softplus' parameters (a few, so that builds are reused): beta x beyond 88.7 (bound 100) overflows exp
below a threshold of 100, as in PyTorch (inf); beta = ±0 divides ln 2 by ±0; a negative beta mirrors
the curve."""


@given(data=st.data(), beta=BETAS, threshold=THRESHOLDS)
def test_softplus(data, beta, threshold):
    check_forms(data, {
        "module": lambda: nn.Softplus(beta, threshold),
        "F_positional": lambda: Apply(lambda x: F.softplus(x, beta, threshold)),
        "F_keyword": lambda: Apply(lambda x: F.softplus(x, threshold=threshold, beta=beta)),
    })


@given(data=st.data(), inplace=st.booleans())
def test_mish(data, inplace):
    check_forms(data, {
        "module": lambda: nn.Mish(inplace),
        "F": lambda: Apply(lambda x: F.mish(x, inplace=inplace)),
    })


@given(data=st.data())
def test_log_sigmoid(data):
    check_forms(data, {"module": nn.LogSigmoid, "F": lambda: Apply(F.logsigmoid)})


@given(data=st.data())
def test_softsign(data):
    check_forms(data, {"module": nn.Softsign, "F": lambda: Apply(F.softsign)})


@given(data=st.data())
def test_tanhshrink(data):
    check_forms(data, {"module": nn.Tanhshrink, "F": lambda: Apply(F.tanhshrink)})


LOG1P_OF_EXP = {
    "softplus": F.softplus,
    "softplus_beta": lambda x: F.softplus(x, beta=0.25, threshold=5.0),
    "mish": F.mish,
    "log_sigmoid_of_negated": lambda x: F.logsigmoid(-x),
}
"""The activations computing log1p(exp(x)) (kernels.activation._log1p), where log(1 + exp(x)) would
round to 0 for x < -16.6 and lose all relative accuracy."""


@pytest.mark.parametrize("name", sorted(LOG1P_OF_EXP))
def test_log1p_of_exp_is_accurate_relative_to_the_value_for_large_negative_inputs(name):
    # Down to x = -87, where exp(x) is still a normal float32: within 1e-5 relatively, no atol.
    x = torch.cat([torch.linspace(-87, 5, 4001), -torch.logspace(-30, 1, 301)])
    check_against_torch(Apply(LOG1P_OF_EXP[name]), x, rtol=1e-5, atol=0)


FLOAT64_FORMS = {
    "softplus": lambda x: F.softplus(x, 2.0, 30.0), "mish": F.mish, "log_sigmoid": F.logsigmoid,
    "celu": lambda x: F.celu(x, -0.5), "selu": F.selu,
}
"""The smooth activations and ELUs in float64, where they take TVM's exp, log and tanh."""


@pytest.mark.parametrize("name", sorted(FLOAT64_FORMS))
def test_smooth_activations_in_float64(name):
    # Within 1e-12 of PyTorch: the float64 path keeps a float64's accuracy, at ±700 too.
    x = torch.cat([LOGISTIC_EDGES, torch.tensor([700.0, -700.0]), torch.linspace(-100, 100, 1001)]).double()
    function = FLOAT64_FORMS[name]
    mod = fx2relax.from_module(Apply(function).eval(), tuple(x.shape), dtype="float64")
    assert_outputs_match(cached_build(mod, compiled=helpers.COMPILE_ALL)(x), function(x), rtol=1e-12, atol=1e-12)
