"""What added tumours look like: their measurements, a likeness filter, and an audit row."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from medgen.detect.extract import FEATURES, region_features
from medgen.tasks.augment import GRAIN_SCALE_PX

MATCHED = ("log_area", "contrast", "rim_minus_core", "inside_std")  # what a kept example matches
GRAIN_GAP_PX = 5  # the grain's reference: tissue this far from the lesion, past the blur's reach
TISSUE = 0.05  # intensity above which a pixel counts as tissue for the grain's reference


def lesion_grain(image: np.ndarray, mask: np.ndarray) -> float:
    """How grainy the lesion is against the rest of its slice: the spread of the fine detail
    (image minus its GRAIN_SCALE_PX Gaussian blur) inside `mask`, over its spread on tissue
    more than GRAIN_GAP_PX from the lesion and 2 px inside the tissue's edge (anatomy's own
    edges are not grain). Near 1 for a lesion as smooth as the slice under its noise; a
    generator that paints its lesions with extra speckle scores well above 1, a texture no real
    tumour has and a detector could learn. NaN where the tissue around is flat or missing:
    nothing to compare with."""
    image = np.asarray(image, dtype=np.float64)  # so that a flat slice has no detail at all
    detail = image - ndimage.gaussian_filter(image, GRAIN_SCALE_PX)
    tissue = ndimage.binary_erosion(image > TISSUE, iterations=2)
    near = ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=GRAIN_GAP_PX)
    reference = tissue & ~near
    around = float(detail[reference].std()) if reference.sum() > 1 else 0.0
    return float(detail[mask].std()) / around if around > 1e-6 else float("nan")


def lesion_features(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, len(MATCHED) + 1) features of each example's masked tumour, MATCHED then its grain
    (NaN where no mask)."""
    columns = [FEATURES.index(name) for name in MATCHED]
    out = np.full((len(masks), len(MATCHED) + 1), np.nan)
    for i, (x, m) in enumerate(zip(images, masks, strict=True)):
        if m.any():
            out[i, :-1] = region_features(x, m.astype(np.float32), m)[columns]
            out[i, -1] = lesion_grain(x, m)
    return out


def closest_to_reference(
    candidates: np.ndarray, reference: np.ndarray, order: np.ndarray
) -> np.ndarray:
    """Indices of len(order) rows of `candidates` (features; NaN rows: no tumour) that look most
    like the rows of `reference`: reference rows, visited in `order`, each take the nearest
    candidate not yet taken, distances in units of the reference's spread per feature. A filter
    on what a generator makes, so an arm's added data match the slice's own tumours
    (`added.csv` is the check that they do)."""
    if len(order) > len(candidates):
        raise ValueError(f"{len(order)} wanted from {len(candidates)} candidates")
    scale = np.nanstd(reference, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)
    distance = np.linalg.norm((candidates[:, None, :] - reference[None, :, :]) / scale, axis=2)
    distance = np.where(np.isnan(distance), np.inf, distance)  # no tumour: taken last
    taken = np.zeros(len(candidates), dtype=bool)
    kept = []
    for j in order:
        ranked = np.argsort(np.where(taken, np.nan, distance[:, j]), kind="stable")  # NaN last
        kept.append(int(ranked[0]))
        taken[ranked[0]] = True
    return np.array(kept, dtype=np.int64)


def describe_examples(name: str, images: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    """What a set of (slice, mask) tumour examples looks like, to compare an arm's added data
    with the slice's real training tumours before trusting a retrained detector: the share
    with a tumour mask, then medians over those of the mask's area, how the tumour stands out
    from its ring, rim minus core, its grain (`lesion_grain`) and where it sits (rows and
    columns in [0, 1])."""
    with_mask = masks.any(axis=tuple(range(1, masks.ndim)))  # (N,), also for N = 0
    feats = np.full((1, len(FEATURES)), np.nan)
    if with_mask.any():
        pairs = zip(images[with_mask], masks[with_mask], strict=True)
        feats = np.stack([region_features(x, m.astype(np.float32), m) for x, m in pairs])
    median = dict(zip(FEATURES, np.median(feats, axis=0), strict=True))
    grain = [lesion_grain(x, m) for x, m in zip(images[with_mask], masks[with_mask], strict=True)]
    row: dict[str, Any] = {
        "examples": name,
        "n": len(masks),
        "with_mask": float(with_mask.mean()) if len(masks) else float("nan"),
        "area_px": float(np.expm1(median["log_area"])),
    }
    for feature in ("contrast", "rim_minus_core", "centroid_row", "centroid_col"):
        row[feature] = float(median[feature])
    row["grain"] = float(np.median(grain)) if grain else float("nan")
    return row
