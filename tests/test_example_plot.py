"""The example's --plot picture, drawn from made-up predictions (no data set needed)."""

import matplotlib.image
import torch

from tests.helpers import load_example


def test_titles_name_predicted_and_true_class_and_wrong_ones_are_red(tmp_path):
    example = load_example()
    images = torch.rand(20, 1, 28, 28)
    labels = torch.arange(20) % 10
    predictions = [int(label) for label in labels]
    predictions[3] = 0  # true class 3 (Dress), predicted T-shirt/top
    figure = example.plot_predictions(images, labels, predictions, tmp_path / "plot.png")
    titled = [axis for axis in figure.axes if axis.get_title()]
    assert len(titled) == 16
    assert titled[0].get_title() == "T-shirt/top\ntrue: T-shirt/top"
    assert titled[3].get_title() == "T-shirt/top\ntrue: Dress"
    assert [axis.title.get_color() for axis in titled].count("red") == 1 and titled[3].title.get_color() == "red"
    height, width = matplotlib.image.imread(tmp_path / "plot.png").shape[:2]
    assert (width, height) == (800, 900)
