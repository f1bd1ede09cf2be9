"""The registration peer table and its target, read from a paired interval over pairs:
medgen's end-point error at most ANTs SyN's, at <= MAX_FOLDING_PCT folding and >= MIN_SPEEDUP
times SyN's speed per pair."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medgen.tasks.claims import VERDICT_WORDS, Claim, claim_verdict
from medgen.tasks.intervals import mean_difference
from medgen.tasks.registration.run import MEDGEN, PLAIN
from medgen.tasks.tables import Table

SYN = "ants_syn"
MAX_FOLDING_PCT = 0.1  # target: at most this % of pixels with det J <= 0
MIN_SPEEDUP = 20.0  # target: at least this many times SyN's pairs per second
COLUMNS = {
    "epe_px": "EPE px",
    "epe_tumour_px": "EPE px (tumour moving)",
    "epe_healthy_px": "EPE px (healthy moving)",
    "epe_near_tumour_px": "EPE px near tumour",
    "dice_mean": "Dice mean",
    "dice_csf": "Dice CSF",
    "dice_grey": "Dice GM",
    "dice_white": "Dice WM",
    "folding_pct": "folding %",
    "seconds": "s/pair",
}


def summary(per_pair: pd.DataFrame) -> pd.DataFrame:
    """One row per method: the means of its per-pair scores, and its speed-up over SyN."""
    rows = per_pair.assign(
        epe_tumour_px=per_pair["epe_px"].where(per_pair["tumour"]),
        epe_healthy_px=per_pair["epe_px"].where(~per_pair["tumour"]),
    )
    table = rows.groupby("method", sort=False)[list(COLUMNS)].mean()
    if SYN in table.index:
        table["x SyN speed"] = table.at[SYN, "seconds"] / table["seconds"]
    return table.rename(columns=COLUMNS)


def _epe(per_pair: pd.DataFrame, method: str) -> np.ndarray:
    return per_pair.loc[per_pair["method"] == method, "epe_px"].to_numpy()


def epe_claim(per_pair: pd.DataFrame, ours: str, baseline: str, seed: int = 0) -> Claim:
    """`baseline`'s EPE minus `ours` over the same pairs (>= 0: ours at least as accurate); the
    claim against SyN is blocked by folding or speed outside the target."""
    a, b = _epe(per_pair, ours), _epe(per_pair, baseline)
    blocked = []
    if baseline == SYN:
        mine = per_pair[per_pair["method"] == ours]
        folding = float(mine["folding_pct"].mean())
        speedup = float(
            per_pair.loc[per_pair["method"] == SYN, "seconds"].mean() / mine["seconds"].mean()
        )
        if folding > MAX_FOLDING_PCT:
            blocked.append(f"{folding:.3f}% folding, more than {MAX_FOLDING_PCT}%")
        if speedup < MIN_SPEEDUP:
            blocked.append(f"{speedup:.1f}x SyN's speed, less than {MIN_SPEEDUP:g}x")
    return Claim(
        "register",
        "EPE in the brain, pixels (the baseline's minus ours: > 0 when ours is lower)",
        ours,
        baseline,
        float(np.mean(a)),
        float(np.mean(b)),
        mean_difference(b, a, seed=seed),
        0.0,
        "; ".join(blocked),
        unit="pairs",
    )


def verdict(c: Claim) -> str:
    """The claim's verdict in words: met, not shown or not met."""
    return VERDICT_WORDS[claim_verdict(c)]


def register_table(per_pair: pd.DataFrame, seed: int = 0, refine_steps: int = 0) -> Table:
    """The peer table of `register_split`'s per-pair scores, with medgen's claims against SyN
    and against the plain network (whether the diffusion prior helps); `refine_steps` is what
    the networks' fields were refined by on each pair."""
    methods = set(per_pair["method"])
    claims = [
        epe_claim(per_pair, MEDGEN, other, seed) for other in (SYN, PLAIN) if other in methods
    ]
    n = int((per_pair["method"] == MEDGEN).sum())
    note = (
        f"{n} same-level test pairs (healthy fixed; moving alternately with and without a "
        "tumour). EPE against the true displacement inside the fixed brain, in pixels "
        "(1 px = field of view / size mm). Networks: "
        + (
            f"each field refined by {refine_steps} optimiser steps on its own pair's LNCC and "
            "bending energy; "
            if refine_steps
            else ""
        )
        + "s/pair is a batch's wall clock over its pairs; peers are timed pair by pair; one "
        "thread each."
    )
    return Table(summary(per_pair), claims, note, {})


def table_text(t: Table) -> str:
    """The table, its note, and each claim with its interval and verdict, as plain text."""
    lines = [t.table.to_string(float_format=lambda v: f"{v:.3f}"), "", t.note, ""]
    for c in t.claims:
        g = c.gain
        lines.append(
            f"target: {c.ours} vs {c.baseline}, {c.score}: {c.ours_value:.3f} vs "
            f"{c.baseline_value:.3f}, gain {g.estimate:+.3f} (95% interval {g.low:+.3f} to "
            f"{g.high:+.3f}, {g.n} pairs), margin {c.margin:+.3f}: {verdict(c)}"
            + (f" ({c.blocked})" if c.blocked else "")
        )
    return "\n".join(lines)
