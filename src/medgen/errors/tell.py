"""Can a classifier tell an arm's added tumours from real ones? A classifier two-sample test.

The remedy's audit (`describe_examples`) compares the medians of a few named features, and a
generator can match every one of them and still leave a tell: something its lesions share and
real ones lack, which a retrained detector then learns in place of the tumour (*Machine Learning
Yearning* ch. 43, synthetic data that looks real to us need not to the algorithm). The test of
Lopez-Paz & Oquab (2017, "Revisiting classifier two-sample tests") asks the question directly:
train a classifier to separate the two sets and measure its held-out accuracy. About 0.5 means
it cannot tell them apart; near 1 means there is a tell to find.

Here the classifier is linear, on a PATCH_PX square centred on each tumour: its intensities and
the size of their fine detail (what a lesion's grain or smoothness shows in). Centring keeps
position out of it; the audit's columns already say where the tumours sit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PATCH_PX = 16  # side of the square around each tumour the classifier sees
DETAIL_PX = 1.0  # Gaussian blur whose residual is the fine detail
FOLDS = 5
STRENGTH = 0.05  # inverse L2 strength of the logistic regression: few examples, many pixels
PARTS = ("intensity", "detail")  # what of each patch the classifier sees (`patch_features`)


def tumour_patches(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, PATCH_PX, PATCH_PX) squares of `images` centred on each mask's centre of mass
    (rounded to a pixel), zero past the image's edge. Every mask must hold a tumour."""
    half = PATCH_PX // 2
    out = np.zeros((len(images), PATCH_PX, PATCH_PX), dtype=np.float32)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        row, col = np.round(ndimage.center_of_mass(np.asarray(mask, dtype=bool))).astype(int)
        padded = np.pad(np.asarray(image, dtype=np.float32), half)
        out[i] = padded[row : row + PATCH_PX, col : col + PATCH_PX]  # padded: centre + half
    return out


def patch_features(patches: np.ndarray, parts: Sequence[str] = PARTS) -> np.ndarray:
    """(N, len(parts) PATCH_PX^2): each patch's "intensity", then the size of its fine "detail"
    (the residual of a DETAIL_PX blur), as `parts` asks."""
    blurred = ndimage.gaussian_filter(patches, sigma=(0, DETAIL_PX, DETAIL_PX))
    views = {"intensity": patches, "detail": np.abs(patches - blurred)}
    unknown = set(parts) - set(views)
    if unknown or not parts:
        raise ValueError(f"parts {list(parts)}: choose among {list(PARTS)}")
    return np.concatenate([views[p].reshape(len(patches), PATCH_PX**2) for p in parts], axis=1)


def told_apart(
    real: tuple[np.ndarray, np.ndarray],
    added: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
    parts: Sequence[str] = PARTS,
) -> float:
    """Held-out accuracy (FOLDS-fold, mean) of a linear classifier telling `added` (images,
    masks) from `real` tumours, on the patch features `parts` (`patch_features`; one part
    alone says where a tell lies); the larger set is subsampled to the smaller one's size, so
    chance is 0.5. Examples without a tumour are left out; NaN when either set has fewer than
    FOLDS tumours."""
    kept = [np.asarray(masks, dtype=bool).any(axis=(1, 2)) for _, masks in (real, added)]
    size = min(int(has.sum()) for has in kept)
    if size < FOLDS:
        return float("nan")
    sets = []
    for (images, masks), has in zip((real, added), kept, strict=True):
        patches = tumour_patches(np.asarray(images)[has], np.asarray(masks)[has])
        sets.append(patch_features(patches, parts))
    rng = np.random.default_rng(seed)
    sets = [s[np.sort(rng.choice(len(s), size, replace=False))] for s in sets]
    features = np.concatenate(sets)
    labels = np.repeat([0, 1], size)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=STRENGTH, max_iter=2000))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, features, labels, cv=folds).mean())
