"""Registration metrics on dense displacement fields (N, 2, H, W) in pixels, channels
(row, col), MONAI `Warp`'s convention: moving sampled at p + u(p) matches fixed at p."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medgen.data.synth.truth import TISSUES

NEAR_TUMOUR_PX = 3  # "near a tumour": within this many pixels of the tumour (mapped to fixed)


def endpoint_error(ddf: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N,) mean Euclidean distance |ddf - truth| in pixels over each mask's pixels (NaN if
    a mask is empty)."""
    error = np.linalg.norm(ddf - truth, axis=1)  # (N, H, W)
    m = mask.astype(bool)
    total = (error * m).sum(axis=(1, 2))
    count = m.sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def jacobian_determinant(ddf: np.ndarray) -> np.ndarray:
    """(N, H, W) det(I + grad u) by central differences (one-sided at the border)."""
    d_row = np.gradient(ddf, axis=2)  # (N, 2, H, W): d u / d row
    d_col = np.gradient(ddf, axis=3)
    return (1.0 + d_row[:, 0]) * (1.0 + d_col[:, 1]) - d_col[:, 0] * d_row[:, 1]


def folding_percent(ddf: np.ndarray) -> np.ndarray:
    """(N,) % of pixels whose Jacobian determinant is not positive (the map folds there)."""
    return 100.0 * (jacobian_determinant(ddf) <= 0).mean(axis=(1, 2))


def warp_nearest(images: np.ndarray, ddf: np.ndarray) -> np.ndarray:
    """(N, H, W) `images` sampled at p + ddf(p) by nearest neighbour (labels stay labels); 0
    outside the image."""
    h, w = images.shape[1:]
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(np.float64)
    return np.stack(
        [
            ndimage.map_coordinates(img, grid + u, order=0, mode="constant", cval=0)
            for img, u in zip(images, ddf, strict=True)
        ]
    )


def label_dice(warped: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """(N, len(TISSUES)) Dice of each tissue label 1..len(TISSUES) (NaN where both lack it)."""
    out = np.full((len(warped), len(TISSUES)), np.nan)
    for k in range(len(TISSUES)):
        a, b = warped == k + 1, fixed == k + 1
        both = a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))
        overlap = (a & b).sum(axis=(1, 2))
        out[:, k] = np.where(both > 0, 2.0 * overlap / np.maximum(both, 1), np.nan)
    return out


def near_tumour(moving_tumour: np.ndarray, truth: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(N, H, W) bool: fixed brain pixels whose true match in the moving image lies within
    NEAR_TUMOUR_PX of its tumour (the region where tumour tissue has no counterpart)."""
    mapped = warp_nearest(moving_tumour.astype(np.uint8), truth) > 0
    structure = ndimage.generate_binary_structure(2, 1)
    near = np.stack(
        [ndimage.binary_dilation(m, structure, NEAR_TUMOUR_PX) if m.any() else m for m in mapped]
    )
    return near & brain.astype(bool)
