"""The export format: which files `export` writes, what `load` verifies before it loads a library."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fx2relax
from fx2relax.runtime import EXPORT_FORMAT


def linear(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 2), nn.Tanh()).eval()


@pytest.fixture(scope="module")
def built() -> fx2relax.CompiledModel:
    return fx2relax.build(fx2relax.from_module(linear(0), ("N", 3)))


@pytest.fixture(scope="module")
def built_with_weights() -> fx2relax.CompiledModel:
    mod, weights = fx2relax.from_module(linear(0), ("N", 3), keep_params_as_input=True)
    return fx2relax.build(mod, weights=weights)


X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)


def expected(seed: int) -> np.ndarray:
    with torch.no_grad():
        return linear(seed)(torch.from_numpy(X)).numpy()


@pytest.fixture
def exported(built, tmp_path) -> Path:
    return built.export(tmp_path / "model.so")


@pytest.mark.parametrize("given", ["model", "model.so"])
def test_export_writes_library_and_sidecar_and_returns_the_library(built, tmp_path, given):
    assert built.export(tmp_path / given) == tmp_path / "model.so"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.so"]


@pytest.mark.parametrize("spelling", ["model", "model.so", "model.json"])
def test_load_takes_the_library_its_stem_or_its_sidecar(exported, spelling):
    np.testing.assert_allclose(fx2relax.load(exported.parent / spelling)(X), expected(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("given", ["model.json", "model.npz", "model.txt", "model.v2"])
def test_export_refuses_a_path_it_cannot_round_trip(built, tmp_path, given):
    with pytest.raises(fx2relax.ExportError, match=r"ending in \.so"):
        built.export(tmp_path / given)
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_missing_directory_is_refused(built, tmp_path):
    with pytest.raises(fx2relax.ExportError, match="directory .*missing does not exist"):
        built.export(tmp_path / "missing" / "model.so")


def test_sidecar_records_size_and_sha256_of_the_library(exported):
    sidecar = json.loads(exported.with_suffix(".json").read_text())
    library = exported.read_bytes()
    assert sidecar["format"] == EXPORT_FORMAT
    assert sidecar["library"] == {"size": len(library), "sha256": hashlib.sha256(library).hexdigest()}
    assert sidecar["inputs"] == [{"name": "input_1", "shape": ["N", 3], "dtype": "float32"}]


def test_reexporting_a_new_model_to_the_same_path_loads_the_new_model(tmp_path):
    path = tmp_path / "model.so"
    for seed in (0, 1, 0):
        fx2relax.build(fx2relax.from_module(linear(seed), ("N", 3))).export(path)
        np.testing.assert_allclose(fx2relax.load(path)(X), expected(seed), rtol=1e-5, atol=1e-6)


def test_models_loaded_before_a_reexport_keep_running(tmp_path):
    path = tmp_path / "model.so"
    fx2relax.build(fx2relax.from_module(linear(0), ("N", 3))).export(path)
    first = fx2relax.load(path)
    fx2relax.build(fx2relax.from_module(linear(1), ("N", 3))).export(path)
    second = fx2relax.load(path)
    np.testing.assert_allclose(first(X), expected(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second(X), expected(1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keep", [0, 1, 4096, -1])
def test_truncated_library_is_a_load_error_not_a_crash(exported, keep):
    data = exported.read_bytes()
    exported.write_bytes(data[: keep if keep >= 0 else len(data) // 2])
    with pytest.raises(fx2relax.LoadError, match=r"model\.so: \d+ bytes, but .*model\.json records \d+ \(truncated"):
        fx2relax.load(exported)


def test_modified_library_of_the_same_size_is_a_load_error(exported):
    data = bytearray(exported.read_bytes())
    data[len(data) // 2] ^= 0xFF
    exported.write_bytes(bytes(data))
    with pytest.raises(fx2relax.LoadError, match="its SHA-256 differs"):
        fx2relax.load(exported)


def test_a_file_that_is_no_library_is_a_load_error_even_with_a_matching_sidecar(exported):
    garbage = b"not an ELF file at all" * 100
    exported.write_bytes(garbage)
    sidecar = exported.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    metadata["library"] = {"size": len(garbage), "sha256": hashlib.sha256(garbage).hexdigest()}
    sidecar.write_text(json.dumps(metadata))
    with pytest.raises(fx2relax.LoadError, match=r"model\.so: cannot be loaded as a TVM library"):
        fx2relax.load(exported)


def test_missing_files_are_named(exported):
    exported.with_suffix(".json").rename(exported.with_suffix(".bak"))
    with pytest.raises(fx2relax.LoadError, match=r"model\.json: no such file"):
        fx2relax.load(exported)
    exported.with_suffix(".bak").rename(exported.with_suffix(".json"))
    exported.unlink()
    with pytest.raises(fx2relax.LoadError, match=r"model\.so: no such file"):
        fx2relax.load(exported)


def test_load_refuses_other_suffixes(exported):
    with pytest.raises(fx2relax.LoadError, match=r"ending in \.so"):
        fx2relax.load(exported.with_suffix(".npz"))


def edit(metadata: dict, change: str) -> object:
    """The sidecar after one hand edit, described by `change`."""
    item = metadata["inputs"][0]
    edits = {
        "not an object": lambda: [metadata],
        "no format": lambda: metadata.pop("format"),
        "format 1": lambda: metadata.update(format=1),
        "no inputs": lambda: metadata.pop("inputs"),
        "inputs is a number": lambda: metadata.update(inputs=3),
        "inputs empty": lambda: metadata.update(inputs=[]),
        "input is a number": lambda: metadata.update(inputs=[3]),
        "dtype float17": lambda: item.update(dtype="float17"),
        "dtype missing": lambda: item.pop("dtype"),
        "shape a number": lambda: item.update(shape=3),
        "shape negative": lambda: item.update(shape=["N", -3]),
        "shape zero": lambda: item.update(shape=[0, 3]),
        "shape float": lambda: item.update(shape=["N", 3.0]),
        "shape bool": lambda: item.update(shape=["N", True]),
        "shape bad name": lambda: item.update(shape=["N M", 3]),
        "name a number": lambda: item.update(name=1),
        "name empty": lambda: item.update(name=""),
        "extra input field": lambda: item.update(layout="NCHW"),
        "unknown field": lambda: metadata.update(comment="hi"),
        "no library": lambda: metadata.pop("library"),
        "size a string": lambda: metadata["library"].update(size="12"),
        "size negative": lambda: metadata["library"].update(size=-1),
        "sha256 short": lambda: metadata["library"].update(sha256="abc"),
        "target a number": lambda: metadata.update(target=3),
        "weights a dict": lambda: metadata.update(weights={}),
        "duplicate input": lambda: metadata.update(inputs=[item, item]),
    }
    result = edits[change]()
    return result if change == "not an object" else metadata


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("not an object", "must be a JSON object, got list"),
        ("no format", "field 'format' is None, expected 2"),
        ("format 1", "field 'format' is 1, expected 2 .re-export"),
        ("no inputs", "field 'inputs' is missing"),
        ("inputs is a number", "field 'inputs' must be a list, got 3"),
        ("inputs empty", "field 'inputs' is empty"),
        ("input is a number", r"field 'inputs\[0\]' must be an object with name, shape and dtype, got 3"),
        ("dtype float17", r"field 'inputs\[0\].dtype' must be one of bool, .*float64, got 'float17'"),
        ("dtype missing", r"field 'inputs\[0\].dtype' is missing"),
        ("shape a number", r"field 'inputs\[0\].shape' must be a list, got 3"),
        ("shape negative", r"field 'inputs\[0\].shape' must list positive integers or names"),
        ("shape zero", r"field 'inputs\[0\].shape' must list positive integers"),
        ("shape float", r"field 'inputs\[0\].shape' must list"),
        ("shape bool", r"field 'inputs\[0\].shape' must list"),
        ("shape bad name", r"field 'inputs\[0\].shape' must list"),
        ("name a number", r"field 'inputs\[0\].name' must be a string, got 1"),
        ("name empty", r"field 'inputs\[0\].name' is empty"),
        ("extra input field", r"field 'inputs\[0\].layout' is not a field export writes"),
        ("unknown field", "field 'comment' is not a field export writes"),
        ("no library", "field 'library' is missing"),
        ("size a string", "field 'library.size' must be an integer, got \"12\""),
        ("size negative", "field 'library.size' must be at least 1, got -1"),
        ("sha256 short", "field 'library.sha256' must be 64 lowercase hex digits"),
        ("target a number", "field 'target' must be a string or null"),
        ("weights a dict", "field 'weights' must be a list"),
        ("duplicate input", "field 'inputs' names 'input_1' twice"),
    ],
)
def test_every_sidecar_field_is_validated(exported, change, message):
    sidecar = exported.with_suffix(".json")
    sidecar.write_text(json.dumps(edit(json.loads(sidecar.read_text()), change)))
    with pytest.raises(fx2relax.LoadError, match=rf"model\.json: {message}"):
        fx2relax.load(exported)


@pytest.mark.parametrize("text", ["", "{", "\xff\xfe", "null"])
def test_sidecar_that_is_not_json_is_a_load_error(exported, text):
    exported.with_suffix(".json").write_bytes(text.encode("latin-1"))
    with pytest.raises(fx2relax.LoadError, match=r"model\.json: "):
        fx2relax.load(exported)


def test_sidecar_listing_other_inputs_than_the_library_takes_is_a_load_error(exported):
    sidecar = exported.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    metadata["inputs"].append({"name": "extra", "shape": [1], "dtype": "float32"})
    sidecar.write_text(json.dumps(metadata))
    with pytest.raises(fx2relax.LoadError, match=r"list parameters \['input_1', 'extra'\], but the library's main takes \['input_1'\]"):
        fx2relax.load(exported)


@pytest.fixture
def exported_with_weights(built_with_weights, tmp_path) -> Path:
    library = built_with_weights.export(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz", "model.so"]
    return library


def test_weights_round_trip(exported_with_weights):
    np.testing.assert_allclose(fx2relax.load(exported_with_weights)(X), expected(0), rtol=1e-5, atol=1e-6)


def test_weights_archive_missing_an_array_names_it(exported_with_weights, built_with_weights):
    names = list(built_with_weights.weights)
    np.savez(exported_with_weights.with_suffix(".npz"), **{names[0]: built_with_weights.weights[names[0]]})
    with pytest.raises(fx2relax.LoadError, match=rf"model\.npz: has no array '{names[1]}'"):
        fx2relax.load(exported_with_weights)


def test_weights_of_another_shape_or_dtype_are_a_load_error(exported_with_weights, built_with_weights):
    weights = dict(built_with_weights.weights)
    first = next(iter(weights))
    for wrong in (weights[first][:1], weights[first].astype(np.float64)):
        np.savez(exported_with_weights.with_suffix(".npz"), **{**weights, first: wrong})
        with pytest.raises(fx2relax.LoadError, match=rf"model\.npz: array '{first}' has shape"):
            fx2relax.load(exported_with_weights)


def test_damaged_missing_or_pickled_weights_are_a_load_error(exported_with_weights, built_with_weights):
    archive = exported_with_weights.with_suffix(".npz")
    archive.write_bytes(archive.read_bytes()[:100])
    with pytest.raises(fx2relax.LoadError, match=r"model\.npz: not a readable weights archive"):
        fx2relax.load(exported_with_weights)
    weights = {name: np.array([object()] * 2, dtype=object) for name in built_with_weights.weights}
    np.savez(archive, **weights)
    with pytest.raises(fx2relax.LoadError, match=r"model\.npz: not a readable weights archive"):
        fx2relax.load(exported_with_weights)
    archive.unlink()
    with pytest.raises(fx2relax.LoadError, match=r"model\.npz: no such file"):
        fx2relax.load(exported_with_weights)


def test_a_loaded_model_exports_again(exported, tmp_path):
    again = fx2relax.load(exported).export(tmp_path / "again")
    assert json.loads(again.with_suffix(".json").read_text())["library"]["size"] > 0
    np.testing.assert_allclose(fx2relax.load(again)(X), expected(0), rtol=1e-5, atol=1e-6)


def test_export_to_an_unwritable_place_is_an_export_error(built, tmp_path):
    (tmp_path / "model.json").mkdir()  # a directory where the sidecar should go
    with pytest.raises(fx2relax.ExportError, match=r"cannot write .*model\.so and its sidecars: .*Is a directory"):
        built.export(tmp_path / "model.so")


@pytest.mark.parametrize("given", ["", ".", "..", "existing_directory"])
def test_export_to_a_directory_or_no_name_is_refused(built, tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing_directory").mkdir()
    with pytest.raises(fx2relax.ExportError, match="give the library's path"):
        built.export(given)
    assert [p.name for p in tmp_path.iterdir()] == ["existing_directory"]


def test_deeply_nested_sidecar_is_a_load_error(exported):
    exported.with_suffix(".json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(fx2relax.LoadError, match=r"model\.json: not a readable JSON sidecar"):
        fx2relax.load(exported)
