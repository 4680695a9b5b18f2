"""Where fx2relax.compile's time goes on a benchmark model: per compile phase, and per fused kernel.

Compiles the model phase by phase (import, fuse, schedule, TVM build), then times each call the VM
makes (an instrument around every call), largest first, with its argument
shapes, so the kernels worth a faster schedule stand out.

    python tools/profile_compiled.py resnet18 [--batch 1] [--top 25] [--repeats 5] [--codegen] [--no-winograd]
    python tools/profile_compiled.py timm:ghostnet_100 --size 96
    TVM_NUM_THREADS=1 python tools/profile_compiled.py bert --batch 16 --cpu-time  # on a loaded machine

Models are those of benchmarks/bench_models.py (cnn, resnet18, mobilenet_v2, bert and the
survey's vit_tiny, densenet121, ...; bert and gpt2 imported with torch.export as the benchmark
does, their input being token ids), or any torchvision or timm classifier (`torchvision:<name>`,
`timm:<name>`, random weights; `@<side>` or `--size` for timm's images, 224² for torchvision's).
`--codegen` also builds each scheduled function alone and lists those TVM's lowering and LLVM take longest over.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "2")

import tvm
from tvm import relax, tirx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_compile import compile_in_phases, model_and_example  # noqa: E402

from fx2relax.compiler import host_target  # noqa: E402


def argument_shapes(func: tirx.PrimFunc) -> str:
    """The shapes of a PrimFunc's buffer arguments, e.g. "1x64x56x56, 64x64x3x3 → 1x64x56x56"."""
    shapes = ["x".join(str(int(d)) for d in param.shape.values) for param in func.ty.params if hasattr(param.shape, "values")]
    return ", ".join(shapes[:-1]) + " → " + shapes[-1] if shapes else ""


def codegen_seconds(scheduled: tvm.IRModule, target: tvm.target.Target) -> dict[str, float]:
    """Seconds TVM's TIR lowering and LLVM take over each scheduled PrimFunc built alone."""
    seconds = {}
    for global_var, func in scheduled.functions_items():
        if isinstance(func, tirx.PrimFunc):
            start = time.perf_counter()
            tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
            seconds[global_var.name_hint] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a bench_models.py model (cnn, resnet18, vit_tiny, ...), torchvision:<name> or timm:<name>")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=96, help="image side of a timm model")
    parser.add_argument("--top", type=int, default=25, help="kernels listed")
    parser.add_argument("--repeats", type=int, default=5, help="profiled runs; the best per kernel is reported")
    parser.add_argument("--codegen", action="store_true", help="time lowering + LLVM per function")
    parser.add_argument("--no-winograd", action="store_true", help="keep every convolution direct (compile's winograd=False)")

    parser.add_argument(
        "--cpu-time", action="store_true",
        help="time kernels by this thread's CPU time, which other processes on a loaded machine do not inflate "
        "(with TVM_NUM_THREADS=1 the kernels run on the calling thread; with more, the workers' time is missed)",
    )
    args = parser.parse_args(argv)

    model, example = model_and_example(args.model, args.batch, args.size)
    phases, scheduled, executable = compile_in_phases(model, example, winograd=not args.no_winograd)
    target = host_target()
    print(f"# {args.model} {'x'.join(map(str, example.shape))}: compile phases\n\n| phase | s |\n|---|---|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds:.2f} |")
    print(f"| total | {sum(phases.values()):.2f} |")
    functions = {gv.name_hint: func for gv, func in scheduled.functions_items() if isinstance(func, tirx.PrimFunc)}
    if args.codegen:
        seconds = codegen_seconds(scheduled, target)
        print(f"\n## Lowering + LLVM per function, built alone ({len(seconds)} functions, {sum(seconds.values()):.2f} s)\n")
        print("| function | rule | s | arguments |\n|---|---|---|---|")
        for name, took in sorted(seconds.items(), key=lambda item: -item[1])[: args.top]:
            rule = functions[name].attrs.get("fx2relax.schedule_rule", "")
            print(f"| {name} | {rule} | {took:.2f} | {argument_shapes(functions[name])} |")

    vm = relax.VirtualMachine(executable, tvm.cpu())
    data = tvm.runtime.tensor(example.numpy(), tvm.cpu())
    vm["main"](data)
    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    started: dict[str, float] = {}
    clock = time.thread_time if args.cpu_time else time.perf_counter

    def instrument(func, symbol: str, before_run: bool, ret_value, *call_args) -> int:
        """Times each kernel call of the VM (microseconds), from before to after it runs."""
        if before_run:
            started[symbol] = clock()
        else:
            totals[symbol] += (clock() - started.pop(symbol)) * 1e6
            calls[symbol] += 1
        return 0  # VMInstrumentReturnKind.NO_OP: run the call as usual

    vm.set_instrument(instrument)
    vm["main"](data)
    per_run: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeats):
        totals.clear()
        vm["main"](data)
        for name, micros in totals.items():
            per_run[name].append(micros)
    medians = {name: min(times) for name, times in per_run.items()}
    whole = sum(medians.values())
    print(f"\n## Kernels by time (best of {args.repeats} profiled runs; total {whole / 1e3:.2f} ms)\n")
    print("| kernel | calls | µs | % | arguments |\n|---|---|---|---|---|")
    for name, micros in sorted(medians.items(), key=lambda item: -item[1])[: args.top]:
        shapes = argument_shapes(functions[name]) if name in functions else ""
        print(f"| {name} | {calls[name] // (args.repeats + 1)} | {micros:.0f} | {100 * micros / whole:.1f} | {shapes} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
