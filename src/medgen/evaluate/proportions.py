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


def difference_interval(k1: float, n1: int, k2: float, n2: int) -> dict[str, float]:
    """p1 - p2 of two independent proportions k1 / n1 and k2 / n2 with Newcombe's hybrid score
    95% interval (Newcombe 1998, method 10), built from each one's Wilson interval: it stays
    inside [-1, 1] and keeps its coverage near the rates and counts of error analysis, where the
    Wald interval does not. For two rates measured on the same examples (two detectors on one
    test set) it is conservative: their positive correlation narrows the true interval."""
    a, b = wilson(k1, n1), wilson(k2, n2)
    diff = a["error"] - b["error"]
    low = diff - ((a["error"] - a["low"]) ** 2 + (b["high"] - b["error"]) ** 2) ** 0.5
    high = diff + ((a["high"] - a["error"]) ** 2 + (b["error"] - b["low"]) ** 2) ** 0.5
    return {"difference": diff, "low": low, "high": high}


def leads(k1: int, k2: int) -> bool:
    """Whether category 1 holds clearly more of one sample than category 2, the two exclusive
    (each error has one location, one part): given the k1 + k2 examples in either, the Wilson
    95% interval of k1's share lies above one half (the conditional binomial comparison of two
    multinomial counts)."""
    return k1 + k2 > 0 and wilson(k1, k1 + k2)["low"] > 0.5


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
