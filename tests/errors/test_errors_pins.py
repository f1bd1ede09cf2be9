"""A split is pinned to the predictions it was drawn from: replacing them is named, not hidden."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from errors_support import HASH, make_table

from cli_support import assert_one_line_error, run_cli
from medgen.detect.predictions import read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import DB_NAME, ErrorStore
from medgen.errors.tally import tally_project
from medgen.exceptions import InputError

OTHER_HASH = "beef" * 16  # another dataset


def predict(folder: Path, model: str, content_hash: str = HASH, error_rate: float = 0.2) -> Path:
    """Write made-up predictions of `model` on the dev split of dataset `content_hash`."""
    table = make_table(400, error_rate, seed=0)
    return write_predictions(folder, table, model, "dev", "data", content_hash, image_size=64)


def test_predictions_of_other_data_in_the_split_folder_are_named_not_no_split(
    tmp_path: Path,
) -> None:
    pred, project = predict(tmp_path / "pred", "detector:aaa"), tmp_path / "project"
    with ErrorStore(project) as store:
        split_project(store, read_predictions(pred))
        predict(pred, "detector:aaa", OTHER_HASH)  # replaced: another dataset's predictions
        try:
            tally_project(store, read_predictions(pred))
        except InputError as error:
            problem, what = error.problem, error.what
    assert what == str(pred / "predictions.csv")
    assert problem.startswith("changed since the eyeball/blackbox split was drawn from it")
    assert f"dataset {HASH[:12]}" in problem and f"dataset {OTHER_HASH[:12]}" in problem
    assert f"medgen errors split --predictions {pred}" in problem
    result = run_cli("errors", "tally", "--predictions", pred, "--project", project)
    assert_one_line_error(result, str(pred / "predictions.csv"), "changed since")


def test_a_tally_of_replaced_predictions_of_the_same_data_says_so(tmp_path: Path) -> None:
    pred, project = predict(tmp_path / "pred", "detector:aaa"), tmp_path / "project"
    with ErrorStore(project) as store:
        split_project(store, read_predictions(pred))
        assert tally_project(store, read_predictions(pred)).notes_ == []
        other = predict(tmp_path / "other", "detector:bbb", error_rate=0.3)
        assert tally_project(store, read_predictions(other)).notes_ == []  # another folder
        predict(pred, "detector:bbb", error_rate=0.3)
        notes = tally_project(store, read_predictions(pred)).notes_
        assert len(notes) == 1 and notes[0].startswith(f"{pred / 'predictions.csv'} changed since")
        assert "then detector:aaa, now detector:bbb" in notes[0] and "--refresh" in notes[0]
        split_project(store, read_predictions(pred), refresh=True)  # drawn anew, pinned anew
        assert tally_project(store, read_predictions(pred)).notes_ == []


def test_a_project_made_before_pins_opens_and_its_splits_have_none(tmp_path: Path) -> None:
    pred, project = predict(tmp_path / "pred", "detector:aaa"), tmp_path / "project"
    with ErrorStore(project) as store:
        split = split_project(store, read_predictions(pred)).split
    with sqlite3.connect(project / DB_NAME) as conn:
        conn.execute("DROP TABLE split_predictions")
    with ErrorStore(project) as store:
        assert store.pins(split_id=split.split_id) == []
        predict(pred, "detector:bbb", error_rate=0.3)
        assert tally_project(store, read_predictions(pred)).notes_ == []
