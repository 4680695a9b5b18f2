"""The `fx2relax` command: inspect an import node by node, list the supported ops, compile to a library.

    fx2relax inspect MODULE:FACTORY --input-shape 4,1,28,28 [--tvmscript]
    fx2relax ops
    fx2relax compile MODULE:FACTORY --input-shape N,1,28,28 -o model.so [--target llvm]

MODULE is a dotted module name (`torchvision.models`) or a path to a .py file; FACTORY is a
function (or class) in it called with no arguments to make the nn.Module. In --input-shape a
dimension that is a name (`N`) or `?` is symbolic; repeat --input-shape for several inputs.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tvm import relax, tirx

from .compiler import compile_or_build
from .errors import Fx2RelaxError
from .importer import from_module, import_model, is_tensor
from .ops import ops_table
from .registry import target_name


def load_factory(spec: str) -> Any:
    """The nn.Module `FACTORY()` makes, FACTORY read from MODULE (dotted name or .py path), in eval mode."""
    module_name, separator, factory_name = spec.rpartition(":")
    if not separator or not module_name or not factory_name:
        raise CommandError(f"expected MODULE:FACTORY (e.g. my_models.py:make_cnn), got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules.setdefault(path.stem, module)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise CommandError(f"{module_name} has no callable {factory_name!r}")
    return factory().eval()


def parse_shape(text: str) -> tuple[int | str | None, ...]:
    """`4,1,28,28` → (4, 1, 28, 28); a name stays a symbolic dimension (`N`), `?` is an unnamed one."""
    dims: list[int | str | None] = []
    for item in text.split(","):
        item = item.strip()
        if item == "?":
            dims.append(None)
        elif item.isdigit():
            dims.append(int(item))
        elif item.isidentifier():
            dims.append(item)
        else:
            raise argparse.ArgumentTypeError(f"{text!r}: each dimension is a positive integer, a name or '?'")
    return tuple(dims)


def parse_target(text: str) -> Any:
    """`llvm`, or a JSON object of target attributes such as '{"kind": "llvm", "mcpu": "znver4"}'."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object of target attributes: {error}") from error


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
    model = load_factory(args.model)
    imported = from_module(model, args.input_shape, keep_params_as_input=args.separate_weights)
    mod, weights = imported if args.separate_weights else (imported, None)
    library = compile_or_build(mod, args.target, weights).export(args.output)
    written = [library, library.with_suffix(".json")] + ([library.with_suffix(".npz")] if weights else [])
    print("wrote " + ", ".join(str(path) for path in written))
    print(f"load it with: fx2relax.load({str(library)!r})")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fx2relax", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_arguments(command: argparse.ArgumentParser) -> None:
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
    compile_.set_defaults(run=compile_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 import refused, 2 usage error)."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if len(args.__dict__.get("input_shape") or []) == 1:
        args.input_shape = args.input_shape[0]
    try:
        return args.run(args)
    except CommandError as error:
        parser.error(str(error))
    except Fx2RelaxError as error:
        print(f"fx2relax: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `fx2relax inspect ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
