"""Render one slice of the plan: warp the template, draw the tumour, add bias and Rician noise."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from medgen.data.synth import libm
from medgen.data.synth.anatomy import Anatomy
from medgen.data.synth.config import LOCATIONS, DataConfig
from medgen.data.synth.fields import bias_field, rician, sampling_grid
from medgen.data.synth.tumour import draw_tumour


class Slice(NamedTuple):
    """Everything one rendered slice holds."""

    image: np.ndarray  # (H, W) float32 in [0, 1]: Rician(clean * bias)
    clean: np.ndarray  # (H, W) float32 in [0, 1]: no noise, no bias
    brain: np.ndarray  # (H, W) uint8
    tumour: np.ndarray  # (H, W) uint8
    oedema: np.ndarray  # (H, W) uint8
    structure: np.ndarray  # (H, W) bool: the tumour's location structure (not stored on disk)
    tumour_contrast: float
    enhancing: int  # 1 enhancing, 0 non-enhancing, -1 no tumour
    noise_sigma: float
    bias_strength: float


def render_slice(
    cfg: DataConfig,
    anatomy: Anatomy,
    t1_smoothed: np.ndarray,
    slice_index: int,
    location: str,
    tumour_type: str,
    seed: int,
) -> Slice:
    """Render one slice from its plan row; the same arguments always give the same bytes."""
    rng = np.random.default_rng(seed)
    size, fov = cfg.size, cfg.anatomy.field_of_view_mm
    pixel_mm = fov / size
    dx, dy = sampling_grid(rng, size, fov, cfg.anatomy)
    # MNI mm -> template voxel indices (unit spacing) along x and y.
    coords = np.stack(
        [
            dx + anatomy.centre_mm[0] - anatomy.origin_mm[0],
            dy + anatomy.centre_mm[1] - anatomy.origin_mm[1],
        ]
    )
    anatomy_image = ndimage.map_coordinates(t1_smoothed[slice_index], coords, order=1, cval=0.0)
    brain_soft = ndimage.map_coordinates(anatomy.brain[slice_index], coords, order=1, cval=0.0)
    brain = (brain_soft >= 0.5).astype(np.float32)

    gamma = rng.uniform(*cfg.intensity.gamma)
    contrast = rng.uniform(*cfg.intensity.contrast)
    clean = (contrast * libm.power_f32(np.clip(anatomy_image, 0.0, 1.0), gamma) * brain).astype(
        np.float32
    )

    tumour = np.zeros((size, size), bool)
    oedema = np.zeros((size, size), bool)
    tumour_contrast, enhancing = 0.0, -1
    region = np.zeros((size, size), bool)
    if location != "none":
        codes = ndimage.map_coordinates(anatomy.locations[slice_index], coords, order=0, cval=0)
        region = codes == LOCATIONS.index(location) + 1
        if not (region & (brain > 0)).any():  # warped out of view: fall back to the unwarped mask
            region = brain > 0
        enhances = bool(rng.uniform() >= cfg.tumour.p_non_enhancing(location))
        looks_benign = bool(rng.uniform() < cfg.tumour.malignant_looks_benign)
        look = "benign" if tumour_type == "malignant" and enhances and looks_benign else tumour_type
        drawn = draw_tumour(rng, clean, brain, region, look, enhances, pixel_mm, cfg.tumour)
        clean, tumour, oedema, tumour_contrast = (
            drawn.image,
            drawn.tumour,
            drawn.oedema,
            drawn.contrast,
        )
        enhancing = int(drawn.enhancing)

    strength = rng.uniform(*cfg.intensity.bias_strength)
    bias = bias_field(rng, size, fov, strength, cfg.intensity.bias_spacing_mm)
    sigma = rng.uniform(*cfg.noise.sigma)
    image = np.clip(rician(clean * bias, sigma, rng), 0.0, 1.0).astype(np.float32)
    return Slice(
        image=image,
        clean=clean,
        brain=brain.astype(np.uint8),
        tumour=tumour.astype(np.uint8),
        oedema=oedema.astype(np.uint8),
        structure=region,
        tumour_contrast=float(tumour_contrast),
        enhancing=enhancing,
        noise_sigma=float(sigma),
        bias_strength=float(strength),
    )
