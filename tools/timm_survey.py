"""Try one small model of every timm architecture family with fx2relax and report what happens.

For each timm model module (`timm.list_modules()`: one architecture family each, such as resnet,
convnext, vision_transformer, swin_transformer), the variant with the fewest parameters (counted on
the meta device), plus a few well-known models of the large modules (EXTRA_MODELS), random init,
eval, batch 1, at 96x96 (or the smallest input the model takes: its own size when it is built for
one): trace it with torch.fx as `fx2relax.from_module` does and list the unsupported targets; when
every op is supported, import, compile (`fx2relax.compile`, or `build` with --build), run and
compare with PyTorch (relative error max|diff| / max|out|, tolerance 1e-4). A model torch.fx cannot
trace is tried with `torch.export`: where it captures the model and fx2relax has
`from_exported_program`, that path is imported and compared instead, else the table says which of
the two captures it.

    python tools/timm_survey.py [--timeout 180] [--budget 3600] [--build] [--size 96] [models ...]

First every model is built, captured and imported (in this process, within 60 % of --budget),
then the ones that import are compiled and compared, each in a subprocess with a time limit,
smallest first, until --budget seconds are used. Prints a markdown table (family, model, input, parameters, status, detail) and, per missing
target, the models it blocks. Statuses: ok, mismatch, unsupported (fx2relax lacks an op), refused
(a parameter or shape fx2relax refuses), timeout / skipped (imports, not compiled in the time
given), untraceable (neither torch.fx nor torch.export captures
it), export-only (torch.export captures it, fx2relax cannot import that yet), error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict

TOLERANCE = 1e-4
SMALL_WORDS = ("atto", "femto", "pico", "nano", "micro", "xxs", "tiny", "xs", "small", "light", "lite", "mini")
EXTRA_MODELS = (  # well-known models of modules that hold several architectures
    "resnet18", "mobilenetv2_050", "efficientnet_b0", "tf_efficientnet_b0", "mnasnet_small", "fbnetc_100",
    "tinynet_e", "mobilenetv3_small_050", "lcnet_050", "repvgg_a0", "vit_tiny_patch16_224",
    "deit_tiny_patch16_224", "efficientvit_b0", "mobilevitv2_050", "crossvit_tiny_240", "maxvit_tiny_tf_224",
)


def pick_models() -> list[str]:
    """One model per timm module (the fewest parameters among the likely-small names), plus EXTRA_MODELS."""
    import timm
    import torch

    chosen = []
    for module in timm.list_modules():
        names = timm.list_models(module=module)
        if not names:
            continue
        ranked = sorted(names, key=lambda n: (not any(w in n for w in SMALL_WORDS), len(n), n))[:6]
        sizes = {}
        for name in ranked:
            try:
                with torch.device("meta"):
                    sizes[name] = sum(p.numel() for p in timm.create_model(name, pretrained=False).parameters())
            except Exception:  # a variant that cannot be built this way
                continue
        if sizes:
            chosen.append(min(sizes, key=sizes.get))
    available = set(timm.list_models())
    return chosen + [name for name in EXTRA_MODELS if name in available and name not in chosen]


def load(name: str, size: int):
    """The model (random init, eval) and its input shape: `size` when the model takes it, else the
    model as timm builds it by default, with its own input size."""
    import timm
    import torch

    torch.manual_seed(0)
    try:
        model = _random_head(timm.create_model(name, pretrained=False, img_size=size).eval())
        with torch.no_grad():
            model(torch.rand(1, 3, size, size))
        return model, (1, 3, size, size)
    except Exception:  # no img_size argument, or the architecture does not take this size
        pass
    torch.manual_seed(0)  # built anew: a model built for `size` may run other sizes differently (crossvit)
    model = _random_head(timm.create_model(name, pretrained=False).eval())
    shape = (1, 3, size, size)
    try:
        with torch.no_grad():
            model(torch.rand(shape))
    except Exception:  # built for one input size
        shape = (1, *model.pretrained_cfg["input_size"])
    return model, shape


def _random_head(model):
    """The model with random classifier weights where timm initializes them to zeros (sequencer):
    an all-zero output would match whatever the rest of the model computes."""
    import torch

    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, torch.nn.Module):
        with torch.no_grad():
            for parameter in head.parameters():
                if not parameter.any():
                    torch.nn.init.normal_(parameter, std=0.02)
    return model


def _target(line: str) -> str:
    """`node 'x' (function torch.foo)` → `torch.foo`; `(module 'a.b', nn.X)` → `nn.X`."""
    inside = re.search(r"\((.*)\)$", line).group(1)
    return inside.split(", ")[-1] if inside.startswith("module") else inside.split(" ", 1)[1]


def _exported(model, x):
    """torch.export's program for `model(x)`, or the error text when it cannot capture it."""
    import torch

    try:
        return torch.export.export(model, (x,)), None
    except Exception as error:
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"


def capture_and_import(name: str, size: int) -> tuple[dict, object, object, object]:
    """Phase 1 for one model: build it, capture it (torch.fx, else torch.export) and import it.

    Returns (row, IRModule or None, model, input); the row's status is "imports" when the model
    imported, else why not (unsupported targets, a refusal, what cannot capture it).
    """
    import torch

    import fx2relax
    from fx2relax.importer import GraphImporter, trace

    model, shape = load(name, size)
    row = {"params": sum(p.numel() for p in model.parameters()) / 1e6, "input": "x".join(map(str, shape[2:]))}
    x = torch.rand(shape)
    try:
        graph_module = trace(model, shape)  # once: some models cache traced values (levit's bias cache)
        GraphImporter(graph_module).refuse_unsupported()
        capture = "fx"
    except fx2relax.UnsupportedOpError as error:
        return _unsupported(row, error, "fx"), None, model, x
    except fx2relax.TraceError as error:
        program, export_error = _exported(model, x)
        fx_error = str(error).split(": ", 1)[-1].splitlines()[0][:120]
        if program is None:
            return {**row, "status": "untraceable", "detail": f"torch.fx: {fx_error}; torch.export: {export_error}"}, None, model, x
        from_exported = getattr(fx2relax, "from_exported_program", None)  # the torch.export path, once it lands
        if from_exported is None:
            return {**row, "status": "export-only", "detail": f"torch.fx: {fx_error}; torch.export captures it"}, None, model, x
        capture = "export"
    started = time.perf_counter()
    try:
        mod = fx2relax.from_module(graph_module, shape) if capture == "fx" else from_exported(program)
    except fx2relax.UnsupportedOpError as error:
        return _unsupported(row, error, capture), None, model, x
    except fx2relax.Fx2RelaxError as error:
        return {**row, "status": "refused", "detail": f"({capture}) {str(error).splitlines()[0][:200]}"}, None, model, x
    detail = f"({capture}) imports in {time.perf_counter() - started:.0f} s"
    return {**row, "status": "imports", "detail": detail}, mod, model, x


def _unsupported(row: dict, error, capture: str) -> dict:
    counts = Counter(_target(line) for line in error.unsupported)
    return {**row, "status": "unsupported", "missing": sorted(counts),
            "detail": f"({capture}) " + ", ".join(f"{t} ×{n}" for t, n in sorted(counts.items()))}


def run_one(name: str, size: int, build_only: bool) -> dict:
    """Phase 2 for one model: import, compile (or build), run and compare (in this process)."""
    import numpy as np
    import torch

    import fx2relax

    row, mod, model, x = capture_and_import(name, size)
    if mod is None:
        return row
    started = time.perf_counter()
    run = fx2relax.build(mod) if build_only else fx2relax.compile(mod)
    compiled = time.perf_counter()
    actual = run(x)
    with torch.no_grad():
        expected = model(x)
    if isinstance(expected, (tuple, list)):
        actual, expected = actual[0], expected[0]
    expected = expected.numpy()
    scale = float(np.max(np.abs(expected))) or 1.0  # an all-zero output compares absolutely
    rel_error = float(np.max(np.abs(actual - expected))) / scale
    status = "ok" if rel_error < TOLERANCE else "mismatch"
    detail = f"{row['detail']}; rel error {rel_error:.1e}; {'build' if build_only else 'compile'} {compiled - started:.0f} s"
    return {**row, "status": status, "detail": detail}


def check(name: str, size: int) -> dict:
    """Phase 1 in this process; a model that timm or torch cannot build is an error row."""
    try:
        return capture_and_import(name, size)[0]
    except Exception as error:
        return {"status": "error", "detail": f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"}


def survey(name: str, size: int, build_only: bool, timeout: float) -> dict:
    """run_one in a subprocess with a time limit."""
    command = [sys.executable, __file__, "--run-one", name, "--size", str(size)] + (["--build"] if build_only else [])
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "detail": f"imports; no compiled result within {timeout:g} s"}
    lines = process.stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        last = (process.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": "error", "detail": last[:200]}
    return json.loads(lines[-1])


def _line(row: dict) -> str:
    """A row as the table shows it, after the model name (also the progress log's line)."""
    params = f"{row['params']:.1f}" if "params" in row else "?"
    return f"{row.get('input', '?')} | {params} | {row['status']} | {row['detail']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="model names (default: one per timm module, plus EXTRA_MODELS)")
    parser.add_argument("--size", type=int, default=96, help="input height and width where the model takes it")
    parser.add_argument("--timeout", type=float, default=180, help="seconds allowed for one model")
    parser.add_argument("--budget", type=float, default=3600, help="seconds for the whole survey")
    parser.add_argument("--build", action="store_true", help="fx2relax.build instead of fx2relax.compile")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        print(json.dumps(run_one(args.run_one, args.size, args.build)))
        return 0
    import timm

    started = time.perf_counter()
    names = args.models or pick_models()
    modules = {model: module for module in timm.list_modules() for model in timm.list_models(module=module)}
    print(f"{len(names)} models", file=sys.stderr, flush=True)
    rows = {}
    for name in names:  # phase 1: capture and import every model (in this process), in 60 % of the budget
        if time.perf_counter() - started > 0.6 * args.budget:
            rows[name] = {"status": "skipped", "detail": "survey time budget used up before its turn"}
        else:
            rows[name] = check(name, args.size)
        print(f"{name}: {_line(rows[name])}", file=sys.stderr, flush=True)
    importing = sorted((n for n in names if rows[n]["status"] == "imports"), key=lambda n: rows[n]["params"])
    for name in importing:  # phase 2: compile, run and compare, smallest first, within the budget
        left = args.budget - (time.perf_counter() - started)
        if left < 20:
            rows[name] = {**rows[name], "status": "skipped", "detail": rows[name]["detail"] + "; survey time budget used up"}
        else:
            rows[name] = {**rows[name], **survey(name, args.size, args.build, min(args.timeout, left))}
        print(f"{name}: {_line(rows[name])}", file=sys.stderr, flush=True)
    print("| architecture | model | input | params (M) | status | detail |\n|---|---|---|---|---|---|")
    for name in names:
        print(f"| {modules.get(name, '?')} | {name} | {_line(rows[name])} |")
    blocked = defaultdict(list)
    for name, row in rows.items():
        for target in row.get("missing", []):
            blocked[target].append(name)
    if blocked:
        print("\n| missing target | models blocked |\n|---|---|")
        for target, models in sorted(blocked.items(), key=lambda item: (-len(item[1]), item[0])):
            print(f"| `{target}` | {len(models)}: {', '.join(models)} |")
    statuses = Counter(row["status"] for row in rows.values())
    print("\n" + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    print(f"survey took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
