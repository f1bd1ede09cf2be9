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
