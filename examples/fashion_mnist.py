"""Classify the Fashion-MNIST test set with the MLC course CNN, imported by fx2relax.

Builds the course's CNN in PyTorch with its trained weights, imports it with
`fx2relax.from_module`, runs all 10,000 test images through both, checks every batch against
PyTorch, and prints accuracy, the largest difference and the speed of each. With `--plot` it
also draws 16 test images with their true and predicted classes.

    python examples/fashion_mnist.py [--data-root ../shared/data] [--batch-size 4] [--plot predictions.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import fx2relax

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def course_cnn(weights_path: Path) -> nn.Module:
    """The MLC course's FashionMNIST CNN with its trained weights, in eval mode."""
    model = nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2),
        nn.Flatten(),
        nn.Linear(5408, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
        nn.Softmax(dim=1),
    )
    params = np.load(weights_path, allow_pickle=False)
    names = {
        "0.weight": "conv2d_weight", "0.bias": "conv2d_bias",
        "4.weight": "linear0_weight", "4.bias": "linear0_bias",
        "6.weight": "linear1_weight", "6.bias": "linear1_bias",
    }
    model.load_state_dict({key: torch.from_numpy(params[name]) for key, name in names.items()})
    return model.eval()


def load_test_set(data_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 test images as [N, 1, 28, 28] float32 in [0, 1] (as ToTensor gives) and their labels."""
    from torchvision.datasets import FashionMNIST

    dataset = FashionMNIST(root=str(data_root), train=False, download=False)
    return dataset.data.float().div(255).unsqueeze(1), dataset.targets


def plot_predictions(images: torch.Tensor, labels: torch.Tensor, predictions: list[int], path: Path) -> Any:
    """Draw the first 16 images in a 4x4 grid titled "predicted / true", red where wrong; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot as plt

    count = min(16, len(images))
    figure, axes = plt.subplots(4, 4, figsize=(8, 9))
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        predicted, true = CLASS_NAMES[predictions[index]], CLASS_NAMES[int(labels[index])]
        axis.imshow(images[index, 0].numpy(), cmap="gray")
        axis.set_title(f"{predicted}\ntrue: {true}", fontsize=9, color="black" if predicted == true else "red")
    figure.suptitle("fx2relax on Fashion-MNIST: predicted / true (red: wrong)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return figure


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA, help="folder holding FashionMNIST/")
    parser.add_argument("--weights", type=Path, default=None,
        help="course CNN weights (.npz); default: DATA_ROOT/mlc/fashionmnist_cnn_params.npz",
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="classify only the first N test images")
    parser.add_argument("--target", default=None, help="TVM target kind (default: this machine's CPU)")
    parser.add_argument(
        "--unscheduled", action="store_true", help="run our kernels as plain loop nests (fx2relax.build) instead of fx2relax.compile"
    )
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
        help="write a PNG of 16 test images with true and predicted classes",
    )
    return parser.parse_args(argv)


def compile_model(mod: Any, args: argparse.Namespace) -> fx2relax.CompiledModel:
    """fx2relax.compile (fused, scheduled for the CPU), or with --unscheduled fx2relax.build."""
    if args.unscheduled:
        return fx2relax.build(mod, target=args.target or "llvm")
    return fx2relax.compile(mod, target=args.target)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    weights = args.weights or args.data_root / "mlc" / "fashionmnist_cnn_params.npz"
    for path in (weights, args.data_root / "FashionMNIST" / "raw"):
        if not path.exists():
            print(f"error: {path} not found (pass --data-root / --weights)", file=sys.stderr)
            return 2
    torch.set_num_threads(2)
    model = course_cnn(weights)
    images, labels = load_test_set(args.data_root)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]

    start = time.perf_counter()
    mod = fx2relax.from_module(model, (args.batch_size, 1, 28, 28))
    imported = time.perf_counter()
    compiled = {args.batch_size: compile_model(mod, args)}
    built = time.perf_counter()
    print(f"imported in {imported - start:.2f} s, compiled in {built - imported:.2f} s")

    ours_correct = torch_correct = 0
    max_diff = 0.0
    ours_time = torch_time = 0.0
    predictions = []
    for first in tqdm(range(0, len(images), args.batch_size), desc="classifying", unit="batch"):
        batch, batch_labels = images[first : first + args.batch_size], labels[first : first + args.batch_size]
        if len(batch) not in compiled:  # a short last batch gets its own build
            compiled[len(batch)] = compile_model(fx2relax.from_module(model, tuple(batch.shape)), args)
        tick = time.perf_counter()
        ours = compiled[len(batch)](batch)
        tock = time.perf_counter()
        with torch.no_grad():
            reference = model(batch).numpy()
        torch_time += time.perf_counter() - tock
        ours_time += tock - tick
        max_diff = max(max_diff, float(np.abs(ours - reference).max()))
        ours_correct += int((ours.argmax(1) == batch_labels.numpy()).sum())
        torch_correct += int((reference.argmax(1) == batch_labels.numpy()).sum())
        predictions.extend(ours.argmax(1).tolist())

    total = len(images)
    print(f"fx2relax accuracy: {ours_correct}/{total} = {ours_correct / total:.4f}")
    print(f"PyTorch  accuracy: {torch_correct}/{total} = {torch_correct / total:.4f}")
    print(f"largest |fx2relax - PyTorch| over all outputs: {max_diff:.3g}")
    for index in range(min(5, total)):
        print(f"  image {index}: predicted {CLASS_NAMES[predictions[index]]!r}, true {CLASS_NAMES[int(labels[index])]!r}")
    print(f"images/s: fx2relax {total / ours_time:,.0f}, PyTorch {total / torch_time:,.0f}")
    if args.plot:
        plot_predictions(images, labels, predictions, args.plot)
        print(f"wrote {args.plot}")
    if ours_correct != torch_correct or max_diff > 1e-5:
        print("error: fx2relax and PyTorch disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
