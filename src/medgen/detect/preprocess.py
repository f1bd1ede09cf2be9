"""Part 1 of the detector, `preprocess`: brain mask, bias correction, denoising, normalisation.

Classical, unlearned steps (numpy/scipy), each a small function of one slice so that a failing
step can be looked at on its own:

- brain mask: Otsu threshold of the smoothed slice, closed, holes filled, every component of at
  least MIN_PART of the largest kept (low axial slices show the temporal lobes and cerebellar
  hemispheres apart from the brainstem; the largest component alone drops them, and the
  tumours in them: experiments/scenario/NOTES.md);
- bias correction: homomorphic, the log bias field taken as the mask-normalised Gaussian
  blur of log intensities (a smooth multiplicative field divides out; anatomy mostly stays);
- denoising: a small Gaussian blur (Rician noise at these levels is close to Gaussian inside
  the brain);
- normalisation: the brain's 99th intensity percentile maps to 1.

The perfect output that error analysis by parts substitutes is the clean slice (no noise, no
bias) under the true brain mask, normalised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from medgen.validate import at_least, in_range

EPS = 1e-6
MIN_PART = 0.05  # a brain component is kept when its area is at least this share of the largest


@dataclass(frozen=True)
class PreprocessConfig:
    """Knobs of the preprocessing part (pixels are those of the slice)."""

    mask_smooth_px: float = 1.0  # blur before thresholding the brain
    bias_scale_px: float = 8.0  # Gaussian scale of the bias-field estimate
    denoise_px: float = 0.7  # Gaussian denoising blur (0: none)
    percentile: float = 99.0  # brain intensity mapped to 1

    def __post_init__(self) -> None:
        at_least("mask_smooth_px", self.mask_smooth_px)
        at_least("bias_scale_px", self.bias_scale_px)
        at_least("denoise_px", self.denoise_px)
        in_range("percentile", self.percentile, 0.0, 100.0, open_low=True)


def brain_mask(image: np.ndarray, smooth_px: float = 1.0) -> np.ndarray:
    """Boolean (H, W) brain mask: Otsu on the smoothed slice, closed (a dark lesion at the brain's
    edge stays in), holes filled, components of at least MIN_PART of the largest kept."""
    smooth = ndimage.gaussian_filter(image.astype(np.float64), smooth_px)
    if np.ptp(smooth) < EPS:
        return np.zeros(image.shape, dtype=bool)
    above = np.pad(smooth > threshold_otsu(smooth), 2)  # padded: closing keeps the edges
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(above, iterations=2)[2:-2, 2:-2])
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(image.shape, dtype=bool)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= MIN_PART * sizes.max()) + 1
    return np.isin(labels, keep)


def masked_blur(values: np.ndarray, mask: np.ndarray, scale_px: float) -> np.ndarray:
    """Gaussian blur of `values` inside `mask` only (normalised convolution)."""
    weight = ndimage.gaussian_filter(mask.astype(np.float64), scale_px)
    blurred = ndimage.gaussian_filter(np.where(mask, values, 0.0), scale_px)
    return blurred / np.maximum(weight, EPS)


def bias_correct(image: np.ndarray, mask: np.ndarray, scale_px: float) -> np.ndarray:
    """Divide out a smooth multiplicative field: exp(blur(log image) - mean log) inside mask."""
    if scale_px <= 0 or mask.sum() < 2:
        return image
    log = np.log(np.maximum(image, EPS))
    field = masked_blur(log, mask, scale_px)
    field -= field[mask].mean()
    return np.where(mask, image / np.exp(field), image)


def normalise(image: np.ndarray, mask: np.ndarray, percentile: float) -> np.ndarray:
    """Scale so the brain's `percentile` intensity is 1; zero outside the mask."""
    if mask.sum() == 0:
        return np.zeros_like(image, dtype=np.float32)
    top = max(float(np.percentile(image[mask], percentile)), EPS)
    return np.where(mask, image / top, 0.0).astype(np.float32)


def preprocess_slice(image: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(preprocessed slice, brain mask) of one noisy slice (H, W) in [0, 1]."""
    mask = brain_mask(image, config.mask_smooth_px)
    x = image.astype(np.float64)
    if config.denoise_px > 0:
        x = masked_blur(x, mask, config.denoise_px) if mask.any() else x
    x = bias_correct(x, mask, config.bias_scale_px)
    return normalise(x, mask, config.percentile), mask


def perfect_slice(clean: np.ndarray, mask: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """What a perfect preprocessing would output: the clean slice, true mask, same scale."""
    mask = mask.astype(bool)
    return normalise(clean.astype(np.float64), mask, config.percentile)


def preprocess(images: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed slices (N, H, W) float32 and brain masks (N, H, W) bool."""
    out = np.empty(images.shape, dtype=np.float32)
    masks = np.empty(images.shape, dtype=bool)
    for i, image in enumerate(images):
        out[i], masks[i] = preprocess_slice(np.asarray(image), config)
    return out, masks


def perfect_preprocess(
    clean: np.ndarray, masks: np.ndarray, config: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The perfect outputs (N, H, W) for clean slices and true brain masks."""
    out = np.stack([perfect_slice(c, m, config) for c, m in zip(clean, masks, strict=True)])
    return out.astype(np.float32), masks.astype(bool)
