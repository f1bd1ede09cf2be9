"""95% intervals of the difference between two methods scored on the same slices, of one
method's slice AUROC, and of a mean over a few independent repeats.

The differences' intervals are the paired percentile bootstrap over slices (Efron & Tibshirani
1993, ch. 13), by `scipy.stats.bootstrap`: a resample draws slices with replacement and both
methods are scored on the same draw, so what the slices share (an easy slice is easy for both)
cancels in the difference. `mean_difference` is for a score averaged over slices (PSNR, Dice);
`pooled_difference` for one pooled over the slices' pixels (pixel AUPRC), recomputed on every
resample with each slice's pixels counted as often as the slice was drawn. `auroc_interval`
(the BCa interval, as the percentile one falls short at tens of slices) draws positive and
negative slices apart, so every resample keeps the sample's mix and has an AUROC.
`repeats_interval` is Student's t interval of a mean over a few independent repeats (draws of a
training set): with two or three values a bootstrap or a percentile interval is their range,
which holds the mean of two draws half the time, not 95%.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import DegenerateDataWarning, bootstrap, rankdata
from scipy.stats import t as student_t

LEVEL = 0.95
RESAMPLES = 2000  # bootstrap resamples: the interval's ends move by ~0.02 standard errors

# slice weights (R, n), how often each of n slices is counted -> (R,) difference of the scores
PooledDifference = Callable[[NDArray[np.float64]], NDArray[np.float64]]


class Interval(NamedTuple):
    """An estimate (a difference between two methods, or a score), its interval, and the slices
    (or repeats) behind it."""

    estimate: float
    low: float  # NaN where fewer than two slices leave nothing to resample
    high: float
    n: int


def _interval(estimate: float, n: int, found: Any) -> Interval:
    """The bootstrap's interval; NaN where some resamples have no score (a pooled AUPRC whose
    resample holds no lesion), as the others alone would give too narrow an interval."""
    low, high = (float(v) for v in found.confidence_interval)
    if not (np.isfinite(low) and np.isfinite(high)):
        return Interval(estimate, float("nan"), float("nan"), n)
    return Interval(estimate, low, high, n)


def repeats_interval(values: ArrayLike, *, level: float = LEVEL) -> Interval:
    """The mean of n independent repeats (n,) with Student's t interval, mean +- t_{n-1} s /
    sqrt(n): exact for normal repeats at any n >= 2; NaN ends with fewer than two."""
    v = np.asarray(values, np.float64)
    if v.ndim != 1:
        raise ValueError(f"need one value per repeat (n,), got shape {v.shape}")
    estimate = float(np.mean(v)) if v.size else float("nan")
    if v.size < 2:
        return Interval(estimate, float("nan"), float("nan"), int(v.size))
    half = float(student_t.ppf((1 + level) / 2, v.size - 1) * np.std(v, ddof=1) / np.sqrt(v.size))
    return Interval(estimate, estimate - half, estimate + half, int(v.size))


def mean_difference(
    ours: ArrayLike,
    theirs: ArrayLike,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """mean(ours - theirs) over paired per-slice scores (n,), with its bootstrap interval."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two paired (n,) score arrays, got {a.shape} and {b.shape}")
    estimate = float(np.mean(a - b)) if a.size else float("nan")
    if a.size < 2:
        return Interval(estimate, float("nan"), float("nan"), int(a.size))

    def difference(x: NDArray[Any], y: NDArray[Any], axis: int) -> NDArray[Any]:
        return np.mean(x - y, axis=axis)

    found = bootstrap(
        (a, b),
        difference,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return _interval(estimate, int(a.size), found)


def pooled_difference(
    difference: PooledDifference,
    strata: ArrayLike,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
    batch: int | None = None,
) -> Interval:
    """A difference of scores pooled over n slices, with its bootstrap interval over slices.

    `difference(weights)` scores both methods with slice i counted weights[r, i] times and returns
    ours minus theirs per row; the estimate is its value with every slice counted once. Slices
    are drawn within their stratum (strata: (n,) labels, e.g. lesion or not), so every resample
    has the sample's mix. `batch` resamples are scored at a time (None: all), to bound what
    `difference` holds in memory.
    """
    labels = np.asarray(strata)
    n = len(labels)
    estimate = float(difference(np.ones((1, n)))[0]) if n else float("nan")
    groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    fixed = np.array([g[0] for g in groups if len(g) == 1], np.int64)  # its own stratum: kept
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return Interval(estimate, float("nan"), float("nan"), n)

    def resampled(*picks: NDArray[Any], axis: int = -1) -> NDArray[Any]:
        drawn = np.concatenate([np.moveaxis(np.asarray(p), axis, -1) for p in picks], axis=-1)
        kept = np.broadcast_to(fixed, (*drawn.shape[:-1], len(fixed)))
        rows = np.concatenate([drawn, kept], axis=-1).reshape(-1, n).astype(np.int64)
        counts = np.zeros((len(rows), n))
        np.add.at(counts, (np.arange(len(rows))[:, None], rows), 1.0)
        return difference(counts).reshape(drawn.shape[:-1])

    with warnings.catch_warnings():  # a resample without a score: NaN, handled in _interval
        warnings.simplefilter("ignore", DegenerateDataWarning)
        found = bootstrap(
            tuple(groups),
            resampled,
            vectorized=True,
            n_resamples=resamples,
            batch=batch,
            confidence_level=level,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    return _interval(estimate, n, found)


def _auroc(
    positive: NDArray[np.float64], negative: NDArray[np.float64], axis: int = -1
) -> NDArray[np.float64]:
    """AUROC of positive (..., m) against negative (..., k) scores: the Mann-Whitney U / (m k),
    ties counting one half (average ranks)."""
    pos, neg = np.moveaxis(positive, axis, -1), np.moveaxis(negative, axis, -1)
    m, k = pos.shape[-1], neg.shape[-1]
    ranks = rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)[..., :m]
    return np.asarray((ranks.sum(axis=-1) - m * (m + 1) / 2) / (m * k))


def auroc_interval(
    labels: ArrayLike,
    scores: ArrayLike,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """AUROC of per-slice scores (n,) against labels (n,), with its BCa bootstrap interval
    (Efron 1987), positive and negative slices drawn apart.

    BCa, not the percentile interval: at tens of slices the AUROC's bootstrap distribution is
    skewed and biased towards the sample's, and the percentile interval falls short of its level;
    tests/tasks/test_anomaly_auroc_interval.py measures BCa's coverage. NaN ends with fewer than
    two slices of a class, or where every resample gives one AUROC (the classes apart in the
    sample: no spread to see).
    """
    y, s = np.asarray(labels).astype(bool), np.asarray(scores, np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"need (n,) labels and scores, got {y.shape} and {s.shape}")
    positive, negative = s[y], s[~y]
    if min(len(positive), len(negative)) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), len(y))
    estimate = float(_auroc(positive, negative))
    # one slice of a class leaves its spread unseen; classes apart (AUROC 0 or 1) or all scores
    # tied give every resample the sample's AUROC
    if min(len(positive), len(negative)) < 2 or estimate in (0.0, 1.0) or np.ptp(s) == 0:
        return Interval(estimate, float("nan"), float("nan"), len(y))
    with warnings.catch_warnings():  # a resample without a spread: NaN ends, as in _interval
        warnings.simplefilter("ignore", DegenerateDataWarning)
        found = bootstrap(
            (positive, negative),
            _auroc,
            vectorized=True,
            n_resamples=resamples,
            batch=200,  # resamples ranked at a time: bounds memory at 200 x n on large splits
            confidence_level=level,
            method="BCa",
            random_state=np.random.default_rng(seed),
        )
    return _interval(estimate, len(y), found)
