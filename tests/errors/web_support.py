"""A small eyeballing project for the web app's tests: predictions with intermediates, a split."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.detect.predict import META
from medgen.detect.predictions import read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore, StoredSplit
from medgen.errors.watch import evaluate_project

# Stands for what a DICOM import's `source` column may hold (a patient's name in a file name):
# no page may ever show it.
SECRET = "DOE^JANE^PHI-8d1f"
TOKEN_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


class WebProject(NamedTuple):
    """A predictions folder and a project folder holding its split."""

    predictions: Path
    project: Path
    table: pd.DataFrame
    split: StoredSplit

    @property
    def eyeball_errors(self) -> list[int]:
        """Ids of the eyeball-set errors, sorted."""
        return self.ids(eyeball=True, error=True)

    def ids(self, *, eyeball: bool, error: bool) -> list[int]:
        """Sorted ids in the eyeball (or blackbox) set that are (or are not) errors."""
        part = self.split.eyeball if eyeball else self.split.blackbox
        rows = self.table[self.table["id"].isin(part)]
        wrong = rows["truth"] != rows["prediction"]
        return sorted(int(i) for i in rows["id"][wrong if error else ~wrong])


def build_web_project(data: Path, root: Path, error_rate: float = 0.2, seed: int = 0) -> WebProject:
    """Made-up predictions on the dev split of `data`, intermediates saved; split; evaluated."""
    dataset = open_dataset(data)
    dev = dataset.split("dev")
    ids = dev["id"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng(seed)
    truth = dev["tumour_type"].astype(str).to_numpy()
    prediction = truth.copy()
    wrong = rng.choice(len(ids), size=round(len(ids) * error_rate), replace=False)
    prediction[wrong] = np.where(truth[wrong] == "none", "malignant", "none")
    table = pd.DataFrame({"id": ids, "truth": truth, "prediction": prediction})
    for cls in ("none", "benign", "malignant"):
        table[f"score_{cls}"] = np.where(prediction == cls, 0.8, 0.1)
    for column in META:
        table[column] = dev[column].to_numpy()
    table["source"] = [f"{SECRET}/slice-{i}.dcm" for i in ids]
    table["patient_name"] = SECRET  # any column off the whitelist, as an import might add
    folder = root / "pred"
    intermediate = folder / "intermediate"
    intermediate.mkdir(parents=True)
    images = dataset.array("images")[ids]
    mask = dataset.array("tumour_mask")[ids]
    np.save(intermediate / "preprocessed.npy", (images * 4 - 1).astype(np.float16))
    np.save(intermediate / "probability.npy", (mask * 200).astype(np.uint8))
    np.save(intermediate / "region.npy", mask.astype(np.uint8))
    content_hash = str(dataset.manifest["content_hash"])
    write_predictions(folder, table, "v1", "dev", data, content_hash, image_size=dataset.size)
    project = root / "project"
    predictions = read_predictions(folder)
    with ErrorStore(project) as store:
        split = split_project(store, predictions, target_errors=20).split
        evaluate_project(store, predictions)
    return WebProject(folder, project, predictions.table, split)


def form_token(html: str) -> str:
    """The form token a page's forms carry (the same in each of its forms)."""
    tokens = set(TOKEN_INPUT.findall(html))
    assert len(tokens) == 1, tokens
    return tokens.pop()
