"""One model called from many threads at once, as a web server's workers call it: same results as one thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fx2relax

THREADS = 8
CALLS_PER_THREAD = 40


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.Softmax(dim=1)
    ).eval()


def two_outputs() -> nn.Module:
    class TwoOutputs(nn.Module):
        def forward(self, x, y):
            return torch.tanh(x) * y, x - y

    return TwoOutputs()


@pytest.fixture(scope="module")
def cnn_variants(tmp_path_factory) -> dict[str, fx2relax.CompiledModel]:
    """The CNN with a symbolic batch, compiled, built (weights as inputs) and exported then loaded."""
    mod = fx2relax.from_module(small_cnn(), ("N", 1, 14, 14))
    with_inputs, weights = fx2relax.from_module(small_cnn(), ("N", 1, 14, 14), keep_params_as_input=True)
    built = fx2relax.build(with_inputs, weights=weights)
    library = built.export(tmp_path_factory.mktemp("threads") / "cnn.so")
    return {"compiled": fx2relax.compile(mod), "built": built, "loaded": fx2relax.load(library)}


def run_in_threads(call: Callable[[int], object], threads: int = THREADS) -> list[object]:
    """`call(i)` for i in range(threads), each in its own thread, all started together."""
    start = threading.Barrier(threads)

    def worker(index: int) -> object:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(worker, range(threads)))


@pytest.mark.parametrize("variant", ["compiled", "built", "loaded"])
def test_one_model_called_from_8_threads_matches_one_thread(cnn_variants, variant):
    model = cnn_variants[variant]
    rng = np.random.default_rng(0)
    inputs = [rng.random((1 + i % 3, 1, 14, 14), dtype=np.float32) for i in range(THREADS)]  # batches differ
    expected = [model(x) for x in inputs]

    def calls(index: int) -> list[np.ndarray]:
        return [model(inputs[index]) for _ in range(CALLS_PER_THREAD)]

    for index, outputs in enumerate(run_in_threads(calls)):
        for output in outputs:
            np.testing.assert_array_equal(output, expected[index])


def test_threads_calling_two_models_and_their_inputs_in_turn_match(cnn_variants):
    """Each thread alternates between models and between NumPy and torch inputs of several batches."""
    other = fx2relax.build(fx2relax.from_module(two_outputs(), [("B", 3), ("B", 3)]))
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((1 + i, 3)).astype(np.float32) for i in range(4)]
    images = [rng.random((1 + i, 1, 14, 14), dtype=np.float32) for i in range(4)]
    cnn = cnn_variants["compiled"]
    expected_cnn = [cnn(image) for image in images]
    expected_other = [other(x, x * 2) for x in xs]

    def calls(index: int) -> int:
        for step in range(CALLS_PER_THREAD):
            k = (index + step) % 4
            image = images[k] if step % 2 else torch.from_numpy(images[k])
            np.testing.assert_array_equal(cnn(image), expected_cnn[k])
            for got, want in zip(other(xs[k], xs[k] * 2), expected_other[k]):
                np.testing.assert_array_equal(got, want)
        return index

    assert run_in_threads(calls) == list(range(THREADS))


def test_each_thread_calls_its_own_virtual_machine(cnn_variants):
    model = cnn_variants["compiled"]
    machines = run_in_threads(lambda index: model.vm, threads=4)
    assert len({id(vm) for vm in machines}) == 4
    assert model.vm is model.vm  # and keeps it


def test_wrong_input_in_one_thread_leaves_the_others_right(cnn_variants):
    model = cnn_variants["built"]
    good = np.random.default_rng(2).random((2, 1, 14, 14), dtype=np.float32)
    expected = model(good)

    def calls(index: int) -> str:
        if index % 2:
            with pytest.raises(fx2relax.InputError):
                model(good.astype(np.float64))
            return "refused"
        for _ in range(CALLS_PER_THREAD):
            np.testing.assert_array_equal(model(good), expected)
        return "ok"

    assert run_in_threads(calls) == ["ok", "refused"] * (THREADS // 2)


def test_exported_while_threads_call_it(cnn_variants, tmp_path: Path):
    model = cnn_variants["compiled"]
    x = np.random.default_rng(3).random((1, 1, 14, 14), dtype=np.float32)
    expected = model(x)

    def calls(index: int) -> None:
        if index == 0:
            model.export(tmp_path / "cnn.so")
        for _ in range(CALLS_PER_THREAD):
            np.testing.assert_array_equal(model(x), expected)

    run_in_threads(calls, threads=4)
    np.testing.assert_array_equal(fx2relax.load(tmp_path / "cnn.so")(x), expected)


def test_threads_loading_the_same_and_other_libraries_at_once(tmp_path):
    paths = []
    for seed in range(2):
        torch.manual_seed(seed)
        paths.append(fx2relax.build(fx2relax.from_module(nn.Linear(3, 2), ("N", 3))).export(tmp_path / f"m{seed}.so"))
    x = np.ones((2, 3), np.float32)
    expected = [fx2relax.load(path)(x) for path in paths]

    def load_and_call(index: int) -> None:
        np.testing.assert_array_equal(fx2relax.load(paths[index % 2])(x), expected[index % 2])

    run_in_threads(load_and_call)
