"""Slice AUROC's BCa interval: scikit-learn's AUROC, coverage of the closed-form AUROC of two
normal score distributions, no interval where the sample cannot show a spread, and the anomaly
groups' scores carrying it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from medgen.tasks.anomaly_split import group_scores
from medgen.tasks.intervals import auroc_interval
from medgen.tasks.segmentation import Segmentation

REPEATS = 400  # simulated studies per coverage check: s.e. of a 95% rate is 1.1 points


def _two_normals(
    rng: np.random.Generator, positive: int, negative: int, d: float
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores: positives N(d, 1), negatives N(0, 1), so AUROC = Phi(d / sqrt(2))."""
    labels = np.r_[np.ones(positive, bool), np.zeros(negative, bool)]
    return labels, np.r_[rng.normal(d, 1.0, positive), rng.normal(0.0, 1.0, negative)]


def test_the_estimate_is_scikit_learns_auroc_ties_included() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    scores = np.round(rng.normal(size=300) + labels, 1)  # rounded: many tied scores
    found = auroc_interval(labels, scores, resamples=200)
    assert found.estimate == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert found.low < found.estimate < found.high and found.n == 300


@pytest.mark.slow
@pytest.mark.parametrize(
    ("positive", "negative", "d"),
    [(10, 36, 1.5), (36, 36, 1.0)],  # a tumour type against the healthy slices; all tumours
)
def test_the_interval_covers_the_closed_form_auroc(positive: int, negative: int, d: float) -> None:
    """Coverage within 5 points (4.6 s.e.) of 95% at the chapter's default 2,000 resamples."""
    truth = float(norm.cdf(d / np.sqrt(2)))
    rng = np.random.default_rng(1)
    covered = 0
    for seed in range(REPEATS):
        found = auroc_interval(*_two_normals(rng, positive, negative, d), seed=seed)
        assert found.low <= found.estimate <= found.high
        covered += found.low <= truth <= found.high
    assert abs(covered / REPEATS - 0.95) <= 0.05, covered / REPEATS


def test_no_interval_where_the_sample_shows_no_spread() -> None:
    nan = auroc_interval([True, False, False, False], [0.9, 0.1, 0.2, 0.3])
    assert nan.estimate == 1.0 and np.isnan(nan.low) and np.isnan(nan.high)  # one tumour slice
    apart = auroc_interval([True] * 5 + [False] * 5, np.r_[np.arange(5) + 10.0, np.arange(5.0)])
    assert apart.estimate == 1.0 and np.isnan(apart.low)  # every resample would say 1
    tied = auroc_interval([True] * 3 + [False] * 3, np.ones(6))
    assert tied.estimate == 0.5 and np.isnan(tied.low)
    none = auroc_interval([False] * 4, np.arange(4.0))
    assert np.isnan(none.estimate) and none.n == 4
    with pytest.raises(ValueError, match="labels and scores"):
        auroc_interval([True, False], [0.1, 0.2, 0.3])


def test_the_interval_is_seeded() -> None:
    labels, scores = _two_normals(np.random.default_rng(2), 12, 30, 1.0)
    first = auroc_interval(labels, scores, resamples=300, seed=4)
    assert auroc_interval(labels, scores, resamples=300, seed=4) == first
    assert auroc_interval(labels, scores, resamples=300, seed=5) != first


def test_anomaly_groups_carry_slice_auroc_with_its_interval() -> None:
    """Each group's slice AUROC is scikit-learn's on its tumour and healthy slices' top-1%
    scores, inside its interval; a group of one tumour slice has no interval."""
    rng = np.random.default_rng(3)
    n = 40
    label = np.r_[np.ones(20, int), np.zeros(20, int)]
    types = ["benign"] * 19 + ["malignant"] + ["none"] * 20
    meta = pd.DataFrame({"label": label, "tumour_type": types, "location": "frontal"})
    maps = rng.random((n, 8, 8)) + 0.02 * label[:, None, None]  # (N, H, W)
    truth = np.zeros((n, 8, 8), bool)
    brain = np.ones((n, 8, 8), bool)
    segmentation = Segmentation("none", 0.9, 0.0)
    groups = group_scores(meta, maps, truth, brain, segmentation, top=0.05, seed=0)
    scores = np.sort(maps.reshape(n, -1), axis=1)[:, -4:].mean(1)  # ceil(0.05 * 64) = 4 values
    g = groups["all"]
    assert g["slice_auroc"] == pytest.approx(roc_auc_score(label, scores), abs=1e-12)
    assert g["slice_auroc_low"] < g["slice_auroc"] < g["slice_auroc_high"]
    one = groups["tumour_type=malignant"]
    assert one["n_tumour"] == 1 and np.isnan(one["slice_auroc_low"])
