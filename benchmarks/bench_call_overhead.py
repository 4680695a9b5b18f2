"""What a call of a compiled model costs beyond its kernels, at batch 1 on the course CNN.

    PYTHONPATH=. python benchmarks/bench_call_overhead.py [--calls 200] [--rounds 50]

Times (best of `rounds` runs of `calls` calls each, microseconds per call) the runner's call with a
NumPy and a torch input against calling the VM's `main` directly with a TVM tensor made beforehand
(kernels plus the VM's own dispatch), the runner's steps alone (input check, staging copy, output
conversion), and the whole runner with its VM call replaced by one returning at once (what a call
costs beyond the VM, free of the kernels' noise). On a busy machine trust the last most.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import numpy as np
import torch
import tvm
from torch import nn

import fx2relax


def course_cnn() -> nn.Module:
    """The MLC course CNN (examples/fashion_mnist.py) with seeded random weights."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(kernel_size=2), nn.Flatten(),
        nn.Linear(5408, 100), nn.ReLU(), nn.Linear(100, 10), nn.Softmax(dim=1),
    ).eval()


def best_microseconds(calls_by_name: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Best time per call of each, the variants timed in turn within each round (so that a busy
    moment of the machine costs all of them alike)."""
    best = dict.fromkeys(calls_by_name, float("inf"))
    for _ in range(rounds):
        for name, call in calls_by_name.items():
            best[name] = min(best[name], timeit.timeit(call, number=calls) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    for shape in [(1, 1, 28, 28), ("N", 1, 28, 28)]:
        print(f"input shape {shape}:")
        results = measure(shape, args.calls, args.rounds)
        base = results["VM main, TVM tensor made beforehand"]
        for name, microseconds in results.items():
            extra = "" if name.startswith(("VM", "  ", "runner alone")) else f"   (+{microseconds - base:.2f} beyond the VM call)"
            print(f"  {name:38s} {microseconds:8.2f} µs{extra}")


def measure(shape: tuple, calls: int, rounds: int) -> dict[str, float]:
    """Microseconds per call of the runner, of the VM alone and of the runner's steps."""
    model = fx2relax.compile(fx2relax.from_module(course_cnn(), shape))
    x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    x_torch = torch.from_numpy(x)
    model(x)  # makes this thread's VM and staging buffer
    state = model._thread_state()
    direct = tvm.runtime.tensor(x)
    output = state.main(direct)
    timings = {
        "VM main, TVM tensor made beforehand": lambda: state.main(direct),
        "runner, NumPy input": lambda: model(x),
        "runner, torch input": lambda: model(x_torch),
        "  input check (NumPy)": lambda: model.check_inputs((x,)),
        "  input check (torch)": lambda: model.check_inputs((x_torch,)),
        "  staging, NumPy input (copied unless 64-byte aligned)": lambda: model._stage(x, 0, state),
        "  staging, torch input (aligned: shared)": lambda: model._stage(x_torch.numpy(), 0, state),
        "  output to NumPy": lambda: np.from_dlpack(output).copy(),
    }
    results = best_microseconds(timings, calls, rounds)
    state.main = lambda *args: output  # the runner alone: its VM call returns at once
    results.update(best_microseconds({
        "runner alone (VM call stubbed), NumPy": lambda: model(x),
        "runner alone (VM call stubbed), torch": lambda: model(x_torch),
    }, calls, rounds))
    return results


if __name__ == "__main__":
    main()
