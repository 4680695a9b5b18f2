"""torch.export programs through fx2relax.from_exported_program: main's signature (user inputs with
their dtypes and symbolic sizes), weights, buffers and constants, outputs in flattened order, a
dynamic sequence length, refusals; torchvision's resnet18 and the course CNN equal to their
from_module results; tiny random-init transformers (BERT, DistilBERT, GPT-2, Llama, T5, ViT)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.export import Dim
from torch.utils import _pytree

import fx2relax
from tests.helpers import assert_outputs_match, check_exported
from tests.test_compile import course_cnn


class TokenModel(nn.Module):
    """Token ids (int64) and a float mask in; an int buffer, a float parameter, a bool constant inside;
    three outputs of three dtypes."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 6)
        self.scale = nn.Parameter(torch.randn(6))
        self.register_buffer("offsets", torch.arange(6, dtype=torch.int32), persistent=False)

    def forward(self, ids, mask):
        hidden = self.embedding(ids) * self.scale + self.offsets
        keep = mask > 0.5
        counts = keep.long().cumsum(-1)
        return hidden.masked_fill(~keep[..., None], 0.0), counts, ids >= 10


def token_inputs(length: int = 7) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(length)
    return [torch.randint(0, 20, (2, length), generator=generator), torch.rand(2, length, generator=generator)]


def test_inputs_outputs_and_typed_constants():
    torch.manual_seed(0)
    actual = check_exported(TokenModel(), token_inputs())
    assert [a.dtype for a in actual] == [np.float32, np.int64, np.bool_]


def test_main_takes_the_user_inputs_with_their_dtypes():
    torch.manual_seed(0)
    mod = fx2relax.from_exported_program(torch.export.export(TokenModel().eval(), tuple(token_inputs())))
    params = mod["main"].params
    assert [p.name for p in params] == ["ids", "mask"]
    assert [str(p.ty.dtype) for p in params] == ["int64", "float32"]
    assert [[int(d) for d in p.ty.shape.values] for p in params] == [[2, 7], [2, 7]]


def test_keep_params_as_input():
    torch.manual_seed(0)
    model = TokenModel().eval()
    inputs = token_inputs()
    mod, weights = fx2relax.from_exported_program(torch.export.export(model, tuple(inputs)), keep_params_as_input=True)
    assert sorted(weights) == ["embedding_weight", "scale"]  # the int buffer stays a constant
    with torch.no_grad():
        expected = model(*inputs)
    assert_outputs_match(fx2relax.build(mod, weights=weights)(*inputs), expected)


def test_dynamic_sequence_length_runs_at_two_lengths_from_one_build():
    torch.manual_seed(0)
    model = TokenModel().eval()
    seq = Dim("seq", min=2, max=64)
    program = torch.export.export(model, tuple(token_inputs()), dynamic_shapes=({1: seq}, {1: seq}))
    mod = fx2relax.from_exported_program(program)
    assert str(mod["main"].params[0].ty.shape.values[1]) == str(mod["main"].params[1].ty.shape.values[1])
    run = fx2relax.build(mod)
    for length in (5, 11):
        inputs = token_inputs(length)
        with torch.no_grad():
            assert_outputs_match(run(*inputs), model(*inputs))


class Unsupported(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, 0) + torch.sort(x, dim=1).values


def test_unsupported_ops_are_listed_in_one_error():
    program = torch.export.export(Unsupported(), (torch.randn(3, 4),))
    with pytest.raises(fx2relax.UnsupportedOpError) as error:
        fx2relax.from_exported_program(program)
    assert "(function aten.cumprod.default)" in str(error.value)
    assert "(function aten.sort.default)" in str(error.value)


def test_a_program_updating_its_buffers_is_refused():
    model = nn.BatchNorm1d(3).train()
    program = torch.export.export(model, (torch.randn(4, 3),))
    with pytest.raises(fx2relax.ConversionError, match="mutates state"):
        fx2relax.from_exported_program(program)


def test_not_a_program_is_a_type_error():
    with pytest.raises(TypeError, match="ExportedProgram"):
        fx2relax.from_exported_program(nn.Linear(2, 2))


def test_course_cnn_equals_its_from_module_import():
    model = course_cnn()
    x = torch.rand(2, 1, 28, 28)
    from_export = fx2relax.build(fx2relax.from_exported_program(torch.export.export(model, (x,))))(x)
    from_module = fx2relax.build(fx2relax.from_module(model, (2, 1, 28, 28)))(x)
    np.testing.assert_allclose(from_export, from_module, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        assert_outputs_match(from_export, model(x))


@pytest.mark.slow
def test_resnet18_equals_its_from_module_import():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.rand(1, 3, 64, 64)
    from_export = fx2relax.compile(fx2relax.from_exported_program(torch.export.export(model, (x,))))(x)
    from_module = fx2relax.compile(fx2relax.from_module(model, (1, 3, 64, 64)))(x)
    np.testing.assert_allclose(from_export, from_module, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert_outputs_match(from_export, model(x), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- transformers (tiny random-init configs)

LENGTH = 8


def _transformers():
    return pytest.importorskip("transformers")


def _ids(vocab: int = 100) -> torch.Tensor:
    return torch.randint(0, vocab, (1, LENGTH), generator=torch.Generator().manual_seed(1))


def _padding_mask() -> torch.Tensor:
    mask = torch.ones(1, LENGTH, dtype=torch.int64)
    mask[0, 5:] = 0
    return mask


def _bert(tf, mask: bool):
    config = tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           vocab_size=100, max_position_embeddings=64)
    inputs = {"input_ids": _ids()} | ({"attention_mask": _padding_mask()} if mask else {})
    return tf.BertModel(config), inputs


TRANSFORMERS = {
    "bert": lambda tf: _bert(tf, mask=False),
    "bert-padded": lambda tf: _bert(tf, mask=True),
    "distilbert": lambda tf: (tf.DistilBertModel(tf.DistilBertConfig(
        dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=100, max_position_embeddings=64)), {"input_ids": _ids()}),
    "gpt2": lambda tf: (tf.GPT2LMHeadModel(tf.GPT2Config(
        n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=64, use_cache=False, bos_token_id=0, eos_token_id=0)),
        {"input_ids": _ids()}),
    "llama-gqa": lambda tf: (tf.LlamaModel(tf.LlamaConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
        vocab_size=100, max_position_embeddings=64, use_cache=False)), {"input_ids": _ids()}),
    "t5-encoder": lambda tf: (tf.T5EncoderModel(tf.T5Config(
        d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, vocab_size=100)), {"input_ids": _ids()}),
    "vit": lambda tf: (tf.ViTModel(tf.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8)),
        {"pixel_values": torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))}),
}


def relative_error(actual: np.ndarray, expected: torch.Tensor) -> float:
    expected = expected.detach().numpy()
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-12))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_transformer_through_build_and_compile(name):
    torch.manual_seed(0)
    model, inputs = TRANSFORMERS[name](_transformers())
    model = model.eval()
    with torch.no_grad():
        expected = [leaf for leaf in _pytree.tree_leaves(model(**inputs)) if isinstance(leaf, torch.Tensor)]
    mod = fx2relax.from_exported_program(torch.export.export(model, (), inputs))
    for run in (fx2relax.build(mod), fx2relax.compile(mod)):
        outputs = run(*inputs.values())
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        assert len(outputs) == len(expected)
        for actual, wanted in zip(outputs, expected):
            assert actual.shape == tuple(wanted.shape) and actual.dtype == wanted.numpy().dtype
            assert relative_error(actual, wanted) < 1e-4


@pytest.mark.slow
def test_example_runs_a_dynamic_length_bert():
    _transformers()
    path = Path(__file__).resolve().parents[1] / "examples" / "transformer_export.py"
    spec = importlib.util.spec_from_file_location("transformer_export_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--model", "bert", "--unscheduled"]) == 0


def test_an_aten_op_with_a_converter_is_imported_whole_rather_than_decomposed():
    from fx2relax.exported import import_program

    class Hardswish(nn.Module):
        def forward(self, x):
            return torch.nn.functional.hardswish(x)

    x = torch.randn(2, 5)
    program = torch.export.export(Hardswish().eval(), (x,))
    importer, _ = import_program(program)
    targets = [record.node.target for record in importer.records]
    assert torch.ops.aten.hardswish.default in targets  # its decomposition would be clamps, adds and a product
    check_exported(Hardswish(), x)
