"""How long fx2relax takes to import and compile a model, phase by phase: issue 11's compile-time goal
(ResNet-18 and the timm models fastvit_t8, ghostnet_100, mobilenetv4_conv_small at 96x96 under 10 s).

    python benchmarks/bench_compile.py                        # the issue's models, 3 rounds
    python benchmarks/bench_compile.py --models resnet18,timm:fastvit_t8 --rounds 5
    python benchmarks/bench_compile.py --models survey        # the survey's models of bench_models.py

Each (round, model) runs in a fresh Python process, round-robin, so no import or cache of one
compile helps the next and the machine's drift spreads over all models alike; the table gives the
median seconds of each phase: import (`from_module`, or `torch.export` + `from_exported_program`
for token-id models), fuse (packing, op patterns, FuseOps, FuseTIR), schedule (our rules) and TVM
build (TIR lowering and LLVM's IR passes), first VM (the executable's machine code emitted by LLVM and
linked into a library that is loaded: what the first call of a compiled model waits for), and their
total.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import tvm
from tvm import relax

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import MODELS, TABLE, build_model, model_spec  # noqa: E402

import fx2relax  # noqa: E402
from fx2relax.compiler import _lowering_pipeline, fuse, host_target  # noqa: E402
from fx2relax.schedules import apply_schedules  # noqa: E402

ISSUE_MODELS = ("resnet18", "timm:fastvit_t8", "timm:ghostnet_100", "timm:mobilenetv4_conv_small")
PHASES = ("import", "fuse", "schedule", "TVM build", "first VM")


def model_and_example(name: str, batch: int, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """A benchmark model (bench_models.model_spec: MODELS, torchvision:<name> or timm:<name>) with
    random weights, and an input; a timm model without `@<side>` takes `size`² images."""
    if name.startswith("timm:") and "@" not in name:
        name = f"{name}@{size}"
    try:
        return build_model(name), model_spec(name).example(batch)
    except KeyError:
        raise SystemExit(f"unknown model {name!r}: one of {', '.join(MODELS)}, torchvision:<name> or timm:<name>") from None


def compile_in_phases(
    model: torch.nn.Module, example: torch.Tensor, winograd: bool = True,
) -> tuple[dict[str, float], tvm.IRModule, tvm.runtime.Executable]:
    """Import and compile `model` for this machine as fx2relax.compile does, then make a VM of it,
    timing each phase: seconds per phase (PHASES), the scheduled module and the executable."""
    target = host_target()
    seconds = {}
    start = time.perf_counter()
    if example.dtype.is_floating_point:
        mod = fx2relax.from_module(model, tuple(example.shape))
    else:  # token ids: imported through torch.export, as benchmarks/bench_models.py does
        mod = fx2relax.from_exported_program(torch.export.export(model, (example,)))
    seconds["import"] = time.perf_counter() - start
    start = time.perf_counter()
    fused = fuse(mod, target, winograd=winograd)
    seconds["fuse"] = time.perf_counter() - start
    start = time.perf_counter()
    scheduled = apply_schedules(fused, target)
    seconds["schedule"] = time.perf_counter() - start
    start = time.perf_counter()
    executable = tvm.compile(scheduled, target=target, relax_pipeline=_lowering_pipeline(target))
    seconds["TVM build"] = time.perf_counter() - start
    start = time.perf_counter()
    relax.VirtualMachine(executable, tvm.cpu())
    seconds["first VM"] = time.perf_counter() - start
    return seconds, scheduled, executable


def worker(name: str, batch: int, size: int) -> None:
    """One compile of one model in this process; prints its phases' seconds as JSON."""
    model, example = model_and_example(name, batch, size)
    seconds, _, _ = compile_in_phases(model, example)
    print(json.dumps(seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(ISSUE_MODELS),
                        help="comma-separated bench_models names or timm:<name>; 'survey' for the survey's models")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=96, help="image side of a timm model")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.batch, args.size)
        return 0
    names = [n for n in args.models.split(",") if n]
    if names == ["survey"]:
        names = [n for n in MODELS if n not in TABLE]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names:
            command = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch), "--size", str(args.size)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {round_index + 1}, {name}: {sum(runs[name][-1].values()):.1f} s", file=sys.stderr)
    print(f"| model (batch {args.batch}; timm models {args.size}²) | " + " | ".join(PHASES) + " | total (s) |")
    print("|---" * (len(PHASES) + 2) + "|")
    for name, phases in runs.items():
        if phases:
            medians = [statistics.median(run[phase] for run in phases) for phase in PHASES]
            total = statistics.median(sum(run.values()) for run in phases)
            print(f"| {name} | " + " | ".join(f"{m:.2f}" for m in medians) + f" | **{total:.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
