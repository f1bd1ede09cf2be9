"""Findings read from the error-analysis tables, each worded as the numbers allow.

A report that recites the expected story ("brainstem tumours at the top", "more data fixes it")
prints it whatever was measured. Each function here reads one table and returns a `Finding`
whose verdict is "clear" (the claim holds and a two-sample comparison at 95% keeps it apart from
the alternative), "unclear" (it holds on the estimates, but the comparison cannot tell) or
"contradicted" (the estimates say otherwise), with a sentence that says which. Two rates are
compared by the interval of their difference (`difference_interval`), two exclusive categories
of one sample by the share of the larger among the two (`leads`), never by whether two
intervals overlap, which is too strict (Schenker & Gentleman 2001).
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from medgen.evaluate.proportions import difference_interval, leads, wilson

VERDICTS = ("clear", "unclear", "contradicted")
NO_TUMOUR = "none"  # the location (and class) of a healthy slice


class Finding(NamedTuple):
    """A claim checked against its table."""

    verdict: str  # one of VERDICTS
    sentence: str


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _share(count: int, n: int) -> str:
    w = wilson(count, n)
    return f"{_pct(w['error'])} ({_pct(w['low'])}–{_pct(w['high'])})"


def _above(first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether rate first[0] / first[1] is clearly above second's: the 95% interval of their
    difference lies above zero."""
    return difference_interval(*first, *second)["low"] > 0


def top_location(summary: pd.DataFrame, n_errors: int, location: str) -> Finding:
    """Whether `location` is the largest location category of the eyeball errors (and so has
    the highest ceiling: a category's ceiling is proportional to its count), from an error
    tally's summary (columns category, count). False alarms on healthy slices (location
    "none") are not a tumour location and do not compete."""
    locations = summary["category"].str.startswith("location=")
    rows = summary[locations & (summary["category"] != f"location={NO_TUMOUR}")]
    rows = rows.sort_values("count", ascending=False, kind="stable")
    counts = dict(zip(rows["category"].str.removeprefix("location="), rows["count"], strict=True))
    if not counts or n_errors == 0:
        return Finding("unclear", "The eyeball errors record no tumour location to rank.")
    ours = int(counts.get(location, 0))
    rivals = {name: int(c) for name, c in counts.items() if name != location}
    leader, most = max(rivals.items(), key=lambda kv: kv[1], default=("no other location", 0))
    said = f"{location} tumours hold {_share(ours, n_errors)} of the eyeball errors"
    other = f"{leader} {_share(most, n_errors)}"
    if ours <= most:
        verb = "tie with" if ours == most else "trail"
        return Finding(
            "contradicted" if ours < most else "unclear",
            f"Error analysis does not put {location} tumours at the top: {said}, and they "
            f"{verb} {other}.",
        )
    if leads(ours, most):
        return Finding(
            "clear",
            f"Error analysis puts {location} tumours at the top, with the highest ceiling: "
            f"{said}, clear of the next location, {other}.",
        )
    return Finding(
        "unclear",
        f"{location.capitalize()} tumours lead the eyeball errors' locations, but not clearly: "
        f"{said}, against {other}; a 95% comparison of the two cannot tell them apart.",
    )


def slice_gap(wrong: pd.Series, in_slice: pd.Series, name: str) -> Finding:
    """Whether tumours of the slice fail more often than tumours elsewhere: `wrong` and
    `in_slice` are boolean, one entry per tumour."""
    ours, rest = wrong[in_slice], wrong[~in_slice]
    a, b = (int(ours.sum()), len(ours)), (int(rest.sum()), len(rest))
    if a[1] == 0 or b[1] == 0:
        return Finding("unclear", f"There are no {name} tumours, or no others, to compare.")
    said = f"{_share(*a)} of {name} tumours are missed or mistyped, {_share(*b)} of the others"
    if a[0] / a[1] <= b[0] / b[1]:
        return Finding(
            "contradicted", f"The detector does not fail more on {name} tumours: {said}."
        )
    times = f"{(a[0] / a[1]) / (b[0] / b[1]):.1f}× as often" if b[0] else "more often"
    if _above(a, b):
        return Finding("clear", f"The detector fails {times} on {name} tumours: {said}.")
    return Finding(
        "unclear",
        f"The detector may fail more on {name} tumours, but the 95% interval of the "
        f"difference includes zero: {said}.",
    )


def remedy_fixes(table: pd.DataFrame, name: str, set_name: str = "test") -> Finding:
    """Whether the real-data arm lowers the slice's error, from the remedy table (columns arm,
    set, scope, error, low, high, n, added)."""
    rows = table[(table["set"] == set_name) & (table["scope"] == "slice")].set_index("arm")
    if not {"baseline", "real"} <= set(rows.index) or not rows.loc["baseline", "n"]:
        return Finding("unclear", f"The remedy did not measure the real-data arm on {set_name}.")
    base, real = rows.loc["baseline"], rows.loc["real"]
    change = (base["error"] - real["error"]) / base["error"] if base["error"] else 0.0
    said = (
        f"adding {int(real['added'])} real {name} tumour slices takes their {set_name} error "
        f"from {base['error']:.2f} ({base['low']:.2f}–{base['high']:.2f}) to {real['error']:.2f} "
        f"({real['low']:.2f}–{real['high']:.2f})"
    )
    if real["error"] >= base["error"]:
        return Finding("contradicted", f"More data for the slice does not fix it: {said}.")
    counts = [(round(r["error"] * r["n"]), int(r["n"])) for r in (base, real)]
    if _above(*counts):
        return Finding("clear", f"More data fixes the slice: {said}, {_pct(change)} less.")
    return Finding(
        "unclear",
        f"More data may help the slice, but not clearly: {said} ({_pct(change)} less); the "
        "95% interval of the difference includes zero.",
    )


def arm_recovers(share: dict[str, float], arm: str, name: str, target: float = 0.5) -> Finding:
    """Whether an arm recovers at least `target` of the real-data arm's gain on the slice, from
    its share with the interval of `share_of_gain` (keys share, low, high; NaN where the real
    arm's own gain is not clear enough to share)."""
    value, low, high = share["share"], share["low"], share["high"]
    if value != value:
        return Finding(
            "unclear",
            f"The {arm} arm's share of the real-data arm's gain is undefined: the real arm "
            f"gains nothing on {name} tumours to share.",
        )
    aim = f"The {arm} arm's target is {_pct(target)} of the real-data arm's gain on {name} tumours"
    said = f"it recovers {_pct(value)}"
    if low != low:
        return Finding(
            "unclear",
            f"{aim}: {said}, but the real arm's own gain is not clear enough to give that "
            "share an interval.",
        )
    said += f" ({_pct(low)}–{_pct(high)})"
    if high < target:
        return Finding("contradicted", f"{aim}, and it falls short: {said}, the interval below it.")
    if low >= target:
        return Finding("clear", f"{aim}, and it meets it: {said}, the interval above it.")
    return Finding(
        "unclear",
        f"{aim}: not shown, {said}, an interval that holds the target.",
    )


def bottleneck(parts: pd.DataFrame) -> Finding:
    """Which part of the pipeline most errors belong to, from the by-parts table (columns part,
    errors, share, share_low, share_high, verdict; `PartsReport.table`): parts marked "no gain"
    are left out, as their share would point effort the wrong way."""
    ranked = parts[parts["share"].notna()].sort_values("errors", ascending=False, kind="stable")
    if ranked.empty or not ranked["errors"].iloc[0]:
        return Finding("unclear", "No eyeball error to attribute to a part.")
    first = ranked.iloc[0]
    said = f"{first['part']} holds {_pct(first['share'])} of the errors"
    said += f" ({_pct(first['share_low'])}–{_pct(first['share_high'])})"
    if len(ranked) == 1:
        return Finding("clear", f"Error analysis by parts points at {first['part']}: {said}.")
    second = ranked.iloc[1]
    other = f"{second['part']} {_pct(second['share'])}"
    if leads(int(first["errors"]), int(second["errors"])):
        return Finding(
            "clear", f"Error analysis by parts points at {first['part']}: {said}, then {other}."
        )
    return Finding(
        "unclear",
        f"No part clearly leads: {said}, against {other}; a 95% comparison of the two cannot "
        "tell them apart.",
    )
