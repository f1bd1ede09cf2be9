"""`medgen detect predict` never replaces a folder by accident, and refuses data of another size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import DatasetWriter
from medgen.detect import DetectorConfig, train_detector
from medgen.detect.classify import ClassifyConfig
from medgen.detect.extract import ExtractConfig
from medgen.detect.predict import predict_split
from medgen.detect.predictions import read_predictions
from medgen.exceptions import InputError

QUICK = DetectorConfig(
    extract=ExtractConfig(steps=5, batch_size=8), classify=ClassifyConfig(steps=10)
)


@pytest.fixture(scope="module")
def detector(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("safety") / "det"
    train_detector(builtin_dataset, out, QUICK, log=lambda _: None)
    return out


def small_data(out: Path, size: int) -> Path:
    """A 4-slice dataset of `size` x `size` slices, all in dev."""
    with DatasetWriter(out, 4, size, ["images"]) as writer:
        writer.arrays["images"][:] = 0.5
        writer.commit(pd.DataFrame({"split": ["dev"] * 4}), {"kind": "test"})
    return out


def test_predict_writes_a_new_folder_unless_told_to_overwrite(
    detector: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    pred = tmp_path / "pred"
    predict_split(detector, builtin_dataset, "dev", pred)
    first = (pred / "predictions.json").read_bytes()
    with pytest.raises(InputError, match=r"already exists \(pass --overwrite"):
        predict_split(detector, builtin_dataset, "dev", pred)
    assert (pred / "predictions.json").read_bytes() == first
    predict_split(detector, builtin_dataset, "test", pred, overwrite=True)
    assert read_predictions(pred).split == "test" and len(read_predictions(pred).table) == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred"]  # no temporary folder left
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(InputError, match=r"is not a folder with predictions\.json"):
        predict_split(detector, builtin_dataset, "dev", tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    default = detector / "predictions" / "dev"  # the CLI's default folder
    predict_split(detector, builtin_dataset, "dev", default)
    result = run_cli("detect", "predict", detector, "--data", builtin_dataset)
    assert_one_line_error(result, str(default), "already exists")
    shutil.rmtree(default)


def test_predict_refuses_data_of_another_image_size(detector: Path, tmp_path: Path) -> None:
    data = small_data(tmp_path / "data32", 32)
    with pytest.raises(InputError) as error:
        predict_split(detector, data, "dev", tmp_path / "pred")
    assert error.value.what == str(data)
    assert "holds 32x32 slices" in error.value.problem and "trained on 64x64" in error.value.problem
    assert not (tmp_path / "pred").exists()
    older = tmp_path / "older"  # a detector.json without image_size: its training data says
    shutil.copytree(detector, older)
    info = json.loads((older / "detector.json").read_text())
    del info["image_size"]
    (older / "detector.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="trained on 64x64"):
        predict_split(older, data, "dev", tmp_path / "pred")


def test_detect_train_overwrite_refuses_what_is_not_a_detector(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("mine")
    with pytest.raises(InputError, match="is not a medgen-detector folder"):
        train_detector(builtin_dataset, tmp_path / "results", QUICK, overwrite=True)
    assert (tmp_path / "results" / "table.csv").read_text() == "mine"
