"""What the eyeballing app's pages show, read from the store and the predictions: no HTTP here.

Only eyeball-set errors of the split generation in force are ever looked up (`EyeballErrors`):
a blackbox, retired, correct or unknown id finds nothing, so no page or picture can show it
(MLY ch. 17: the blackbox set is never looked at). Metadata shown is a fixed whitelist of the
built-in data's columns (`METADATA_COLUMNS`): never `source` (an imported file's name) nor
anything else a dataset or a DICOM header may have carried.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from medgen.detect.predictions import Predictions
from medgen.errors.pictures import heat
from medgen.errors.split import split_tables
from medgen.errors.store import ErrorStore, EvaluationRecord, StoredSplit, Tag
from medgen.errors.tally import resolve_split

# What pages may show, named here on purpose (not taken from what `detect predict` copies): a
# column added to the predictions later stays hidden until it is judged safe and listed here.
METADATA_COLUMNS = (
    "location",
    "tumour_type",
    "tumour_px",
    "tumour_contrast",
    "enhancing",
    "noise_sigma",
    "bias_strength",
    "source_z",
)
SHORTCUT_KEYS = 9  # keys 1-9 toggle the first nine tag categories
# Tag categories offered from the start, one per metadata column the predictions carry: the data
# records that slices vary this way, so whether an error is one of these is worth a look (MLY
# ch. 15 starts from such guesses). They enter the store when first used.
STARTERS = {
    "noise_sigma": "noisy",
    "bias_strength": "bias-field",
    "tumour_contrast": "faint-tumour",
    "tumour_px": "tiny-tumour",
    "source_z": "edge-slice",
}


class EyeballErrors(NamedTuple):
    """The eyeball-set errors of the split in force, sorted by id."""

    split: StoredSplit
    table: pd.DataFrame  # rows of predictions.table, index 0..n-1
    n_eyeball: int

    def position(self, example_id: int) -> int | None:
        """Where `example_id` stands among the errors, or None if it is not one of them."""
        ids = self.table["id"].to_numpy(dtype=np.int64)
        found = np.flatnonzero(ids == example_id)
        return int(found[0]) if len(found) else None


def eyeball_errors(store: ErrorStore, predictions: Predictions) -> EyeballErrors:
    """The eyeball errors of `predictions` on the current split (InputError if none is stored)."""
    split = resolve_split(store, predictions)
    eyeball, _ = split_tables(predictions, split)
    errors = eyeball[eyeball["truth"] != eyeball["prediction"]].sort_values("id")
    return EyeballErrors(split, errors.reset_index(drop=True), len(eyeball))


def tag_categories(store: ErrorStore, table: pd.DataFrame | None = None) -> list[str]:
    """Names of the tag categories (people's, not metadata ones), and the starters of the
    metadata columns of `table`, by name."""
    stored = {c.name for c in store.categories() if c.source == "tag"}
    columns = [] if table is None else table.columns
    return sorted(stored | {name for column, name in STARTERS.items() if column in columns})


def tags_of(
    store: ErrorStore, content_hash: str, example_ids: Sequence[int]
) -> dict[int, list[Tag]]:
    """The tags of each of `example_ids` (empty lists for untagged ones)."""
    wanted = {int(i) for i in example_ids}
    found: dict[int, list[Tag]] = {i: [] for i in wanted}
    for tag in store.tags(content_hash):
        if tag.example_id in wanted:
            found[tag.example_id].append(tag)
    return found


class GalleryRow(NamedTuple):
    """One eyeball error in the gallery."""

    example_id: int
    truth: str
    prediction: str
    location: str
    confidence: str  # the score of the predicted class, or "" if there are no scores
    tags: list[Tag]


def gallery_rows(
    errors: EyeballErrors, tags: dict[int, list[Tag]], ids: Sequence[int]
) -> list[GalleryRow]:
    """The gallery's rows of errors `ids`, in that order (location and confidence only if the
    predictions carry them)."""
    table = errors.table.set_index("id", drop=False)
    rows = []
    for example_id in ids:
        row = table.loc[example_id]
        score = row.get(f"score_{row['prediction']}")
        rows.append(
            GalleryRow(
                example_id,
                str(row["truth"]),
                str(row["prediction"]),
                str(row.get("location", "")),
                "" if score is None else format_value(float(score)),
                tags.get(example_id, []),
            )
        )
    return rows


def format_value(value: Any) -> str:
    """A metadata value as short text (floats to 4 significant digits, NaN as '-')."""
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def metadata_items(row: pd.Series) -> list[tuple[str, str]]:
    """(column, value) of the whitelisted metadata columns present in `row`, nothing else."""
    return [(c, format_value(row[c])) for c in METADATA_COLUMNS if c in row.index]


def score_items(row: pd.Series) -> list[tuple[str, str]]:
    """(class, score) of the `score_<class>` columns of `row`."""
    return [
        (str(c)[len("score_") :], format_value(float(row[c])))
        for c in row.index
        if str(c).startswith("score_")
    ]


class ExampleView(NamedTuple):
    """One eyeball error as its page shows it."""

    example_id: int
    truth: str
    prediction: str
    scores: list[tuple[str, str]]
    metadata: list[tuple[str, str]]
    position: int | None  # 0-based, among the errors chosen; None if it is not chosen
    n_errors: int  # errors chosen
    previous_id: int | None
    next_id: int | None
    tags: list[Tag]
    categories: list[str]  # the metadata categories of the tally it falls in


def example_view(
    errors: EyeballErrors,
    example_id: int,
    tags: list[Tag],
    chosen: Sequence[int],
    neighbours: tuple[int | None, int | None],
    sheet: pd.DataFrame,
) -> ExampleView | None:
    """The page data of eyeball error `example_id`, or None if it is not one; its place among
    the `chosen` errors and its `neighbours` there come from the gallery's selection."""
    at = errors.position(example_id)
    if at is None:
        return None
    row = errors.table.iloc[at]
    flags = sheet.iloc[at]
    metadata = [str(c) for c in sheet.columns if "=" in str(c) and bool(flags[c])]
    return ExampleView(
        example_id=example_id,
        truth=str(row["truth"]),
        prediction=str(row["prediction"]),
        scores=score_items(row),
        metadata=metadata_items(row),
        position=list(chosen).index(example_id) if example_id in chosen else None,
        n_errors=len(chosen),
        previous_id=neighbours[0],
        next_id=neighbours[1],
        tags=tags,
        categories=metadata,
    )


class Toggle(NamedTuple):
    """A tag category's add/remove button on an example page."""

    category: str
    key: str  # "1".."9", or "" beyond the ninth
    tagged: bool


def toggles(categories: Sequence[str], tags: Sequence[Tag]) -> list[Toggle]:
    """One toggle per tag category, the first nine bound to keys 1-9."""
    present = {t.category for t in tags}
    return [
        Toggle(name, str(i + 1) if i < SHORTCUT_KEYS else "", name in present)
        for i, name in enumerate(categories)
    ]


# ---- the tally chart ------------------------------------------------------------------------

CHART_LABEL_PX = 190  # left column of category names
CHART_PANEL_PX = 260  # width of each of the two panels
CHART_GAP_PX = 40
CHART_ROW_PX = 20
CHART_TOP_PX = 28  # panel titles


class ChartRow(NamedTuple):
    """One category's bars: share of errors (left), error rate left if fixed + gain (right)."""

    category: str
    y: int
    share_width: float
    share_text: str
    fixed_width: float  # error rate if fixed, on the right panel
    gain_width: float  # the ceiling: points the category could remove
    gain_text: str


class TallyChart(NamedTuple):
    """Geometry of the tally's inline SVG bar chart."""

    width: int
    height: int
    left_x: int
    right_x: int
    panel: int
    rows: list[ChartRow]
    error_rate_text: str


def tally_chart(summary: pd.DataFrame, error_rate: float) -> TallyChart:
    """Bars of % of errors and ceilings (MLY ch. 14) per category of a tally summary."""
    left_x = CHART_LABEL_PX
    right_x = left_x + CHART_PANEL_PX + CHART_GAP_PX
    scale = CHART_PANEL_PX / error_rate if error_rate > 0 else 0.0
    rows = [
        ChartRow(
            category=str(r.category),
            y=CHART_TOP_PX + i * CHART_ROW_PX,
            share_width=round(float(r.share) * CHART_PANEL_PX, 1),
            share_text=f"{100 * float(r.share):.0f}%",
            fixed_width=round(float(r.error_rate_if_fixed) * scale, 1),
            gain_width=round(float(r.max_improvement) * scale, 1),
            gain_text=f"{-100 * float(r.max_improvement):.1f} pts" if r.max_improvement else "0",
        )
        for i, r in enumerate(summary.itertuples())
    ]
    return TallyChart(
        width=right_x + CHART_PANEL_PX + 70,
        height=CHART_TOP_PX + len(rows) * CHART_ROW_PX + 8,
        left_x=left_x,
        right_x=right_x,
        panel=CHART_PANEL_PX,
        rows=rows,
        error_rate_text=f"{100 * error_rate:.1f}%",
    )


# ---- the eyeball-vs-blackbox history chart ---------------------------------------------------

HISTORY_W, HISTORY_H, HISTORY_PAD = 560, 200, 36


class HistoryChart(NamedTuple):
    """Geometry of the eyeball and blackbox error lines over evaluations."""

    width: int
    height: int
    pad: int
    eyeball: list[tuple[float, float]]  # (x, y) of each evaluation's point
    blackbox: list[tuple[float, float]]
    top_text: str  # the error rate at the top of the axis


def history_chart(history: Sequence[EvaluationRecord]) -> HistoryChart | None:
    """Lines of eyeball and blackbox error, evaluation by evaluation; None with no evaluations."""
    if not history:
        return None
    top = max(max(e.eyeball_error, e.blackbox_error) for e in history)
    top = max(0.05, math.ceil(top * 20) / 20)  # up to the next 5 points
    inner_w, inner_h = HISTORY_W - 2 * HISTORY_PAD, HISTORY_H - 2 * HISTORY_PAD
    step = inner_w / max(len(history) - 1, 1)

    def points(values: Sequence[float]) -> list[tuple[float, float]]:
        return [
            (round(HISTORY_PAD + i * step, 1), round(HISTORY_PAD + inner_h * (1 - v / top), 1))
            for i, v in enumerate(values)
        ]

    return HistoryChart(
        HISTORY_W,
        HISTORY_H,
        HISTORY_PAD,
        points([e.eyeball_error for e in history]),
        points([e.blackbox_error for e in history]),
        f"{100 * top:.0f}%",
    )


# ---- the probability map's colour bar -------------------------------------------------------

COLOUR_BAR_W, COLOUR_BAR_H, COLOUR_BAR_PAD = 14, 256, 8  # bar width, height, room for labels
COLOUR_BAR_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


class ColourBar(NamedTuple):
    """Geometry of the colour scale beside the probability map (an inline SVG gradient)."""

    width: int
    height: int
    pad: int
    stops: list[tuple[str, str]]  # (offset in %, colour "#rrggbb"), from probability 0 up
    ticks: list[tuple[float, str]]  # (y, label)


def colour_bar() -> ColourBar:
    """The probability map's colour scale: `pictures.heat` at the ramp's breakpoints (0, 1/3,
    2/3, 1), between which it is linear, so the SVG's linear gradient is the same ramp."""
    levels = np.array([0, 85, 170, 255], dtype=np.uint8)  # 85 / 255 = 1/3 exactly
    colours = heat(levels[None, :])[0]  # (4, 3)
    stops = [
        (f"{100 * int(level) / 255:.2f}", "#{:02x}{:02x}{:02x}".format(*map(int, rgb)))
        for level, rgb in zip(levels, colours, strict=True)
    ]
    ticks = [
        (round(COLOUR_BAR_PAD + (1 - p) * COLOUR_BAR_H, 1), f"{p:g}") for p in COLOUR_BAR_TICKS
    ]
    return ColourBar(COLOUR_BAR_W, COLOUR_BAR_H, COLOUR_BAR_PAD, stops, ticks)
