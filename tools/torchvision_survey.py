"""Try every torchvision classification model with fx2relax and report what happens.

For each model of `torchvision.models.list_models(module=torchvision.models)` (random weights,
eval, batch 1, its natural input size): import it, and when every op is supported build it, run
it and compare with PyTorch (relative error max|diff| / max|out|). Each full run happens in a
subprocess with a time limit, so one slow model cannot stall the survey.

    python tools/torchvision_survey.py [--timeout 300] [--budget 1200] [--max-params 100] [models ...]

First every model is traced (unsupported ops are listed), then the fully supported ones run,
smallest first, until the time budget is used up. Prints a markdown table: model, parameters,
status (ok / mismatch / unsupported / error / timeout / skipped) and the detail (unsupported
targets, relative error and times, or the error).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter

TOLERANCE = 1e-4
INPUT_SIZES = {"inception_v3": 299}  # every other classifier takes 224x224 by default


def load(name: str):
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    _keep_activations_alive(model)
    size = INPUT_SIZES.get(name, 224)
    return model, (1, 3, size, size)


def _keep_activations_alive(model) -> None:
    """Re-draw conv and linear weights He-normal (fan in). PyTorch's default init shrinks
    activations layer after layer: Inception v3's logits would be its last bias alone, and a
    comparison of them would check nothing else."""
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")


def check_ops(name: str) -> dict:
    """Trace only: the unsupported targets of the model, or an empty list."""
    import fx2relax
    from fx2relax.importer import GraphImporter, trace

    model, shape = load(name)
    result = {"params": sum(p.numel() for p in model.parameters()) / 1e6, "shape": shape}
    try:
        GraphImporter(trace(model, shape)).refuse_unsupported()
        result["unsupported"] = []
    except fx2relax.UnsupportedOpError as error:
        result["unsupported"] = [_target(line) for line in error.unsupported]
    except fx2relax.TraceError as error:
        result["error"] = str(error).splitlines()[0][:200]
    return result


def _target(line: str) -> str:
    """`node 'x' (function torch.foo)` → `torch.foo`; `(module 'a.b', nn.X)` → `nn.X`."""
    inside = re.search(r"\((.*)\)$", line).group(1)
    return inside.split(", ")[-1] if inside.startswith("module") else inside.split(" ", 1)[1]


def run_one(name: str) -> dict:
    """Import, build, run and compare one model (in this process)."""
    import numpy as np
    import torch

    import fx2relax

    model, shape = load(name)
    x = torch.rand(shape)
    started = time.perf_counter()
    mod = fx2relax.from_module(model, shape)
    imported = time.perf_counter()
    compiled = fx2relax.build(mod)
    built = time.perf_counter()
    actual = compiled(x)
    with torch.no_grad():
        expected = model(x).numpy()
    rel_error = float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
    return {
        "rel_error": rel_error,
        "import_s": imported - started,
        "build_s": built - imported,
        "run_s": time.perf_counter() - built,
    }


def survey_ops(name: str) -> dict:
    """Phase 1 for one model: trace it and list its unsupported targets (fast, in this process)."""
    try:
        info = check_ops(name)
    except Exception as error:  # a model torchvision itself cannot build this way
        return {"model": name, "status": "error", "detail": f"{type(error).__name__}: {error}"[:200]}
    row = {"model": name, "params": info["params"]}
    if "error" in info:
        return {**row, "status": "error", "detail": info["error"]}
    if info["unsupported"]:
        counts = Counter(info["unsupported"])
        return {**row, "status": "unsupported", "detail": ", ".join(f"{t} ×{n}" for t, n in sorted(counts.items()))}
    return {**row, "status": "supported", "detail": ""}


def survey_run(row: dict, timeout: float) -> dict:
    """Phase 2 for one fully supported model: build, run and compare it in a subprocess."""
    started = time.perf_counter()
    try:
        process = subprocess.run(
            [sys.executable, __file__, "--run-one", row["model"]], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {**row, "status": "timeout", "detail": f"all ops supported; no result within {timeout:g} s"}
    if process.returncode != 0:
        last = (process.stderr.strip().splitlines() or ["?"])[-1]
        return {**row, "status": "error", "detail": last[:200]}
    result = json.loads(process.stdout.strip().splitlines()[-1])
    status = "ok" if result["rel_error"] < TOLERANCE else "mismatch"
    detail = (
        f"rel error {result['rel_error']:.1e}; import {result['import_s']:.0f} s, build {result['build_s']:.0f} s, "
        f"run {result['run_s']:.1f} s (total {time.perf_counter() - started:.0f} s)"
    )
    return {**row, "status": status, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="model names (default: every classification model)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed for one model's build and run")
    parser.add_argument("--budget", type=float, default=1200, help="seconds for all runs; smaller models run first")
    parser.add_argument("--max-params", type=float, default=100, help="skip running models over this many million parameters")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        print(json.dumps(run_one(args.run_one)))
        return 0
    import torchvision

    started = time.perf_counter()
    names = args.models or torchvision.models.list_models(module=torchvision.models)
    rows = {}
    for name in names:
        rows[name] = survey_ops(name)
        print(f"{name}: {rows[name]['status']}", file=sys.stderr, flush=True)
    for row in sorted((r for r in rows.values() if r["status"] == "supported"), key=lambda r: r["params"]):
        left = args.budget - (time.perf_counter() - started)
        if row["params"] > args.max_params:
            rows[row["model"]] = {**row, "status": "skipped", "detail": f"all ops supported; over {args.max_params:g}M parameters"}
        elif left < 30:
            rows[row["model"]] = {**row, "status": "skipped", "detail": "all ops supported; survey time budget used up"}
        else:
            rows[row["model"]] = survey_run(row, min(args.timeout, left))
        print(f"{row['model']}: {rows[row['model']]['status']}", file=sys.stderr, flush=True)
    print("| model | params (M) | status | detail |\n|---|---|---|---|")
    for name in names:
        row = rows[name]
        params = f"{row['params']:.1f}" if "params" in row else "?"
        print(f"| {name} | {params} | {row['status']} | {row['detail']} |")
    statuses = Counter(row["status"] for row in rows.values())
    print("\n" + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    print(f"survey took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
