"""Tumours drawn on a slice: benign (ovoid, homogeneous, sharp) or malignant (irregular margin,
enhancing rim around a necrotic core, heterogeneous, surrounding oedema). T1 post-contrast look."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from medgen.data.synth import libm
from medgen.data.synth.config import TumourConfig
from medgen.data.synth.fields import smooth_field


class Tumour(NamedTuple):
    """A tumour drawn on a clean slice."""

    image: np.ndarray  # (H, W) float32, the clean slice with the tumour
    tumour: np.ndarray  # (H, W) bool
    oedema: np.ndarray  # (H, W) bool, disjoint from `tumour`
    contrast: float  # how far it stands out from the nearby tissue, [0, 1] units
    enhancing: bool  # False: a diffuse, T1-hypointense, non-enhancing tumour


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A sample whose log is uniform on [log low, log high]."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def pick_centre(
    rng: np.random.Generator, region: np.ndarray, radius: float
) -> tuple[int, int, float]:
    """A centre inside `region`, preferring pixels at least `radius/2` from its edge; returns
    (row, col, distance to the edge) so the caller can keep the tumour mostly inside."""
    depth = ndimage.distance_transform_edt(region)
    wanted = depth >= max(1.0, radius / 2)
    candidates = np.flatnonzero(wanted) if wanted.any() else np.flatnonzero(depth == depth.max())
    flat = int(candidates[rng.integers(len(candidates))])
    row, col = divmod(flat, region.shape[1])
    return row, col, float(depth[row, col])


def signed_distance(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius: float,
    rng: np.random.Generator,
    aspect: float,
    irregularity: float,
) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to a rotated ovoid whose radius is
    modulated by angular harmonics k = 2..5 (a lobulated margin when irregularity > 0)."""
    rows, cols = np.indices(shape, dtype=np.float64)
    dy, dx = rows - centre[0], cols - centre[1]
    angle = rng.uniform(0, np.pi)
    cos, sin = math.cos(angle), math.sin(angle)
    u = (dx * cos + dy * sin) / aspect
    v = -dx * sin + dy * cos
    rho, theta = np.hypot(u, v), libm.arctan2(v, u)
    edge = np.ones_like(theta)
    for k in range(2, 6):
        edge += (
            irregularity
            * rng.standard_normal()
            / k
            * libm.cos(k * theta + rng.uniform(0, 2 * np.pi))
        )
    edge = np.maximum(edge, 0.35)
    return radius * (rho / (radius * edge) - 1.0)


def draw_tumour(
    rng: np.random.Generator,
    clean: np.ndarray,
    brain: np.ndarray,
    region: np.ndarray,
    kind: str,
    enhancing: bool,
    pixel_mm: float,
    cfg: TumourConfig,
) -> Tumour:
    """Draw one tumour of `kind` centred in `region` (a location mask) on the brain of `clean`."""
    malignant = kind == "malignant"
    radius_range = cfg.malignant_radius_mm if malignant else cfg.benign_radius_mm
    radius = log_uniform(rng, *radius_range) / pixel_mm
    row, col, depth = pick_centre(rng, region & (brain > 0), radius)
    radius = max(0.6, min(radius, depth + 0.5))  # keep it mostly inside its structure
    aspect = rng.uniform(0.65, 1.0)
    irregularity = cfg.irregularity if malignant else 0.0
    sd = signed_distance(clean.shape, (row, col), radius, rng, aspect, irregularity)

    # Enhancement is measured from the brightest nearby tissue (90th percentile within 2 px of
    # the margin), so `contrast` is how far the tumour stands out, not how it compares to grey.
    near = np.hypot(*np.indices(clean.shape) - np.array([[[row]], [[col]]])) <= radius + 2
    local = clean[near & (brain > 0)]
    tissue = float(np.mean(local)) if local.size else float(clean[row, col])
    bright = float(np.percentile(local, 90)) if local.size else tissue
    contrast_range = cfg.contrast if enhancing else cfg.non_enhancing_contrast[kind]
    contrast = log_uniform(rng, *contrast_range)

    if not enhancing and not malignant:
        # Focal, non-enhancing and T1-hypointense, like a low-grade glioma: a sharp margin and a
        # homogeneous, milder loss of the infiltrated tissue's signal.
        weight = np.clip(0.5 - sd / 0.8, 0.0, 1.0)
        value = clean * (1.0 - contrast)
    elif not enhancing:
        # Diffuse, non-enhancing and T1-hypointense, like a diffuse midline glioma of the pons:
        # a soft infiltrative margin, faintly textured, the signal of the tissue it infiltrates
        # cut by the fraction `contrast`. Relative to that tissue, not to the local mean (which
        # takes in the CSF around a small structure such as the pons, so the lesion came out
        # barely darker than the pons), and above the background (a lesion as dark as CSF at
        # the brain's edge reads as outside the brain): experiments/scenario/NOTES.md.
        weight = 1.0 / (1.0 + libm.exp(sd / 0.9))
        texture = 0.2 * smooth_field(rng, clean.shape[0], max(3, clean.shape[0] // 6))
        value = clean * np.clip(1.0 - contrast * (1.0 + texture), 0.0, 1.0)
    elif malignant:
        # Infiltrative margin (soft), heterogeneous enhancing rim, dark necrotic core.
        weight = 1.0 / (1.0 + libm.exp(sd / 0.6))
        rim = max(1.0, cfg.rim_fraction * radius)
        in_core = 1.0 / (1.0 + libm.exp((sd + rim) / 0.5))
        texture = 0.35 * smooth_field(rng, clean.shape[0], max(3, clean.shape[0] // 6))
        value = (bright + contrast * (1.0 + texture)) * (1.0 - in_core) + (
            tissue - 0.9 * contrast
        ) * in_core
    else:
        # Sharp margin (anti-aliased over about one pixel), homogeneous enhancement.
        weight = np.clip(0.5 - sd / 0.8, 0.0, 1.0)
        value = np.full(clean.shape, bright + contrast)
    if malignant:
        oedema_scale = rng.uniform(*cfg.oedema_factor)
        sd_oedema = signed_distance(
            clean.shape, (row, col), oedema_scale * radius, rng, aspect, cfg.irregularity
        )
        oedema_weight = (1.0 / (1.0 + libm.exp(sd_oedema / 1.2))) * (1.0 - weight)
    else:
        oedema_weight = np.zeros(clean.shape)

    weight = weight * brain
    oedema_weight = oedema_weight * brain
    image = clean * (1.0 - weight) + weight * value
    image = image - cfg.oedema_contrast * contrast * oedema_weight * (image > 0)
    tumour = weight >= 0.5
    if not tumour.any():  # a sub-pixel tumour still occupies its centre pixel
        tumour[row, col] = True
    oedema = (oedema_weight >= 0.5) & ~tumour & (brain > 0)
    return Tumour(np.clip(image, 0.0, 1.0).astype(np.float32), tumour, oedema, contrast, enhancing)
