"""The eyeball / blackbox split of the dev set (Ng, *Machine Learning Yearning*, ch. 17-18).

Sizing rule (`eyeball_size`):

1. aim the eyeball set at `target_errors` errors (default 100, MLY ch. 18), clipped to
   [MIN_ERRORS, MAX_ERRORS] = [20, 500]: fewer than ~20 errors hardly show the categories, more
   than ~500 rarely teach more;
2. eyeball size = ceil(target_errors / error rate) examples, since one looks only at its errors;
3. but the blackbox set keeps at least min(BLACKBOX_MIN, half the dev set) examples: MLY ch. 18
   says 1,000-10,000 blackbox examples measure error well, and on a small dev set measuring is
   worth at least as much as looking; so eyeball <= n_dev - min(1000, ceil(n_dev / 2));
4. a warning when the eyeball set so sized expects fewer than MIN_ERRORS errors.

Both sets are drawn at random, stratified by truth class and tumour location (largest-remainder
quotas), so the eyeball error rate estimates the dev error rate. The split is stored and reused;
a refresh (after overfitting the eyeball set, MLY ch. 18) retires the old eyeball set (it has
been looked at: it can never be blackbox again) and draws a new one from the blackbox set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from medgen.detect.predictions import Predictions
from medgen.errors.pins import pin_split
from medgen.errors.store import ErrorStore, StoredSplit
from medgen.exceptions import InputError, SettingError

DEFAULT_TARGET_ERRORS = 100  # MLY ch. 18: ~100 errors give a good sense of the categories
MIN_ERRORS = 20  # MLY ch. 18: with fewer than ~20 errors the categories stay a guess
MAX_ERRORS = 500  # MLY ch. 18: more than ~500 errors to look at rarely tells more
BLACKBOX_MIN = 1000  # MLY ch. 18: 1,000-10,000 blackbox examples measure the error rate well
STRATIFY = ("truth", "location")


class SplitSize(NamedTuple):
    """How big the eyeball set is, and why."""

    n_dev: int
    error_rate: float
    target_errors: int  # after clipping to [MIN_ERRORS, MAX_ERRORS]
    n_eyeball: int
    n_blackbox: int
    expected_errors: float  # n_eyeball * error_rate
    limited_by: str  # "target": sized by errors; "blackbox": by the blackbox minimum
    warnings: tuple[str, ...]


def eyeball_size(
    n_dev: int,
    error_rate: float,
    target_errors: int = DEFAULT_TARGET_ERRORS,
    *,
    blackbox_min: int = BLACKBOX_MIN,
) -> SplitSize:
    """Size the eyeball set for ~`target_errors` errors (MLY ch. 18; rules in the module doc)."""
    if n_dev < 2:
        raise InputError("dev set", f"{n_dev} example(s): need at least 2 to split")
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError(f"error rate {error_rate} is not in [0, 1]")
    warnings: list[str] = []
    target = min(max(int(target_errors), MIN_ERRORS), MAX_ERRORS)
    if target != target_errors:
        warnings.append(
            f"target of {target_errors} errors clipped to {target} (MLY ch. 18: {MIN_ERRORS}-"
            f"{MAX_ERRORS})"
        )
    wanted = math.ceil(target / error_rate) if error_rate > 0 else n_dev
    largest = n_dev - min(blackbox_min, math.ceil(n_dev / 2))
    n_eyeball = max(1, min(wanted, largest))
    limited_by = "target" if wanted <= largest else "blackbox"
    expected = n_eyeball * error_rate
    if error_rate == 0:
        warnings.append("no errors on this set: nothing to eyeball yet")
    elif expected < MIN_ERRORS:
        warnings.append(
            f"the eyeball set holds only ~{expected:.0f} errors (< {MIN_ERRORS}): too few to "
            "find the error categories reliably; a bigger dev set would help (MLY ch. 18)"
        )
    return SplitSize(
        n_dev,
        error_rate,
        target,
        n_eyeball,
        n_dev - n_eyeball,
        expected,
        limited_by,
        tuple(warnings),
    )


def allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split `n` among strata proportionally to `sizes` (largest remainder, ties by order)."""
    exact = sizes * (n / sizes.sum())
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(sizes)), -(exact - quota)))
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def stratified_sample(strata: pd.Series, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of `n` rows drawn at random within strata, in proportion to stratum sizes."""
    groups = [np.flatnonzero((strata == key).to_numpy()) for key in sorted(strata.unique())]
    quota = allocate(np.array([len(g) for g in groups], dtype=np.float64), n)
    picked = [rng.choice(g, size=q, replace=False) for g, q in zip(groups, quota, strict=True) if q]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


class EyeballSplit:
    """Draw an eyeball set sized for ~`target_errors` errors; the rest is blackbox (MLY ch. 17)."""

    def __init__(
        self,
        target_errors: int = DEFAULT_TARGET_ERRORS,
        *,
        seed: int | Sequence[int] = 0,
        stratify: Sequence[str] = STRATIFY,
        blackbox_min: int = BLACKBOX_MIN,
    ) -> None:
        self.target_errors = target_errors
        self.seed = seed
        self.stratify = stratify
        self.blackbox_min = blackbox_min

    def fit(self, table: pd.DataFrame) -> EyeballSplit:
        """Learn `eyeball_ids_`, `blackbox_ids_` and `size_` from a table of id/truth/prediction."""
        ids = table["id"].to_numpy(dtype=np.int64)
        order = np.argsort(ids, kind="stable")  # draws depend on ids, not on row order
        table = table.iloc[order]
        error_rate = float((table["truth"] != table["prediction"]).mean()) if len(table) else 0.0
        self.size_ = eyeball_size(
            len(table), error_rate, self.target_errors, blackbox_min=self.blackbox_min
        )
        columns = [c for c in self.stratify if c in table.columns]
        strata = table[columns].astype(str).agg("|".join, axis=1) if columns else None
        if strata is None:
            strata = pd.Series(["all"] * len(table), index=table.index)
        seed = [self.seed] if isinstance(self.seed, int) else list(self.seed)
        picked = stratified_sample(strata, self.size_.n_eyeball, np.random.default_rng(seed))
        is_eyeball = np.zeros(len(table), dtype=bool)
        is_eyeball[picked] = True
        sorted_ids = ids[order]
        self.eyeball_ids_ = sorted_ids[is_eyeball]
        self.blackbox_ids_ = sorted_ids[~is_eyeball]
        return self


class SplitOutcome(NamedTuple):
    """What `split_project` did: the split in force, how it was sized, whether it is new."""

    split: StoredSplit
    size: SplitSize | None  # None when an existing split was returned as it was
    created: bool


def split_project(
    store: ErrorStore,
    predictions: Predictions,
    *,
    target_errors: int = DEFAULT_TARGET_ERRORS,
    seed: int = 0,
    refresh: bool = False,
) -> SplitOutcome:
    """Return the stored split of this dataset split, making it (or a refreshed one) if asked;
    a new split is pinned to `predictions` (see `pins`)."""
    with store.transaction():  # check and create under one lock: two callers make one split
        current = store.current_split(predictions.content_hash, predictions.split)
        if current is not None and not refresh:
            check_covers(predictions, current)
            return SplitOutcome(current, None, created=False)
        if current is None and refresh:
            raise SettingError("refresh", "no split to refresh yet (run without --refresh first)")
        table = predictions.table
        if current is not None:
            check_covers(predictions, current)
            table = table[table["id"].isin(current.blackbox)]
        generation = 0 if current is None else current.generation + 1
        fitted = EyeballSplit(target_errors, seed=(seed, generation)).fit(table)
        retired = (
            np.zeros(0, np.int64)
            if current is None
            else np.union1d(current.eyeball, current.retired)
        )
        stored = store.add_split(
            predictions.content_hash,
            predictions.split,
            {"eyeball": fitted.eyeball_ids_, "blackbox": fitted.blackbox_ids_, "retired": retired},
            seed=seed,
            target_errors=fitted.size_.target_errors,
            error_rate=fitted.size_.error_rate,
            model_version=predictions.model_version,
            reason="initial" if current is None else "refresh",
        )
        pin_split(store, stored, predictions)
    return SplitOutcome(stored, fitted.size_, created=True)


def check_covers(predictions: Predictions, split: StoredSplit) -> None:
    """Refuse predictions whose ids differ from the stored split's (a different dev set)."""
    known = np.concatenate([split.eyeball, split.blackbox, split.retired])
    extra = np.setdiff1d(predictions.ids, known)
    missing = np.setdiff1d(np.concatenate([split.eyeball, split.blackbox]), predictions.ids)
    for ids, what in ((extra, "not in the stored split"), (missing, "of the split missing here")):
        if len(ids):
            shown = ", ".join(map(str, ids[:5]))
            raise InputError(
                predictions.path / "predictions.csv",
                f"{len(ids)} id(s) {what} (e.g. {shown}); same dataset hash "
                f"{predictions.content_hash[:12]} but different examples?",
            )


def split_tables(predictions: Predictions, split: StoredSplit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (eyeball, blackbox) rows of `predictions`, after checking they cover the split."""
    check_covers(predictions, split)
    table = predictions.table
    return table[table["id"].isin(split.eyeball)], table[table["id"].isin(split.blackbox)]
