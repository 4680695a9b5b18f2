"""The compiled model's input checks, and export / load in a fresh process without torch."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fx2relax
from tests.helpers import ApplyBinary, assert_outputs_match, course_cnn

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mlp() -> fx2relax.CompiledModel:
    """A (4, 3) → (4, 2) model."""
    return fx2relax.build(fx2relax.from_module(nn.Linear(3, 2), (4, 3)))


@pytest.fixture(scope="module")
def add_any_batch() -> fx2relax.CompiledModel:
    """x + y for x, y of shape (N, 3): one symbolic N shared by both inputs."""
    return fx2relax.build(fx2relax.from_module(ApplyBinary(torch.add), [("N", 3), ("N", 3)]))


def test_right_inputs_run(mlp):
    assert mlp(np.zeros((4, 3), np.float32)).shape == (4, 2)
    assert mlp(torch.zeros(4, 3, requires_grad=True)).shape == (4, 2)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ((np.zeros((4, 3, 1), np.float32),), r"input 'input_1' must have shape \(4, 3\) \(rank 2\), got shape \(4, 3, 1\) \(rank 3\)"),
        ((np.zeros((4, 5), np.float32),), r"input 'input_1' must have shape \(4, 3\), got shape \(4, 5\)"),
        ((np.zeros((2, 3), np.float32),), r"must have shape \(4, 3\), got shape \(2, 3\)"),
        ((np.zeros((4, 3), np.float64),), "input 'input_1' must have dtype float32, got float64"),
        ((torch.zeros(4, 3, dtype=torch.int64),), "must have dtype float32, got torch.int64"),
        ((), r"the model takes 1 input\(s\), got 0"),
        ((np.zeros((4, 3), np.float32),) * 2, r"the model takes 1 input\(s\), got 2"),
        (([[0.0] * 3] * 4,), "input 'input_1' must be a NumPy array or a torch tensor, got list"),
        ((3.0,), "must be a NumPy array or a torch tensor, got float"),
    ],
)
def test_wrong_inputs_are_refused_before_the_vm(mlp, inputs, match):
    with pytest.raises(fx2relax.InputError, match=match):
        mlp(*inputs)


def test_symbolic_dimension_takes_any_size(add_any_batch):
    for batch in (1, 7):
        x, y = np.ones((batch, 3), np.float32), np.full((batch, 3), 2, np.float32)
        np.testing.assert_array_equal(add_any_batch(x, y), np.full((batch, 3), 3, np.float32))


def test_symbolic_dimension_is_bound_once_across_inputs(add_any_batch):
    x, y = np.ones((2, 3), np.float32), np.ones((5, 3), np.float32)
    with pytest.raises(fx2relax.InputError, match=r"input 'y' must have shape \(N, 3\), got shape \(5, 3\) \(with N=2\)"):
        add_any_batch(x, y)


def test_empty_symbolic_dimension_is_refused(add_any_batch):
    empty = np.ones((0, 3), np.float32)
    with pytest.raises(fx2relax.InputError, match=r"must have shape \(N, 3\), got shape \(0, 3\)"):
        add_any_batch(empty, empty)


NO_TORCH = textwrap.dedent(
    """
    import sys

    class NoTorch:  # stands for a machine where torch is not installed (tvm_ffi imports it when it can)
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "torch":
                raise ImportError("torch is not installed here")

    sys.meta_path.insert(0, NoTorch())
    """
)
LOAD_WITHOUT_TORCH = NO_TORCH + textwrap.dedent(
    """
    import numpy as np
    import fx2relax

    model = fx2relax.load(sys.argv[1])
    data = np.load(sys.argv[2])
    np.testing.assert_allclose(model(data["x"]), data["expected"], rtol=1e-5, atol=1e-5)
    assert "torch" not in sys.modules, "torch was imported"
    print("ok", [s.shape for s in model.inputs])
    """
)


@pytest.mark.parametrize("keep_params_as_input", [False, True])
def test_exported_model_runs_in_a_fresh_process_without_torch(tmp_path, keep_params_as_input):
    model = course_cnn(channels=4)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected = model(x).numpy()
    imported = fx2relax.from_module(model, ("batch", 1, 28, 28), keep_params_as_input=keep_params_as_input)
    mod, weights = imported if keep_params_as_input else (imported, None)
    library = fx2relax.build(mod, weights=weights).export(tmp_path / "model.so")
    np.savez(tmp_path / "check.npz", x=x.numpy(), expected=expected)

    assert (tmp_path / "model.json").exists() and (tmp_path / "model.npz").exists() == keep_params_as_input
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_TORCH, str(library), str(tmp_path / "check.npz")],
        capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "ok [('batch', 1, 28, 28)]" in result.stdout


def test_loaded_model_checks_its_inputs(tmp_path):
    linear = nn.Linear(3, 2).eval()
    library = fx2relax.build(fx2relax.from_module(linear, (None, 3))).export(tmp_path / "linear.so")
    loaded = fx2relax.load(library)
    assert_outputs_match(loaded(torch.ones(5, 3)), linear(torch.ones(5, 3)))
    with pytest.raises(fx2relax.InputError, match=r"must have shape \(batch, 3\), got shape \(5, 4\)"):
        loaded(np.ones((5, 4), np.float32))


def test_load_refuses_an_unknown_format(tmp_path):
    library = fx2relax.build(fx2relax.from_module(nn.ReLU(), (2,))).export(tmp_path / "relu.so")
    library.with_suffix(".json").write_text('{"format": 99}')
    with pytest.raises(fx2relax.LoadError, match=r"relu\.json: field 'format' is 99, expected 2"):
        fx2relax.load(library)


def test_importing_fx2relax_needs_no_torch():
    code = NO_TORCH + (
        "import fx2relax\n"
        "fx2relax.load, fx2relax.CompiledModel, fx2relax.InputError\n"
        "print(sorted(m for m in sys.modules if m.startswith(('fx2relax', 'torch'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['fx2relax', 'fx2relax.errors', 'fx2relax.runtime']"


def aligned(array: np.ndarray, offset: int = 0) -> np.ndarray:
    """A copy of `array` whose data starts `offset` bytes after a 64-byte boundary."""
    buffer = np.empty(array.nbytes + 64 + offset, np.uint8)
    start = -buffer.ctypes.data % 64 + offset
    copy = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    copy[...] = array
    return copy


@pytest.mark.parametrize("offset", [0, 4, 8, 16, 32])
@pytest.mark.parametrize("writeable", [True, False])
def test_read_only_and_misaligned_arrays_work(mlp, offset, writeable):
    x = aligned(np.arange(12, dtype=np.float32).reshape(4, 3), offset)
    x.flags.writeable = writeable
    np.testing.assert_array_equal(mlp(x), mlp(np.arange(12, dtype=np.float32).reshape(4, 3)))


@pytest.mark.parametrize("offset", [0, 4])
def test_aligned_inputs_are_shared_not_copied_and_never_written(offset):
    """An aligned, contiguous, writeable input goes to the kernels as it is (no staging copy); a
    misaligned one is copied. Neither is written, nor aliased by the result, even where `main`
    returns its input."""
    model = fx2relax.build(fx2relax.from_module(nn.Identity(), (4, 3)))
    x = aligned(np.arange(12, dtype=np.float32).reshape(4, 3), offset)
    result = model(x)
    staged = model._per_thread.state.staged[0]
    assert (staged is None) == (offset == 0)
    result[...] = -1
    np.testing.assert_array_equal(x, np.arange(12, dtype=np.float32).reshape(4, 3))
    np.testing.assert_array_equal(model(x), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: np.asfortranarray(x),
        lambda x: np.repeat(x, 2, axis=1)[:, ::2],
        lambda x: x.T.copy().T,
        lambda x: np.broadcast_to(x[:1], (4, 3)),
        lambda x: torch.from_numpy(x.T.copy()).T,
        lambda x: torch.from_numpy(x).requires_grad_(),
        lambda x: torch.from_numpy(np.ascontiguousarray(x[::-1]))[torch.arange(3, -1, -1)],
    ],
)
def test_strided_and_broadcast_inputs_give_the_contiguous_result(mlp, make):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    value = make(x)
    contiguous = value.detach().numpy() if isinstance(value, torch.Tensor) else value
    np.testing.assert_array_equal(mlp(value), mlp(np.ascontiguousarray(contiguous)))


@pytest.mark.parametrize(
    ("value", "given"),
    [
        (torch.zeros(4, 3, dtype=torch.bfloat16), "torch.bfloat16"),
        (torch.zeros(4, 3, dtype=torch.float16), "torch.float16"),
        (torch.zeros(4, 3, dtype=torch.complex64), "torch.complex64"),
        (torch.zeros(4, 3, dtype=torch.bool), "torch.bool"),
        (torch.zeros(4, 3, dtype=torch.float64), "torch.float64"),
        (np.zeros((4, 3), np.float16), "float16"),
        (np.zeros((4, 3), np.complex64), "complex64"),
        (np.zeros((4, 3), ">f4"), r"float32 \(big-endian\)"),
        (np.zeros((4, 3), np.int32), "int32"),
        (np.zeros((4, 3), object), "object"),
        (np.zeros((4, 3), [("a", np.float32)]), r"\[\('a', '<f4'\)\]"),
    ],
)
def test_every_unsupported_dtype_is_an_input_error_naming_both(mlp, value, given):
    with pytest.raises(fx2relax.InputError, match=rf"input 'input_1' must have dtype float32, got {given}$"):
        mlp(value)


def test_masked_arrays_and_unreadable_tensors_are_refused(mlp):
    with pytest.raises(fx2relax.InputError, match="is a masked array"):
        mlp(np.ma.masked_array(np.zeros((4, 3), np.float32), mask=True))
    with pytest.raises(fx2relax.InputError, match="the torch tensor cannot be read"):
        mlp(torch.zeros(4, 3, device="meta"))


def test_output_is_a_copy_the_next_call_does_not_overwrite():
    model = fx2relax.build(fx2relax.from_module(nn.Flatten(), (2, 3, 1)))  # main returns a view of its input
    first_input = np.ones((2, 3, 1), np.float32)
    first = model(first_input)
    second = model(np.full((2, 3, 1), 7, np.float32))
    np.testing.assert_array_equal(first, np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(second, np.full((2, 3), 7, np.float32))
    first[...] = 5
    np.testing.assert_array_equal(first_input, np.ones((2, 3, 1), np.float32))


def integer_model(dtype: str) -> fx2relax.CompiledModel:
    """main(x: (N, 3) of `dtype`) = x + x (or x | x for bool), built by hand: the runner checks
    whatever dtype main declares."""
    import tvm
    from tvm import relax, te

    x = relax.Var("x", relax.TensorType([tvm.tirx.Var("N", "int64"), 3], dtype))
    builder = relax.BlockBuilder()
    with builder.function("main", [x]):
        with builder.dataflow():
            double = builder.emit_te(
                lambda t: te.compute(t.shape, lambda i, j: t[i, j] | t[i, j] if dtype == "bool" else t[i, j] + t[i, j]), x
            )
            output = builder.emit_output(double)
        builder.emit_func_output(output)
    return fx2relax.build(builder.get())


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_boolean_inputs_are_accepted_and_checked(dtype):
    model = integer_model(dtype)
    assert model.inputs[0].dtype == dtype
    values = np.array([[1, 0, 3], [4, 5, 0]]).astype(dtype)
    np.testing.assert_array_equal(model(values), values | values if dtype == "bool" else values * 2)
    np.testing.assert_array_equal(model(torch.from_numpy(values)), model(values))
    other = "int32" if dtype != "int32" else "int64"
    with pytest.raises(fx2relax.InputError, match=f"input 'x' must have dtype {dtype}, got {other}"):
        model(values.astype(other))
    with pytest.raises(fx2relax.InputError, match=f"input 'x' must have dtype {dtype}, got float32"):
        model(values.astype(np.float32))


def test_inputs_can_be_given_by_name(add_any_batch):
    x, y = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    np.testing.assert_array_equal(add_any_batch(x=x, y=y), add_any_batch(x, y))
    np.testing.assert_array_equal(add_any_batch(x, y=y), add_any_batch(x, y))
    with pytest.raises(fx2relax.InputError, match="the model has no input named 'z'; its inputs are x, y"):
        add_any_batch(x, z=y)
    with pytest.raises(fx2relax.InputError, match="input 'x' is given twice"):
        add_any_batch(x, x=x)
    with pytest.raises(fx2relax.InputError, match=r"the model takes 2 input\(s\) \(x, y\), got 0 by position and y by name"):
        add_any_batch(y=y)


def test_pickling_a_model_says_to_export_it(mlp):
    import copy
    import pickle

    with pytest.raises(TypeError, match=r"cannot be pickled .*export\(\) it and load\(\) it"):
        pickle.dumps(mlp)
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.deepcopy(mlp)
