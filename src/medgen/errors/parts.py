"""Error analysis by parts of a pipeline (Ng, *Machine Learning Yearning*, ch. 53-57).

For each error, give one part at a time, alone, a perfect output (the clean image for
preprocess, the true mask for extract) and re-run the rest; the error belongs to the first
part, in pipeline order, whose perfect output alone fixes it (MLY ch. 54); errors none fixes
belong to the last part, which has no perfect substitute. (MLY ch. 55 substitutes
cumulatively instead, parts 1..k together; the two differ only on errors that need two perfect
parts at once, which here go to the last part.) The cumulative ceiling analysis (Ng's
"ceiling analysis" of a pipeline) gives the accuracy with parts 1..k perfect, k = 0..n-1,
over all examples: how much each part could still add.

A part whose perfect output does not raise that accuracy has no gain to offer, whatever errors
it fixes alone: the parts after it were trained on its real outputs, and a perfect one can be
new to them (a clean slice for a detector that learned on noisy ones). Its share of the errors
would point effort the wrong way, so the table reports it as "no gain", with the two
accuracies, and no share. Shares come with Wilson 95% intervals: on an eyeball set of about
100 errors a share is known to within about +-10 points. `wrong_type` counts each part's
errors that name the wrong tumour type (malignant called benign or the reverse), the errors a
classifier of types is judged by.

Predict calls are batched: one over all ids for the baseline, one over all the
errors per part (skipped once all are explained), one over all ids per cumulative
setting (k >= 1): at most 2n - 1 calls.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from medgen.evaluate.proportions import wilson

NO_TUMOUR = "none"  # the class of a slice without a tumour


@runtime_checkable
class AnalysablePipeline(Protocol):
    """A pipeline of named parts that can run with perfect outputs substituted for some parts."""

    @property
    def parts(self) -> tuple[str, ...]:
        """The part names in pipeline order, e.g. ("preprocess", "extract", "classify")."""
        ...

    def predict(self, ids: np.ndarray, perfect: Collection[str] = ()) -> np.ndarray:
        """Predicted class per id, with the `perfect` parts' outputs replaced by the truth."""
        ...


class CeilingRow(NamedTuple):
    """Accuracy with the first k parts perfect (MLY ch. 57)."""

    perfect: tuple[str, ...]
    accuracy: float


@dataclass(frozen=True)
class PartsReport:
    """Which part each error is attributed to, shares per part, and the cumulative ceiling."""

    parts: tuple[str, ...]
    n_examples: int
    n_errors: int
    attribution: pd.DataFrame  # one row per error: id, truth, prediction, part
    counts: dict[str, int]
    shares: dict[str, float]  # of the errors, in [0, 1]
    ceiling: tuple[CeilingRow, ...]  # k = 0..n-1

    def gains(self) -> dict[str, float]:
        """Per part but the last: accuracy with the parts up to it perfect, minus with those
        before it perfect (the cumulative ceiling's steps)."""
        steps = [row.accuracy for row in self.ceiling]
        return {p: steps[k + 1] - steps[k] for k, p in enumerate(self.parts[:-1])}

    def table(self) -> pd.DataFrame:
        """Per part: errors attributed (and those of the wrong tumour type), share with its
        Wilson 95% interval, accuracy with the parts up to it perfect, the gain over the step
        before, and the verdict: "no gain" (no share) where that gain is not positive."""
        after = {row.perfect[-1]: row.accuracy for row in self.ceiling if row.perfect}
        gains = self.gains()
        wrong_type = (self.attribution["truth"] != NO_TUMOUR) & (
            self.attribution["prediction"] != NO_TUMOUR
        )
        rows = []
        for k, part in enumerate(self.parts):
            count = self.counts[part]
            interval = wilson(count, self.n_errors)
            row = {
                "part": part,
                "errors": count,
                "wrong_type": int((wrong_type & (self.attribution["part"] == part)).sum()),
                "share": interval["error"],
                "share_low": interval["low"],
                "share_high": interval["high"],
                "accuracy_if_perfect_up_to": after.get(part, np.nan),
                "gain": gains.get(part, np.nan),
                "verdict": "",
            }
            if part in gains and not gains[part] > 0:
                before, now = self.ceiling[k].accuracy, self.ceiling[k + 1].accuracy
                row["verdict"] = (
                    f"no gain: a perfect {part} takes accuracy from {before:.3f} to {now:.3f}"
                )
                row["share"] = row["share_low"] = row["share_high"] = np.nan
            rows.append(row)
        return pd.DataFrame(rows)


def _predict(pipeline: AnalysablePipeline, ids: np.ndarray, perfect: Collection[str]) -> np.ndarray:
    """`pipeline.predict`, checked to return one prediction per id."""
    out = np.asarray(pipeline.predict(ids, perfect=perfect))
    if out.shape != ids.shape:
        raise ValueError(f"predict returned shape {out.shape} for {ids.shape} ids")
    return out


def attribute_errors(
    pipeline: AnalysablePipeline, ids: np.ndarray, truth: np.ndarray
) -> PartsReport:
    """Attribute each error to the first part whose perfect output alone fixes it (MLY ch. 54)."""
    ids, truth = np.asarray(ids), np.asarray(truth)
    parts = tuple(pipeline.parts)
    if not parts:
        raise ValueError("the pipeline has no parts")
    if ids.shape != truth.shape or ids.ndim != 1:
        raise ValueError(f"ids {ids.shape} and truth {truth.shape} must be 1-D and match")
    baseline = _predict(pipeline, ids, ())
    wrong = baseline != truth
    err_ids, err_truth = ids[wrong], truth[wrong]
    part_of = np.full(len(err_ids), parts[-1], dtype=object)
    unresolved = np.ones(len(err_ids), dtype=bool)
    for part in parts[:-1]:
        if not unresolved.any():
            break
        fixed = _predict(pipeline, err_ids, (part,)) == err_truth
        part_of[unresolved & fixed] = part
        unresolved &= ~fixed
    counts = {p: int((part_of == p).sum()) for p in parts}
    n_errors = int(wrong.sum())
    ceiling = [CeilingRow((), float((~wrong).mean()) if len(ids) else 0.0)]
    for k in range(1, len(parts)):
        correct = _predict(pipeline, ids, parts[:k]) == truth
        ceiling.append(CeilingRow(parts[:k], float(correct.mean())))
    attribution = pd.DataFrame(
        {"id": err_ids, "truth": err_truth, "prediction": baseline[wrong], "part": part_of}
    )
    return PartsReport(
        parts=parts,
        n_examples=len(ids),
        n_errors=n_errors,
        attribution=attribution,
        counts=counts,
        shares={p: counts[p] / n_errors if n_errors else 0.0 for p in parts},
        ceiling=tuple(ceiling),
    )
