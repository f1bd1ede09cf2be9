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
CHUNK = 64  # slices whose blurs run in one call (`preprocess`)
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
    return mask_of_smoothed(blur(image.astype(np.float64), smooth_px))


def blur(values: np.ndarray, scale_px: float) -> np.ndarray:
    """Gaussian blur of a slice (H, W), or of each slice of a stack (N, H, W) on its own: the
    same numbers either way (scipy skips an axis of scale 0), a stack in one call."""
    return ndimage.gaussian_filter(values, (0,) * (values.ndim - 2) + (scale_px, scale_px))


def mask_of_smoothed(smooth: np.ndarray) -> np.ndarray:
    """`brain_mask` of a slice (H, W) already smoothed."""
    if np.ptp(smooth) < EPS:
        return np.zeros(smooth.shape, dtype=bool)
    above = np.pad(smooth > threshold_otsu(smooth), 2)  # padded: closing keeps the edges
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(above, iterations=2)[2:-2, 2:-2])
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(smooth.shape, dtype=bool)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= MIN_PART * sizes.max()) + 1
    return np.isin(labels, keep)


def masked_blur(values: np.ndarray, mask: np.ndarray, scale_px: float) -> np.ndarray:
    """Gaussian blur of `values` inside `mask` only (normalised convolution); a slice (H, W)
    or a stack (N, H, W), each slice on its own."""
    weight = blur(mask.astype(np.float64), scale_px)
    blurred = blur(np.where(mask, values, 0.0), scale_px)
    return blurred / np.maximum(weight, EPS)


def bias_correct(image: np.ndarray, mask: np.ndarray, scale_px: float) -> np.ndarray:
    """Divide out a smooth multiplicative field: exp(blur(log image) - mean log) inside mask;
    a slice (H, W) or a stack (N, H, W), each slice on its own (one of under 2 brain pixels is
    left as it is)."""
    if scale_px <= 0:
        return image
    log = np.log(np.maximum(image, EPS))
    field = masked_blur(log, mask, scale_px)
    fields, masks = field.reshape(-1, *field.shape[-2:]), mask.reshape(-1, *mask.shape[-2:])
    small = masks.sum(axis=(1, 2)) < 2
    for one, inside, skip in zip(fields, masks, small, strict=True):
        if not skip:
            one -= one[inside].mean()  # a mean per slice, as a single slice's would be
    corrected = np.where(mask, image / np.exp(field), image)
    return np.where(small.reshape((*mask.shape[:-2], 1, 1)), image, corrected)


def normalise(image: np.ndarray, mask: np.ndarray, percentile: float) -> np.ndarray:
    """Scale so the brain's `percentile` intensity is 1; zero outside the mask."""
    if mask.sum() == 0:
        return np.zeros_like(image, dtype=np.float32)
    top = max(float(np.percentile(image[mask], percentile)), EPS)
    return np.where(mask, image / top, 0.0).astype(np.float32)


def preprocess_slice(image: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(preprocessed slice, brain mask) of one noisy slice (H, W) in [0, 1]."""
    out, mask = preprocess(image[None], config)
    return out[0], mask[0]


def preprocess(images: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed slices (N, H, W) float32 and brain masks (N, H, W) bool. The blurs run on
    CHUNK slices at a time (one call per slice spends a quarter of the time in call overhead;
    much larger stacks fall out of the cache); every slice gets the numbers it would get alone."""
    images = np.asarray(images)
    out = np.empty(images.shape, dtype=np.float32)
    masks = np.empty(images.shape, dtype=bool)
    for start in range(0, len(images), CHUNK):
        part = slice(start, start + CHUNK)
        out[part], masks[part] = preprocess_stack(images[part], config)
    return out, masks


def preprocess_stack(images: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """`preprocess` of a few slices (N, H, W), their blurs in one call each."""
    x = images.astype(np.float64)
    masks = np.stack([mask_of_smoothed(s) for s in blur(x, config.mask_smooth_px)])
    if config.denoise_px > 0:
        some = np.asarray(masks.any(axis=(1, 2)))[:, None, None]
        x = np.where(some, masked_blur(x, masks, config.denoise_px), x)
    x = bias_correct(x, masks, config.bias_scale_px)
    out = np.stack(
        [normalise(one, mask, config.percentile) for one, mask in zip(x, masks, strict=True)]
    )
    return out, masks


def perfect_slice(clean: np.ndarray, mask: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """What a perfect preprocessing would output: the clean slice, true mask, same scale."""
    mask = mask.astype(bool)
    return normalise(clean.astype(np.float64), mask, config.percentile)


def perfect_preprocess(
    clean: np.ndarray, masks: np.ndarray, config: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The perfect outputs (N, H, W) for clean slices and true brain masks."""
    out = np.stack([perfect_slice(c, m, config) for c, m in zip(clean, masks, strict=True)])
    return out.astype(np.float32), masks.astype(bool)
