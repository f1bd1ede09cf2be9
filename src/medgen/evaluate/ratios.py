"""The ratio of two means with a 95% interval: how far a score sits above its floor.

A sampler's SW1 against exact samples, over several noise draws, divided by the same score of
fresh exact sets, over several sets, says whether the sampler has converged (ratio near 1) or
plateaus above the floor. The two are independent samples of positive scores, so the interval is
Welch's t interval on the log of the ratio, with the delta method for each mean's log (Cox's
method for a ratio of means): R exp(+-t se), se^2 = s_a^2 / (n_a a^2) + s_b^2 / (n_b b^2),
and Welch-Satterthwaite degrees of freedom. It is symmetric in log R, so it always holds R.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple

from scipy.stats import t as student_t


class Ratio(NamedTuple):
    """mean(a) / mean(b) and its interval."""

    ratio: float
    low: float
    high: float


def ratio_of_means(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Ratio:
    """mean(a) / mean(b) of two independent samples of positive values, at least 2 each."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 values in each sample, got {len(a)} and {len(b)}")
    if min(a) <= 0 or min(b) <= 0:
        raise ValueError("the values must be positive")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    var_a = statistics.variance(a) / (len(a) * mean_a**2)  # var of log mean(a), delta method
    var_b = statistics.variance(b) / (len(b) * mean_b**2)
    estimate = mean_a / mean_b
    if var_a + var_b == 0:
        return Ratio(estimate, estimate, estimate)
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    half = float(student_t.ppf(0.5 + level / 2, df)) * math.sqrt(var_a + var_b)
    return Ratio(estimate, estimate * math.exp(-half), estimate * math.exp(half))
