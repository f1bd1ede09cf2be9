"""Tables for the report: a dataset's counts per split × location × type and summaries per type,
and the mode-collapse benchmark's summary as a reader sees it."""

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


def mean_std(mean: float, std: float, digits: int) -> str:
    """`mean ± std` to `digits` decimals; the mean alone when the spread is zero or unknown."""
    if not np.isfinite(mean):
        return "∞" if mean > 0 else "–"
    if not std or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def spread(summary: pd.DataFrame, name: str, digits: int) -> list[str]:
    """Column `name` of a summary with `name_mean` and `name_std` columns, as `mean_std` text."""
    pairs = zip(summary[f"{name}_mean"], summary[f"{name}_std"], strict=True)
    return [mean_std(mean, std, digits) for mean, std in pairs]


def mode_collapse_shown(summary: pd.DataFrame) -> pd.DataFrame:
    """The mode-collapse summary (`medgen.lab.mode_collapse.summarise`) with plain headers, mean
    ± std in one cell, one row per mixture and model; a reverse KL of ∞ means some seed drew no
    high-quality sample, so it has no mode histogram."""
    modes = spread(summary, "modes", 1)
    index = [summary["mixture"], summary["family"]]
    return pd.DataFrame(
        {
            "modes captured": [f"{m} of {of}" for m, of in zip(modes, summary["of"], strict=True)],
            "fewest (any seed)": summary["modes_min"].to_numpy(),
            "high quality %": spread(summary, "high_quality", 1),
            "reverse KL": spread(summary, "reverse_kl", 3),
            "training s": spread(summary, "train_s", 2),
            "parameters": summary["parameters"].to_numpy(),
            "NFE": summary["nfe"].to_numpy(),
        },
        index=pd.MultiIndex.from_arrays(index, names=["mixture", "model"]),
    )
