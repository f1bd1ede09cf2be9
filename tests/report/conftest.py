"""A small fake dataset (random images, disc-shaped masks, a plausible table) for figure tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgen.data.store import DatasetWriter, StoredDataset, open_dataset

LOCATIONS = ("brainstem", "frontal", "temporal")
ARRAYS = ("images", "clean", "brain_mask", "tumour_mask", "oedema_mask")


def fake_meta(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A table with splits, types and locations cycling, and random per-slice parameters."""
    kinds = np.array(["none", "benign", "malignant"])[np.arange(n) % 3]
    locations = np.where(kinds == "none", "none", np.array(LOCATIONS)[(np.arange(n) // 9) % 3])
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "split": np.array(["train", "dev", "test"])[(np.arange(n) // 3) % 3],
            "label": (kinds != "none").astype(int),
            "tumour_type": kinds,
            "location": locations,
            "tumour_px": np.where(kinds == "none", 0, rng.integers(20, 200, n)),
            "oedema_px": np.where(kinds == "malignant", rng.integers(20, 100, n), 0),
            "tumour_contrast": np.where(kinds == "none", np.nan, rng.uniform(0.1, 0.4, n)),
            "noise_sigma": rng.uniform(0.01, 0.05, n),
            "bias_strength": rng.uniform(0.0, 0.3, n),
            "source_z": rng.uniform(-40, 60, n),
        }
    )


def write_fake_dataset(
    root: Path, n: int = 45, size: int = 32, seed: int = 0, arrays: tuple[str, ...] = ARRAYS
) -> StoredDataset:
    """Write a fake dataset of `n` slices of `size` pixels with `arrays` to `root` and open it."""
    rng = np.random.default_rng(seed)
    meta = fake_meta(n, rng)
    yy, xx = np.mgrid[:size, :size] / size
    brain = ((yy - 0.5) ** 2 / 0.16 + (xx - 0.5) ** 2 / 0.12) < 1
    with DatasetWriter(root, n, size, arrays) as writer:
        for i, kind in enumerate(meta["tumour_type"]):
            cy, cx = rng.uniform(0.35, 0.65, 2)
            radius = (yy - cy) ** 2 + (xx - cx) ** 2
            tumour = (radius < 0.01) & (kind != "none")
            oedema = (radius < 0.025) & ~tumour & (kind == "malignant")
            clean = brain * (0.5 + 0.4 * tumour + 0.15 * oedema)
            noisy = np.clip(clean + rng.normal(0, 0.03, clean.shape), 0, 1)
            values = {
                "images": noisy,
                "clean": clean,
                "brain_mask": brain,
                "tumour_mask": tumour,
                "oedema_mask": oedema,
            }
            for name in arrays:
                writer.arrays[name][i] = values[name]
        writer.commit(meta, {"source": "fake"})
    return open_dataset(root)


@pytest.fixture(scope="session")
def fake_dataset(tmp_path_factory: pytest.TempPathFactory) -> StoredDataset:
    """A 45-slice, 32-pixel fake dataset shared by the tests of a session (read-only)."""
    return write_fake_dataset(tmp_path_factory.mktemp("fake") / "data")


@pytest.fixture(scope="session")
def bare_dataset(tmp_path_factory: pytest.TempPathFactory) -> StoredDataset:
    """A 12-slice fake dataset with only the `images` array (as imported data may be)."""
    return write_fake_dataset(tmp_path_factory.mktemp("bare") / "data", n=12, arrays=("images",))
