"""The torch.compile backend: torch.compile(model, backend="fx2relax") against eager PyTorch."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import fx2relax
from tests.cli_models import opposite_infinities, winograd_conv
from tests.helpers import assert_outputs_match, course_cnn


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch: dynamo's caches would otherwise reuse earlier graphs."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def counting_backend(graphs: list, **options):
    """dynamo_backend that also records each graph it is given."""

    def backend(gm, example_inputs):
        graphs.append(gm)
        return fx2relax.dynamo_backend(gm, example_inputs, **options)

    return backend


def assert_matches_eager(model: nn.Module, compiled, *inputs: torch.Tensor) -> None:
    with torch.no_grad():
        assert_outputs_match(compiled(*inputs).numpy(), model(*inputs))


class Scaled(nn.Module):
    """softmax(relu(x) * scale + x): elementwise ops, an activation, a parameter, a reduction."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, 6))

    def forward(self, x):
        return torch.softmax(torch.relu(x) * self.scale + x, dim=-1)


def test_backend_is_registered_by_name():
    import fx2relax.dynamo  # noqa: F401  (without the installed entry point, importing registers it)

    assert "fx2relax" in torch._dynamo.list_backends()


def test_model_matches_eager_and_parameters_stay_inputs():
    model = Scaled().eval()
    compiled = torch.compile(model, backend="fx2relax")
    x = torch.randn(4, 6)
    assert_matches_eager(model, compiled, x)
    with torch.no_grad():
        model.scale.mul_(3)  # a parameter is an input of the compiled graph, not a frozen constant
    assert_matches_eager(model, compiled, x)


def test_dynamic_batch_runs_every_size_with_one_graph():
    graphs = []
    model = Scaled().eval()
    compiled = torch.compile(model, backend=counting_backend(graphs), dynamic=True)
    for batch in (2, 3, 7):
        assert_matches_eager(model, compiled, torch.randn(batch, 6))
    assert len(graphs) == 1


class GraphBreak(nn.Module):
    """A data-dependent Python branch (`.item()`) splits forward into graphs dynamo compiles separately."""

    def forward(self, x):
        y = torch.relu(x) * 2
        if y.sum().item() > 10:
            return torch.sigmoid(y)
        return torch.tanh(y) - x


def test_model_with_a_graph_break_runs_each_graph_with_fx2relax():
    graphs = []
    model = GraphBreak().eval()
    compiled = torch.compile(model, backend=counting_backend(graphs))
    assert_matches_eager(model, compiled, torch.full((3, 4), 2.0))  # sum 48: sigmoid branch
    assert_matches_eager(model, compiled, torch.full((3, 4), -1.0))  # sum 0: tanh branch
    assert len(graphs) >= 3  # before the break, and each branch after it


class Cumulative(nn.Module):
    def forward(self, x):
        return torch.cumprod(torch.relu(x), dim=1).sub(1)


def test_unsupported_op_is_refused_naming_it():
    compiled = torch.compile(Cumulative(), backend="fx2relax")
    with pytest.raises(Exception) as error:
        compiled(torch.randn(2, 3))
    assert isinstance(error.value.inner_exception, fx2relax.UnsupportedOpError)
    assert "(function torch.cumprod)" in str(error.value)


@pytest.mark.parametrize(
    "backend",
    [
        functools.partial(fx2relax.dynamo_backend, fallback=True),
        "options",
    ],
    ids=["partial", "options"],
)
def test_unsupported_op_with_fallback_runs_eager_with_a_warning(backend):
    model = Cumulative()
    if backend == "options":
        compiled = torch.compile(model, backend="fx2relax", options={"fallback": True})
    else:
        compiled = torch.compile(model, backend=backend)
    x = torch.randn(2, 3)
    message = r"fx2relax left this graph to PyTorch eager: no converter for node 'cumprod' \(function torch.cumprod\)$"
    with pytest.warns(UserWarning, match=message):
        assert_matches_eager(model, compiled, x)


def test_unknown_option_is_refused():
    compiled = torch.compile(Scaled(), backend="fx2relax", options={"fallbak": True})
    with pytest.raises(Exception, match=r"unknown fx2relax option\(s\) \['fallbak'\]"):
        compiled(torch.randn(2, 6))


def test_winograd_option_reaches_compile():
    """options={"winograd": False}: the direct conv, whose ±inf are PyTorch's exactly; a value
    other than a bool is refused."""
    model, x = winograd_conv(), opposite_infinities()
    assert_matches_eager(model, torch.compile(model, backend="fx2relax", options={"winograd": False}), x)
    refused = torch.compile(model, backend="fx2relax", options={"winograd": "no"})
    with pytest.raises(Exception, match="fx2relax option 'winograd' takes True or False, got 'no'"):
        refused(x)


def test_training_graph_is_refused_rather_than_losing_gradients():
    compiled = torch.compile(Scaled(), backend="fx2relax")
    with pytest.raises(Exception, match="requires grad, but fx2relax compiles inference only"):
        compiled(torch.randn(2, 6))


def test_input_off_the_cpu_is_refused():
    graph_module = torch.fx.symbolic_trace(nn.Tanh())
    message = r"node 'input_1' \(placeholder input\): is on meta; fx2relax runs graphs on the CPU"
    with pytest.raises(fx2relax.ConversionError, match=message):
        fx2relax.dynamo_backend(graph_module, [torch.empty(2, 3, device="meta")])


class MutatesInput(nn.Module):
    def forward(self, x):
        x.relu_()
        return torch.sigmoid(x)


def test_mutating_a_graph_input_in_place_is_refused():
    compiled = torch.compile(MutatesInput(), backend="fx2relax")
    with pytest.raises(Exception) as error, torch.no_grad():
        compiled(torch.randn(2, 3))
    assert isinstance(error.value.inner_exception, fx2relax.UnsupportedParameterError)
    assert "works in place on the graph input 'l_x_'" in str(error.value)


class MutatesIntermediate(nn.Module):
    def forward(self, x):
        return torch.sigmoid((x * 2).relu_())


def test_in_place_op_on_an_intermediate_runs():
    model = MutatesIntermediate()
    assert_matches_eager(model, torch.compile(model, backend="fx2relax"), torch.randn(3, 4))


def test_fashion_mnist_cnn_matches_eager():
    cnn = course_cnn()
    compiled = torch.compile(cnn, backend="fx2relax")
    for batch in (4, 4, 5):  # the second batch size recompiles with a symbolic batch
        assert_matches_eager(cnn, compiled, torch.rand(batch, 1, 28, 28))


ENTRY_POINT_USE = """
import sys, torch
assert "fx2relax.dynamo" not in sys.modules
model = torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Softmax(dim=1))
x = torch.randn(2, 5)
with torch.no_grad():
    torch.testing.assert_close(torch.compile(model, backend="fx2relax")(x), model(x))
print("backend from", sys.modules["fx2relax.dynamo"].__file__)
"""


def test_backend_is_found_by_its_entry_point_without_importing_fx2relax(tmp_path):
    """As installed from pyproject: torch reads the torch_dynamo_backends entry point and registers it once."""
    dist_info = tmp_path / "fx2relax_entry_point-0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fx2relax-entry-point\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text("[torch_dynamo_backends]\nfx2relax = fx2relax.dynamo:dynamo_backend\n")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_USE], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{repo}"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"backend from {repo / 'fx2relax' / 'dynamo.py'}" in result.stdout


class AugmentedAssignment(nn.Module):
    """`out += identity` as in torchvision's ResNet blocks: dynamo records operator.iadd."""

    def forward(self, x):
        out = torch.relu(x * 2)
        out += x
        out *= 0.5
        return out


def test_augmented_assignments_compile():
    graphs = []
    model = AugmentedAssignment()
    compiled = torch.compile(model, backend=counting_backend(graphs))
    x = torch.randn(2, 5)
    assert_matches_eager(model, compiled, x)
    assert len(graphs) == 1


class TokenClassifier(nn.Module):
    """int64 token ids in: embedding, positions, a padding mask, comparisons and where."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.positions = nn.Embedding(16, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        positions = torch.arange(ids.size(1)).unsqueeze(0)
        hidden = self.embedding(ids) + self.positions(positions)
        keep = (ids != 0).unsqueeze(-1)
        return self.head(torch.where(keep, hidden, torch.zeros_like(hidden)))


def test_integer_inputs_compile():
    torch.manual_seed(0)
    model = TokenClassifier().eval()
    compiled = torch.compile(model, backend="fx2relax")
    ids = torch.tensor([[3, 7, 0, 12, 0, 49]])
    assert_matches_eager(model, compiled, ids)


def test_dynamic_sizes_a_convolution_cannot_keep_are_specialised():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    compiled = torch.compile(model, backend="fx2relax", dynamic=True)
    with pytest.warns(UserWarning, match="compiles this graph for each input size"):
        assert_matches_eager(model, compiled, torch.randn(1, 3, 9, 9))
    assert_matches_eager(model, compiled, torch.randn(1, 3, 12, 10))


@pytest.mark.slow
def test_bert_with_int64_inputs_compiles_without_fallback():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100,
        max_position_embeddings=64)).eval()
    ids = torch.randint(0, 100, (1, 8))
    mask = torch.ones(1, 8, dtype=torch.int64)
    mask[0, 5:] = 0
    compiled = torch.compile(model, backend=functools.partial(fx2relax.dynamo_backend, fallback=False))
    with torch.no_grad():
        actual, expected = compiled(ids, attention_mask=mask), model(ids, attention_mask=mask)
    for name in ("last_hidden_state", "pooler_output"):
        assert_outputs_match(actual[name].numpy(), expected[name], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_resnet18_compiles():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    compiled = torch.compile(model, backend="fx2relax")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_outputs_match(compiled(x).numpy(), model(x), rtol=1e-4, atol=1e-5)
