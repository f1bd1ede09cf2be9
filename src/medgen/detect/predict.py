"""`medgen detect predict`: a detector's predictions on a split, with every part's output.

The predictions folder is the one `medgen.errors` reads (predictions.csv + predictions.json),
plus `intermediate/`: the preprocessed slices (float16), the tumour probability maps (uint8,
0-255) and the extracted regions (uint8), in the CSV's row order, for the eyeballing app.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from medgen.data.store import StoredDataset, open_dataset
from medgen.detect.classify import CLASSES
from medgen.detect.pipeline import INFO, Outputs, load_detector, load_detector_config, model_version
from medgen.detect.predictions import JSON_NAME, write_predictions
from medgen.exceptions import InputError, SettingError
from medgen.fileio import atomic_directory, check_overwrite, read_json_object, write_bytes_atomic

META = (
    "location",
    "tumour_type",
    "tumour_px",
    "tumour_contrast",
    "enhancing",
    "noise_sigma",
    "bias_strength",
    "source_z",
)
INTERMEDIATE = "intermediate"
BATCH = 500  # slices per pass: bounds memory on large splits


def predictions_table(outputs: Outputs, meta: pd.DataFrame) -> pd.DataFrame:
    """id, truth, prediction, score_<class> and the metadata columns, one row per example."""
    rows = meta.loc[outputs.ids]
    table = pd.DataFrame(
        {
            "id": outputs.ids,
            "truth": rows["tumour_type"].astype(str).to_numpy(),
            "prediction": outputs.prediction.astype(str),
        }
    )
    for i, name in enumerate(CLASSES):
        table[f"score_{name}"] = outputs.class_probabilities[:, i].round(4)
    for column in META:
        if column in rows:
            table[column] = rows[column].to_numpy()
    return table


def save_array(path: Path, array: np.ndarray) -> None:
    """One .npy file, written atomically."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def run_in_batches(run: Path, data: Path, ids: np.ndarray) -> Outputs:
    """The detector on rows `ids`, BATCH at a time, joined."""
    detector, store = load_detector(run), open_dataset(data)
    parts = [detector.run(store, ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]
    first = parts[0]
    return Outputs(
        ids=np.concatenate([p.ids for p in parts]),
        preprocessed=np.concatenate([p.preprocessed for p in parts]),
        brain_mask=np.concatenate([p.brain_mask for p in parts]),
        probability=np.concatenate([p.probability for p in parts]),
        region=np.concatenate([p.region for p in parts]),
        features=np.concatenate([p.features for p in parts]),
        class_probabilities=np.concatenate([p.class_probabilities for p in parts]),
        perfect=first.perfect,
    )


def detector_image_size(run: Path) -> int | None:
    """The slice size the detector in `run` was trained on: recorded in its detector.json, or
    else in the manifest of its training data if that is still there unchanged; None if unknown."""
    info = read_json_object(run / INFO)
    if isinstance(info.get("image_size"), int):
        return int(info["image_size"])
    data = info.get("data")
    if not isinstance(data, str):
        return None
    try:
        manifest = json.loads((Path(data) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = isinstance(manifest, dict) and manifest.get("content_hash") == info.get("content_hash")
    return int(manifest["size"]) if same and "size" in manifest else None


def check_image_size(run: Path, store: StoredDataset) -> None:
    """Refuse data whose slices are not the size the detector in `run` was trained on: its
    features (areas in pixels) and its network's receptive field are in that size's pixels."""
    size = detector_image_size(run)
    if size is not None and size != store.size:
        raise InputError(
            store.root,
            f"holds {store.size}x{store.size} slices, but the detector in {run} was trained on "
            f"{size}x{size} ones (predict on data of its size, or train a detector on this data)",
        )


def predict_split(
    run: str | Path, data: str | Path, split: str, out: str | Path, *, overwrite: bool = False
) -> Path:
    """Run the detector of `run` on `split` of `data`; write the predictions folder `out`.

    `out` appears whole or not at all; an existing one is replaced only with `overwrite`, and
    only if it is a predictions folder (an errors project's split may rest on it).
    """
    run, data, out = Path(run), Path(data), Path(out)
    check_overwrite(out, overwrite, JSON_NAME)
    load_detector_config(run)  # a detector run, before anything runs
    store = open_dataset(data)
    check_image_size(run, store)
    ids = store.split(split).index.to_numpy()
    if ids.size == 0:
        raise SettingError("split", f"{data} has no {split!r} slices")
    outputs = run_in_batches(run, data, ids)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        folder = tmp / INTERMEDIATE
        folder.mkdir()
        save_array(folder / "preprocessed.npy", outputs.preprocessed.astype(np.float16))
        probability = np.round(outputs.probability * 255).astype(np.uint8)
        save_array(folder / "probability.npy", probability)
        save_array(folder / "region.npy", outputs.region.astype(np.uint8))
        write_predictions(
            tmp,
            predictions_table(outputs, store.meta),
            model_version(run),
            split,
            data,
            str(store.manifest.get("content_hash", "")),
            image_size=store.size,
        )
    return out
