"""Tables about a dataset's metadata: counts per split × location × type, summaries per type."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

SPLIT_ORDER = ("train", "dev", "test")
LOCATION_ORDER = (
    "none",
    "brainstem",
    "cerebellum",
    "frontal",
    "parietal",
    "temporal",
    "occipital",
    "deep_grey",
)
TYPE_ORDER = ("none", "benign", "malignant")
SUMMARY_COLUMNS = ("tumour_px", "oedema_px", "tumour_contrast", "noise_sigma", "bias_strength")


def ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """The distinct `values`, those in `preferred` first in its order, the rest sorted after."""
    present = set(values)
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def groups(meta: pd.DataFrame) -> list[tuple[str, str]]:
    """The (location, tumour_type) pairs present in `meta`, in display order."""
    pairs = set(zip(meta["location"], meta["tumour_type"], strict=True))
    locations = ordered((loc for loc, _ in pairs), LOCATION_ORDER)
    types = ordered((kind for _, kind in pairs), TYPE_ORDER)
    return [(loc, kind) for loc in locations for kind in types if (loc, kind) in pairs]


def group_rows(meta: pd.DataFrame) -> dict[tuple[str, str], np.ndarray[Any, Any]]:
    """Row ids of `meta` per (location, tumour_type) pair, in display order."""
    grouped = meta.groupby(["location", "tumour_type"]).indices
    return {pair: meta.index.to_numpy()[grouped[pair]] for pair in groups(meta)}


def counts_table(meta: pd.DataFrame) -> pd.DataFrame:
    """Slices per (location, tumour_type) row and split column, with a total row and column."""
    table = pd.crosstab([meta["location"], meta["tumour_type"]], meta["split"])
    table = table.reindex(
        index=pd.MultiIndex.from_tuples(groups(meta), names=["location", "tumour_type"]),
        columns=ordered(meta["split"], SPLIT_ORDER),
    )
    table.columns.name = None
    table["total"] = table.sum(axis=1)
    table.loc[("total", ""), :] = table.sum(axis=0)
    return table.astype("int64")


def type_summary(meta: pd.DataFrame) -> pd.DataFrame:
    """Median of the recorded numeric columns (SUMMARY_COLUMNS) per tumour type, with counts."""
    columns = [c for c in SUMMARY_COLUMNS if c in meta and meta[c].notna().any()]
    table = meta.groupby("tumour_type")[columns].median()
    table.insert(0, "slices", meta.groupby("tumour_type").size())
    return table.reindex(ordered(meta["tumour_type"], TYPE_ORDER))
