"""The study's use of the shipped reference models: which one stands in for a run, and the
provenance table each chapter shows beside its numbers.

A chapter asks `reference_run(ctx, name)`; it gets the reference's folder (a run every command
opens) when the profile uses references and the study's data are the ones the model was trained
on, and None otherwise, after one logged line saying why, and then trains its own run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from medgen.data.store import open_dataset
from medgen.reference.zoo import Reference, load_reference, usable
from medgen.study.context import StudyContext


def reference_run(ctx: StudyContext, name: str) -> Path | None:
    """The folder of reference `name` if this study evaluates it; None: train a run instead."""
    if not ctx.profile.references:
        return None
    store = open_dataset(ctx.out / ctx.upstream["data"]["dataset"])
    found = usable(name, store, ctx.log)
    return None if found is None else found.folder


def provenance_table(names: Mapping[str, str]) -> pd.DataFrame:
    """One row per reference model used (shown name -> reference name): where it comes from."""
    rows = []
    for shown, name in names.items():
        reference: Reference = load_reference(name)
        p = reference.provenance
        rows.append(
            {
                "model": shown,
                "reference": name,
                "steps": p.get("steps"),
                "images seen": p.get("images"),
                "train s": p.get("seconds"),
                "machine": p.get("machine"),
                "data hash": reference.data_hash[:12],
                "commit": str(p.get("commit", ""))[:12],
                "dev": reference.dev_line(),
                "stored as": p.get("dtype"),
                "command": p.get("command"),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def provenance_html(names: Mapping[str, str]) -> str:
    """The provenance table as an HTML section (empty when no reference model is used)."""
    from medgen.report.html import table_html

    if not names:
        return ""
    table = table_html(provenance_table(names), float_format="{:.4g}")
    return (
        "<h3>Reference models used here</h3>\n"
        "<p>Shipped inside medgen (<code>medgen reference list</code>), trained on this "
        "study's data (the content hash is checked), and evaluated live in this run: "
        "every number above is computed now, from the weights. The training recipe of each is "
        "the command shown (<code>medgen reference retrain NAME</code> runs it again).</p>\n"
        + table
    )
