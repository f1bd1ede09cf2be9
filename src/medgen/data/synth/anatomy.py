"""Real anatomy: nilearn's MNI152 T1 template, its brain mask, and a location atlas.

Locations are drawn from MNI coordinates (mm) on the brain mask; each voxel gets at most one
location, in the priority order of `_RULES`. Only axial slices are used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgen.data.synth.config import LOCATIONS

# Template intensity (fraction of peak) below which a voxel is CSF (ventricles), not deep grey.
_CSF_LEVEL = 0.45
# Intensity scale: the template's brightest tissue maps here, leaving headroom for tumours and bias.
TEMPLATE_PEAK = 0.85


@dataclass(frozen=True)
class Anatomy:
    """Axial template slices and maps, (Z, X, Y) at 1 mm, with voxel -> mm offsets."""

    t1: np.ndarray  # (Z, X, Y) float32 in [0, TEMPLATE_PEAK]
    brain: np.ndarray  # (Z, X, Y) float32 in {0, 1}
    locations: np.ndarray  # (Z, X, Y) uint8: 0 none, i + 1 for LOCATIONS[i]
    z_mm: np.ndarray  # (Z,) MNI z of each kept slice
    origin_mm: tuple[float, float]  # MNI (x, y) of voxel (0, 0)
    centre_mm: tuple[float, float]  # MNI (x, y) of the brain's centre

    def valid_slices(
        self, location: str, min_area_mm2: float, small_share: float = 1.0
    ) -> np.ndarray:
        """Indices of the kept slices in which `location` covers at least `min_area_mm2`, or,
        for a structure whose largest cross-section is smaller, `small_share` of that."""
        code = LOCATIONS.index(location) + 1
        area = (self.locations == code).sum(axis=(1, 2))
        return np.flatnonzero(area >= min(min_area_mm2, small_share * area.max()))


def _location_rules(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, tissue: np.ndarray
) -> dict[str, np.ndarray]:
    """Boolean masks in MNI mm, before the brain mask and priorities are applied."""
    # Brainstem: an elliptic column on the midline from the medulla (z -60) to the midbrain (z -5),
    # bending backwards below the pons.
    y_axis = -24.0 + np.minimum(z + 35.0, 0.0) * 0.6
    brainstem = (z >= -60) & (z <= -4) & ((x / 11.0) ** 2 + ((y - y_axis) / 13.0) ** 2 <= 1.0)
    # Cerebellum: behind the brainstem and below the tentorium, which slopes down posteriorly.
    tentorium = -6.0 + np.minimum(y + 45.0, 0.0) * 0.35
    cerebellum = (y < -38) & (z < tentorium) & (z > -75) & (np.abs(x) < 58)
    deep_box = (np.abs(x) >= 5) & (np.abs(x) <= 32) & (y >= -36) & (y <= 24)
    # Deep grey: basal ganglia and thalami (with the capsules between them), ventricles excluded.
    deep_grey = deep_box & (z >= -8) & (z <= 22) & tissue
    temporal = (np.abs(x) >= 28) & (y >= -68) & (y <= 28) & (z >= -50) & (z <= 6)
    occipital = y < -70
    frontal = y >= -16
    parietal = (y < -16) & (y >= -70) & (z > 6)
    return {
        "brainstem": brainstem,
        "cerebellum": cerebellum,
        "deep_grey": deep_grey,
        "temporal": temporal,
        "occipital": occipital,
        "frontal": frontal,
        "parietal": parietal,
    }


def location_atlas(brain: np.ndarray, tissue: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Integer atlas (X, Y, Z) uint8 of LOCATIONS on the brain mask, by the MNI rules above."""
    i, j, k = np.meshgrid(*(np.arange(n) for n in brain.shape), indexing="ij", sparse=True)
    x = affine[0, 0] * i + affine[0, 3]
    y = affine[1, 1] * j + affine[1, 3]
    z = affine[2, 2] * k + affine[2, 3]
    rules = _location_rules(x, y, z, tissue)
    atlas = np.zeros(brain.shape, np.uint8)
    for name, mask in rules.items():  # dict order is the priority order
        free = (atlas == 0) & brain & mask
        atlas[free] = LOCATIONS.index(name) + 1
    return atlas


@functools.lru_cache(maxsize=1)
def load_anatomy(min_brain_fraction: float) -> Anatomy:
    """Load the MNI152 template (1 mm, 197x233x189) from nilearn's package data; no network."""
    from nilearn import datasets  # heavy import, kept local

    t1_img = datasets.load_mni152_template(resolution=1)
    affine = t1_img.affine
    if not np.allclose(np.diag(affine)[:3], 1.0):
        raise RuntimeError("expected nilearn's 1 mm RAS MNI152 template")
    t1 = np.asarray(t1_img.get_fdata(), np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata()) > 0.5
    brain = ndimage.binary_fill_holes(brain)
    tissue = t1 >= _CSF_LEVEL * np.percentile(t1[brain], 99.5)
    atlas = location_atlas(brain, tissue, affine)

    area = brain.sum(axis=(0, 1))
    keep = np.flatnonzero(area >= min_brain_fraction * area.max())
    peak = np.percentile(t1[brain], 99.5)
    t1 = np.clip(t1 / peak, 0.0, 1.0) * TEMPLATE_PEAK * brain

    xs, ys = np.nonzero(brain.any(axis=2))
    centre = (
        float(affine[0, 3] + (xs.min() + xs.max()) / 2),
        float(affine[1, 3] + (ys.min() + ys.max()) / 2),
    )
    return Anatomy(
        t1=np.ascontiguousarray(np.moveaxis(t1[:, :, keep], 2, 0)),
        brain=np.ascontiguousarray(np.moveaxis(brain[:, :, keep], 2, 0).astype(np.float32)),
        locations=np.ascontiguousarray(np.moveaxis(atlas[:, :, keep], 2, 0)),
        z_mm=affine[2, 3] + keep.astype(np.float64),
        origin_mm=(float(affine[0, 3]), float(affine[1, 3])),
        centre_mm=centre,
    )


@functools.lru_cache(maxsize=4)
def smoothed_t1(min_brain_fraction: float, pixel_mm: float) -> np.ndarray:
    """The template slices low-pass filtered in-plane for sampling at `pixel_mm` (anti-aliasing)."""
    anatomy = load_anatomy(min_brain_fraction)
    sigma = 0.42 * pixel_mm if pixel_mm > 1.0 else 0.0  # Gaussian matched to the output pixel
    if sigma == 0.0:
        return anatomy.t1
    return ndimage.gaussian_filter(anatomy.t1, sigma=(0.0, sigma, sigma)).astype(np.float32)
