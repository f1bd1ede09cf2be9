"""Part 3 of the detector, `classify`: no tumour / benign / malignant from the region features.

A small MLP on standardised features (weights and the standardisation saved as safetensors, so
a detector can be shared without pickles), trained by plain cross-entropy: the classes keep
their training frequencies, so the classifier maximises accuracy rather than balanced recall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.validate import at_least, positive, random_seed, whole

CLASSES = ("none", "benign", "malignant")


@dataclass(frozen=True)
class ClassifyConfig:
    """The classifier's size and training."""

    hidden: int = 64
    steps: int = 500  # 80 passes over the 1,600 held-out examples of the default data
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        whole("hidden", self.hidden, 1)
        whole("steps", self.steps, 1)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        at_least("weight_decay", self.weight_decay)
        random_seed("seed", self.seed)


class RegionClassifier(nn.Module):
    """Standardise, then a two-hidden-layer MLP: features (B, F) -> class logits (B, 3)."""

    mean: Tensor
    std: Tensor

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.mlp = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, len(CLASSES)),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.mlp((features - self.mean) / self.std)


def class_indices(names: np.ndarray) -> np.ndarray:
    """Class names -> indices into CLASSES (ValueError on an unknown name)."""
    lookup = {name: i for i, name in enumerate(CLASSES)}
    unknown = sorted(set(names.tolist()) - set(lookup))
    if unknown:
        raise ValueError(f"unknown tumour class {unknown[0]!r} (known: {', '.join(CLASSES)})")
    return np.array([lookup[n] for n in names], dtype=np.int64)


def train_classifier(
    features: np.ndarray, labels: np.ndarray, config: ClassifyConfig
) -> RegionClassifier:
    """Fit the MLP on (N, F) features and (N,) class indices."""
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = RegionClassifier(x.shape[1], config.hidden)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp_min(1e-3))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in range(config.steps):
        pick = torch.randint(x.shape[0], (min(config.batch_size, x.shape[0]),), generator=generator)
        loss = F.cross_entropy(model(x[pick]), y[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return model.eval()


@torch.no_grad()
def class_probabilities(model: RegionClassifier, features: np.ndarray) -> np.ndarray:
    """Class probabilities (N, 3) of region features (N, F)."""
    logits = model(torch.from_numpy(features.astype(np.float32)))
    return torch.softmax(logits, dim=1).numpy()
