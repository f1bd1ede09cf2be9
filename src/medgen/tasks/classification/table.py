"""The classification peer table: every method on the same test slices, in distribution and
under each shift, with the target's claims read from paired intervals over slices.

The target: the diffusion classifier matches the supervised CNN in distribution (accuracy
within ACCURACY_TOLERANCE) and, under every shift, loses at least ROBUSTNESS_GAIN less
accuracy than the CNN does. A shift's loss is per slice (correct in distribution minus correct
under the shift), so both claims are paired means over the same slices (`mean_difference`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from medgen.data.store import StoredDataset
from medgen.tasks.claims import VERDICT_WORDS, Claim, claim_verdict
from medgen.tasks.classification.methods import Method
from medgen.tasks.classification.scores import class_scores, correct
from medgen.tasks.classification.shifts import SHIFTS, shifted_images
from medgen.tasks.intervals import mean_difference
from medgen.tasks.tables import Table

IN_DISTRIBUTION = "in-distribution"
ACCURACY_TOLERANCE = 0.02  # target: ours - CNN >= -2 points of accuracy in distribution
ROBUSTNESS_GAIN = 0.05  # target: ours loses >= 5 points less than the CNN under each shift


def classify_table(
    methods: Sequence[Method],
    store: StoredDataset,
    ids: np.ndarray,
    truth: np.ndarray,
    classes: tuple[str, ...],
    *,
    ours: str,
    baseline: str,
    shifts: Sequence[str] = tuple(SHIFTS),
    note: str = "",
    seed: int = 0,
) -> Table:
    """Accuracy, macro-F1, AUROC per class, accuracy drop, NFE and s/slice per condition and
    method on rows `ids` of `store` (true class indices `truth` into `classes`), and the claims
    of `ours` against `baseline`."""
    rows, hits = [], {}
    images = np.asarray(store.array("images")[np.asarray(ids)], np.float32)
    for condition in (IN_DISTRIBUTION, *shifts):
        seen = images if condition == IN_DISTRIBUTION else shifted_images(store, ids, condition)
        for m in methods:
            start = time.perf_counter()
            probs = m.probabilities(seen)
            seconds = (time.perf_counter() - start) / max(len(seen), 1)
            hits[condition, m.name] = correct(probs, truth)
            scores = class_scores(probs, truth, classes)
            drop = float(np.mean(hits[IN_DISTRIBUTION, m.name] - hits[condition, m.name]))
            rows.append(
                {
                    "condition": condition,
                    "method": m.name,
                    **scores,
                    "accuracy_drop": drop,
                    "NFE": m.nfe,
                    "s_per_slice": seconds,
                    "parameters": m.parameters,
                }
            )
    table = pd.DataFrame(rows).set_index(["condition", "method"])
    claims = target_claims(hits, ours, baseline, shifts, seed)
    return Table(table, claims, note, {})


def target_claims(
    hits: dict[tuple[str, str], np.ndarray],
    ours: str,
    baseline: str,
    shifts: Sequence[str],
    seed: int = 0,
) -> list[Claim]:
    """The target's claims from per-slice correctness (N,) by (condition, method)."""
    a, b = hits[IN_DISTRIBUTION, ours], hits[IN_DISTRIBUTION, baseline]
    claims = [
        Claim(
            "classify",
            "accuracy in distribution",
            ours,
            baseline,
            float(a.mean()),
            float(b.mean()),
            mean_difference(a, b, seed=seed),
            -ACCURACY_TOLERANCE,
        )
    ]
    for shift in shifts:
        ours_change = hits[shift, ours] - a  # (N,) -1 where the shift broke a correct answer
        base_change = hits[shift, baseline] - b
        claims.append(
            Claim(
                "classify",
                f"accuracy change under the {shift} shift (gain: points lost fewer)",
                ours,
                baseline,
                float(ours_change.mean()),
                float(base_change.mean()),
                mean_difference(ours_change, base_change, seed=seed),
                ROBUSTNESS_GAIN,
            )
        )
    return claims


def verdict(c: Claim) -> str:
    """The claim's verdict in words: met, not shown or not met."""
    return VERDICT_WORDS[claim_verdict(c)]


def claim_lines(claims: Sequence[Claim]) -> list[str]:
    """One line per claim: what, the two values, the gain, its interval, the margin, the verdict."""
    return [
        f"{c.score}: {c.ours} {c.ours_value:.3f} vs {c.baseline} {c.baseline_value:.3f}, gain "
        f"{c.gain.estimate:+.3f} (95% interval {c.gain.low:+.3f} to {c.gain.high:+.3f}, "
        f"{c.gain.n} slices), target >= {c.margin:+.3f}: {verdict(c)}"
        for c in claims
    ]
