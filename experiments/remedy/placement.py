"""Where a tumour taken from one slice goes in another: the same anatomy, found by matching.

The inpaint arm draws a tumour under a training tumour's mask into a healthy slice of about the
same level. Two brains never line up pixel for pixel: on the built-in data each slice's brain is
shifted (up to 6 mm, 2 px), turned and scaled on its own, and the brainstem is only about 7 by 8
px across. A mask copied at the same coordinates can land at the edge of the brainstem or on
the CSF beside it, where no brainstem tumour grows, and a detector that learns from such
tumours learns the wrong surroundings. Lesion-insertion studies register the donor scan to the
recipient for this reason; here a local registration is enough: the shift that best carries the
tumour's neighbourhood in its own slice onto the base slice (`anatomical_shift`). The
"inpaint-matched-placement" variant (`variants.py`) places its masks so; what it measured is
in experiments/remedy/NOTES.md.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

WINDOW_PX = 8  # half-side of the neighbourhood matched around a tumour
SEARCH_PX = 4  # the farthest a mask moves, per axis, to reach its anatomy in the base
LESION_RING_PX = 2  # the tumour and this ring around it are lesion, not anatomy: not matched
SMOOTH_PX = 1.0  # both slices are blurred this much first, so the noise does not match


def anatomical_shift(
    reference: np.ndarray,
    mask: np.ndarray,
    base: np.ndarray,
    window: int = WINDOW_PX,
    search: int = SEARCH_PX,
) -> tuple[tuple[int, int], float]:
    """((rows, cols), score): the shift within +-`search` px that best carries the neighbourhood
    of `mask` in `reference` onto `base`, and its normalised cross-correlation (1 a perfect
    match, 0 none). The neighbourhood is a (2 window + 1)^2 square around the mask's centre,
    the tumour and its LESION_RING_PX ring left out; ties go to the smallest shift. An empty
    mask or a flat neighbourhood gives ((0, 0), nan)."""
    if not mask.any():
        return (0, 0), float("nan")
    side = 2 * window + 1
    row, col = np.round(ndimage.center_of_mass(mask)).astype(int)
    pad = window + search
    ref = np.pad(ndimage.gaussian_filter(reference.astype(np.float64), SMOOTH_PX), pad)
    lesion = ndimage.binary_dilation(mask, iterations=LESION_RING_PX) if LESION_RING_PX else mask
    weight = np.pad((~lesion).astype(np.float64), pad)
    target = ref[row + search : row + search + side, col + search : col + search + side]
    w = weight[row + search : row + search + side, col + search : col + search + side]
    if w.sum() < 2:
        return (0, 0), float("nan")
    t = (target - (w * target).sum() / w.sum()) * w
    if np.sqrt((t**2).sum()) < 1e-9:
        return (0, 0), float("nan")
    moved = np.pad(ndimage.gaussian_filter(base.astype(np.float64), SMOOTH_PX), pad)
    area = moved[row : row + side + 2 * search, col : col + side + 2 * search]
    windows = sliding_window_view(area, (side, side))  # (2 search + 1, 2 search + 1, side, side)
    mean = (windows * w).sum(axis=(2, 3)) / w.sum()
    centred = (windows - mean[..., None, None]) * w
    norms = np.sqrt((centred**2).sum(axis=(2, 3))) * np.sqrt((t**2).sum())
    score = np.where(norms > 1e-9, (centred * t).sum(axis=(2, 3)) / np.maximum(norms, 1e-12), -1)
    offsets = np.arange(-search, search + 1)
    nearness = np.abs(offsets)[:, None] + np.abs(offsets)[None, :]
    order = np.lexsort((nearness.ravel(), -score.ravel()))  # best score, then smallest shift
    best = np.unravel_index(order[0], score.shape)
    return (int(offsets[best[0]]), int(offsets[best[1]])), float(score[best])


def shifted(mask: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """`mask` moved by whole pixels (rows, cols); what leaves the image is dropped."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    dr, dc = shift
    out[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = mask[
        max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : w + min(-dc, 0)
    ]
    return out


def placed_on_bases(
    references: np.ndarray, masks: np.ndarray, bases: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each mask moved to where its neighbourhood in its reference slice lies in its base slice
    (`anatomical_shift`); returns the moved masks and each match's score before and after as
    an (N, 2) array (the audit: how much better the tumours now sit)."""
    out = np.zeros_like(masks, dtype=bool)
    scores = np.full((len(masks), 2), np.nan)
    for i, (reference, mask, base) in enumerate(zip(references, masks, bases, strict=True)):
        shift, after = anatomical_shift(reference, mask, base)
        _, before = anatomical_shift(reference, mask, base, search=0)
        out[i] = shifted(mask, shift)
        scores[i] = before, after
    return out, scores
