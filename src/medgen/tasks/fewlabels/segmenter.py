"""The diffusion-feature segmenter: features of the labelled slices' pixels in, an MLP ensemble
out (`fit_segmenter`), and label maps of new slices from it (`segment`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from medgen.models import DiffusionModel
from medgen.tasks.fewlabels.features import FeatureSettings, diffusion_features
from medgen.tasks.fewlabels.pixels import PixelEnsemble, PixelSettings


@dataclass(frozen=True)
class SegmenterSettings:
    """Features, classifier, and how many labelled pixels the classifier is fitted on."""

    features: FeatureSettings = field(default_factory=FeatureSettings)
    pixels: PixelSettings = field(default_factory=PixelSettings)
    budget: int = 30_000  # training pixels at most: beyond it each slice gives budget / N
    batch: int = 16  # slices per denoiser call


class DiffusionSegmenter(NamedTuple):
    """A fitted segmenter: the model whose features it reads and the ensemble on them."""

    model: DiffusionModel
    ensemble: PixelEnsemble
    settings: SegmenterSettings


def _pick(labels: NDArray[np.uint8], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """k pixel indices of one flat label map, rarer classes drawn more often (weight
    1 / sqrt(count)), so a small lesion keeps pixels when a slice gives only a few."""
    if k >= labels.size:
        return np.arange(labels.size)
    counts = np.bincount(labels, minlength=int(labels.max()) + 1)
    weight = 1.0 / np.sqrt(counts[labels])
    return rng.choice(labels.size, k, replace=False, p=weight / weight.sum())


def fit_segmenter(
    model: DiffusionModel,
    images: NDArray[np.float32],
    maps: NDArray[np.uint8],
    classes: int,
    s: SegmenterSettings | None = None,
) -> DiffusionSegmenter:
    """Fit the pixel ensemble on labelled slices: images (N, H, W) in [0, 1], maps (N, H, W)."""
    s = s if s is not None else SegmenterSettings()
    rng = np.random.default_rng(s.pixels.seed)
    per_slice = max(1, s.budget // len(images))
    xs, ys = [], []
    for start in range(0, len(images), s.batch):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + s.batch]))
        found = diffusion_features(model, batch[:, None], s.features).cpu()  # (B, F, H, W)
        for feats, labels in zip(found, maps[start : start + s.batch], strict=True):
            flat = labels.reshape(-1)
            keep = _pick(flat, per_slice, rng)
            xs.append(feats.flatten(1)[:, keep].T)  # (k, F)
            ys.append(torch.from_numpy(flat[keep].astype(np.int64)))
    ensemble = PixelEnsemble(classes, s.pixels).fit(torch.cat(xs), torch.cat(ys))
    return DiffusionSegmenter(model, ensemble, s)


def segment(seg: DiffusionSegmenter, images: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Label maps (N, H, W) of images (N, H, W) in [0, 1]."""
    out = []
    for start in range(0, len(images), seg.settings.batch):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + seg.settings.batch]))
        found = diffusion_features(seg.model, batch[:, None], seg.settings.features).cpu()
        out.append(seg.ensemble.predict(found).numpy().astype(np.uint8))
    return np.concatenate(out)
