"""Findings read from their tables: each claim clear, unclear or contradicted as the numbers say."""

from __future__ import annotations

import pandas as pd
import pytest

from medgen.errors.findings import (
    arm_recovers,
    bottleneck,
    remedy_fixes,
    slice_gap,
    top_location,
)
from medgen.evaluate.proportions import wilson


def tally(counts: dict[str, int]) -> pd.DataFrame:
    rows = [{"category": f"location={k}", "count": v} for k, v in counts.items()]
    rows.append({"category": "missed", "count": 95})  # other groups never compete
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("counts", "verdict", "said"),
    [
        ({"brainstem": 60, "frontal": 15, "parietal": 10}, "clear", "puts brainstem tumours at"),
        ({"brainstem": 30, "frontal": 25, "parietal": 10}, "unclear", "but not clearly"),
        ({"brainstem": 25, "frontal": 25}, "unclear", "tie with frontal"),
        ({"brainstem": 16, "frontal": 40, "parietal": 30}, "contradicted", "trail frontal"),
        ({"frontal": 40}, "contradicted", "does not put brainstem"),
        (
            {"brainstem": 60, "none": 90, "frontal": 10},
            "clear",
            "clear of the next location, frontal",
        ),
    ],
)
def test_brainstem_at_the_top_only_when_the_tally_says_so(
    counts: dict[str, int], verdict: str, said: str
) -> None:
    finding = top_location(tally(counts), 100, "brainstem")
    assert finding.verdict == verdict and said in finding.sentence
    if verdict != "clear":
        assert "puts brainstem tumours at the top" not in finding.sentence
    assert top_location(tally({}), 0, "brainstem").verdict == "unclear"


def test_the_slices_gap_is_read_from_its_errors() -> None:
    in_slice = pd.Series([True] * 50 + [False] * 200)
    clear = slice_gap(
        pd.Series([True] * 45 + [False] * 5 + [True] * 40 + [False] * 160), in_slice, "brainstem"
    )
    assert clear.verdict == "clear" and "4.5× as often on brainstem" in clear.sentence
    close = slice_gap(
        pd.Series([True] * 12 + [False] * 38 + [True] * 40 + [False] * 160), in_slice, "brainstem"
    )
    assert close.verdict == "unclear" and "difference includes zero" in close.sentence
    wrong = slice_gap(
        pd.Series([True] * 5 + [False] * 45 + [True] * 40 + [False] * 160), in_slice, "brainstem"
    )
    assert wrong.verdict == "contradicted" and "does not fail more" in wrong.sentence


def test_overlapping_intervals_can_still_be_a_clear_difference() -> None:
    """Rates 0.37 and 0.25 of 150 each: their Wilson intervals overlap, yet the interval of the
    difference excludes zero; the old overlap rule called it unclear."""
    in_slice = pd.Series([True] * 150 + [False] * 150)
    wrong = pd.Series([True] * 56 + [False] * 94 + [True] * 37 + [False] * 113)
    assert wilson(56, 150)["low"] < wilson(37, 150)["high"]
    assert slice_gap(wrong, in_slice, "brainstem").verdict == "clear"
    top = top_location(tally({"brainstem": 40, "frontal": 22}), 100, "brainstem")
    assert wilson(40, 100)["low"] < wilson(22, 100)["high"] and top.verdict == "clear"


def remedy(base: tuple[float, float, float], real: tuple[float, float, float]) -> pd.DataFrame:
    rows = [
        {
            "arm": arm,
            "set": "test",
            "scope": "slice",
            "error": e,
            "low": lo,
            "high": hi,
            "n": 300,
            "added": added,
        }
        for arm, (e, lo, hi), added in (("baseline", base, 0), ("real", real, 400))
    ]
    return pd.DataFrame(rows)


def test_more_data_fixes_the_slice_only_when_the_intervals_say_so() -> None:
    clear = remedy_fixes(remedy((0.9, 0.86, 0.93), (0.3, 0.25, 0.35)), "brainstem")
    assert clear.verdict == "clear" and "67% less" in clear.sentence
    assert "from 0.90 (0.86–0.93) to 0.30" in clear.sentence
    close = remedy_fixes(remedy((0.9, 0.86, 0.93), (0.88, 0.84, 0.91)), "brainstem")
    assert close.verdict == "unclear" and "not clearly" in close.sentence
    worse = remedy_fixes(remedy((0.9, 0.86, 0.93), (0.95, 0.92, 0.97)), "brainstem")
    assert worse.verdict == "contradicted" and "does not fix it" in worse.sentence
    assert remedy_fixes(remedy((0.9, 0.8, 0.95), (0.3, 0.2, 0.4))[:1], "x").verdict == "unclear"


def parts(rows: list[tuple[str, int, float, float, float]]) -> pd.DataFrame:
    columns = ["part", "errors", "share", "share_low", "share_high"]
    return pd.DataFrame(rows, columns=columns)


def test_the_bottleneck_is_named_only_when_its_share_stands_apart() -> None:
    clear = bottleneck(
        parts(
            [
                ("preprocess", 10, 0.1, 0.05, 0.17),
                ("extract", 70, 0.7, 0.6, 0.78),
                ("classify", 20, 0.2, 0.13, 0.29),
            ]
        )
    )
    assert clear.verdict == "clear" and "points at extract" in clear.sentence
    close = bottleneck(parts([("extract", 45, 0.45, 0.36, 0.55), ("classify", 40, 0.4, 0.31, 0.5)]))
    assert close.verdict == "unclear" and "No part clearly leads" in close.sentence
    nan = float("nan")
    no_gain = bottleneck(
        parts([("preprocess", 60, nan, nan, nan), ("classify", 40, 0.4, 0.3, 0.5)])
    )
    assert "points at classify" in no_gain.sentence  # a part with no gain is never the answer


@pytest.mark.parametrize(
    ("share", "verdict", "said"),
    [
        (
            {"share": 0.72, "low": 0.55, "high": 0.88},
            "clear",
            "meets it: it recovers 72% (55%–88%)",
        ),
        ({"share": 0.55, "low": 0.43, "high": 0.70}, "unclear", "not shown"),
        (  # below the target, but the interval holds it: not shown, never "falls short"
            {"share": 0.41, "low": 0.29, "high": 0.54},
            "unclear",
            "not shown, it recovers 41% (29%–54%), an interval that holds the target",
        ),
        (
            {"share": 0.30, "low": 0.10, "high": 0.45},
            "contradicted",
            "falls short: it recovers 30% (10%–45%), the interval below it",
        ),
        ({"share": -0.03, "low": -0.3, "high": 0.2}, "contradicted", "recovers -3%"),
        (
            {"share": 0.6, "low": float("nan"), "high": float("nan")},
            "unclear",
            "not clear enough to give",
        ),
        (
            {"share": float("nan"), "low": float("nan"), "high": float("nan")},
            "unclear",
            "gains nothing",
        ),
    ],
)
def test_the_diffusion_arms_target_is_read_from_its_share_and_interval(
    share: dict[str, float], verdict: str, said: str
) -> None:
    finding = arm_recovers(share, "inpaint", "brainstem", 0.5)
    assert finding.verdict == verdict
    assert said in finding.sentence
