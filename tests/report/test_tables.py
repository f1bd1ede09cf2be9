"""Counts per split × location × type, group order, per-type summaries."""

from __future__ import annotations

import pandas as pd

from medgen.data.store import StoredDataset
from medgen.report.tables import counts_table, group_rows, groups, ordered, type_summary


def test_ordered_puts_preferred_first_then_sorted() -> None:
    assert ordered(["x", "dev", "a", "train", "dev"], ("train", "dev", "test")) == [
        "train",
        "dev",
        "a",
        "x",
    ]


def test_counts_table_sums_to_n(fake_dataset: StoredDataset) -> None:
    table = counts_table(fake_dataset.meta)
    n = len(fake_dataset)
    assert table.loc[("total", ""), "total"] == n
    body = table.drop(index=("total", ""))
    assert body["total"].sum() == n
    assert (body[["train", "dev", "test"]].sum(axis=1) == body["total"]).all()
    assert list(table.columns) == ["train", "dev", "test", "total"]
    assert body.index[0] == ("none", "none")


def test_counts_table_matches_the_groups(fake_dataset: StoredDataset) -> None:
    meta = fake_dataset.meta
    table = counts_table(meta).drop(index=("total", ""))
    rows = group_rows(meta)
    assert list(table.index) == groups(meta) == list(rows)
    for pair, ids in rows.items():
        assert table.loc[pair, "total"] == len(ids)
        assert set(meta.loc[ids, "location"]) == {pair[0]}


def test_type_summary_counts_each_type(fake_dataset: StoredDataset) -> None:
    summary = type_summary(fake_dataset.meta)
    assert list(summary.index) == ["none", "benign", "malignant"]
    assert summary["slices"].sum() == len(fake_dataset)
    assert summary.loc["none", "tumour_px"] == 0


def test_counts_table_keeps_unknown_values() -> None:
    meta = pd.DataFrame(
        {
            "split": ["train", "extra"],
            "location": ["unknown", "none"],
            "tumour_type": ["glioma", "none"],
        }
    )
    table = counts_table(meta)
    assert list(table.columns) == ["train", "extra", "total"]
    assert table.loc[("total", ""), "total"] == 2
