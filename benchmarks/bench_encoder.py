"""A BERT-like encoder (hidden 256, 4 layers, 4 heads, feed-forward 1024, sequence 128) through
fx2relax.compile against PyTorch eager, torch.compile, ONNX Runtime and OpenVINO.

Each variant runs in its own spawned worker process with 2 threads (no two thread pools fight);
all are built first, then timed round-robin, one worker at a time with a pause in between, and
each variant's median over the rounds is reported relative to eager and to the fastest peer.
The encoder is written with the torch-level modules `fx2relax.from_module` traces (nn.Linear,
`@`, F.softmax, nn.LayerNorm, nn.GELU, view/permute/reshape), the layer of BERT; random weights,
the same in every worker (outputs are compared with eager's).

    python benchmarks/bench_encoder.py [--batches 1] [--rounds 5] [--variants eager,inductor,...]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import Connection

THREADS = 2
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # inherited by the spawned workers
os.environ.setdefault("TVM_NUM_THREADS", str(THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

HIDDEN, LAYERS, HEADS, INTERMEDIATE, SEQUENCE = 256, 4, 4, 1024, 128


class EncoderLayer(nn.Module):
    """One post-norm BERT layer: self-attention, residual + LayerNorm, GELU feed-forward, residual + LayerNorm."""

    def __init__(self, hidden: int = HIDDEN, heads: int = HEADS, intermediate: int = INTERMEDIATE):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.up, self.activation, self.down = nn.Linear(hidden, intermediate), nn.GELU(), nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        query, key, value = self.split_heads(self.query(x)), self.split_heads(self.key(x)), self.split_heads(self.value(x))
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_dim)
        context = (F.softmax(scores, dim=-1) @ value).permute(0, 2, 1, 3).reshape(batch, length, hidden)
        x = self.attention_norm(x + self.attention_out(context))
        return self.output_norm(x + self.down(self.activation(self.up(x))))


def encoder() -> nn.Module:
    """The benchmark's encoder with its random weights (the same in every process)."""
    torch.manual_seed(0)
    return nn.Sequential(*(EncoderLayer() for _ in range(LAYERS))).eval()


def example(batch: int) -> torch.Tensor:
    return torch.randn(batch, SEQUENCE, HIDDEN, generator=torch.Generator().manual_seed(1))


Run = Callable[[], np.ndarray]


def eager(model: nn.Module, data: torch.Tensor) -> Run:
    return lambda: model(data).numpy()


def inductor(model: nn.Module, data: torch.Tensor) -> Run:
    compiled = torch.compile(model, dynamic=False)
    return lambda: compiled(data).numpy()


def onnxruntime(model: nn.Module, data: torch.Tensor) -> Run:
    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(prefix="bench-onnx-"), "encoder.onnx")
    torch.onnx.export(model, (data,), path, dynamo=True, external_data=False, verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: data.numpy()}
    return lambda: session.run(None, feed)[0]


def openvino(model: nn.Module, data: torch.Tensor) -> Run:
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    request = ov.Core().compile_model(ov.convert_model(model, example_input=data), "CPU", config).create_infer_request()
    array = data.numpy()
    return lambda: request.infer({0: array})[0].copy()


def fx2relax_compiled(model: nn.Module, data: torch.Tensor) -> Run:
    import fx2relax

    compiled = fx2relax.compile(fx2relax.from_module(model, tuple(data.shape)))
    array = data.numpy()
    return lambda: compiled(array)


VARIANTS: dict[str, tuple[str, Callable[[nn.Module, torch.Tensor], Run]]] = {
    "eager": ("PyTorch eager", eager),
    "inductor": ("torch.compile", inductor),
    "onnxruntime": ("ONNX Runtime", onnxruntime),
    "openvino": ("OpenVINO", openvino),
    "fx2relax": ("fx2relax.compile", fx2relax_compiled),
}


def worker(connection: Connection, variant: str, batch: int, budget: float) -> None:
    """Build one variant, send ("ready", build seconds, output) or ("failed", why, None); then answer
    each timing request with the median seconds per call."""
    torch.set_num_threads(THREADS)
    try:
        with torch.inference_mode():
            start = time.perf_counter()
            run = VARIANTS[variant][1](encoder(), example(batch))
            output = np.asarray(run())  # the first call also pays one-off costs we do not time
            connection.send(("ready", time.perf_counter() - start, output))
            while connection.recv():
                connection.send(median_call_seconds(run, budget))
    except Exception as error:  # noqa: BLE001  (any failure is a result to report)
        traceback.print_exc(file=sys.stderr)
        connection.send(("failed", f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120]}", None))


def median_call_seconds(run: Run, budget: float, min_calls: int = 3) -> float:
    """The median duration of the calls made in about `budget` seconds (the median ignores preempted calls)."""
    durations: list[float] = []
    end = time.perf_counter() + budget
    while len(durations) < min_calls or time.perf_counter() < end:
        start = time.perf_counter()
        run()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def benchmark(batch: int, args: argparse.Namespace) -> None:
    """Build every variant in its worker, time them round-robin, print one table row per variant."""
    context = get_context("spawn")
    workers: dict[str, tuple[object, Connection, float, np.ndarray]] = {}
    failures: dict[str, str] = {}
    for variant in args.variants:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=worker, args=(child_end, variant, batch, args.budget), daemon=True)
        process.start()
        status, info, output = parent_end.recv()
        if status == "ready":
            workers[variant] = (process, parent_end, info, output)
        else:
            failures[variant] = info
            process.join()
    times: dict[str, list[float]] = {variant: [] for variant in workers}
    for _ in range(args.rounds):
        for variant, (_, connection, _, _) in workers.items():
            time.sleep(args.pause)
            connection.send(True)
            times[variant].append(connection.recv())
    for process, connection, _, _ in workers.values():
        connection.send(False)
        process.join()
    medians = {variant: statistics.median(seconds) for variant, seconds in times.items()}
    reference = workers["eager"][3] if "eager" in workers else None
    peers = [medians[v] for v in medians if v != "fx2relax"]
    best_peer = min(peers) if peers else None
    print(f"\n## B={batch}\n\n| variant | ms | vs eager | vs fastest peer | build s | max abs diff from eager |\n|---|---|---|---|---|---|")
    for variant, median in medians.items():
        _, _, build_seconds, output = workers[variant]
        eager_ratio = f"{median / medians['eager']:.3g}" if "eager" in medians else "—"
        peer_ratio = f"{median / best_peer:.3g}" if best_peer else "—"
        difference = "—" if reference is None else f"{np.max(np.abs(output.astype(np.float64) - reference)):.1e}"
        print(f"| {VARIANTS[variant][0]} | {median * 1e3:.3g} | {eager_ratio} | {peer_ratio} | {build_seconds:.1f} | {difference} |")
    for variant, why in failures.items():
        print(f"| {VARIANTS[variant][0]} | failed: {why} | | | | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=lambda t: [int(b) for b in t.split(",")], default=[1])
    parser.add_argument("--variants", type=lambda t: t.split(","), default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds; medians are reported")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of calls per timing")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between two workers' timings")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant: {', '.join(unknown)}")
    print(f"# BERT-like encoder (hidden {HIDDEN}, {LAYERS} layers, {HEADS} heads, feed-forward {INTERMEDIATE}, "
          f"sequence {SEQUENCE}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{THREADS} threads per variant, each in its own process; {args.rounds} rounds of ~{args.budget} s; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for batch in args.batches:
        benchmark(batch, args)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
