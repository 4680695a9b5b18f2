"""The `fx2relax` command line: inspect, ops and compile, in-process and as an installed command."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fx2relax
from fx2relax.cli import CommandError, main
from fx2relax.ops import ops_table
from tests.cli_models import TwoInputs, cnn, opposite_infinities, winograd_conv

REPO = Path(__file__).resolve().parents[1]


def test_inspect_names_converter_kernel_and_shape_of_each_node(capsys):
    assert main(["inspect", "tests.cli_models:cnn", "--input-shape", "N,1,28,28"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["node", "op", "target", "converter", "kernel", "output", "shape"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["input_1"].split()[1:] == ["placeholder", "input", "-", "-", "(N,", "1,", "28,", "28)"]
    node, op, target, module_type, converter, kernel, *shape = rows["_0"].split()
    assert (node, op, target, module_type) == ("_0", "call_module", "0", "(nn.Conv2d)")
    assert converter.startswith("fx2relax.converters.conv.") and kernel == "conv2d" and shape == ["(N,", "4,", "26,", "26)"]
    assert re.search(r"fx2relax\.converters\.pooling\.\w+ +max_pool2d +\(N, 4, 13, 13\)$", rows["_2"])
    assert rows["output"].endswith("(N, 10)")


def test_inspect_of_a_py_file_with_two_inputs_and_tvmscript(capsys):
    path = REPO / "tests" / "cli_models.py"
    assert main(["inspect", f"{path}:TwoInputs", "--input-shape", "2,3", "--input-shape", "2,3", "--tvmscript"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"relu +call_function +torch\.relu +fx2relax\.converters\.activation\.\w+ +relu +\(2, 3\)", out)
    assert "((2, 3), (2, 3))" in out
    assert "def main(x: R.Tensor((2, 3), dtype=\"float32\"), y: R.Tensor((2, 3), dtype=\"float32\"))" in out


def test_refused_model_exits_1_naming_the_op(capsys):
    assert main(["inspect", "tests.cli_models:cumulative", "--input-shape", "2,3"]) == 1
    assert "fx2relax: UnsupportedOpError: 1 node(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect", "tests.cli_models", "--input-shape", "2,3"], "expected MODULE:FACTORY"),
        (["inspect", "tests.cli_models:nothing", "--input-shape", "2,3"], "tests.cli_models has no callable 'nothing'"),
        (["inspect", "tests.cli_models:SIZE", "--input-shape", "2,3"], "tests.cli_models has no callable 'SIZE'"),
        (["inspect", "no/such/file.py:cnn", "--input-shape", "2,3"], "no/such/file.py is not a file"),
        (["inspect", "no_such_module:cnn", "--input-shape", "2,3"], "cannot import no_such_module: No module named 'no_such_module'"),
        (["inspect", "tests.cli_models:not_a_module", "--input-shape", "2,3"],
         "tests.cli_models:not_a_module() returned a list, not a torch.nn.Module"),
        (["inspect", "tests.cli_models:failing", "--input-shape", "2,3"],
         "tests.cli_models:failing() failed: RuntimeError: no weights here"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", "2,-3"], "each dimension is a positive integer, a name or '?'"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", "0,1,28,28"], "each dimension is a positive integer"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", ""], "each dimension is a positive integer"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", "2,\u00b2"], "each dimension is a positive integer"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", "2,1,28,28", "--input-shape", "2,3"],
         r"the model takes 1 input(s) but input_shape gives 2 shape(s)"),
        (["inspect", "tests.cli_models:cnn"], "the following arguments are required: --input-shape"),
        (["inspect", "tests.cli_models:cnn", "--input-shape", "2,3", "--bogus"], "unrecognized arguments: --bogus"),
        (["bogus"], "invalid choice: 'bogus'"),
        ([], "the following arguments are required: COMMAND"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3"], "the following arguments are required: -o/--output"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", "{kind: llvm}"],
         "is not a JSON object of target attributes"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", "no_such_kind"],
         "'no_such_kind': fx2relax compiles for CPUs, target kind 'llvm'; got 'no_such_kind'"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", "cuda"], "got 'cuda'"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", "[1]"], "got '[1]'"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", '{"mcpu": "znver4"}'], "got None"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", '{"kind": "llvm", "mcpu": "z80"}'],
         "LLVM knows no CPU 'z80'"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.so", "--target", '{"kind": "llvm", "speed": 9}'],
         "is not a target TVM knows: Unknown config option 'speed'"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "no/such/dir/x.so"],
         "-o/--output: cannot export to no/such/dir/x.so: directory no/such/dir does not exist"),
        (["compile", "tests.cli_models:cnn", "--input-shape", "2,3", "-o", "x.json"], "-o/--output: x.json: give the library's path"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("fx2relax: error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err


def test_module_that_fails_to_import_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("def make(:\n")
    (tmp_path / "raising.py").write_text("raise ImportError('needs a GPU')\n")
    assert main(["inspect", f"{tmp_path / 'broken.py'}:make", "--input-shape", "2"]) == 2
    assert re.match(r"fx2relax: error: importing .*broken\.py failed: SyntaxError", capsys.readouterr().err)
    assert main(["inspect", f"{tmp_path / 'raising.py'}:make", "--input-shape", "2"]) == 2
    assert "failed: ImportError: needs a GPU" in capsys.readouterr().err


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(CommandError, match="cannot import no_such_module"):
        main(["--debug", "inspect", "no_such_module:cnn", "--input-shape", "2,3"])
    with pytest.raises(fx2relax.UnsupportedOpError):
        main(["inspect", "tests.cli_models:cumulative", "--input-shape", "2,3", "--debug"])


def test_unforeseen_failure_is_one_line_with_exit_1(capsys, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("deep inside TVM\nwith a second line")

    monkeypatch.setattr("fx2relax.cli.import_model", explode)
    assert main(["inspect", "tests.cli_models:cnn", "--input-shape", "2,1,28,28"]) == 1
    err = capsys.readouterr().err
    assert err == "fx2relax: RuntimeError: deep inside TVM with a second line (run with --debug for the traceback)\n"


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "usage: fx2relax" in capsys.readouterr().out


def test_ops_prints_the_table_from_the_registry(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == ops_table().strip()
    assert "nn.Conv2d" in out


@pytest.mark.parametrize("separate_weights", [False, True])
def test_compile_writes_a_library_that_loads_and_matches_torch(tmp_path, capsys, separate_weights):
    argv = ["compile", "tests.cli_models:cnn", "--input-shape", "?,1,28,28", "-o", str(tmp_path / "cnn.so")]
    assert main(argv + (["--separate-weights"] if separate_weights else [])) == 0
    assert f"wrote {tmp_path / 'cnn.so'}, {tmp_path / 'cnn.json'}" in capsys.readouterr().out
    assert (tmp_path / "cnn.npz").exists() == separate_weights
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected = cnn().eval()(x).numpy()
    np.testing.assert_allclose(fx2relax.load(tmp_path / "cnn.so")(x), expected, rtol=1e-5, atol=1e-5)


def test_compile_without_winograd_keeps_pytorchs_infinities(tmp_path):
    """--no-winograd reaches compile: the direct conv gives ±inf exactly where PyTorch does."""
    library = tmp_path / "conv.so"
    assert main(["compile", "tests.cli_models:winograd_conv", "--input-shape", "1,32,8,8", "-o", str(library), "--no-winograd"]) == 0
    x = opposite_infinities()
    with torch.no_grad():
        expected = winograd_conv()(x).numpy()
    np.testing.assert_allclose(fx2relax.load(library)(x), expected, rtol=1e-5, atol=1e-5)


def test_installed_command_compiles_in_a_subprocess(tmp_path):
    """The console script when installed beside this Python, else `python -m fx2relax.cli`."""
    script = Path(sys.executable).with_name("fx2relax")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fx2relax.cli"]
    result = subprocess.run(
        command + ["compile", f"{REPO / 'tests' / 'cli_models.py'}:TwoInputs", "--input-shape", "N,3",
                   "--input-shape", "N,3", "-o", str(tmp_path / "two.so"), "--target", '{"kind": "llvm"}'],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    sum_, tanh = fx2relax.load(tmp_path / "two.so")(x, y)
    expected_sum, expected_tanh = TwoInputs()(x, y)
    np.testing.assert_allclose(sum_, expected_sum.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tanh, expected_tanh.numpy(), rtol=1e-5, atol=1e-5)


def test_installed_command_reports_a_usage_error_in_one_line(tmp_path):
    script = Path(sys.executable).with_name("fx2relax")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fx2relax.cli"]
    result = subprocess.run(
        command + ["compile", "tests.cli_models:not_a_module", "--input-shape", "2", "-o", str(tmp_path / "m.so")],
        capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr == "fx2relax: error: tests.cli_models:not_a_module() returned a list, not a torch.nn.Module\n"
