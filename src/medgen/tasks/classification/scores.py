"""Classification scores of (N, K) class probabilities against (N,) true class indices."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import f1_score, roc_auc_score


def correct(probabilities: NDArray[np.floating], truth: NDArray[np.integer]) -> NDArray[np.float64]:
    """(N,) 1.0 where the most probable class is the true one: accuracy per slice, which the
    paired bootstrap resamples."""
    return (np.asarray(probabilities).argmax(1) == np.asarray(truth)).astype(np.float64)


def class_scores(
    probabilities: NDArray[np.floating], truth: NDArray[np.integer], classes: tuple[str, ...]
) -> dict[str, float]:
    """Accuracy, macro-F1 over `classes`, and one-vs-rest AUROC per class (NaN for a class that
    is absent or alone in `truth`)."""
    p, y = np.asarray(probabilities, np.float64), np.asarray(truth)
    k = len(classes)
    scores = {
        "accuracy": float(correct(p, y).mean()) if len(y) else float("nan"),
        "macro_f1": float(
            f1_score(y, p.argmax(1), labels=list(range(k)), average="macro", zero_division=0)
        )
        if len(y)
        else float("nan"),
    }
    for c, name in enumerate(classes):
        positive = y == c
        auroc = float("nan")
        if positive.any() and not positive.all():
            auroc = float(roc_auc_score(positive, p[:, c]))
        scores[f"auroc_{name}"] = auroc
    return scores
