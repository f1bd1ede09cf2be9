"""Pictures of slices and their masks as (H, W, 3) uint8 arrays: grey windows, heat maps and
outlines. Every picture is scaled up by an integer factor (nearest neighbour) to about
DISPLAY_PX, so single pixels stay visible; outlines are drawn after scaling, one display pixel
wide."""

from __future__ import annotations

from typing import Any

import numpy as np

DISPLAY_PX = 256  # pictures are scaled up to about this many pixels a side
REGION_RGB = (0, 230, 0)
TRUTH_RGB = (255, 0, 255)

Array = np.ndarray[Any, Any]


def scale_factor(size: int) -> int:
    """The integer zoom that brings `size` pixels to about DISPLAY_PX."""
    return max(1, round(DISPLAY_PX / max(size, 1)))


def zoom(array: Array) -> Array:
    """Scale an (H, W[, C]) array up by `scale_factor` in both axes (nearest neighbour)."""
    k = scale_factor(max(array.shape[:2]))
    return np.repeat(np.repeat(array, k, axis=0), k, axis=1)


def grey(values: Array, low: float, high: float) -> Array:
    """(H, W) values windowed to [low, high] as an (H, W, 3) uint8 grey picture."""
    span = high - low if high > low else 1.0
    level = np.clip((np.asarray(values, dtype=np.float32) - low) / span, 0.0, 1.0)
    return np.repeat((level * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def robust_grey(values: Array) -> Array:
    """Grey picture of values of any range, windowed at their 1st and 99th percentiles."""
    finite = np.asarray(values, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return grey(np.zeros_like(values, dtype=np.float32), 0.0, 1.0)
    low, high = np.percentile(finite, [1, 99])
    return grey(np.nan_to_num(values), float(low), float(high))


def heat(values: Array) -> Array:
    """(H, W) uint8 0-255 probabilities on a black-red-yellow-white ramp, (H, W, 3) uint8."""
    p = np.asarray(values, dtype=np.float32) / 255.0
    rgb = np.stack([np.clip(3 * p, 0, 1), np.clip(3 * p - 1, 0, 1), np.clip(3 * p - 2, 0, 1)], -1)
    return (rgb * 255).round().astype(np.uint8)


def outline(mask: Array) -> Array:
    """The boundary pixels of a boolean (H, W) mask: in it, with a 4-neighbour outside it."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = (
        padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    )  # all four neighbours inside
    return mask & ~inner


def overlay(picture: Array, mask: Array, rgb: tuple[int, int, int]) -> Array:
    """`picture` zoomed, with the outline of the zoomed `mask` painted in `rgb`."""
    big = zoom(picture).copy()
    big[outline(zoom(np.asarray(mask) > 0))] = rgb
    return big


def draw_input(image: Array) -> Array:
    """The input slice, in [0, 1]."""
    return zoom(grey(image, 0.0, 1.0))


def draw_preprocessed(preprocessed: Array) -> Array:
    """The preprocessed slice, robustly windowed."""
    return zoom(robust_grey(preprocessed))


def draw_probability(probability: Array) -> Array:
    """The tumour-probability map as a heat map."""
    return zoom(heat(probability))


def draw_region(preprocessed: Array, region: Array) -> Array:
    """The extracted region's outline over the preprocessed slice."""
    return overlay(robust_grey(preprocessed), region, REGION_RGB)


def draw_truth(image: Array, tumour_mask: Array) -> Array:
    """The true tumour's outline over the input slice."""
    return overlay(grey(image, 0.0, 1.0), tumour_mask, TRUTH_RGB)
