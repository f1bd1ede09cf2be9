"""A small convolutional image encoder: the backbone of feature extractors and classifiers."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import torch
from torch import Tensor, nn


def conv_stage(cin: int, cout: int) -> nn.Sequential:
    """Halve the resolution: a stride-2 conv, then a 3x3 conv, each with GroupNorm and SiLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1),
        nn.GroupNorm(min(8, cout), cout),
        nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(min(8, cout), cout),
        nn.SiLU(),
    )


def mean_pool(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C): the mean of each channel."""
    return x.mean(dim=(2, 3))


def mean_max_pool(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 2C): the mean of each channel, then its max."""
    return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


POOLS: dict[str, Callable[[Tensor], Tensor]] = {"mean": mean_pool, "meanmax": mean_max_pool}


class ConvEncoder(nn.Module):
    """Images (B, C, H, W) -> feature vectors (B, feature_dim).

    Stride-2 stages, then global pooling, so any image size that the stages can halve works; a
    final linear layer sets the feature dimension. `pool="meanmax"` concatenates the global mean
    and max of each channel: the max keeps a feature that fires on a few cells (a small lesion)
    from being averaged away.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 128),
        feature_dim: int = 128,
        pool: str = "mean",
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("ConvEncoder needs at least one stage width")
        if pool not in POOLS:
            raise ValueError(f"ConvEncoder pool must be one of {sorted(POOLS)}, got {pool!r}")
        chans = (in_channels, *widths)
        self.stages = nn.Sequential(*(conv_stage(a, b) for a, b in pairwise(chans)))
        self.pool = POOLS[pool]
        self.project = nn.Linear(widths[-1] * (2 if pool == "meanmax" else 1), feature_dim)
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        """Features (B, feature_dim) of images x (B, C, H, W)."""
        return self.project(self.pool(self.stages(x)))

    def forward_with_map(self, x: Tensor, stage: int) -> tuple[Tensor, Tensor]:
        """Features (B, feature_dim) and the map after `stage` stages (B, widths[stage-1], h, w).

        The map lets a training-only head supervise where the encoder looks (h = H / 2^stage).
        """
        inner = self.stages[:stage](x)
        return self.project(self.pool(self.stages[stage:](inner))), inner
