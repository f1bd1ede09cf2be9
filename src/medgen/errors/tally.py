"""The error spreadsheet and its ceilings (Ng, *Machine Learning Yearning*, ch. 14-16, 19).

One row per eyeball-set error, one boolean column per category; categories overlap. Metadata
categories are computed from the dataset's columns (GROUPS below); tag categories are what
people marked in the store, "mislabeled" built in (MLY ch. 16).

The **ceiling** of a category (MLY ch. 14): if every error in it were fixed, the error rate
would fall by at most `error rate * share of errors`; we report that `max_improvement` and the
`error_rate_if_fixed` = error rate - max_improvement. E.g. 10 errors out of 50 (20 %), 6 in the
brainstem: share 60 %, max improvement 12 points, error rate if fixed 8 %.

Bins, fixed so tallies of different models compare:
- size_bin: tumour area / image area: small < 0.25 % (a radius under ~6 mm on the built-in
  200 mm field of view), medium < 1 % (< ~11 mm), large otherwise; needs `image_size`;
- noise_bin: noise_sigma (image units, images in [0, 1]): low < 0.03, medium < 0.05, high.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from medgen.detect.predictions import Predictions
from medgen.errors.pins import no_split_error, replaced_note
from medgen.errors.split import split_tables
from medgen.errors.store import Category, ErrorStore, StoredSplit, Tag
from medgen.exceptions import InputError, SettingError

SIZE_BINS = ((0.0025, "small"), (0.01, "medium"), (math.inf, "large"))  # area fraction upper ends
NOISE_BINS = ((0.03, "low"), (0.05, "medium"), (math.inf, "high"))  # noise_sigma upper ends
UNKNOWN = {"", "unknown", "nan"}
SUMMARY_COLUMNS = (
    "category",
    "source",
    "count",
    "share",  # of the eyeball errors, in [0, 1]
    "max_improvement",  # error-rate points (as a fraction) gained if the category were fixed
    "error_rate_if_fixed",
)


def _bin(values: pd.Series, bins: Sequence[tuple[float, str]]) -> pd.Series:
    """Label each value by the first bin whose upper end exceeds it; NaN stays NaN."""
    edges = [-math.inf, *(edge for edge, _ in bins)]
    labels = [label for _, label in bins]
    return pd.cut(values, bins=edges, labels=labels, right=False).astype(object)


def _text_column(column: str) -> Callable[[pd.DataFrame, int | None], pd.Series | None]:
    def labels(table: pd.DataFrame, image_size: int | None) -> pd.Series | None:
        if column not in table.columns:
            return None
        values = table[column].astype(str)
        return values.where(~values.str.lower().isin(UNKNOWN))

    labels.__doc__ = f"The `{column}` value of each example (unknown ones left out)."
    return labels


def size_labels(table: pd.DataFrame, image_size: int | None) -> pd.Series | None:
    """small / medium / large by tumour area as a fraction of the image (no tumour: none)."""
    if "tumour_px" not in table.columns or image_size is None:
        return None
    px = pd.to_numeric(table["tumour_px"], errors="coerce")
    return _bin(px.where(px > 0) / float(image_size) ** 2, SIZE_BINS)


def noise_labels(table: pd.DataFrame, image_size: int | None) -> pd.Series | None:
    """low / medium / high by the noise sigma the slice was made with."""
    if "noise_sigma" not in table.columns:
        return None
    sigma = pd.to_numeric(table["noise_sigma"], errors="coerce")
    return _bin(sigma.where(sigma >= 0), NOISE_BINS)


def enhancing_labels(table: pd.DataFrame, image_size: int | None) -> pd.Series | None:
    """yes / no for contrast-enhancing tumours (-1, not applicable, left out)."""
    if "enhancing" not in table.columns:
        return None
    flag = pd.to_numeric(table["enhancing"], errors="coerce")
    return flag.map({1: "yes", 0: "no"})


def error_kind_labels(table: pd.DataFrame, image_size: int | None) -> pd.Series:
    """missed (tumour called none), false_alarm (none called tumour), wrong_type."""
    missed = (table["truth"] != "none") & (table["prediction"] == "none")
    false_alarm = (table["truth"] == "none") & (table["prediction"] != "none")
    kind = np.where(missed, "missed", np.where(false_alarm, "false_alarm", "wrong_type"))
    return pd.Series(kind, index=table.index, dtype=object)


# group name -> labels of each example (None: the data cannot say). Category = "group=label".
GROUPS: dict[str, Callable[[pd.DataFrame, int | None], pd.Series | None]] = {
    "location": _text_column("location"),
    "tumour_type": _text_column("tumour_type"),
    "size_bin": size_labels,
    "noise_bin": noise_labels,
    "enhancing": enhancing_labels,
    "error_kind": error_kind_labels,
}


def parse_groups(by: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """`"location,size_bin"` -> ("location", "size_bin"); unknown names are a SettingError."""
    if by is None:
        return None
    names = tuple(n.strip() for n in by.split(",")) if isinstance(by, str) else tuple(by)
    names = tuple(n for n in names if n)
    unknown = [n for n in names if n not in GROUPS]
    if unknown or not names:
        raise SettingError(
            "by",
            f"unknown group(s) {', '.join(unknown) or '(none given)'} "
            f"(choose from {', '.join(GROUPS)})",
        )
    return names


def ceiling(count: int, n_errors: int, error_rate: float) -> tuple[float, float, float]:
    """(share of errors, max improvement, error rate if fixed) of a category (MLY ch. 14)."""
    share = count / n_errors if n_errors else 0.0
    gain = error_rate * share
    return share, gain, error_rate - gain


class ErrorTally:
    """The error spreadsheet of an eyeball set: categories per error, counts and ceilings."""

    def __init__(self, by: Sequence[str] | None = None, *, image_size: int | None = None) -> None:
        self.by = by
        self.image_size = image_size

    def fit(
        self,
        eyeball: pd.DataFrame,
        tags: Sequence[Tag] = (),
        tag_categories: Sequence[str] = ("mislabeled",),
    ) -> ErrorTally:
        """Learn `sheet_` (one row per error), `summary_` (per category) and the error rate."""
        errors = eyeball[eyeball["truth"] != eyeball["prediction"]].sort_values("id")
        self.n_examples_ = len(eyeball)
        self.n_errors_ = len(errors)
        self.error_rate_ = self.n_errors_ / self.n_examples_ if self.n_examples_ else 0.0
        self.notes_: list[str] = []
        columns: dict[str, pd.Series] = {}
        self.categories_: list[Category] = []
        for group in self.by if self.by is not None else GROUPS:
            labels = GROUPS[group](errors, self.image_size)
            if labels is None:
                if self.by is not None:
                    raise SettingError("by", f"{group}: the predictions lack the data for it")
                self.notes_.append(f"{group}: not in these predictions, left out")
                continue
            for value in sorted(labels.dropna().unique()):
                name = f"{group}={value}"
                columns[name] = labels == value
                self.categories_.append(Category(name, f"{group} is {value}", "metadata"))
        for category in sorted(set(tag_categories)):
            tagged = {t.example_id for t in tags if t.category == category}
            columns[category] = errors["id"].isin(tagged)
            self.categories_.append(Category(category, "", "tag"))
        flags = pd.DataFrame(columns, index=errors.index, dtype=bool)
        base = errors[["id", "truth", "prediction"]]
        self.sheet_ = pd.concat([base, flags], axis=1).reset_index(drop=True)
        self.summary_ = self._summarise()
        return self

    def _summarise(self) -> pd.DataFrame:
        rows = []
        for category in self.categories_:
            count = int(self.sheet_[category.name].sum())
            share, gain, after = ceiling(count, self.n_errors_, self.error_rate_)
            rows.append((category.name, category.source, count, share, gain, after))
        summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        summary = summary.sort_values(["count", "category"], ascending=[False, True], kind="stable")
        return summary.reset_index(drop=True)


def resolve_split(store: ErrorStore, predictions: Predictions | None) -> StoredSplit:
    """The split in force for `predictions`' dataset, or the project's latest one if None."""
    if predictions is not None:
        split = store.current_split(predictions.content_hash, predictions.split)
        if split is None:
            raise no_split_error(store, predictions)
        return split
    split = store.latest_split()
    if split is None:
        raise InputError(
            store.path, "no eyeball/blackbox split yet (run `medgen errors split` first)"
        )
    return split


def tally_project(
    store: ErrorStore, predictions: Predictions, by: Sequence[str] | None = None
) -> ErrorTally:
    """Tally the eyeball errors of `predictions` with the project's tags; records categories.
    A note says so if `predictions` replaced those the split was drawn from."""
    split = resolve_split(store, predictions)
    eyeball, _ = split_tables(predictions, split)
    tag_categories = [c.name for c in store.categories() if c.source == "tag"]
    tally = ErrorTally(by, image_size=predictions.image_size)
    tally.fit(eyeball, store.tags(predictions.content_hash), tag_categories)
    replaced = replaced_note(store, predictions, split)
    if replaced:
        tally.notes_.append(replaced)
    store.upsert_categories(c for c in tally.categories_ if c.source == "metadata")
    return tally


class TagOutcome(NamedTuple):
    """What `tag_example` did."""

    example_id: int
    category: str
    changed: bool  # False: the tag was already there (add) or not there (remove)
    generation: int


def tag_example(
    store: ErrorStore,
    example_id: int,
    category: str,
    *,
    author: str,
    predictions: Predictions | None = None,
    remove: bool = False,
    description: str = "",
) -> TagOutcome:
    """Add (or remove) a tag on an eyeball example; blackbox ones are refused (MLY ch. 17)."""
    with store.transaction():
        split = resolve_split(store, predictions)
        if not np.isin(example_id, split.eyeball):
            where = "a blackbox example" if np.isin(example_id, split.blackbox) else "not eyeball"
            raise InputError(
                f"id {example_id}",
                f"is {where} (split generation {split.generation}); only eyeball ones are tagged",
            )
        if remove:
            changed = store.remove_tag(split.content_hash, example_id, category)
        else:
            changed = store.add_tag(split.content_hash, example_id, category, author, description)
    return TagOutcome(example_id, category, changed, split.generation)
