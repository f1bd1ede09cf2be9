"""The error spreadsheet and ceilings on a hand-made eyeball set with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from errors_support import make_table

from medgen.detect.predictions import read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore, Tag
from medgen.errors.tally import ErrorTally, parse_groups, tag_example, tally_project
from medgen.exceptions import InputError


def hand_made() -> pd.DataFrame:
    """50 eyeball examples, 10 errors (ids 0-9): 6 brainstem (0-5), 4 frontal (6-9)."""
    n = 50
    location = ["brainstem"] * 6 + ["frontal"] * 4 + ["parietal"] * 40
    truth = ["malignant"] * 10 + ["benign"] * 40
    prediction = ["none"] * 10 + ["benign"] * 40
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "truth": truth,
            "prediction": prediction,
            "location": location,
            "tumour_type": truth,
            "tumour_px": [5, 30, 100, 5, 30, 100, 5, 5, 5, 5] + [50] * 40,
            "noise_sigma": [0.02] * 5 + [0.04] * 3 + [0.06] * 2 + [0.02] * 40,
            "enhancing": [0] * 6 + [1] * 4 + [1] * 40,
        }
    )


# 3 errors tagged blurry, one of them (5) in the brainstem; one mislabeled; a tag on a correct one.
TAGS = [Tag(i, "blurry", "ann", "t") for i in (5, 6, 7)] + [
    Tag(9, "mislabeled", "bob", "t"),
    Tag(20, "blurry", "ann", "t"),
]


def row(summary: pd.DataFrame, category: str) -> pd.Series:
    return summary.set_index("category").loc[category]


def test_counts_shares_and_ceilings_match_the_hand_count() -> None:
    tally = ErrorTally(image_size=64).fit(hand_made(), TAGS, ["blurry", "mislabeled"])
    assert (tally.n_examples_, tally.n_errors_, tally.error_rate_) == (50, 10, 0.2)
    brainstem = row(tally.summary_, "location=brainstem")
    assert brainstem["count"] == 6 and brainstem["share"] == pytest.approx(0.6)
    assert brainstem["max_improvement"] == pytest.approx(0.12)  # 12 points
    assert brainstem["error_rate_if_fixed"] == pytest.approx(0.08)
    blurry = row(tally.summary_, "blurry")
    assert (blurry["count"], blurry["source"]) == (3, "tag")
    assert blurry["error_rate_if_fixed"] == pytest.approx(0.14)
    assert row(tally.summary_, "mislabeled")["count"] == 1
    assert list(tally.summary_["count"]) == sorted(tally.summary_["count"], reverse=True)


def test_the_sheet_has_one_row_per_error_and_overlapping_categories() -> None:
    tally = ErrorTally(image_size=64).fit(hand_made(), TAGS, ["blurry", "mislabeled"])
    sheet = tally.sheet_.set_index("id")
    assert list(sheet.index) == list(range(10))
    assert sheet.loc[5, "location=brainstem"] and sheet.loc[5, "blurry"]  # the overlap
    assert (sheet["location=brainstem"] & sheet["blurry"]).sum() == 1
    assert "location=parietal" not in sheet.columns  # no errors there: no column
    assert sheet.loc[:, "error_kind=missed"].all()


def test_metadata_bins_follow_the_documented_thresholds() -> None:
    tally = ErrorTally(image_size=64).fit(hand_made())
    counts = tally.summary_.set_index("category")["count"]
    # tumour_px / 4096: 5 -> 0.12 % small, 30 -> 0.73 % medium, 100 -> 2.4 % large
    assert (counts["size_bin=small"], counts["size_bin=medium"], counts["size_bin=large"]) == (
        6,
        2,
        2,
    )
    assert (counts["noise_bin=low"], counts["noise_bin=medium"], counts["noise_bin=high"]) == (
        5,
        3,
        2,
    )
    assert (counts["enhancing=no"], counts["enhancing=yes"]) == (6, 4)


def test_groups_the_data_lacks_are_left_out_or_refused() -> None:
    tally = ErrorTally().fit(hand_made())  # no image size: no size bins
    assert not any(c.startswith("size_bin") for c in tally.sheet_.columns)
    assert any("size_bin" in note for note in tally.notes_)
    with pytest.raises(InputError, match="size_bin"):
        ErrorTally(["size_bin"]).fit(hand_made())
    assert parse_groups("location, enhancing") == ("location", "enhancing")
    with pytest.raises(InputError, match="unknown group"):
        parse_groups("location,colour")


def test_the_project_tally_uses_stored_tags_and_tagging_guards_the_blackbox(
    tmp_path: Path,
) -> None:
    write_predictions(tmp_path / "pred", make_table(2000, 0.2), "v1", "dev", "d", "h")
    preds = read_predictions(tmp_path / "pred")
    with ErrorStore(tmp_path / "proj") as store:
        split = split_project(store, preds).split
        table = preds.table.set_index("id")
        eye_errors = [
            i for i in split.eyeball if table.loc[i, "truth"] != table.loc[i, "prediction"]
        ]
        for i in eye_errors[:4]:
            tag_example(store, int(i), "blurry", author="ann", predictions=preds)
        tag_example(store, int(eye_errors[0]), "blurry", author="ann", remove=True)
        with pytest.raises(InputError, match="a blackbox example"):
            tag_example(store, int(split.blackbox[0]), "blurry", author="ann")
        with pytest.raises(InputError, match="not a tag category name"):  # "=": metadata's
            tag_example(store, int(eye_errors[1]), "location=brainstem", author="ann")
        tally = tally_project(store, preds, ["location"])
        assert {c.source for c in store.categories() if c.name.startswith("location=")} == {
            "metadata"
        }
    assert tally.n_errors_ == len(eye_errors)
    assert row(tally.summary_, "blurry")["count"] == 3
    assert row(tally.summary_, "mislabeled")["count"] == 0
