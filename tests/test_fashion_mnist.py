"""End to end: the MLC course CNN on the real Fashion-MNIST test set, through the example script."""

from pathlib import Path

import pytest

from tests.helpers import load_example

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
WEIGHTS = DATA / "mlc" / "fashionmnist_cnn_params.npz"

pytestmark = pytest.mark.skipif(
    not (WEIGHTS.exists() and (DATA / "FashionMNIST" / "raw").exists()),
    reason=f"needs the shared data (course weights and Fashion-MNIST) at {DATA}",
)


def test_example_classifies_8388_of_10000_like_pytorch(capsys):
    example = load_example()
    assert example.main(["--data-root", str(DATA), "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "fx2relax accuracy: 8388/10000 = 0.8388" in out
    assert "PyTorch  accuracy: 8388/10000 = 0.8388" in out
    assert "predicted 'Ankle boot', true 'Ankle boot'" in out


def test_example_builds_a_short_last_batch(capsys):
    example = load_example()
    assert example.main(["--data-root", str(DATA), "--batch-size", "64", "--limit", "100"]) == 0
    assert "accuracy: " in capsys.readouterr().out


def test_plot_writes_16_images_with_titles(tmp_path, capsys):
    example = load_example()
    path = tmp_path / "predictions.png"
    assert example.main(["--data-root", str(DATA), "--limit", "16", "--plot", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
