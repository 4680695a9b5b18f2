"""Model factories for the command-line tests (`fx2relax inspect tests.cli_models:cnn ...`)."""

import torch
from torch import nn

from tests.helpers import course_cnn


def cnn() -> nn.Module:
    """The course CNN with seeded random weights (4 channels, to stay quick)."""
    return course_cnn(channels=4)


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return torch.relu(x) + y, torch.tanh(y)


def cumulative() -> nn.Module:
    """A model fx2relax refuses (torch.cumprod has no converter)."""
    return nn.Sequential(nn.ReLU(), nn.Identity()).append(_Cumsum())


class _Cumsum(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, dim=1)


SIZE = 3  # not callable


def not_a_module() -> list:
    return [nn.ReLU()]


def failing() -> nn.Module:
    raise RuntimeError("no weights here")
