"""Counts per split × location × type, group order, per-type summaries, the mode-collapse
table."""

from __future__ import annotations

import re

import pandas as pd

from medgen.data.store import StoredDataset
from medgen.lab.mode_collapse import COLUMNS, summarise
from medgen.report.html import table_html
from medgen.report.tables import (
    counts_table,
    group_rows,
    groups,
    mode_collapse_shown,
    ordered,
    type_summary,
)


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


def test_mode_collapse_table_reads_plainly() -> None:
    rows = pd.DataFrame(
        [
            ["ring", "gan", seed, modes, 8, hq, kl, 67203, 80, 256, 0.3, float("nan")]
            for seed, modes, hq, kl in ((0, 1, 0.2, 2.079), (1, 2, 0.4, 1.5))
        ]
        + [
            ["ring", "vae", seed, 0, 8, 0.0, float("inf"), 67592, 80, 256, 0.2, float("nan")]
            for seed in (0, 1)
        ]
        + [["grid", "diffusion", 0, 20, 25, 17.2, 0.862, 65282, 80, 256, 0.19, 40.0]],
        columns=COLUMNS,
    )
    shown = mode_collapse_shown(summarise(rows))
    assert list(shown.index.names) == ["mixture", "model"]
    assert shown.loc[("ring", "gan"), "modes captured"] == "1.5 ± 0.7 of 8"
    assert shown.loc[("grid", "diffusion"), "modes captured"] == "20.0 of 25"  # one seed
    assert shown.loc[("ring", "vae"), "reverse KL"] == "∞"
    text = table_html(shown)
    assert "_" not in "".join(re.findall(r"<th>([^<]*)</th>", text))
    assert "inf" not in text and "nan" not in text.lower() and "<th>0</th>" not in text
    assert "67,203" in text and "<td>40</td>" in text and "<td>–</td>" in text
