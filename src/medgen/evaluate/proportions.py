"""Error rates with Wilson intervals, and their mean over repeated trainings (seeds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest


def wilson(k: float, n: int) -> dict[str, float]:
    """Error k / n and its Wilson 95% interval (Wilson 1927); k is rounded for the interval, as
    a mean over seeds may be fractional, while the error keeps k / n exactly."""
    if n == 0:
        return {"error": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    ci = binomtest(round(k), n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"error": k / n, "low": float(ci.low), "high": float(ci.high), "n": n}


def error_with_interval(wrong: np.ndarray) -> dict[str, float]:
    """Error rate of boolean `wrong` and its Wilson 95% interval."""
    return wilson(int(wrong.sum()), int(wrong.size))


def mean_over_seeds(per_seed: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per group of `keys` in `per_seed` (columns error and n, one row per seed): the
    mean error over the seeds, the Wilson interval of that mean on the n examples, the number of
    seeds and their std (NaN for one seed). Groups keep their first appearance's order."""
    rows = []
    for key, group in per_seed.groupby(list(keys), sort=False):
        n = int(group["n"].iloc[0])
        mean = float(group["error"].mean())
        spread = float(group["error"].std(ddof=1)) if len(group) > 1 else float("nan")
        values = dict(zip(keys, key, strict=True))
        rows.append({**values, **wilson(mean * n, n), "seeds": len(group), "seed_std": spread})
    return pd.DataFrame(rows)


def share_of_gain(
    baseline: np.ndarray,
    oracle: np.ndarray,
    arm: np.ndarray,
    *,
    n_boot: int = 2000,
    level: float = 0.90,
    seed: int = 0,
) -> dict[str, float]:
    """The share of the oracle's gain that an arm recovers, (e_b - e_a) / (e_b - e_o), with a
    percentile bootstrap interval over examples (Efron & Tibshirani 1993), resampled in pairs:
    the three arrays (n,) hold each example's error (0/1, or the mean over several detectors)
    under the baseline, the oracle and the arm, on the same examples.

    The share is a ratio, and undefined where the oracle gains nothing: when more than
    (1 - level) / 2 of the resamples give the oracle no gain, the interval is NaN (the oracle's
    own gain is not clear enough to share), and so is the share if it has none on the data."""
    columns = np.stack([baseline, oracle, arm]).astype(np.float64)  # (3, n)
    n = columns.shape[1]
    nan = {"share": float("nan"), "low": float("nan"), "high": float("nan")}
    if n == 0:
        return nan
    e_b, e_o, e_a = columns.mean(axis=1)
    if not e_b > e_o:
        return nan
    share = (e_b - e_a) / (e_b - e_o)
    picks = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    means = columns[:, picks].mean(axis=2)  # (3, n_boot)
    gain = means[0] - means[1]
    tail = (1 - level) / 2
    if (gain <= 0).mean() > tail:
        return {**nan, "share": float(share)}
    shares = (means[0] - means[2])[gain > 0] / gain[gain > 0]
    low, high = np.quantile(shares, [tail, 1 - tail])
    return {"share": float(share), "low": float(low), "high": float(high)}
