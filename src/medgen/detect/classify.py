"""Part 3 of the detector, `classify`: no tumour / benign / malignant from the extracted region.

Two inputs, joined before the last layers: the region's standardised features (an MLP) and a
window of the slice around the region (a small CNN on three channels: the preprocessed slice,
the tumour probability and the region). Region features summarise a lesion by a dozen numbers,
which lose what tells a small lesion from background and a dark benign lesion from a dark
malignant one (experiments/scenario/NOTES.md); the window keeps the pixels. Weights and the
standardisation are saved as safetensors, so a detector can be shared without pickles. Training
is plain cross-entropy: the classes keep their training frequencies, so the classifier
maximises accuracy rather than balanced recall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.devices import in_layout
from medgen.validate import at_least, positive, random_seed, whole

CLASSES = ("none", "benign", "malignant")


@dataclass(frozen=True)
class ClassifyConfig:
    """The classifier's size and training."""

    hidden: int = 64
    window: int = 24  # side (px) of the window around the region the CNN sees; 0: features only
    steps: int = 500  # 80 passes over the 1,600 held-out examples of the default data
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        whole("hidden", self.hidden, 1)
        whole("window", self.window, 0)
        whole("steps", self.steps, 1)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        at_least("weight_decay", self.weight_decay)
        random_seed("seed", self.seed)


WINDOW_CHANNELS = 3  # preprocessed slice, tumour probability, region
WINDOW_WIDTH = 32  # channels of the window CNN's last layer


def window_cnn() -> nn.Module:
    """(B, 3, s, s) windows -> (B, WINDOW_WIDTH): three conv layers, two poolings, a mean."""
    return nn.Sequential(
        nn.Conv2d(WINDOW_CHANNELS, 16, 3, padding=1),
        nn.SiLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.SiLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, WINDOW_WIDTH, 3, padding=1),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class RegionClassifier(nn.Module):
    """Standardised features (B, F), and windows (B, 3, s, s) when `window` > 0 -> class logits
    (B, 3): the features' first layer and the windows' CNN, joined, then two layers."""

    mean: Tensor
    std: Tensor

    def __init__(self, n_features: int, hidden: int, window: int = 0) -> None:
        super().__init__()
        self.window = window
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.features_in = nn.Sequential(nn.Linear(n_features, hidden), nn.SiLU())
        self.cnn = window_cnn() if window else None
        joined = hidden + (WINDOW_WIDTH if window else 0)
        self.head = nn.Sequential(
            nn.Linear(joined, hidden), nn.SiLU(), nn.Linear(hidden, len(CLASSES))
        )

    def forward(self, features: Tensor, windows: Tensor | None = None) -> Tensor:
        h = self.features_in((features - self.mean) / self.std)
        if self.cnn is not None:
            if windows is None:
                raise ValueError("this classifier also reads the windows around the regions")
            h = torch.cat([h, self.cnn(windows)], dim=1)
        return self.head(h)


def region_windows(
    preprocessed: np.ndarray, probability: np.ndarray, region: np.ndarray, size: int
) -> np.ndarray:
    """(N, 3, size, size) float32 windows of the slices (N, H, W) centred on each region's
    centroid (on the most probable pixel where there is no region), zero outside the slice."""
    n, h, w = preprocessed.shape
    half = size // 2
    stack = np.stack([preprocessed, probability, region], axis=1).astype(np.float32)
    padded = np.pad(stack, ((0, 0), (0, 0), (half, half), (half, half)))
    out = np.empty((n, WINDOW_CHANNELS, size, size), dtype=np.float32)
    for i in range(n):
        rows, cols = np.nonzero(region[i])
        if rows.size:
            row, col = round(rows.mean()), round(cols.mean())
        else:
            row, col = np.unravel_index(int(np.argmax(probability[i])), (h, w))
        out[i] = padded[i, :, row : row + size, col : col + size]
    return out


def class_indices(names: np.ndarray) -> np.ndarray:
    """Class names -> indices into CLASSES (ValueError on an unknown name)."""
    lookup = {name: i for i, name in enumerate(CLASSES)}
    unknown = sorted(set(names.tolist()) - set(lookup))
    if unknown:
        raise ValueError(f"unknown tumour class {unknown[0]!r} (known: {', '.join(CLASSES)})")
    return np.array([lookup[n] for n in names], dtype=np.int64)


def train_classifier(
    features: np.ndarray,
    labels: np.ndarray,
    config: ClassifyConfig,
    windows: np.ndarray | None = None,
) -> RegionClassifier:
    """Fit the classifier on (N, F) features, with (N, 3, s, s) windows when config.window > 0,
    and (N,) class indices. Windows are mirrored left-right at random: a lesion's look does
    not depend on the hemisphere."""
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(labels)
    if config.window and windows is None:
        raise ValueError(f"config.window is {config.window}: the windows are needed")
    crops = None if not config.window else torch.from_numpy(np.asarray(windows, np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = RegionClassifier(x.shape[1], config.hidden, config.window)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp_min(1e-3))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    generator = torch.Generator().manual_seed(config.seed)
    in_layout(model, torch.channels_last)  # faster convolutions; saved in the default
    model.train()
    for _ in range(config.steps):
        pick = torch.randint(x.shape[0], (min(config.batch_size, x.shape[0]),), generator=generator)
        batch = None
        if crops is not None:
            batch = crops[pick]
            flip = torch.rand(len(pick), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            batch = batch.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x[pick], batch), y[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    in_layout(model, torch.contiguous_format)
    return model.eval()


@torch.no_grad()
def class_probabilities(
    model: RegionClassifier, features: np.ndarray, windows: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities (N, 3) of region features (N, F) and their windows (N, 3, s, s)."""
    crops = None if windows is None else torch.from_numpy(np.asarray(windows, np.float32))
    chunks = [
        torch.softmax(model(f, None if crops is None else crops[i : i + len(f)]), dim=1)
        for i, f in zip(
            range(0, len(features), 1024),
            torch.from_numpy(features.astype(np.float32)).split(1024),
            strict=True,
        )
    ]
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, len(CLASSES)), np.float32)
