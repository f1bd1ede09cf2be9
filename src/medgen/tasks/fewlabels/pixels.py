"""An ensemble of small MLPs that label pixels from their feature vectors.

Baranchuk et al. 2022, sec. 3: each pixel's concatenated diffusion features go through an MLP
(two hidden layers, ReLU, batch norm); several MLPs from different seeds vote by averaging
their class probabilities. Features are standardised with the training pixels' statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class PixelSettings:
    """The ensemble's size, width and training."""

    members: int = 3  # MLPs averaged (Baranchuk: 10)
    hidden: tuple[int, int] = (64, 32)  # widths of the two hidden layers (Baranchuk: 256, 128)
    steps: int = 500  # optimiser steps of each MLP, however many pixels there are
    batch: int = 1024  # pixels per step
    lr: float = 1e-3  # Adam's step size
    seed: int = 0


def pixel_mlp(features: int, classes: int, hidden: tuple[int, int]) -> nn.Sequential:
    """features -> hidden -> hidden -> class logits, ReLU and batch norm between."""
    a, b = hidden
    return nn.Sequential(
        nn.Linear(features, a),
        nn.ReLU(),
        nn.BatchNorm1d(a),
        nn.Linear(a, b),
        nn.ReLU(),
        nn.BatchNorm1d(b),
        nn.Linear(b, classes),
    )


class PixelEnsemble:
    """fit(features (P, F), labels (P,)) learns the MLPs; predict((B, F, H, W)) labels pixels."""

    def __init__(self, classes: int, s: PixelSettings | None = None) -> None:
        self.classes = classes
        self.settings = s if s is not None else PixelSettings()

    def fit(self, features: Tensor, labels: Tensor) -> PixelEnsemble:
        s = self.settings
        self.mean_ = features.mean(0)
        self.std_ = features.std(0).clamp_min(1e-6)
        x = (features - self.mean_) / self.std_  # (P, F)
        y = labels.long()
        self.members_ = []
        for k in range(s.members):
            generator = torch.Generator().manual_seed(s.seed * 1000 + k)
            torch.manual_seed(s.seed * 1000 + k)  # the layers' initial weights
            mlp = pixel_mlp(x.shape[1], self.classes, s.hidden)
            opt = torch.optim.Adam(mlp.parameters(), lr=s.lr)
            mlp.train()
            for _ in range(s.steps):
                rows = torch.randint(len(x), (max(2, s.batch),), generator=generator)
                loss = F.cross_entropy(mlp(x[rows]), y[rows])  # batch norm needs 2+ rows
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.members_.append(mlp.eval())
        return self

    @torch.no_grad()
    def probabilities(self, features: Tensor) -> Tensor:
        """Features (B, F, H, W) -> the members' mean class probabilities (B, C, H, W)."""
        b, f, h, w = features.shape
        x = (features.permute(0, 2, 3, 1).reshape(-1, f) - self.mean_) / self.std_  # (BHW, F)
        p = torch.stack([m(x).softmax(-1) for m in self.members_]).mean(0)  # (BHW, C)
        return p.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def predict(self, features: Tensor) -> Tensor:
        """Features (B, F, H, W) -> class indices (B, H, W)."""
        return self.probabilities(features).argmax(1)
