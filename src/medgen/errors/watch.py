"""Evaluations and the overfitting watch (Ng, *Machine Learning Yearning*, ch. 18).

Each evaluation stores a model version's error on the eyeball set (looked at) and on the
blackbox set (never looked at). Tuning on what one sees in the eyeball set can overfit it:
its error then falls faster than the blackbox error. The rule (`OverfitWatch`):

    over the last `window` (default 5) evaluations on the current split generation,
    gap = (eyeball improvement) - (blackbox improvement), first to last evaluation;
    flag when gap > max(z * SE, min_gap), z = 2, min_gap = 2 points, where
    SE = sqrt(pe (1 - pe) / n_eyeball + pb (1 - pb) / n_blackbox) is the binomial standard error
    of an eyeball-minus-blackbox difference, at the window's mean error rates pe and pb.

Fewer than 2 evaluations never flag. A refresh of the split starts a new history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from medgen.detect.predictions import Predictions
from medgen.errors.split import split_tables
from medgen.errors.store import ErrorStore, EvaluationRecord
from medgen.errors.tally import resolve_split

WINDOW = 5  # evaluations looked at
Z = 2.0  # standard errors the gap must exceed (~95 % one-sided: rarely a false alarm)
MIN_GAP = 0.02  # and at least 2 error-rate points, so huge sets don't flag trivia


def binomial_se(rate: float, n: int) -> float:
    """Standard error of an error rate measured on `n` examples."""
    return math.sqrt(rate * (1.0 - rate) / n) if n > 0 else math.inf


class OverfitWatch:
    """Flag eyeball error improving much faster than blackbox error (MLY ch. 18)."""

    def __init__(self, window: int = WINDOW, *, z: float = Z, min_gap: float = MIN_GAP) -> None:
        self.window = window
        self.z = z
        self.min_gap = min_gap

    def fit(self, history: Sequence[EvaluationRecord]) -> OverfitWatch:
        """Learn `overfitting_`, `gap_`, `threshold_`, `message_` from evaluations, oldest first."""
        recent = list(history)[-max(self.window, 2) :]
        self.n_used_ = len(recent)
        self.overfitting_ = False
        self.message_: str | None = None
        self.eyeball_improvement_ = self.blackbox_improvement_ = self.gap_ = 0.0
        self.threshold_ = math.inf
        if len(recent) < 2:
            return self
        first, last = recent[0], recent[-1]
        self.eyeball_improvement_ = first.eyeball_error - last.eyeball_error
        self.blackbox_improvement_ = first.blackbox_error - last.blackbox_error
        self.gap_ = self.eyeball_improvement_ - self.blackbox_improvement_
        pe = (first.eyeball_error + last.eyeball_error) / 2
        pb = (first.blackbox_error + last.blackbox_error) / 2
        n_eye, n_black = (
            min(first.n_eyeball, last.n_eyeball),
            min(first.n_blackbox, last.n_blackbox),
        )
        se = math.hypot(binomial_se(pe, n_eye), binomial_se(pb, n_black))
        self.threshold_ = max(self.z * se, self.min_gap)
        self.overfitting_ = self.gap_ > self.threshold_
        if self.overfitting_:
            self.message_ = (
                f"eyeball error fell {100 * self.eyeball_improvement_:.1f} points but blackbox "
                f"error {100 * self.blackbox_improvement_:.1f} over the last {len(recent)} "
                f"evaluations (gap {100 * self.gap_:.1f} > {100 * self.threshold_:.1f}): the "
                "eyeball set may be overfit (MLY ch. 18); draw a new one with "
                "`medgen errors split --refresh`"
            )
        return self


class EvaluateOutcome(NamedTuple):
    """The recorded evaluation and the watch over the current split's history."""

    evaluation: EvaluationRecord
    history: list[EvaluationRecord]
    watch: OverfitWatch


def evaluate_project(store: ErrorStore, predictions: Predictions) -> EvaluateOutcome:
    """Record eyeball and blackbox error of `predictions` on the current split; run the watch."""
    with store.transaction():
        split = resolve_split(store, predictions)
        eyeball, blackbox = split_tables(predictions, split)
        record = store.add_evaluation(
            predictions.model_version,
            split,
            eyeball_error=float((eyeball["truth"] != eyeball["prediction"]).mean()),
            blackbox_error=float((blackbox["truth"] != blackbox["prediction"]).mean()),
            n_eyeball=len(eyeball),
            n_blackbox=len(blackbox),
            predictions_path=str(predictions.path),
        )
        history = store.evaluations(split.split_id)
    return EvaluateOutcome(record, history, OverfitWatch().fit(history))


def watch_project(store: ErrorStore, predictions: Predictions | None = None) -> OverfitWatch:
    """The watch over the evaluations of the split in force (the latest one if no predictions)."""
    split = resolve_split(store, predictions)
    return OverfitWatch().fit(store.evaluations(split.split_id))
