"""Ground truth of the built-in data, regenerated from each slice's seed: the template grid it
sampled, its tissue labels and the true displacement between two slices of the same level.

Every slice is the template sampled through a grid (`fields.sampling_grid`, the first draws of
the slice's random stream), so the grid, and through it any template map, is known exactly.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from medgen.config import from_dict
from medgen.data.store import StoredDataset
from medgen.data.synth.anatomy import load_anatomy
from medgen.data.synth.config import BUILTIN_KIND, DataConfig
from medgen.data.synth.fields import sampling_grid
from medgen.exceptions import InputError

TISSUES = ("csf", "grey matter", "white matter")  # labels 1, 2, 3 (0: outside the brain)
INVERSE_STEPS = 30  # fixed-point steps inverting a grid; the elastic part contracts fast


def is_builtin(store: StoredDataset) -> bool:
    """Whether the generator made `store` (its truth can be regenerated), not an import."""
    return bool(store.manifest.get("kind") == BUILTIN_KIND)


def data_config(store: StoredDataset) -> DataConfig:
    """The DataConfig a built-in dataset was made with, from its manifest (InputError naming the
    folder for data the generator did not make: their truth cannot be regenerated)."""
    if not is_builtin(store) or not isinstance(store.manifest.get("config"), dict):
        raise InputError(
            store.root,
            "was not made by the built-in generator (medgen data make): its ground truth is "
            "regenerated from the generator's config and seeds",
        )
    return from_dict(DataConfig, store.manifest["config"], f"{store.root} manifest config")


def _template_z(store: StoredDataset, ids: np.ndarray) -> np.ndarray:
    """MNI152 voxel index along z of each slice's template slice."""
    z_mm = store.meta.loc[ids, "source_z"].to_numpy(np.float64)
    z0 = -72.0  # MNI z of the 1 mm template's voxel 0 (checked by `_maps`)
    return np.rint(z_mm - z0).astype(np.int64)


def template_grids(store: StoredDataset, ids: np.ndarray) -> np.ndarray:
    """(N, 2, H, W) float64 template mm offsets (dx, dy) from the brain centre each pixel samples,
    bit for bit the grid `render.render_slice` drew."""
    cfg = data_config(store)
    seeds = store.meta.loc[ids, "seed"].to_numpy()
    grids = np.empty((len(ids), 2, cfg.size, cfg.size), np.float64)
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(int(seed))
        grids[i] = sampling_grid(rng, cfg.size, cfg.anatomy.field_of_view_mm, cfg.anatomy)
    return grids


@functools.lru_cache(maxsize=1)
def _maps() -> np.ndarray:
    """(3, X, Y, Z) CSF, GM, WM probabilities of MNI152 at 1 mm.

    nilearn ships GM and WM maps but no CSF map: CSF is the brain mask minus GM minus WM.
    """
    from nilearn import datasets  # heavy import, kept local

    gm_img = datasets.load_mni152_gm_template(resolution=1)
    if gm_img.affine[2, 3] != -72.0 or not np.allclose(np.diag(gm_img.affine)[:3], 1.0):
        raise RuntimeError("expected nilearn's 1 mm MNI152 tissue maps with z origin -72 mm")
    gm = np.asarray(gm_img.get_fdata(), np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata()) > 0.5
    csf = np.clip(ndimage.binary_fill_holes(brain) - gm - wm, 0.0, 1.0)
    return np.stack([csf, gm, wm])


@functools.lru_cache(maxsize=256)
def _level_maps(pixel_mm: float, z: int) -> np.ndarray:
    """(3, X, Y) tissue maps of template slice z, anti-aliased in-plane like `smoothed_t1`."""
    maps = _maps()[:, :, :, z]
    sigma = 0.42 * pixel_mm if pixel_mm > 1.0 else 0.0  # the T1's anti-aliasing blur
    if sigma == 0.0:
        return maps
    return ndimage.gaussian_filter(maps, sigma=(0.0, sigma, sigma)).astype(np.float32)


def tissue_labels(store: StoredDataset, ids: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8: 0 outside the stored brain mask, else 1 CSF, 2 GM, 3 WM (`TISSUES`), the
    most probable tissue of the MNI152 maps sampled through each slice's grid as the T1 was."""
    cfg = data_config(store)
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    pixel_mm = cfg.anatomy.field_of_view_mm / cfg.size
    grids = template_grids(store, ids)
    brain = np.asarray(store.array("brain_mask")[ids]) > 0
    labels = np.zeros(brain.shape, np.uint8)
    for i, (grid, z) in enumerate(zip(grids, _template_z(store, ids), strict=True)):
        coords = np.stack(
            [
                grid[0] + anatomy.centre_mm[0] - anatomy.origin_mm[0],
                grid[1] + anatomy.centre_mm[1] - anatomy.origin_mm[1],
            ]
        )
        maps = _level_maps(pixel_mm, int(z))
        probs = [ndimage.map_coordinates(m, coords, order=1, cval=0.0) for m in maps]
        labels[i] = np.where(brain[i], np.argmax(probs, axis=0) + 1, 0)
    return labels


def _affine_fit(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (A (2, 2), b (2,)) with grid(q) ~ A q + b over pixel coordinates q."""
    h, w = grid.shape[1:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    design = np.stack([rows.ravel(), cols.ravel(), np.ones(h * w)], axis=1)  # (P, 3)
    coef, *_ = np.linalg.lstsq(design, grid.reshape(2, -1).T, rcond=None)  # (3, 2)
    return coef[:2].T, coef[2]


def invert_grid(grid: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(2, ...) pixel coordinates q (row, col) with grid(q) = targets (template mm), solving
    q = A^-1 (t - b - r(q)) by fixed point: grid = affine A q + b plus a smooth residual r,
    interpolated bilinearly (held constant beyond the border, where the affine carries on)."""
    a, b = _affine_fit(grid)
    h, w = grid.shape[1:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    residual = grid - (np.einsum("ij,jhw->ihw", a, np.stack([rows, cols])) + b[:, None, None])
    a_inv = np.linalg.inv(a)
    flat = targets.reshape(2, -1)
    q = a_inv @ (flat - b[:, None])
    for _ in range(INVERSE_STEPS):
        r = np.stack([ndimage.map_coordinates(c, q, order=1, mode="nearest") for c in residual])
        q = a_inv @ (flat - b[:, None] - r)
    return q.reshape(targets.shape)


def true_displacement(
    store: StoredDataset, fixed_ids: np.ndarray, moving_ids: np.ndarray
) -> np.ndarray:
    """(N, 2, H, W) float64 displacement u in pixels, channels (row, col): the moving image
    sampled at p + u(p) shows the template point the fixed image shows at p (MONAI `Warp`'s
    dense displacement field, warping moving onto fixed). Pairs must share a template slice."""
    fixed_z, moving_z = _template_z(store, fixed_ids), _template_z(store, moving_ids)
    if (fixed_z != moving_z).any():
        raise ValueError("true displacements exist only between slices of the same level")
    fixed, moving = template_grids(store, fixed_ids), template_grids(store, moving_ids)
    h, w = fixed.shape[2:]
    pixels = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(np.float64)
    return np.stack([invert_grid(m, f) - pixels for f, m in zip(fixed, moving, strict=True)])
