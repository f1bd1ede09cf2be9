"""The tables' claims: paired by slice, against the best peer, and, for anomaly detection, the
same gains the anomaly table shows, recomputed per slice for their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.models import VAE
from medgen.tasks.adapter import pixel_denoiser
from medgen.tasks.claims import MALIGNANT, best_of, paired_psnr
from medgen.tasks.outputs import TaskOutcome
from medgen.tasks.run import TaskSettings
from medgen.tasks.tables import _denoise_claim, anomaly_table
from medgen.train.recipe import new_model


def _rows(method: str, psnr: list[float], seconds: float = 0.1) -> pd.DataFrame:
    n = len(psnr)
    return pd.DataFrame(
        {"id": np.arange(n), "method": method, "psnr_brain": psnr, "seconds": seconds}
    )


def test_paired_psnr_pairs_slices_by_id_not_by_row() -> None:
    ours = _rows("medgen", [30.0, 20.0, 25.0])
    theirs = _rows("bm3d", [29.0, 19.0, 24.0]).iloc[::-1]  # the same slices, another order
    found = paired_psnr(ours, theirs)
    assert found == (1.0, 1.0, 1.0, 3)  # a gain of exactly 1 dB on every slice: no spread


def test_the_baseline_is_the_peer_with_the_best_mean() -> None:
    rows = pd.concat([_rows("nl_means", [20.0, 30.0]), _rows("bm3d", [26.0, 25.0])])
    assert best_of(rows, ["nl_means", "bm3d"]) == "bm3d"


def _outcome(per_slice: pd.DataFrame) -> TaskOutcome:
    return TaskOutcome(None, per_slice, {})  # type: ignore[arg-type]  # only per_slice is read


def test_the_denoise_claim_takes_medgens_best_variant_no_slower_than_bm3d() -> None:
    peers = pd.concat([_rows("bm3d", [25.0, 26.0], 1.0), _rows("nl_means", [24.0, 24.5], 0.01)])
    found = {
        "medgen posterior mean": _outcome(_rows("medgen", [26.5, 27.0], 0.05)),
        "medgen 4 samples": _outcome(pd.concat([_rows("medgen", [30.0, 31.0], 2.0), peers])),
        "nl_means": _outcome(peers),
        "bm3d": _outcome(peers),
    }
    claim = _denoise_claim(found, seed=0)
    assert (claim.ours, claim.baseline, claim.blocked) == ("medgen posterior mean", "bm3d", "")
    assert claim.gain.estimate == pytest.approx(1.25) and claim.margin == 1.0
    found.pop("medgen posterior mean")  # only the slow variant is left: the target fails on time
    slow = _denoise_claim(found, seed=0)
    assert slow.ours == "medgen 4 samples"
    assert slow.blocked == "medgen 4 samples takes 2.000 s/slice, more than BM3D's 1.000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoredDataset:
    out: Path = tmp_path_factory.mktemp("claims") / "data"
    make_dataset(out, DataConfig(size=32, n_train=8, n_dev=24, n_test=40, seed=3), workers=1)
    return open_dataset(out)


def test_anomaly_gains_are_the_tables_differences_with_intervals(store: StoredDataset) -> None:
    """Untrained models make poor maps, but the claim must recompute the table's own numbers."""
    torch.manual_seed(0)
    small = {
        "unet": {"channels": [8, 8], "attention_levels": [False, False], "mid_attention": False}
    }
    model = pixel_denoiser(new_model("diffusion", store, small, None, None).eval())
    vae = new_model("vae", store, {}, None, None).eval()
    assert isinstance(vae, VAE)
    found = anomaly_table(model, vae, store, TaskSettings(limit=24, batch_size=24, tune_slices=2))
    rows: Any = found.table.loc[MALIGNANT]
    dice, auprc = found.claims
    assert dice.gain.n == rows.loc["medgen", "n tumour"] >= 2
    for claim, column in ((dice, "Dice"), (auprc, "pixel AUPRC")):
        expected = rows.loc["medgen", column] - rows.loc["vae", column]
        assert claim.gain.estimate == pytest.approx(expected, abs=1e-12)
        assert claim.ours_value - claim.baseline_value == pytest.approx(expected, abs=1e-12)
        assert claim.gain.low <= claim.gain.estimate <= claim.gain.high
    healthy = int((store.meta.loc[found.outcomes["anomaly"].arrays.ids, "label"] == 0).sum())
    assert auprc.gain.n == dice.gain.n + healthy  # pooled over the group's tumour and healthy
