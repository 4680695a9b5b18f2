"""The `fx2relax` command: inspect an import node by node, list the supported ops, compile to a library.

    fx2relax inspect MODULE:FACTORY --input-shape 4,1,28,28 [--tvmscript]
    fx2relax ops
    fx2relax compile MODULE:FACTORY --input-shape N,1,28,28 -o model.so [--target llvm]

MODULE is a dotted module name (`torchvision.models`) or a path to a .py file; FACTORY is a
function (or class) in it called with no arguments to make the nn.Module. In --input-shape a
dimension that is a name (`N`) or `?` is symbolic; repeat --input-shape for several inputs.
Exit status: 0 done, 1 the model was refused (fx2relax's message says why), 2 a usage error
(one line `fx2relax: error: ...`). No traceback unless --debug.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch
from tvm import relax, tirx
from tvm.target import codegen

from .compiler import compile_or_build
from .errors import ExportError, Fx2RelaxError, InputShapeError
from .importer import from_module, import_model, is_tensor
from .ops import ops_table
from .registry import target_name
from .runtime import ExportFiles, make_target


def load_factory(spec: str) -> Any:
    """The nn.Module `FACTORY()` makes, FACTORY read from MODULE (dotted name or .py path), in eval mode."""
    module_name, separator, factory_name = spec.rpartition(":")
    if not separator or not module_name or not factory_name:
        raise CommandError(f"expected MODULE:FACTORY (e.g. my_models.py:make_cnn), got {spec!r}")
    module = import_user_module(module_name)
    factory: Any = module
    for attribute in factory_name.split("."):
        factory = getattr(factory, attribute, None)
    if not callable(factory):
        raise CommandError(f"{module_name} has no callable {factory_name!r}")
    try:
        model = factory()
    except Exception as error:
        raise CommandError(f"{spec}() failed: {type(error).__name__}: {error}") from error
    if not isinstance(model, torch.nn.Module):
        raise CommandError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def import_user_module(name: str) -> Any:
    """The module MODULE names (a .py path or a dotted name); any failure importing it is a CommandError."""
    try:
        if name.endswith(".py") or "/" in name:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{path} is not a file")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or module_spec.loader is None:
                raise CommandError(f"{path} is not a Python module")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules.setdefault(path.stem, module)
            module_spec.loader.exec_module(module)
            return module
        return importlib.import_module(name)
    except CommandError:
        raise
    except ModuleNotFoundError as error:
        raise CommandError(f"cannot import {name}: {error}") from error
    except Exception as error:  # the user's module raised while being imported (SyntaxError included)
        raise CommandError(f"importing {name} failed: {type(error).__name__}: {error}") from error


def parse_shape(text: str) -> tuple[int | str | None, ...]:
    """`4,1,28,28` → (4, 1, 28, 28); a name stays a symbolic dimension (`N`), `?` is an unnamed one."""
    dims: list[int | str | None] = []
    for item in text.split(","):
        item = item.strip()
        if item == "?":
            dims.append(None)
        elif re.fullmatch(r"[0-9]+", item) and int(item) > 0:
            dims.append(int(item))
        elif item.isidentifier():
            dims.append(item)
        else:
            raise argparse.ArgumentTypeError(f"{text!r}: each dimension is a positive integer, a name or '?'")
    return tuple(dims)


def parse_target(text: str) -> Any:
    """`llvm`, or a JSON object of target attributes such as '{"kind": "llvm", "mcpu": "znver4"}';
    checked here (a CPU target TVM knows) so that a wrong one fails before the model is imported."""
    if text.lstrip().startswith("{"):
        try:
            target = json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object of target attributes: {error}") from error
    else:
        target = text
    kind = target.get("kind") if isinstance(target, dict) else target
    if kind != "llvm":  # checked before TVM sees it: TVM logs warnings while making other kinds
        raise argparse.ArgumentTypeError(f"{text!r}: fx2relax compiles for CPUs, target kind 'llvm'; got {kind!r}")
    attributes = target if isinstance(target, dict) else {}
    mcpu, triple = attributes.get("mcpu"), attributes.get("mtriple")
    if mcpu is not None and not codegen.llvm_is_valid_cpu(str(mcpu), str(triple or codegen.llvm_get_system_triple())):
        raise argparse.ArgumentTypeError(f"{text!r}: LLVM knows no CPU {mcpu!r} (`llc -mcpu=help` lists them)")
    try:
        make_target(target)
    except Exception as error:  # TVM's message for an unknown attribute
        reason = " ".join(str(error).split()) or type(error).__name__
        raise argparse.ArgumentTypeError(f"{text!r} is not a target TVM knows: {reason}") from error
    return target


class CommandError(Exception):
    """A mistake on the command line: printed as `fx2relax: error: ...`, exit status 2."""


def describe_value(value: Any) -> str:
    """A node's result for the inspect table: a tensor's shape, a tuple of shapes, or a Python value."""
    if is_tensor(value):
        return "(" + ", ".join(str(int(d) if isinstance(d, tirx.IntImm) else d) for d in value.ty.shape.values) + ")"
    if isinstance(value, (tuple, list, relax.Tuple)):
        items = value.fields if isinstance(value, relax.Tuple) else value
        return "(" + ", ".join(describe_value(item) for item in items) + ")"
    return repr(value) if isinstance(value, (int, float, bool, str, type(None))) else str(value)


def describe_target(node: Any, graph_module: Any) -> str:
    """What a node calls: `features.0 (nn.Conv2d)`, `torch.relu`, `Tensor.view`, or its placeholder name."""
    if node.op == "call_module":
        return f"{node.target} ({target_name(type(graph_module.get_submodule(str(node.target))))})"
    if node.op in ("call_function", "call_method"):
        return target_name(node.target)
    return str(node.target)


def inspect_command(args: argparse.Namespace) -> int:
    model = load_factory(args.model)
    importer, mod = import_model(model, args.input_shape)
    rows = [("node", "op", "target", "converter", "kernel", "output shape")]
    for record in importer.records:
        rows.append((
            record.node.name,
            record.node.op,
            describe_target(record.node, importer.graph_module),
            record.converter or "-",
            ", ".join(record.primfuncs) or "-",
            describe_value(record.value),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if args.tvmscript:
        print()
        print(mod.script())
    return 0


def ops_command(args: argparse.Namespace) -> int:
    print(ops_table())
    return 0


def compile_command(args: argparse.Namespace) -> int:
    try:
        files = ExportFiles.of(args.output).writable()  # before the model is imported and compiled
    except ExportError as error:
        raise CommandError(f"-o/--output: {error}") from error
    model = load_factory(args.model)
    imported = from_module(model, args.input_shape, keep_params_as_input=args.separate_weights)
    mod, weights = imported if args.separate_weights else (imported, None)
    compiled = compile_or_build(mod, args.target, weights, winograd=not args.no_winograd)
    try:
        library = compiled.export(files.library)
    except ExportError as error:
        raise CommandError(str(error)) from error
    written = [library, files.sidecar] + ([files.weights] if weights else [])
    print("wrote " + ", ".join(str(path) for path in written))
    print(f"load it with: fx2relax.load({str(library)!r})")
    return 0


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line `fx2relax: error: ...` (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see {self.prog} --help)")


def make_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="fx2relax", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.add_argument("model", metavar="MODULE:FACTORY", help="where to find the function making the model")
        command.add_argument(
            "--input-shape", type=parse_shape, action="append", required=True, metavar="SHAPE",
            help="the input's shape, e.g. 4,1,28,28 or N,1,28,28 (repeat for each input)",
        )

    inspect = commands.add_parser("inspect", help="show which converter and TE kernel handled each FX node")
    model_arguments(inspect)
    inspect.add_argument("--tvmscript", action="store_true", help="also print the IRModule as TVMScript")
    inspect.set_defaults(run=inspect_command)

    ops = commands.add_parser("ops", help="print the supported-ops table")
    ops.set_defaults(run=ops_command)

    compile_ = commands.add_parser("compile", help="compile to a shared library that fx2relax.load reads back")
    model_arguments(compile_)
    compile_.add_argument("-o", "--output", type=Path, required=True, help="the library to write, e.g. model.so")
    compile_.add_argument(
        "--target", type=parse_target, default=None, help='"llvm" or a JSON object of target attributes (default: this CPU)'
    )
    compile_.add_argument(
        "--separate-weights", action="store_true",
        help="keep the weights out of the library, in a .npz beside it (swap them without recompiling)",
    )
    compile_.add_argument(
        "--no-winograd", action="store_true",
        help="keep every 3x3 convolution direct: NaN and ±inf exactly as PyTorch, a little slower (see README)",
    )
    compile_.set_defaults(run=compile_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 model refused or failed, 2 usage error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = make_parser().parse_args(argv)
        if len(args.__dict__.get("input_shape") or []) == 1:
            args.input_shape = args.input_shape[0]
        return args.run(args)
    except SystemExit as exit:  # --help
        return exit.code if isinstance(exit.code, int) else 0
    except BrokenPipeError:  # `fx2relax inspect ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("fx2relax: interrupted", file=sys.stderr)
        return 130
    except (CommandError, InputShapeError) as error:  # InputShapeError: --input-shape does not fit the model
        if debug:
            raise
        print(f"fx2relax: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Fx2RelaxError as error:
        if debug:
            raise
        print(f"fx2relax: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a failure fx2relax did not foresee: still no traceback unless asked
        if debug:
            raise
        print(f"fx2relax: {type(error).__name__}: {_one_line(error)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    """An error's message on one line (TVM's messages span several)."""
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
