"""What the error store holds, as plain records: splits, tags, pins, categories, evaluations,
and the rule for a tag category's name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from medgen.exceptions import InputError

PARTS = ("eyeball", "blackbox", "retired")  # retired: an old eyeball set, looked at, never reused
# Built-in tag categories: name -> description.
BUILTIN_CATEGORIES = {
    "mislabeled": "the truth label is wrong, not the model (MLY ch. 16)",
}

CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,39}")  # tag names; metadata ones hold "="


@dataclass(frozen=True, eq=False)  # arrays: compare fields, not splits
class StoredSplit:
    """One generation of the eyeball/blackbox split of one dataset split (MLY ch. 17)."""

    split_id: int
    content_hash: str
    split_name: str
    generation: int
    created_at: str
    seed: int
    target_errors: int
    error_rate: float
    model_version: str | None
    reason: str
    eyeball: np.ndarray  # example ids, sorted
    blackbox: np.ndarray
    retired: np.ndarray


class Tag(NamedTuple):
    """A person's category on one example."""

    example_id: int
    category: str
    author: str
    created_at: str


class Pin(NamedTuple):
    """The predictions a split was drawn from: their folder and the SHA-256 of their CSV."""

    split_id: int
    content_hash: str  # the split's dataset
    split_name: str
    folder: str
    sha256: str
    model_version: str


class Category(NamedTuple):
    """An error category: from metadata (computed) or from tags (people's)."""

    name: str
    description: str
    source: str


class EvaluationRecord(NamedTuple):
    """One model version's eyeball and blackbox error on one split generation."""

    evaluation_id: int
    model_version: str
    split_id: int
    generation: int
    created_at: str
    eyeball_error: float
    blackbox_error: float
    n_eyeball: int
    n_blackbox: int
    predictions_path: str


def check_category_name(name: str) -> str:
    """Return `name` if it can name a tag category, else an InputError saying what is allowed."""
    if not CATEGORY_NAME.fullmatch(name):
        raise InputError(
            repr(name),
            "is not a tag category name (1-40 of a-z, 0-9, _ and -; first a letter or digit)",
        )
    return name
