"""fx2relax.compile against PyTorch eager, torch.compile, ONNX Runtime and OpenVINO on real models.

Each variant (one runtime, one model, one batch size) runs in its own spawned worker process with
2 threads, so no two thread pools fight: the workers of a (model, batch) cell are built one after
the other, then timed round-robin, one worker at a time with a pause between them (spinning
threads of the last one go idle), and each variant's median over the rounds is reported relative
to PyTorch eager. Every worker builds the same random-weight model from the same seed, so outputs
are compared with eager's too. The sgemm roof (best GFLOP/s of a 2048² float32 torch.matmul,
2 threads) is measured in the same run.

    python benchmarks/bench_models.py [--models cnn,resnet18,mobilenet_v2,bert] [--rounds 5]
    python benchmarks/bench_models.py --models survey --variants onnxruntime,openvino,fx2relax --rounds 2
    python benchmarks/bench_models.py --models beyond --variants onnxruntime,openvino,fx2relax --rounds 2
    python benchmarks/bench_models.py --models torchvision:resnext50_32x4d,timm:mobilevit_s@256 --batches 1,8
                                      [--variants eager,inductor,onnxruntime,openvino,fx2relax]
                                      [--trials 64] [--tune-batches 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection

import numpy as np
import torch
from bench_cnn import THREADS, fashion_mnist_cnn, flops_per_call, resnet18, sgemm_roof
from torch import nn

import fx2relax

os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # inherited by the spawned workers

BUILD_TIMEOUT_SECONDS = 1800.0
"""A worker that has not built its variant by then (tuning included) counts as failed."""


def mobilenet_v2() -> nn.Module:
    """torchvision's MobileNetV2 with random weights."""
    from torchvision.models import mobilenet_v2 as build

    return build(weights=None)


class BertEncoder(nn.Module):
    """A BERT-like encoder (hidden 256, 4 layers, 4 heads, feed-forward 1024) from a transformers
    config with random weights: token ids [B, S] → last hidden states [B, S, 256]."""

    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
        )
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids).last_hidden_state


class Gpt2Decoder(nn.Module):
    """A GPT-2-like decoder (width 256, 4 layers, 4 heads, 256 positions, no KV cache) from a
    transformers config with random weights: token ids [B, S] → last hidden states [B, S, 256]."""

    def __init__(self):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        self.gpt2 = GPT2Model(GPT2Config(n_embd=256, n_layer=4, n_head=4, n_positions=256, use_cache=False))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.gpt2(input_ids, use_cache=False).last_hidden_state


def _torchvision(name: str, **options: object) -> Callable[[], nn.Module]:
    """A builder of torchvision's model `name` with random weights (and constructor `options`)."""

    def build() -> nn.Module:
        import torchvision.models

        return getattr(torchvision.models, name)(weights=None, **options)

    return build


def _timm(name: str) -> Callable[[], nn.Module]:
    """A builder of timm's model `name` with random weights."""

    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)

    return build


@dataclass(frozen=True)
class ModelSpec:
    label: str
    build: Callable[[], nn.Module]
    batches: tuple[int, ...]
    example: Callable[[int], torch.Tensor]  # batch size → input


def _images(*shape: int) -> Callable[[int], torch.Tensor]:
    return lambda batch: torch.rand(batch, *shape, generator=torch.Generator().manual_seed(1))


def _token_ids(batch: int, length: int = 128) -> torch.Tensor:
    return torch.randint(0, 30522, (batch, length), generator=torch.Generator().manual_seed(1))


MODELS = {
    "cnn": ModelSpec("course CNN", fashion_mnist_cnn, (1, 4, 64, 256), _images(1, 28, 28)),
    "resnet18": ModelSpec("ResNet-18 224²", resnet18, (1, 16), _images(3, 224, 224)),
    "mobilenet_v2": ModelSpec("MobileNetV2 224²", mobilenet_v2, (1, 16), _images(3, 224, 224)),
    "bert": ModelSpec("BERT-like encoder, seq 128", BertEncoder, (1, 16), _token_ids),
    # the survey beyond the table: more architectures an independent benchmark may pick
    "resnet50": ModelSpec("ResNet-50 224²", _torchvision("resnet50"), (1, 8), _images(3, 224, 224)),
    "efficientnet_b0": ModelSpec("EfficientNet-B0 224²", _torchvision("efficientnet_b0"), (1, 8), _images(3, 224, 224)),
    "mobilenet_v3_large": ModelSpec("MobileNetV3-L 224²", _torchvision("mobilenet_v3_large"), (1, 8), _images(3, 224, 224)),
    "convnext_tiny": ModelSpec("ConvNeXt-T 224²", _torchvision("convnext_tiny"), (1,), _images(3, 224, 224)),
    "vit_tiny": ModelSpec("ViT-Ti/16 224² (timm)", _timm("vit_tiny_patch16_224"), (1, 8), _images(3, 224, 224)),
    "shufflenet": ModelSpec("ShuffleNetV2 1.0 224²", _torchvision("shufflenet_v2_x1_0"), (1, 8), _images(3, 224, 224)),
    "densenet121": ModelSpec("DenseNet-121 224²", _torchvision("densenet121"), (1,), _images(3, 224, 224)),
    "regnet": ModelSpec("RegNetY-400MF 224²", _torchvision("regnet_y_400mf"), (1, 8), _images(3, 224, 224)),
    "squeezenet": ModelSpec("SqueezeNet 1.1 224²", _torchvision("squeezenet1_1"), (1, 8), _images(3, 224, 224)),
    "gpt2": ModelSpec("GPT-2-like decoder, seq 128", Gpt2Decoder, (1, 8), _token_ids),
    # beyond the survey: branchy and wide CNNs, windowed attention
    "googlenet": ModelSpec(
        "GoogLeNet 224²", _torchvision("googlenet", aux_logits=False, init_weights=True), (1,), _images(3, 224, 224),
    ),
    "inception_v3": ModelSpec(
        "Inception-v3 299²", _torchvision("inception_v3", aux_logits=False, init_weights=True), (1,),
        _images(3, 299, 299),
    ),
    "vgg11": ModelSpec("VGG-11 224²", _torchvision("vgg11"), (1,), _images(3, 224, 224)),
    "regnet_x": ModelSpec("RegNetX-1.6GF 224²", _torchvision("regnet_x_1_6gf"), (1,), _images(3, 224, 224)),
    "mnasnet": ModelSpec("MNASNet 1.0 224²", _torchvision("mnasnet1_0"), (1, 8), _images(3, 224, 224)),
    "swin_t": ModelSpec("Swin-T 224²", _torchvision("swin_t"), (1,), _images(3, 224, 224)),
}

TABLE = ("cnn", "resnet18", "mobilenet_v2", "bert")
"""The issue's table, run by default; `--models survey` and `--models beyond` run the others."""
BEYOND = ("googlenet", "inception_v3", "vgg11", "regnet_x", "mnasnet", "swin_t")
"""Models after the survey's: `--models beyond`."""


NAMED_PREFIXES = {"torchvision:": _torchvision, "timm:": _timm}
"""Models outside MODELS, by library: `torchvision:<name>` or `timm:<name>`, optionally `@<side>`
(the image side, 224 unless given; torchvision's inception_v3 299), e.g. `timm:mobilevit_s@256`."""


def model_spec(name: str) -> ModelSpec:
    """The benchmark model `name`: one of MODELS, or a torchvision or timm classifier (NAMED_PREFIXES)
    with random weights on `side`² images, batch 1 unless --batches says otherwise."""
    if name in MODELS:
        return MODELS[name]
    prefix = next((prefix for prefix in NAMED_PREFIXES if name.startswith(prefix)), None)
    if prefix is None:
        raise KeyError(name)
    library_name, _, side = name.removeprefix(prefix).partition("@")
    side = int(side) if side else 299 if (prefix, library_name) == ("torchvision:", "inception_v3") else 224
    return ModelSpec(f"{name.partition('@')[0]} {side}²", NAMED_PREFIXES[prefix](library_name), (1,), _images(3, side, side))


def build_model(name: str) -> nn.Module:
    """The model `name` (`model_spec`) with the benchmark's random weights (the same in every process)."""
    torch.manual_seed(0)
    return model_spec(name).build().eval()


class Skip(Exception):
    """A variant that cannot run this model yet; the message says why."""


Run = Callable[[], np.ndarray]
Seconds = dict[str, float]  # build phase → seconds


def eager(model: nn.Module, example: torch.Tensor, options: dict) -> tuple[Run, Seconds]:
    return lambda: model(example).numpy(), {}


def inductor(model: nn.Module, example: torch.Tensor, options: dict) -> tuple[Run, Seconds]:
    start = time.perf_counter()
    compiled = torch.compile(model, dynamic=False)
    compiled(example)
    return lambda: compiled(example).numpy(), {"compile": time.perf_counter() - start}


def onnxruntime(model: nn.Module, example: torch.Tensor, options: dict) -> tuple[Run, Seconds]:
    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(prefix="bench-onnx-"), "model.onnx")
    start = time.perf_counter()
    torch.onnx.export(model, (example,), path, dynamo=True, external_data=False, verbose=False)
    exported = time.perf_counter()
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = THREADS
    session_options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, session_options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: example.numpy()}
    return lambda: session.run(None, feed)[0], {"export": exported - start, "compile": time.perf_counter() - exported}


def openvino(model: nn.Module, example: torch.Tensor, options: dict) -> tuple[Run, Seconds]:
    import openvino as ov

    start = time.perf_counter()
    converted = ov.convert_model(model, example_input=example)
    exported = time.perf_counter()
    config = {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    request = ov.Core().compile_model(converted, "CPU", config).create_infer_request()
    data = example.numpy()
    seconds = {"export": exported - start, "compile": time.perf_counter() - exported}
    return lambda: request.infer({0: data})[0].copy(), seconds


def _fx2relax(model: nn.Module, example: torch.Tensor, options: dict) -> tuple[Run, Seconds]:
    """fx2relax.compile, tuned with `options["trials"]` MetaSchedule trials when given, its records
    in `options["tuning_dir"]` (a search there before, in another process, leaves nothing to search)."""
    start = time.perf_counter()
    if example.dtype.is_floating_point:
        mod = fx2relax.from_module(model, tuple(example.shape))
    elif hasattr(fx2relax, "from_exported_program"):
        mod = fx2relax.from_exported_program(torch.export.export(model, (example,)))
    else:
        raise Skip("needs fx2relax.from_exported_program (torch.export import, not on this branch yet)")
    imported = time.perf_counter()
    trials = options.get("trials")
    tuning = {"tune": trials, "tuning_dir": options["tuning_dir"]} if trials else {}
    compiled = fx2relax.compile(mod, **tuning)
    data = example.numpy()
    return lambda: compiled(data), {"import": imported - start, "compile": time.perf_counter() - imported}


VARIANTS: dict[str, tuple[str, Callable[[nn.Module, torch.Tensor, dict], tuple[Run, Seconds]]]] = {
    "eager": ("PyTorch eager", eager),
    "inductor": ("torch.compile", inductor),
    "onnxruntime": ("ONNX Runtime", onnxruntime),
    "openvino": ("OpenVINO", openvino),
    "fx2relax": ("fx2relax", _fx2relax),
}


def worker(connection: Connection, model_name: str, batch: int, variant: str, options: dict, budget: float) -> None:
    """Build one variant, send ("ready", build seconds, output) or ("failed" / "skipped", why,
    None); then answer each timing request with the median seconds per call."""
    torch.set_num_threads(THREADS)
    try:
        model = build_model(model_name)
        example = model_spec(model_name).example(batch)
        with torch.inference_mode():
            run, seconds = VARIANTS[variant][1](model, example, options)
            output = np.asarray(run())  # the first call also pays one-off costs we do not time
            connection.send(("ready", seconds, output))
            while connection.recv():
                connection.send(median_call_seconds(run, budget))
    except Skip as reason:
        connection.send(("skipped", str(reason), None))
    except Exception as error:  # noqa: BLE001  (any failure is a result to report)
        traceback.print_exc(file=sys.stderr)
        connection.send(("failed", f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120]}", None))


def median_call_seconds(run: Run, budget: float, min_calls: int = 3) -> float:
    """The median duration of calls of `run` made for about `budget` seconds: on a shared machine
    the median ignores the calls that another process preempted."""
    durations: list[float] = []
    end = time.perf_counter() + budget
    while len(durations) < min_calls or time.perf_counter() < end:
        start = time.perf_counter()
        run()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


@dataclass
class Result:
    """One variant of one (model, batch) cell: its worker while timing, then times or why none."""

    variant: str
    status: str = "failed"
    note: str = ""
    build_seconds: Seconds = field(default_factory=dict)
    output: np.ndarray | None = None
    max_difference: float | None = None
    times: list[float] = field(default_factory=list)
    process: object = None
    connection: Connection | None = None


def start_worker(model_name: str, batch: int, variant: str, options: dict, args: argparse.Namespace) -> Result:
    """Spawn the worker of one variant and wait until it has built it (or failed)."""
    result = Result(variant)
    context = get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=worker, args=(child_end, model_name, batch, variant, options, args.budget), daemon=True)
    process.start()
    deadline = time.monotonic() + BUILD_TIMEOUT_SECONDS
    while not parent_end.poll(1.0):
        if not process.is_alive() or time.monotonic() > deadline:
            process.kill()
            result.note = f"worker died (exit code {process.exitcode})" if process.exitcode else "build timed out"
            return result
    result.status, info, result.output = parent_end.recv()
    if result.status != "ready":
        result.note = info
        process.join()
        return result
    result.build_seconds, result.process, result.connection = info, process, parent_end
    return result


def start_tuned_worker(model_name: str, batch: int, args: argparse.Namespace) -> Result:
    """fx2relax tuned: MetaSchedule's search runs in a process of its own, which then ends, and the
    timed worker compiles from its records, so no state of the search (its runner, threads, heap)
    is left in the process timed. Its build seconds are import + compile + the search's compile."""
    options = {"trials": args.trials, "tuning_dir": tempfile.mkdtemp(prefix="bench-ms-")}
    search = start_worker(model_name, batch, "fx2relax", options, args)
    if search.connection is not None:
        search.connection.send(False)
        search.process.join()
    tuned = start_worker(model_name, batch, "fx2relax", options, args) if search.status == "ready" else search
    tuned.variant = "fx2relax-tuned"
    if search.status == "ready":
        tuned.build_seconds["tuning"] = search.build_seconds["compile"]
    return tuned


def time_round_robin(results: list[Result], rounds: int, pause: float) -> None:
    """One timing per round from each ready worker, one worker at a time, pausing in between."""
    ready = [r for r in results if r.connection is not None]
    for _ in range(rounds):
        for result in ready:
            time.sleep(pause)
            result.connection.send(True)
            result.times.append(result.connection.recv())
    for result in ready:
        result.connection.send(False)
        result.process.join()


def benchmark_cell(model_name: str, batch: int, args: argparse.Namespace) -> list[Result]:
    """Every variant of one (model, batch) cell, built one by one, then timed round-robin."""
    results = []
    for variant in args.variants:
        results.append(start_worker(model_name, batch, variant, {}, args))
        if variant == "fx2relax" and args.trials and batch in args.tune_batches:
            results.append(start_tuned_worker(model_name, batch, args))
    time_round_robin(results, args.rounds, args.pause)
    reference = next((r.output for r in results if r.variant == "eager" and r.status == "ready"), None)
    for result in results:
        if reference is not None and result.status == "ready":
            result.max_difference = float(np.max(np.abs(result.output.astype(np.float64) - reference)))
        result.output = None
    print(f"timed {model_spec(model_name).label}, B={batch}", file=sys.stderr, flush=True)
    return results


def column_label(variant: str, args: argparse.Namespace) -> str:
    if variant == "fx2relax-tuned":
        return f"fx2relax tuned ({args.trials} trials)"
    return VARIANTS[variant][0]


def print_tables(cells: dict[tuple[str, int], list[Result]], flops: dict[str, int], roof: float, args: argparse.Namespace) -> None:
    """Ratios to eager (best in bold), GFLOP/s with % of the roof, build seconds, output differences."""
    columns = list(dict.fromkeys(r.variant for results in cells.values() for r in results))
    header = "| model, batch | " + " | ".join(column_label(c, args) for c in columns) + " |\n" + "|---" * (len(columns) + 1) + "|"
    notes: dict[str, str] = {}

    def row(key: tuple[str, int], cell: Callable[[Result], str]) -> str:
        by_variant = {r.variant: r for r in cells[key]}
        texts = []
        for column in columns:
            result = by_variant.get(column)
            if result is None:
                texts.append("—")
            elif result.status != "ready":
                notes.setdefault(f"{column_label(column, args)}, {result.status}", result.note)
                texts.append(result.status)
            else:
                texts.append(cell(result))
        return f"| {model_spec(key[0]).label}, B={key[1]} | " + " | ".join(texts) + " |"

    def eager_time(key: tuple[str, int]) -> float | None:
        result = next((r for r in cells[key] if r.variant == "eager" and r.times), None)
        return statistics.median(result.times) if result else None

    print("\nTime relative to PyTorch eager (median of the rounds; lower is better; eager's own cell: ms per call)\n")
    print(header)
    for key in cells:
        base = eager_time(key)
        timed = [statistics.median(r.times) for r in cells[key] if r.times]
        best = min(timed) if timed else None

        def ratio(result: Result, base: float | None = base, best: float | None = best) -> str:
            median = statistics.median(result.times)
            text = f"{median * 1e3:.3g} ms" if result.variant == "eager" else ("n/a" if base is None else f"{median / base:.3g}")
            return f"**{text}**" if median == best else text

        print(row(key, ratio))
    print(f"\nGFLOP/s (% of the sgemm roof, {roof:.0f} GFLOP/s)\n")
    print(header)
    for key in cells:
        work = flops[key[0]] * key[1]
        print(row(key, lambda r, work=work: _gflops(work / statistics.median(r.times) / 1e9, roof)))
    print("\nBuild seconds (export/import + compile; where tuned, + the search's compile, in a process of its own)\n")
    print(header)
    for key in cells:
        print(row(key, lambda r: " + ".join(f"{s:.1f}" for s in r.build_seconds.values()) or "—"))
    print("\nLargest absolute difference from PyTorch eager's output\n")
    print(header)
    for key in cells:
        print(row(key, lambda r: "—" if r.max_difference is None else f"{r.max_difference:.1e}"))
    print_against_best_peer(cells)
    if notes:
        print("\n" + "\n".join(f"- {what}: {why}" for what, why in notes.items()))


def print_against_best_peer(cells: dict[tuple[str, int], list[Result]]) -> None:
    """fx2relax's time over the fastest other variant's, per cell: on a loaded machine eager's
    OpenMP threads suffer most from sharing the cores, so this ratio is the steadier one."""
    print("\nfx2relax's time relative to the fastest other variant (below 1: fx2relax is faster)\n")
    print("| model, batch | fastest other | fx2relax | fx2relax tuned |\n|---|---|---|---|")
    for (model, batch), results in cells.items():
        timed = {r.variant: statistics.median(r.times) for r in results if r.times}
        peers = {v: t for v, t in timed.items() if not v.startswith("fx2relax")}
        if not peers:
            continue
        best = min(peers, key=peers.get)
        ratios = [f"{timed[v] / peers[best]:.3g}" if v in timed else "—" for v in ("fx2relax", "fx2relax-tuned")]
        print(f"| {model_spec(model).label}, B={batch} | {VARIANTS[best][0]} | " + " | ".join(ratios) + " |")


def _gflops(rate: float, roof: float) -> str:
    return f"{rate:.1f} ({100 * rate / roof:.0f} %)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def names(text: str) -> list[str]:
        return [item for item in text.split(",") if item]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", type=names, default=list(TABLE),
        help=f"comma-separated, of {', '.join(MODELS)}, torchvision:<name> or timm:<name>[@<side>]; "
        "'survey' or 'beyond': the groups after the default",
    )
    parser.add_argument("--variants", type=names, default=list(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--batches", type=lambda t: [int(b) for b in names(t)], help="override every model's batch sizes")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds; medians are reported")
    parser.add_argument("--budget", type=float, default=0.2, help="seconds of calls per timing")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between two workers' timings")
    parser.add_argument("--trials", type=int, default=0, help="add fx2relax tuned with this MetaSchedule trial budget")
    parser.add_argument("--tune-batches", type=lambda t: [int(b) for b in names(t)], default=[1], help="batch sizes tuned")
    parser.add_argument("--quick", action="store_true", help="smoke run: the CNN at B=1, 2 short rounds")
    args = parser.parse_args(argv)
    if args.models == ["survey"]:
        args.models = [name for name in MODELS if name not in TABLE + BEYOND]
    elif args.models == ["beyond"]:
        args.models = list(BEYOND)
    named = {name for name in args.models if name.startswith(tuple(NAMED_PREFIXES))}
    unknown = sorted(set(args.models) - set(MODELS) - named) + sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown model or variant: {', '.join(unknown)}")
    if args.quick:
        args.models, args.batches, args.rounds, args.budget, args.pause = ["cnn"], [1], 2, 0.02, 0.05
    if "eager" not in args.variants:
        args.variants.insert(0, "eager")  # the reference of every ratio
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    roof = sgemm_roof()
    print(f"# fx2relax against other runtimes, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{THREADS} threads per variant, each in its own process; {args.rounds} rounds of ~{args.budget} s per variant; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (above ~2, other work competes)")
    cells, flops = {}, {}
    for name in args.models:
        flops[name] = flops_per_call(build_model(name), model_spec(name).example(1))
        for batch in args.batches or model_spec(name).batches:
            cells[name, batch] = benchmark_cell(name, batch, args)
    print_tables(cells, flops, roof, args)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
