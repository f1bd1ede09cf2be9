"""Known damage done to a set of real slices, for checking that sample-quality metrics see it.

Each damage takes a set of real slices (`Slices`), a strength and a `Context` (unseen spare
slices to swap in, the training slices a memorising model would copy, a random generator) and
returns a damaged set of the same size. All damages share that one signature and are listed
in `DAMAGES`, with the strengths `STRENGTHS` gives in order of increasing damage:

- pixel damage: Gaussian blur (sigma in px), additive Gaussian noise (sigma in [0, 1] units),
  noise-textured blobs carrying each slice's own intensity histogram (the fraction of slices
  replaced), over the whole image or inside the brain mask;
- set damage: mode dropping (the fraction of one tumour type's or one location's slices
  replaced by unseen slices of other kinds: malignant tumours, cerebellar tumours, and
  brainstem tumours, the built-in scenario's rare location), mode collapse to k distinct
  slices, memorisation (the fraction of slices replaced by training slices), lesion removal
  (the fraction of tumour slices whose tumour and oedema are inpainted from the surrounding
  brain).

`meta` of a damaged set keeps each row's intended condition where a damage swaps images (mode
dropping, lesion removal), as a conditional model asked for that condition would; per-condition
metrics then compare what was asked for with what was made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage

from medgen.data.store import StoredDataset
from medgen.evaluate.sharpness import HEAD_LEVEL

BLOB_SMOOTHING = 3.0  # px: the std of the Gaussian that smooths white noise into blobs
INPAINT_SMOOTHING = 4.0  # px: the std of the normalised convolution that fills a lesion
LESION_MARGIN = 1  # px: a lesion mask is dilated by this much, so its rim goes with it


@dataclass(frozen=True)
class Slices:
    """A set of 2-D slices with what the damages need to know about each."""

    images: np.ndarray  # (N, H, W) float32 in [0, 1]
    meta: pd.DataFrame  # N rows, index 0..N-1: tumour_type, location, label, noise_sigma, ...
    brain: np.ndarray  # (N, H, W) bool
    lesion: np.ndarray  # (N, H, W) bool: tumour and oedema

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, rows: np.ndarray) -> Slices:
        """The slices at `rows`, in that order (repeats allowed)."""
        meta = self.meta.iloc[rows].reset_index(drop=True)
        return Slices(self.images[rows], meta, self.brain[rows], self.lesion[rows])

    def with_images(self, rows: np.ndarray, images: np.ndarray) -> Slices:
        """A copy whose `rows` hold `images` (one per row); meta and masks stay."""
        out = self.images.copy()
        out[rows] = images
        return Slices(out, self.meta, self.brain, self.lesion)

    def swapped(self, rows: np.ndarray, other: Slices, keep_meta: bool) -> Slices:
        """A copy whose `rows` hold `other`'s slices; their meta rows too unless keep_meta."""
        images, brain, lesion = self.images.copy(), self.brain.copy(), self.lesion.copy()
        images[rows], brain[rows], lesion[rows] = other.images, other.brain, other.lesion
        if keep_meta:
            return Slices(images, self.meta, brain, lesion)
        both = pd.concat([self.meta, other.meta[self.meta.columns]], ignore_index=True)
        pick = np.arange(len(self))
        pick[rows] = len(self) + np.arange(len(rows))
        return Slices(images, both.iloc[pick].reset_index(drop=True), brain, lesion)


def read_slices(store: StoredDataset, ids: np.ndarray) -> Slices:
    """Slices `ids` of a stored dataset, with their masks: without a brain mask the head
    (pixels above HEAD_LEVEL) stands in for it; without lesion masks no slice has a lesion."""
    ids = np.asarray(ids)
    images = np.asarray(store.array("images")[ids], dtype=np.float32)
    arrays = store.arrays
    if "brain_mask" in arrays:
        brain = np.asarray(store.array("brain_mask")[ids]) > 0
    else:
        brain = images > HEAD_LEVEL
    lesion = np.zeros_like(brain)
    for name in ("tumour_mask", "oedema_mask"):
        if name in arrays:
            lesion |= np.asarray(store.array(name)[ids]) > 0
    return Slices(images, store.meta.loc[ids].reset_index(drop=True), brain, lesion)


class Context(NamedTuple):
    """What a damage may draw on besides the set it damages."""

    spare: Slices  # unseen real slices, disjoint from the set: replacements
    train: Slices  # training slices: what a memorising model copies
    rng: np.random.Generator


Damage = Callable[[Slices, float, Context], Slices]


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (N, H, W) images with std `sigma` px (edges replicated)."""
    return ndimage.gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="nearest")


def add_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """images + N(0, sigma^2) per pixel, clipped to [0, 1]."""
    noisy = images + rng.normal(0.0, sigma, images.shape).astype(images.dtype)
    return np.clip(noisy, 0.0, 1.0)


def histogram_blob(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` with its `region` pixels rearranged into smoothed-noise blobs: the region's own
    intensities, assigned in the rank order of Gaussian noise smoothed by BLOB_SMOOTHING px."""
    field = ndimage.gaussian_filter(rng.standard_normal(image.shape), BLOB_SMOOTHING)
    out = image.copy()
    values = np.sort(image[region])
    ranks = np.argsort(np.argsort(field[region], kind="stable"), kind="stable")
    out[region] = values[ranks]
    return out


def inpaint(image: np.ndarray, hole: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`image` with `hole` filled by a normalised convolution of the `source` pixels: a
    Gaussian-weighted mean of the nearby source intensities, widened until every hole pixel
    has source pixels in reach."""
    out = image.copy()
    if not hole.any():
        return out
    weight_source = source.astype(np.float64)
    sigma = INPAINT_SMOOTHING
    while True:
        weights = ndimage.gaussian_filter(weight_source, sigma, mode="constant")
        sums = ndimage.gaussian_filter(image * weight_source, sigma, mode="constant")
        if (weights[hole] > 1e-6).all() or sigma > max(image.shape):
            break
        sigma *= 2
    out[hole] = (sums[hole] / np.maximum(weights[hole], 1e-12)).astype(image.dtype)
    return out


def blurred(base: Slices, sigma: float, context: Context) -> Slices:
    """Every slice blurred by a Gaussian of std `sigma` px."""
    return base.with_images(np.arange(len(base)), blur(base.images, sigma))


def noisy(base: Slices, sigma: float, context: Context) -> Slices:
    """Every slice with additive Gaussian noise of std `sigma` (clipped to [0, 1])."""
    return base.with_images(np.arange(len(base)), add_noise(base.images, sigma, context.rng))


def blobs(base: Slices, fraction: float, context: Context, *, in_brain: bool) -> Slices:
    """A `fraction` of the slices replaced by blobs carrying the slice's own histogram: over the
    whole image, or (in_brain) inside its brain mask with the background kept."""
    rows = chosen(len(base), fraction, context.rng)
    made = [
        histogram_blob(
            base.images[i],
            base.brain[i] if in_brain else np.ones_like(base.brain[i]),
            context.rng,
        )
        for i in rows
    ]
    return base.with_images(rows, np.stack(made) if made else base.images[rows])


def dropped(base: Slices, fraction: float, context: Context, *, column: str, value: str) -> Slices:
    """A `fraction` of the slices whose meta `column` is `value` replaced by unseen slices of
    other values (meta keeps the intended value)."""
    mode = np.flatnonzero(base.meta[column].astype(str).to_numpy() == value)
    rows = mode[chosen(mode.size, fraction, context.rng)]
    others = np.flatnonzero(context.spare.meta[column].astype(str).to_numpy() != value)
    if others.size < rows.size:
        raise ValueError(f"{rows.size} slices to replace but {others.size} spare ones")
    swap = context.rng.choice(others, size=rows.size, replace=False)
    return base.swapped(rows, context.spare.take(swap), keep_meta=True)


def collapsed(base: Slices, k: float, context: Context) -> Slices:
    """The set made of `k` distinct slices of it, each repeated (mode collapse)."""
    n = len(base)
    if not 1 <= int(k) <= n:
        raise ValueError(f"mode collapse needs 1 <= k <= {n}, got {k}")
    keep = context.rng.choice(n, size=int(k), replace=False)
    return base.take(keep[context.rng.permutation(n) % int(k)])


def copied(base: Slices, fraction: float, context: Context) -> Slices:
    """A `fraction` of the slices replaced by distinct training slices (memorisation)."""
    rows = chosen(len(base), fraction, context.rng)
    if rows.size > len(context.train):
        raise ValueError(f"{rows.size} slices to copy but {len(context.train)} training ones")
    source = context.rng.choice(len(context.train), size=rows.size, replace=False)
    return base.swapped(rows, context.train.take(source), keep_meta=False)


def lesions_removed(base: Slices, fraction: float, context: Context) -> Slices:
    """A `fraction` of the slices with a lesion get it inpainted from the surrounding brain,
    with Gaussian noise of the slice's noise level (meta keeps the intended tumour)."""
    with_lesion = np.flatnonzero(base.lesion.any(axis=(1, 2)))
    rows = with_lesion[chosen(with_lesion.size, fraction, context.rng)]
    sigma = base.meta["noise_sigma"].to_numpy(dtype=np.float64)
    made = []
    for i in rows:
        hole = ndimage.binary_dilation(base.lesion[i], iterations=LESION_MARGIN) & base.brain[i]
        filled = inpaint(base.images[i], hole, base.brain[i] & ~hole)
        noise = context.rng.normal(0.0, sigma[i] if np.isfinite(sigma[i]) else 0.0, hole.sum())
        filled[hole] = np.clip(filled[hole] + noise, 0.0, 1.0)
        made.append(filled)
    return base.with_images(rows, np.stack(made) if made else base.images[rows])


def chosen(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """round(fraction * n) distinct indices of range(n), sorted."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a damaged fraction lies in [0, 1], got {fraction}")
    return np.sort(rng.choice(n, size=round(fraction * n), replace=False))


DAMAGES: dict[str, Damage] = {
    "blur": blurred,
    "noise": noisy,
    "blobs": partial(blobs, in_brain=False),
    "brain blobs": partial(blobs, in_brain=True),
    "drop type": partial(dropped, column="tumour_type", value="malignant"),
    "drop location": partial(dropped, column="location", value="cerebellum"),
    "drop brainstem": partial(dropped, column="location", value="brainstem"),
    "collapse": collapsed,
    "copy": copied,
    "no lesions": lesions_removed,
}
STRENGTHS: dict[str, tuple[float, ...]] = {  # in order of increasing damage
    "blur": (0.5, 1.0, 1.5, 2.0),  # std, px
    "noise": (0.01, 0.02, 0.04, 0.08),  # std, intensity units of the [0, 1] range
    "blobs": (0.25, 0.5, 1.0),  # fraction of slices
    "brain blobs": (0.25, 0.5, 1.0),
    "drop type": (0.33, 0.67, 1.0),  # fraction of the malignant slices
    "drop location": (0.33, 0.67, 1.0),  # fraction of the cerebellum slices
    "drop brainstem": (0.33, 0.67, 1.0),
    "collapse": (200, 50, 10, 2),  # distinct slices left
    "copy": (0.25, 0.5, 0.75, 1.0),  # fraction of slices
    "no lesions": (0.33, 0.67, 1.0),  # fraction of the slices with a lesion
}
