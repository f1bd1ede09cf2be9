"""Which eyeball errors the gallery and the pager walk through, in which order: filters and sorts.

A `Query` is the page's URL query, parsed against a whitelist and carried on every link and
form of the app, so that the pager's next/previous and "tag, then next" stay inside what the
gallery shows. Filters: truth, prediction, location, a tag (or untagged), any category of the
tally (metadata ones such as `size_bin=small`, or tags), and a confidence range (the score of
the predicted class). Sorts: id, confidence, tags (their names, untagged last), truth,
prediction or a shown metadata column, either way. The window/level of the input pictures
rides along too. Values that name nothing select nothing; malformed numbers are ignored: a
query can never reach more than the eyeball errors it filters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from medgen.detect.predictions import Predictions
from medgen.errors.store import ErrorStore, Tag
from medgen.errors.tally import ErrorTally
from medgen.errors.web.images import Window
from medgen.errors.web.views import (
    METADATA_COLUMNS,
    EyeballErrors,
    eyeball_errors,
    tag_categories,
    tags_of,
)

NO_TAG = "-"  # the tag filter's "untagged": no category name can be "-"
SORT_FIELDS = ("id", "confidence", "tags", "truth", "prediction", *METADATA_COLUMNS)
COMPUTED = ("confidence", "tags")  # sort fields made here, not columns of the predictions
WINDOW_RANGE = (0.01, 2.0)  # window widths allowed, in input units (images in [0, 1])
LEVEL_RANGE = (-0.5, 1.5)  # window centres allowed
TEXT_FIELDS = ("truth", "prediction", "location", "tag", "category")
NUMBER_FIELDS = ("min_conf", "max_conf", "window", "level")


class Query(NamedTuple):
    """The gallery's filters and sort, and the pictures' window/level, as the URL gives them."""

    truth: str = ""
    prediction: str = ""
    location: str = ""
    tag: str = ""  # a tag category, NO_TAG for untagged errors, "" for any
    category: str = ""  # a tally category: metadata ("group=value") or a tag
    min_conf: float | None = None
    max_conf: float | None = None
    sort: str = "id"  # a SORT_FIELDS name, "-" in front for descending
    window: float | None = None  # width of the input window; None: the full [0, 1]
    level: float | None = None  # its centre

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """The query of URL parameters `params` (unknown keys and malformed numbers ignored)."""
        text = {k: str(params.get(k, "")).strip()[:80] for k in TEXT_FIELDS}
        numbers = {k: number(params.get(k, "")) for k in NUMBER_FIELDS}
        sort = str(params.get("sort", "id"))
        window, level = numbers["window"], numbers["level"]
        if (
            window is None
            or level is None
            or not (in_range(window, WINDOW_RANGE) and in_range(level, LEVEL_RANGE))
        ):
            window = level = None
        return cls(
            **text,
            min_conf=numbers["min_conf"],
            max_conf=numbers["max_conf"],
            sort=sort if sort.lstrip("-") in SORT_FIELDS else "id",
            window=window,
            level=level,
        )

    def pairs(self, **changes: str | float | None) -> list[tuple[str, str]]:
        """(name, value) of the fields that differ from the defaults, with `changes` applied."""
        fields = {**self._asdict(), **changes}
        return [
            (k, f"{v:g}" if isinstance(v, float) else str(v))
            for k, v in fields.items()
            if v not in ("", None) and not (k == "sort" and v == "id")
        ]

    def suffix(self, **changes: str | float | None) -> str:
        """`?` and the URL query string, or '' when all fields are defaults (for links)."""
        encoded = urlencode(self.pairs(**changes))
        return f"?{encoded}" if encoded else ""

    def view_suffix(self) -> str:
        """The suffix of the window/level alone (for pictures: filters do not change them)."""
        return Query(window=self.window, level=self.level).suffix()

    def window_of(self) -> Window:
        """The input pictures' window (the full [0, 1] unless the query sets one)."""
        if self.window is None or self.level is None:
            return Window()
        return Window(self.level - self.window / 2, self.level + self.window / 2)

    @property
    def filtered(self) -> bool:
        """True if any filter is set."""
        return any(getattr(self, k) for k in TEXT_FIELDS) or (
            self.min_conf is not None or self.max_conf is not None
        )


def number(text: str) -> float | None:
    """A finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    """True if bounds[0] <= value <= bounds[1]."""
    return bounds[0] <= value <= bounds[1]


def confidence(table: pd.DataFrame) -> pd.Series:
    """The score of the predicted class of each row (NaN where the table has no such score)."""
    values = pd.Series(np.nan, index=table.index, dtype=float)
    for cls in table["prediction"].unique():
        column = f"score_{cls}"
        if column in table.columns:
            rows = table["prediction"] == cls
            values[rows] = pd.to_numeric(table.loc[rows, column], errors="coerce")
    return values


def categorise(
    errors: EyeballErrors,
    tags: Sequence[Tag],
    tag_categories: Sequence[str],
    image_size: int | None,
) -> ErrorTally:
    """The error spreadsheet of the errors: one boolean column per category (MLY ch. 14)."""
    return ErrorTally(image_size=image_size).fit(errors.table, tags, tag_categories)


class Selection(NamedTuple):
    """The errors in the query's order, and those of them its filters keep."""

    order: list[int]  # every error id, sorted as asked
    chosen: list[int]  # the ones passing the filters, in the same order

    def neighbours(self, example_id: int) -> tuple[int | None, int | None]:
        """The chosen errors just before and just after `example_id` in the order (which need
        not be chosen itself: a tag just added may have taken it out of the filter)."""
        if example_id not in self.order:
            return None, None
        at = self.order.index(example_id)
        kept = set(self.chosen)
        before = [i for i in self.order[:at] if i in kept]
        after = [i for i in self.order[at + 1 :] if i in kept]
        return (before[-1] if before else None), (after[0] if after else None)


def select(
    errors: EyeballErrors, sheet: pd.DataFrame, tags: Mapping[int, Sequence[Tag]], query: Query
) -> Selection:
    """Sort the errors as `query` asks and keep those passing its filters."""
    table = errors.table.copy()
    names = [{t.category for t in tags.get(int(i), ())} for i in table["id"]]
    table["confidence"] = confidence(table)
    table["tags"] = [",".join(sorted(found)) or None for found in names]  # untagged: last
    keep = pd.Series(True, index=table.index)
    for column in ("truth", "prediction", "location"):
        wanted = getattr(query, column)
        if wanted:
            values = table[column].astype(str) if column in table.columns else ""
            keep &= values == wanted
    if query.tag:
        hits = [not found if query.tag == NO_TAG else query.tag in found for found in names]
        keep &= np.array(hits, dtype=bool)
    if query.category:
        in_sheet = query.category in sheet.columns
        keep &= sheet[query.category].to_numpy(dtype=bool) if in_sheet else False
    if query.min_conf is not None:
        keep &= table["confidence"] >= query.min_conf
    if query.max_conf is not None:
        keep &= table["confidence"] <= query.max_conf
    field = query.sort.lstrip("-")
    if field not in table.columns:
        field = "id"
    ordered = table.assign(_keep=keep).sort_values(
        [field, "id"],
        ascending=[not query.sort.startswith("-"), True],
        na_position="last",
        kind="mergesort",
    )
    ids = [int(i) for i in ordered["id"]]
    return Selection(ids, [i for i, k in zip(ids, ordered["_keep"], strict=True) if k])


class FilterOptions(NamedTuple):
    """What the gallery's filter form offers, read off the errors."""

    truths: list[str]
    predictions: list[str]
    locations: list[str]
    tags: list[str]
    categories: list[tuple[str, int]]  # tally categories with their error counts
    sorts: list[str]


def filter_options(
    errors: EyeballErrors, tally: ErrorTally, tag_names: Sequence[str]
) -> FilterOptions:
    """The values each filter of the gallery can take on these errors."""
    table = errors.table

    def values(column: str) -> list[str]:
        return sorted(table[column].astype(str).unique()) if column in table.columns else []

    sorts = [f for f in SORT_FIELDS if f in table.columns or f in COMPUTED]
    return FilterOptions(
        truths=values("truth"),
        predictions=values("prediction"),
        locations=values("location"),
        tags=list(tag_names),
        categories=[(str(r.category), int(r.count)) for r in tally.summary_.itertuples()],
        sorts=[s for f in sorts for s in (f, f"-{f}")],
    )


class Chosen(NamedTuple):
    """The eyeball errors as a page sees them: tags, categories and the query's selection."""

    errors: EyeballErrors
    tags: dict[int, list[Tag]]  # example id -> its tags
    tag_names: list[str]  # the tag categories offered (stored ones and the starters)
    tally: ErrorTally  # `sheet_` says which category each error falls in
    selection: Selection


def choose(store: ErrorStore, predictions: Predictions, query: Query) -> Chosen:
    """Read the eyeball errors and their tags from `store`, and select them as `query` asks."""
    errors = eyeball_errors(store, predictions)
    tags = tags_of(store, errors.split.content_hash, [int(i) for i in errors.table["id"]])
    names = tag_categories(store, predictions.table)
    every = [t for found in tags.values() for t in found]
    tally = categorise(errors, every, names, predictions.image_size)
    return Chosen(errors, tags, names, tally, select(errors, tally.sheet_, tags, query))
