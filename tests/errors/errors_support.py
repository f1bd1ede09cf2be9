"""Made-up prediction tables for the workbench tests, and worker functions for spawned processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

LOCATIONS = ("brainstem", "cerebellum", "frontal", "parietal", "temporal", "occipital")
HASH = "c0ffee" * 8


def make_table(n: int, error_rate: float, seed: int = 0) -> pd.DataFrame:
    """`n` examples with exactly round(n * error_rate) errors and built-in-like metadata."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(["none", "benign", "malignant"], size=n, p=[0.4, 0.3, 0.3])
    tumour = truth != "none"
    location = np.where(tumour, rng.choice(LOCATIONS, size=n), "none")
    prediction = truth.copy()
    wrong = rng.choice(n, size=round(n * error_rate), replace=False)
    prediction[wrong] = np.where(truth[wrong] == "none", "benign", "none")
    return pd.DataFrame(
        {
            "id": np.arange(n) + 100,
            "truth": truth,
            "prediction": prediction,
            "location": location,
            "tumour_type": truth,
            "tumour_px": np.where(tumour, rng.integers(3, 200, size=n), 0),
            "enhancing": np.where(tumour, rng.integers(0, 2, size=n), -1),
            "noise_sigma": rng.uniform(0.01, 0.07, size=n),
        }
    )


def add_tags(project: str, worker: int, n: int) -> None:
    """Spawned writer: tag examples worker*n .. worker*n + n - 1, one transaction each."""
    from medgen.errors.store import ErrorStore

    with ErrorStore(Path(project)) as store:
        for i in range(n):
            store.add_tag(HASH, worker * n + i, f"cat-{worker % 3}", f"worker-{worker}")


def die_mid_transaction(project: str) -> None:
    """Spawned writer that dies (no cleanup at all) inside an open write transaction."""
    from medgen.errors.store import ErrorStore

    store = ErrorStore(Path(project))
    with store.transaction():
        store.add_tag(HASH, 1, "half-written", "crasher")
        os._exit(3)
