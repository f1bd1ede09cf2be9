"""A small convolutional image encoder: the backbone of feature extractors and classifiers."""

from __future__ import annotations

from itertools import pairwise

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


class ConvEncoder(nn.Module):
    """Images (B, C, H, W) -> feature vectors (B, feature_dim).

    Stride-2 stages, then global average pooling, so any image size that the stages can halve
    works; a final linear layer sets the feature dimension.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 128),
        feature_dim: int = 128,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("ConvEncoder needs at least one stage width")
        chans = (in_channels, *widths)
        self.stages = nn.Sequential(*(conv_stage(a, b) for a, b in pairwise(chans)))
        self.project = nn.Linear(widths[-1], feature_dim)
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        """Features (B, feature_dim) of images x (B, C, H, W)."""
        return self.project(self.stages(x).mean(dim=(2, 3)))
