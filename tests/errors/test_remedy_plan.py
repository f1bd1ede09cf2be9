"""The remedy's plan (a config), its random streams and the failing slice's rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medgen.config import from_dict, to_dict
from medgen.data.store import open_dataset
from medgen.errors.remedy.plan import RemedyPlan, references, stream
from medgen.errors.remedy.slices import parse_slice, slice_train_ids, slice_tumours, tumours_in
from medgen.exceptions import SettingError


def test_the_plan_round_trips_through_a_config_file() -> None:
    plan = RemedyPlan({"location": "cerebellum", "tumour_type": "benign"}, 12, 3, 4, 1.5, 2)
    assert from_dict(RemedyPlan, to_dict(plan)) == plan
    assert from_dict(RemedyPlan, {}) == RemedyPlan()  # every field has a default
    assert RemedyPlan().slice == {"location": "brainstem"} and RemedyPlan().guidance is None


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("n", 0),
        ("oversample", 0),
        ("detector_seeds", 0),
        ("guidance", -1.0),
        ("guidance", float("nan")),
        ("slice", {}),
    ],
)
def test_the_plan_refuses_bad_values_naming_the_setting(setting: str, value: object) -> None:
    with pytest.raises(SettingError) as caught:
        replace(RemedyPlan(), **{setting: value})
    assert caught.value.setting == setting


def test_a_purposes_stream_does_not_follow_the_references() -> None:
    picks = references(0).integers(0, 40, 4000)
    alike = np.random.default_rng(0).integers(0, 10, 4000)  # the failure the streams avoid
    assert max(len(set(alike[picks == k])) for k in range(40)) == 1
    drawn = stream(0, "inpainting bases").integers(0, 10, 4000)
    assert min(len(set(drawn[picks == k])) for k in range(40)) == 10
    other = stream(0, "another purpose").integers(0, 10, 4000)
    assert not np.array_equal(drawn, other)
    assert np.array_equal(drawn, stream(0, "inpainting bases").integers(0, 10, 4000))


def test_slices_are_checked_naming_the_setting(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    assert parse_slice("location=brainstem", store) == {"location": "brainstem"}
    for text, said in (
        ("location=liver", "location=liver"),
        ("colour=red", "colour"),
        ("", "name the failing slice"),
        ("location", "name=value"),
    ):
        with pytest.raises(SettingError, match=said) as caught:
            parse_slice(text, store)
        assert caught.value.setting == "slice"


def test_the_slices_rows_and_tumours(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    values = {"location": "cerebellum"}
    ids = slice_train_ids(store, values)
    meta = store.meta.loc[ids]
    assert ids.size > 0 and (meta["split"] == "train").all() and (meta["label"] == 1).all()
    assert (meta["location"] == "cerebellum").all()
    own = slice_tumours(store, values)
    assert np.array_equal(own.sources, ids) and own.masks.any(axis=(1, 2)).all()
    assert set(own.kinds) <= {"benign", "malignant"} and own.images.dtype == np.float32
    test = store.split("test").index.to_numpy()
    images, masks = tumours_in(store, values, test[::-1])  # in row order, whatever is given
    expected = np.sort(
        test[
            (store.meta.loc[test, "location"] == "cerebellum").to_numpy()
            & (store.meta.loc[test, "label"] == 1).to_numpy()
        ]
    )
    assert np.array_equal(masks, np.asarray(store.array("tumour_mask")[expected]).astype(bool))
    assert len(images) == len(expected)
