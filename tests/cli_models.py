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


def winograd_conv() -> nn.Module:
    """A 3x3 conv with channels enough for compile's Winograd path (seeded weights)."""
    torch.manual_seed(0)
    return nn.Conv2d(32, 32, 3, padding=1).eval()


def opposite_infinities() -> torch.Tensor:
    """An input for winograd_conv where +inf and -inf meet in one Winograd tile: PyTorch's direct
    conv gives ±inf at outputs the Winograd transforms make NaN."""
    x = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(1))
    x[0, 0, 2, 2], x[0, 0, 2, 3] = float("inf"), float("-inf")
    return x
