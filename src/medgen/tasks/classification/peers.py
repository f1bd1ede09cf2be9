"""The diffusion classifier's peers: a supervised CNN on the same labels, and the detector.

The CNN is MONAI's `Classifier` (strided residual conv units, then a linear head) sized near
the diffusion U-Net's parameter count, trained by cross-entropy on the train split's labels for
a time budget, slices mirrored left-right at random (a lesion's look does not depend on the
hemisphere). The detector (`medgen.detect`) runs its own pipeline, preprocess -> extract ->
classify, on the same raw slices; its class order is `medgen.detect.classify.CLASSES`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import Classifier
from torch import nn

from medgen.detect.classify import class_probabilities
from medgen.detect.pipeline import Detector
from medgen.detect.preprocess import preprocess
from medgen.validate import positive, random_seed, whole

CNN_CHANNELS = (16, 32, 64, 128, 128)  # ~0.83 M parameters at 64 px, the U-Net has ~1.1 M


@dataclass(frozen=True)
class CNNConfig:
    """The supervised peer's size and training."""

    channels: tuple[int, ...] = CNN_CHANNELS  # one strided stage per entry
    seconds: float = 240.0  # training budget, wall clock
    max_steps: int = 100_000  # and at most this many steps
    batch_size: int = 32
    lr: float = 1e-3  # AdamW
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        positive("seconds", self.seconds)
        whole("max_steps", self.max_steps, 1)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        random_seed("seed", self.seed)


def cnn(size: int, n_classes: int, channels: tuple[int, ...] = CNN_CHANNELS) -> nn.Module:
    """MONAI Classifier: (B, 1, size, size) images in [0, 1] -> (B, n_classes) logits."""
    return Classifier((1, size, size), n_classes, channels, (2,) * len(channels))


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of `module`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def train_cnn(images: np.ndarray, labels: np.ndarray, n_classes: int, c: CNNConfig) -> nn.Module:
    """Fit the CNN on (N, H, W) images in [0, 1] and (N,) class indices within c's budget."""
    x = torch.from_numpy(np.asarray(images, np.float32))[:, None]  # (N, 1, H, W)
    y = torch.from_numpy(np.asarray(labels, np.int64))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        model = cnn(x.shape[-1], n_classes, c.channels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    generator = torch.Generator().manual_seed(c.seed)
    model.train()
    start = time.perf_counter()
    for _ in range(c.max_steps):
        if time.perf_counter() - start > c.seconds:
            break
        pick = torch.randint(len(x), (min(c.batch_size, len(x)),), generator=generator)
        flip = torch.rand(len(pick), generator=generator) < 0.5
        batch = torch.where(flip[:, None, None, None], x[pick].flip(-1), x[pick])
        loss = F.cross_entropy(model(batch), y[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return model.eval()


@torch.no_grad()
def cnn_probabilities(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, K) class probabilities of (N, H, W) images in [0, 1]."""
    x = torch.from_numpy(np.asarray(images, np.float32))[:, None]
    parts = [torch.softmax(model(b), 1) for b in x.split(batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)


def detector_probabilities(detector: Detector, images: np.ndarray) -> np.ndarray:
    """(N, 3) class probabilities (CLASSES order) of the detector's pipeline on raw slices."""
    pre, _ = preprocess(np.asarray(images, np.float32), detector.config.preprocess)
    prob, region, features = detector.run_extract(pre)
    return class_probabilities(detector.classifier, features, detector.windows(pre, prob, region))
