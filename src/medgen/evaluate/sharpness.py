"""How sharp generated slices are beside real ones: the mean gradient magnitude over the head.

A feature-space distance can rank a blurry model well when its blur keeps the anatomy, so the
comparison measures blur directly. Each image's sharpness is the mean Sobel gradient magnitude
over its head (pixels whose 3x3 mean is above HEAD_LEVEL, where the edges of anatomy are; the
air around the head carries only noise). The head is read from the 3x3 mean, not the pixel, so
that noise does not lift background pixels into it: their noise-only gradients would pull a
noisy image's sharpness below the real slices' instead of above. A set's relative sharpness is
the mean over its images divided by the mean over real slices: 1 is as sharp as the real
slices, below 1 blurrier (a VAE's averaged detail), above 1 edgier than real (noise or
ringing). Its interval is a percentile bootstrap over both sets' images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

HEAD_LEVEL = 0.1  # intensity above which a pixel belongs to the head, data range [0, 1]
_SOBEL = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0


@dataclass(frozen=True)
class Sharpness:
    """Relative sharpness (fake mean / real mean) and its bootstrap interval."""

    value: float
    low: float
    high: float
    se: float = float("nan")  # standard error of the fake mean alone, in units of the real mean


def image_sharpness(images: Tensor | np.ndarray) -> np.ndarray:
    """Per image (N, [C,] H, W) in [0, 1]: the mean gradient magnitude over its head pixels
    (NaN for an image with none)."""
    x = torch.from_numpy(np.array(images, dtype=np.float32))  # a copy: inputs may be read-only
    if x.ndim == 3:
        x = x[:, None]
    x = x[:, :1].clamp(0, 1)  # the image channel (a joint model's mask channel is not an image)
    kernel = torch.stack([_SOBEL, _SOBEL.T])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    gradients = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
    magnitude = gradients.pow(2).sum(dim=1).sqrt()  # (N, H, W)
    local_mean = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    head = (local_mean[:, 0] > HEAD_LEVEL).float()
    counts = head.sum(dim=(1, 2))
    total = (magnitude * head).sum(dim=(1, 2))
    values = torch.where(counts > 0, total / counts.clamp_min(1), torch.nan)
    return values.numpy().astype(np.float64)


def relative_sharpness(
    fake: np.ndarray, real: np.ndarray, *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> Sharpness:
    """mean(fake) / mean(real) of per-image sharpness values, with a percentile bootstrap
    interval that resamples both sets (images with no head are left out)."""
    fake, real = fake[np.isfinite(fake)], real[np.isfinite(real)]
    if fake.size == 0 or real.size == 0 or real.mean() <= 0:
        return Sharpness(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    fake_means = fake[rng.integers(0, fake.size, (n_boot, fake.size))].mean(axis=1)
    real_means = real[rng.integers(0, real.size, (n_boot, real.size))].mean(axis=1)
    ratios = fake_means / real_means
    tail = 100 * (1 - level) / 2
    value = float(fake.mean() / real.mean())
    low, high = np.percentile(ratios, [tail, 100 - tail])
    # Two runs scored against one real set share its mean: the difference of their relative
    # sharpness varies only with their own images, whose spread this standard error carries.
    se = float(fake.std(ddof=1) / np.sqrt(fake.size) / real.mean()) if fake.size > 1 else 0.0
    return Sharpness(value, min(float(low), value), max(float(high), value), se)
