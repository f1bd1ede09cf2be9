"""Wilson intervals and errors pooled over seeds, against hand counts and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medgen.evaluate.proportions import (
    difference_interval,
    error_with_interval,
    leads,
    mean_over_seeds,
    share_of_gain,
    wilson,
)


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


@pytest.mark.parametrize(("p1", "n1", "p2", "n2"), [(0.77, 150, 0.05, 1200), (0.4, 60, 0.3, 60)])
def test_the_difference_of_two_rates_covers_the_true_difference(
    p1: float, n1: int, p2: float, n2: int
) -> None:
    rng = np.random.default_rng(1)
    trials = 2000
    bounds = [
        difference_interval(k1, n1, k2, n2)
        for k1, k2 in zip(rng.binomial(n1, p1, trials), rng.binomial(n2, p2, trials), strict=True)
    ]
    assert all(b["low"] <= b["difference"] <= b["high"] for b in bounds)
    covered = np.mean([b["low"] <= p1 - p2 <= b["high"] for b in bounds])
    assert 0.93 <= covered <= 0.97  # Newcombe's method 10 holds near 95% here


def test_one_category_leads_another_only_when_its_share_of_the_two_says_so() -> None:
    assert leads(40, 22) and not leads(30, 25) and not leads(0, 0) and not leads(22, 40)
    rng = np.random.default_rng(2)  # equal categories: "leads" is a false alarm at most 2.5%
    false_alarms = np.mean([leads(*rng.multinomial(100, [0.3, 0.3, 0.4])[:2]) for _ in range(2000)])
    assert false_alarms <= 0.035


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


def test_the_share_of_gain_is_the_ratio_of_the_gains() -> None:
    base = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1], dtype=float)  # error 0.8
    oracle = np.array([0, 0, 1, 0, 0, 0, 0, 1, 0, 0], dtype=float)  # 0.2
    arm = np.array([0, 1, 1, 0, 0, 0, 1, 1, 1, 0], dtype=float)  # 0.5
    out = share_of_gain(base, oracle, arm)
    assert out["share"] == pytest.approx(0.5) and out["low"] <= 0.5 <= out["high"]
    no_gain = share_of_gain(base, base, arm)
    assert np.isnan(no_gain["share"]) and np.isnan(no_gain["low"])


def test_the_share_of_gains_interval_covers_the_true_share_in_a_simulation() -> None:
    # per-example errors drawn with known rates: baseline 0.8, oracle 0.3, arm 0.55 -> share 0.5
    rng = np.random.default_rng(1)
    n, trials, covered, contains = 300, 150, 0, 0
    for t in range(trials):
        draws = [rng.random(n) < p for p in (0.8, 0.3, 0.55)]
        out = share_of_gain(*draws, n_boot=500, seed=t)
        covered += out["low"] <= 0.5 <= out["high"]
        contains += out["low"] <= out["share"] <= out["high"]
    assert contains == trials  # every interval holds its own estimate
    assert 0.82 <= covered / trials <= 0.97  # a 90% interval


def test_a_share_of_an_unclear_gain_has_no_interval() -> None:
    rng = np.random.default_rng(2)
    base, oracle = rng.random(40) < 0.5, rng.random(40) < 0.45  # a gain lost in the noise
    out = share_of_gain(base, oracle, rng.random(40) < 0.5)
    assert np.isfinite(out["share"]) and np.isnan(out["low"]) and np.isnan(out["high"])
