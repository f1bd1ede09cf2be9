"""Shifted test sets: the same slices re-rendered by the data generator with a changed config.

A slice of the built-in data is a pure function of its plan row (template slice, location,
tumour type, seed) and the config (`medgen.data.synth.render.render_slice`), and the render
draws its random numbers in the same order whatever the ranges are. So re-rendering the test
slices' plan rows with a stronger bias field, more noise or a new contrast range gives the same
anatomy and the same tumour under a different scanner: a paired shift, slice for slice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from medgen.data.store import StoredDataset
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.config import DataConfig, NoiseConfig
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice
from medgen.data.synth.truth import data_config


def stronger_bias(c: DataConfig) -> DataConfig:
    """Bias fields up to twice as strong: max |log bias| in (0.35, 0.7) instead of (0, 0.35)."""
    return replace(c, intensity=replace(c.intensity, bias_strength=(0.35, 0.7)))


def more_noise(c: DataConfig) -> DataConfig:
    """Rician noise std in (0.04, 0.06), above the (0.01, 0.03) of training."""
    return replace(c, noise=NoiseConfig(sigma=(0.04, 0.06)))


def new_contrast(c: DataConfig) -> DataConfig:
    """A contrast range below training's (0.85, 1.05): (0.6, 0.75), a darker scanner."""
    return replace(c, intensity=replace(c.intensity, contrast=(0.6, 0.75)))


SHIFTS: dict[str, Callable[[DataConfig], DataConfig]] = {
    "bias": stronger_bias,
    "noise": more_noise,
    "contrast": new_contrast,
}


def plan_rows(store: StoredDataset, ids: np.ndarray) -> pd.DataFrame:
    """The plan rows (slice_index, location, tumour_type, seed) of dataset rows `ids`."""
    cfg = data_config(store)
    plan = plan_slices(cfg, load_anatomy(cfg.anatomy.min_brain_fraction)).set_index("id")
    return plan.loc[np.asarray(ids, np.int64)]


def render_images(store: StoredDataset, ids: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """(N, H, W) float32: rows `ids` of the built-in `store` rendered with config `cfg`."""
    rows = plan_rows(store, ids)
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    images = [
        render_slice(cfg, anatomy, t1, r.slice_index, r.location, r.tumour_type, int(r.seed)).image
        for r in rows.itertuples()
    ]
    return np.stack(images).astype(np.float32) if images else np.zeros((0, cfg.size, cfg.size))


def shifted_images(store: StoredDataset, ids: np.ndarray, shift: str) -> np.ndarray:
    """(N, H, W) rows `ids` of `store` under the shift `shift` (a key of SHIFTS)."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r} (known: {', '.join(SHIFTS)})")
    return render_images(store, ids, SHIFTS[shift](data_config(store)))
