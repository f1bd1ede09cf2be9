"""Metadata columns as condition labels: `cond` (A,) int64 per slice, 0 = no condition.

A conditional model is told attribute a of a slice as an index into that attribute's sorted
vocabulary, shifted by one so that 0 stays free for classifier-free guidance's null label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

ALIASES = {"type": "tumour_type", "tumour": "tumour_type"}  # CLI short names -> meta columns
CONDITION_COLUMNS = ("tumour_type", "location", "enhancing", "label")  # categorical columns


def condition_names(text: str) -> tuple[str, ...]:
    """Metadata columns from a comma-separated list such as "type,location"."""
    names = tuple(ALIASES.get(part.strip(), part.strip()) for part in text.split(",") if part)
    for name in names:
        if name not in CONDITION_COLUMNS:
            known = ", ".join([*ALIASES, *CONDITION_COLUMNS])
            raise ValueError(f"cannot condition on {name!r} (known: {known})")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"{text!r}: name each attribute once")
    return names


def condition_values(text: str) -> dict[str, str]:
    """{column: value} from "location=brainstem,type=malignant"."""
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(f"{part!r}: write conditions as name=value, e.g. location=brainstem")
        values[ALIASES.get(name.strip(), name.strip())] = value.strip()
    return values


def condition_vocab(meta: pd.DataFrame, names: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each attribute's sorted distinct values (as strings) in `meta`."""
    return tuple(tuple(sorted(meta[name].astype(str).unique())) for name in names)


class AddConditions:
    """SliceDataset transform: item["cond"] = labels (A,) of the slice's metadata row."""

    def __init__(
        self, meta: pd.DataFrame, names: Sequence[str], vocab: Sequence[Sequence[str]]
    ) -> None:
        lookup = [{value: i + 1 for i, value in enumerate(v)} for v in vocab]
        columns = [
            meta[name].astype(str).map(lambda s, m=m: m.get(s, 0))
            for name, m in zip(names, lookup, strict=True)
        ]
        self.labels = torch.tensor(pd.concat(columns, axis=1).to_numpy(), dtype=torch.long)

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        item["cond"] = self.labels[item["index"]]
        return item
