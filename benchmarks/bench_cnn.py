"""Time PyTorch, TVM's own importer and fx2relax on the same models in one run, round-robin.

Every variant of a model is built first; then, for each batch size, the variants are timed in
turn, round after round, and each variant's median over the rounds is reported relative to
PyTorch eager. Interleaving keeps a slow spell of a shared machine from landing on one variant.
The sgemm roof (best GFLOP/s of a large float32 matmul in PyTorch, 2 threads) is measured in the
same run. Random weights: timing does not depend on them.

    python benchmarks/bench_cnn.py [--batches 1,4,64,256] [--trials 256] [--rounds 7]
                                   [--models cnn,resnet18] [--skip-tuning]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TVM_NUM_THREADS", "2")  # TVM's thread pool reads it once, at import

import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import tvm
from torch import nn
from tvm import relax
from tvm.target.codegen import llvm_get_system_cpu

import fx2relax
from fx2relax.tuning import tune

THREADS = 2
SECONDS_PER_MEASUREMENT = 0.05  # each timing repeats the call until about this long


def fashion_mnist_cnn() -> nn.Module:
    """The MLC course CNN of examples/fashion_mnist.py, with random weights."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(kernel_size=2), nn.Flatten(),
        nn.Linear(5408, 100), nn.ReLU(), nn.Linear(100, 10), nn.Softmax(dim=1),
    )


def resnet18() -> nn.Module:
    """torchvision's ResNet-18 with random weights."""
    from torchvision.models import resnet18 as build

    return build(weights=None)


@dataclass
class ModelSpec:
    name: str
    build: Callable[[], nn.Module]
    image_shape: tuple[int, ...]
    batches: list[int]


def host_target() -> tvm.target.Target:
    """LLVM for this CPU (scheduled code needs the host mcpu) with the benchmark's thread count."""
    return tvm.target.Target({"kind": "llvm", "mcpu": llvm_get_system_cpu(), "num-cores": THREADS})


def flops_per_call(model: nn.Module, example: torch.Tensor) -> int:
    """Floating-point operations of one call of `model` on `example`, as PyTorch's FlopCounterMode
    counts them: 2 per multiply-add of convolutions, matrix products and attention."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(example)
    return counter.get_total_flops()


def sgemm_roof(size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a size×size float32 matmul in PyTorch with the benchmark's threads."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.matmul(a, b)
    best = min(_seconds(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@dataclass
class Variant:
    """One way of running the model at one batch size: `run` or why it is not available."""

    name: str
    run: Callable[[], object] | None = None
    note: str = ""
    import_seconds: float | None = None
    compile_seconds: float | None = None
    tune_seconds: float | None = None
    times: list[float] = field(default_factory=list)


def attempt(name: str, make: Callable[[Variant], Callable[[], object]]) -> Variant:
    """A Variant made by `make`; a failure becomes its note instead of ending the benchmark."""
    variant = Variant(name)
    try:
        variant.run = make(variant)
        variant.run()  # warm-up: first-call costs are not what we time
    except Exception as error:  # noqa: BLE001  (any failure is a result to report)
        variant.run = None
        variant.note = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
        traceback.print_exc(file=sys.stderr)
    return variant


def tvm_runner(executable: object, image: np.ndarray) -> Callable[[], object]:
    """A call of TVM's VM on `image`, NumPy in and out like fx2relax's runner."""
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return lambda: vm["main"](tvm.runtime.tensor(image, tvm.cpu())).numpy()


def tvm_importer(model: nn.Module, example: torch.Tensor, variant: Variant) -> tvm.IRModule:
    """TVM's own PyTorch importer (torch.export, then from_exported_program), timed."""
    from tvm.relax.frontend.torch import from_exported_program

    start = time.perf_counter()
    with torch.no_grad():
        mod = from_exported_program(torch.export.export(model, (example,)), unwrap_unit_return_tuple=True)
    variant.import_seconds = time.perf_counter() - start
    return mod


def make_variants(model: nn.Module, example: torch.Tensor, args: argparse.Namespace, tune_here: bool) -> list[Variant]:
    """Every variant of the comparison, built for the batch of `example`."""
    image = example.numpy()
    target = host_target()

    def eager(variant: Variant) -> Callable[[], object]:
        return lambda: model(example)

    def inductor(variant: Variant) -> Callable[[], object]:
        start = time.perf_counter()
        compiled = torch.compile(model, dynamic=False)
        compiled(example)
        variant.compile_seconds = time.perf_counter() - start
        return lambda: compiled(example)

    def tvm_default(variant: Variant) -> Callable[[], object]:
        mod = tvm_importer(model, example, variant)
        start = time.perf_counter()
        executable = tvm.compile(mod, target="llvm")  # no schedule: the plain target is faster here
        variant.compile_seconds = time.perf_counter() - start
        return tvm_runner(executable, image)

    def tvm_dlight(variant: Variant) -> Callable[[], object]:
        from tvm.s_tir import dlight as dl

        mod = tvm_importer(model, example, variant)
        start = time.perf_counter()
        with target:
            mod = tvm.transform.Sequential(relax.backend.cpu_generic.legalize_passes(target))(mod)
            mod = dl.ApplyDefaultSchedule(dl.cpu.GEMV(), dl.cpu.Reduction())(mod)
        executable = tvm.compile(mod, target=target)
        variant.compile_seconds = time.perf_counter() - start
        return tvm_runner(executable, image)

    def tvm_metaschedule(variant: Variant) -> Callable[[], object]:
        mod = tvm_importer(model, example, variant)
        start = time.perf_counter()
        with target:
            mod = tvm.transform.Sequential(relax.backend.cpu_generic.legalize_passes(target))(mod)
        tuning_start = time.perf_counter()
        mod = tune(mod, target, trials=args.trials, work_dir=tempfile.mkdtemp(prefix="tvm-ms-"))
        variant.tune_seconds = time.perf_counter() - tuning_start
        executable = tvm.compile(mod, target=target)
        variant.compile_seconds = time.perf_counter() - start - variant.tune_seconds
        return tvm_runner(executable, image)

    def fx2relax_import(variant: Variant) -> tvm.IRModule:
        start = time.perf_counter()
        mod = fx2relax.from_module(model, tuple(example.shape))
        variant.import_seconds = time.perf_counter() - start
        return mod

    def fx2relax_build(variant: Variant) -> Callable[[], object]:
        mod = fx2relax_import(variant)
        start = time.perf_counter()
        compiled = fx2relax.build(mod)
        variant.compile_seconds = time.perf_counter() - start
        return lambda: compiled(image)

    def fx2relax_compile(tuned: bool) -> Callable[[Variant], Callable[[], object]]:
        def make(variant: Variant) -> Callable[[], object]:
            if not hasattr(fx2relax, "compile"):
                raise NotImplementedError("fx2relax.compile is not available on this branch yet")
            mod = fx2relax_import(variant)
            options = {"tune": args.trials, "tuning_dir": tempfile.mkdtemp(prefix="fx2relax-ms-")} if tuned else {}
            start = time.perf_counter()
            compiled = fx2relax.compile(mod, **options)
            variant.compile_seconds = time.perf_counter() - start
            return lambda: compiled(image)

        return make

    def fx2relax_tune_then_build(variant: Variant) -> Callable[[], object]:
        mod = fx2relax_import(variant)
        start = time.perf_counter()
        mod = tune(mod, target, trials=args.trials, work_dir=tempfile.mkdtemp(prefix="fx2relax-ms-"))
        variant.tune_seconds = time.perf_counter() - start
        compiled = fx2relax.build(mod, target=target)
        variant.compile_seconds = time.perf_counter() - start - variant.tune_seconds
        return lambda: compiled(image)

    variants = [
        attempt("PyTorch eager", eager),
        attempt("torch.compile (inductor)", inductor),
        attempt("TVM's importer, default pipeline (no schedule)", tvm_default),
        attempt("TVM's importer + dlight CPU rules", tvm_dlight),
    ]
    if tune_here:
        variants.append(attempt(f"TVM's importer + MetaSchedule, {args.trials} trials", tvm_metaschedule))
    variants += [
        attempt("fx2relax unscheduled (`build`)", fx2relax_build),
        attempt("fx2relax compiled (`compile`, untuned)", fx2relax_compile(tuned=False)),
    ]
    if tune_here and hasattr(fx2relax, "compile"):
        variants.append(attempt(f"fx2relax tuned (`compile(tune={args.trials})`)", fx2relax_compile(tuned=True)))
    elif tune_here:  # before the compile step lands: MetaSchedule on our unfused kernels
        variants.append(attempt(f"fx2relax tuned (`tuning.tune`, {args.trials} trials, then `build`; no fusion)", fx2relax_tune_then_build))
    return variants


def time_round_robin(variants: list[Variant], rounds: int) -> None:
    """Append one per-call time per round to each runnable variant, interleaving the variants."""
    runnable = [v for v in variants if v.run is not None]
    repeats = {v.name: max(1, round(SECONDS_PER_MEASUREMENT / max(_seconds(v.run), 1e-7))) for v in runnable}
    for _ in range(rounds):
        for variant in runnable:
            count = repeats[variant.name]
            start = time.perf_counter()
            for _ in range(count):
                variant.run()
            variant.times.append((time.perf_counter() - start) / count)


def benchmark_model(spec: ModelSpec, args: argparse.Namespace, roof: float) -> None:
    """Build, time and report every variant of one model at each of its batch sizes."""
    torch.manual_seed(0)
    model = spec.build().eval()
    flops = flops_per_call(model, torch.zeros(1, *spec.image_shape))
    print(f"\n## {spec.name}: {flops / 1e6:.2f} MFLOP per image, input {spec.image_shape}\n", flush=True)
    by_batch: dict[int, list[Variant]] = {}
    for batch in spec.batches:
        tune_here = not args.skip_tuning and batch in args.tune_batches
        example = torch.rand(batch, *spec.image_shape)
        with torch.no_grad():
            by_batch[batch] = make_variants(model, example, args, tune_here)
            time_round_robin(by_batch[batch], args.rounds)
        print(f"timed batch {batch}", file=sys.stderr, flush=True)
    print_ratio_table(by_batch, flops, roof)
    print_build_times(by_batch)


def print_ratio_table(by_batch: dict[int, list[Variant]], flops: int, roof: float) -> None:
    """Median time per variant relative to PyTorch eager, and GFLOP/s at the largest batch."""
    batches = list(by_batch)
    largest = batches[-1]
    names = list(dict.fromkeys(v.name for variants in by_batch.values() for v in variants))
    print(f"| variant | {' | '.join(f'B={b}' for b in batches)} | GFLOP/s @{largest} | % of sgemm roof @{largest} |")
    print("|---" * (len(batches) + 3) + "|")
    for name in names:
        cells, notes = [], []
        for batch in batches:
            variant = next((v for v in by_batch[batch] if v.name == name), None)
            eager = by_batch[batch][0]
            if variant is None:
                cells.append("—")
            elif variant.run is None or not eager.times:
                cells.append("n/a")
                notes.append(variant.note)
            else:
                cells.append(f"{statistics.median(variant.times) / statistics.median(eager.times):.3g}")
        variant = next((v for v in by_batch[largest] if v.name == name), None)
        if variant is not None and variant.times:
            gflops = flops * largest / statistics.median(variant.times) / 1e9
            cells += [f"{gflops:.1f}", f"{100 * gflops / roof:.0f} %"]
        else:
            cells += ["—", "—"]
        why = f" ({notes[0]})" if notes else ""
        print(f"| {name}{why} | {' | '.join(cells)} |")
    eager_ms = ", ".join(f"B={b}: {statistics.median(by_batch[b][0].times) * 1e3:.3g} ms" for b in batches if by_batch[b][0].times)
    print(f"\nPyTorch eager medians: {eager_ms}; sgemm roof {roof:.0f} GFLOP/s.")


def print_build_times(by_batch: dict[int, list[Variant]]) -> None:
    """Import, compile and tuning seconds of each TVM variant, per batch size."""
    print("\n| variant | batch | import s | compile s | tuning s |\n|---|---|---|---|---|")
    for batch, variants in by_batch.items():
        for v in variants:
            if v.import_seconds is None and v.compile_seconds is None:
                continue
            cells = [v.import_seconds, v.compile_seconds, v.tune_seconds]
            print(f"| {v.name} | {batch} | " + " | ".join("—" if c is None else f"{c:.1f}" for c in cells) + " |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def int_list(text: str) -> list[int]:
        return [int(item) for item in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int_list, default=[1, 4, 64, 256], help="CNN batch sizes")
    parser.add_argument("--tune-batches", type=int_list, default=[1, 256], help="batch sizes that get the MetaSchedule rows")
    parser.add_argument("--trials", type=int, default=256, help="MetaSchedule trial budget, the same for TVM and fx2relax")
    parser.add_argument("--rounds", type=int, default=7, help="round-robin rounds; medians are reported")
    parser.add_argument("--models", default="cnn", help="comma-separated: cnn, resnet18")
    parser.add_argument("--skip-tuning", action="store_true", help="leave out the MetaSchedule rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    specs = {
        "cnn": ModelSpec("FashionMNIST CNN", fashion_mnist_cnn, (1, 28, 28), args.batches),
        "resnet18": ModelSpec("ResNet-18", resnet18, (3, 224, 224), [1]),
    }
    roof = sgemm_roof()
    print(f"# fx2relax benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{THREADS} threads, target {host_target()}, MetaSchedule trials {'skipped' if args.skip_tuning else args.trials}, "
          f"{args.rounds} rounds, sgemm roof {roof:.0f} GFLOP/s (torch.matmul 2048², float32)")
    print(f"load average at start: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs; above ~2 other work competes)")
    for name in args.models.split(","):
        benchmark_model(specs[name], args, roof)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
