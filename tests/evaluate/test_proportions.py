"""Wilson intervals and errors pooled over seeds, against hand counts and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medgen.evaluate.proportions import error_with_interval, mean_over_seeds, wilson


def test_wilson_interval_of_a_hand_count() -> None:
    e = error_with_interval(np.array([True] * 20 + [False] * 80))
    assert e["error"] == 0.2 and e["low"] < 0.2 < e["high"] and e["n"] == 100
    assert e["low"] == pytest.approx(0.133, abs=0.002)  # Wilson, 95%
    assert e["high"] == pytest.approx(0.289, abs=0.002)
    assert np.isnan(wilson(0, 0)["error"]) and wilson(0, 0)["n"] == 0


def test_wilson_intervals_cover_their_rate_in_a_simulation() -> None:
    # an interval must contain its estimate, and a 95% one the true rate about 95% of the time
    rng = np.random.default_rng(0)
    true, n, trials = 0.3, 60, 2000
    counts = rng.binomial(n, true, trials)
    bounds = [wilson(k, n) for k in counts]
    assert all(b["low"] <= b["error"] <= b["high"] for b in bounds)
    covered = np.mean([b["low"] <= true <= b["high"] for b in bounds])
    assert 0.92 <= covered <= 0.98  # Wilson's coverage wavers around 95% with n and p


def test_errors_over_seeds_are_their_mean_with_its_interval_and_spread() -> None:
    per_seed = pd.DataFrame(
        {
            "arm": ["baseline"] * 3 + ["real"],
            "set": "test",
            "seed": [0, 1, 2, 0],
            "error": [0.5, 0.6, 0.7, 0.3],
            "n": 10,
        }
    )
    table = mean_over_seeds(per_seed, ("arm", "set")).set_index("arm")
    assert list(table.index) == ["baseline", "real"]  # first appearance's order
    assert table.loc["baseline", "error"] == pytest.approx(0.6)
    assert table.loc["baseline", "seeds"] == 3
    assert table.loc["baseline", "seed_std"] == pytest.approx(0.1)  # sample std of .5, .6, .7
    six = error_with_interval(np.array([True] * 6 + [False] * 4))  # the mean's interval on n
    low, high = table.loc["baseline", "low"], table.loc["baseline", "high"]
    assert (low, high) == pytest.approx((six["low"], six["high"]))
    assert table.loc["real", "seeds"] == 1 and np.isnan(table.loc["real", "seed_std"])
