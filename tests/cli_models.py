"""Model factories for the command-line tests (`fx2relax inspect tests.cli_models:cnn ...`)."""

import torch
from torch import nn


def cnn() -> nn.Module:
    """The FashionMNIST CNN's layers with seeded random weights (4 channels, to stay quick)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10), nn.Softmax(dim=1)
    )


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return torch.relu(x) + y, torch.tanh(y)


def cumulative() -> nn.Module:
    """A model fx2relax refuses (torch.cumsum has no converter)."""
    return nn.Sequential(nn.ReLU(), nn.Identity()).append(_Cumsum())


class _Cumsum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


SIZE = 3  # not callable


def not_a_module() -> list:
    return [nn.ReLU()]


def failing() -> nn.Module:
    raise RuntimeError("no weights here")
