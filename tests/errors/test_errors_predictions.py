"""The predictions folder: one writer, one reader, bad input refused in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from errors_support import HASH, make_table

from medgen.detect.predictions import read_predictions, write_predictions
from medgen.exceptions import InputError


def _write(folder: Path, table: pd.DataFrame) -> Path:
    return write_predictions(folder, table, "v1", "dev", "data", HASH, image_size=64)


def test_write_then_read_gives_the_same_table_and_provenance(tmp_path: Path) -> None:
    table = make_table(200, 0.2)
    preds = read_predictions(_write(tmp_path / "pred", table))
    pd.testing.assert_frame_equal(preds.table, table, check_dtype=False)
    assert (preds.model_version, preds.split, preds.content_hash) == ("v1", "dev", HASH)
    assert preds.image_size == 64 and preds.classes == ("none", "benign", "malignant")
    assert preds.error_rate == pytest.approx(0.2)
    assert not list(tmp_path.glob("pred/.*tmp*"))  # atomic writes left no temporaries


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda t: t.drop(columns="truth"), "missing column(s) truth"),
        (lambda t: t.assign(id=[1] * len(t)), "duplicate id(s) 1"),
        (lambda t: t.iloc[:0], "has no rows"),
        (lambda t: t.assign(prediction="tumour"), "unknown class(es) tumour in prediction"),
        (lambda t: t.assign(id=-t["id"]), "non-negative integers"),
        (lambda t: t.assign(score_cat=0.5), "score column(s) for unknown classes"),
    ],
)
def test_bad_csv_is_one_input_error_naming_the_file(
    tmp_path: Path, spoil: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    folder = _write(tmp_path / "pred", make_table(20, 0.2))
    spoil(make_table(20, 0.2)).to_csv(folder / "predictions.csv", index=False)
    with pytest.raises(InputError) as info:
        read_predictions(folder)
    assert info.value.what.endswith("predictions.csv")
    assert message in info.value.problem


def test_a_bad_json_or_missing_file_is_one_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such predictions folder"):
        read_predictions(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no predictions\.json"):
        read_predictions(tmp_path / "empty")
    folder = _write(tmp_path / "pred", make_table(20, 0.2))
    meta = json.loads((folder / "predictions.json").read_text())
    (folder / "predictions.json").write_text(json.dumps({**meta, "model_version": ""}))
    with pytest.raises(InputError, match="model_version must be a non-empty string"):
        read_predictions(folder)
    (folder / "predictions.json").write_text(json.dumps(meta))
    (folder / "predictions.csv").write_text("")
    with pytest.raises(InputError, match=r"predictions\.csv: is empty"):
        read_predictions(folder)


def test_the_writer_refuses_a_bad_table_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="duplicate"):
        _write(tmp_path / "pred", make_table(20, 0.2).assign(id=3))
    assert not (tmp_path / "pred").exists()
