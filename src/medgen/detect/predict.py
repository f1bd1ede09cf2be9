"""`medgen detect predict`: a detector's predictions on a split, with every part's output.

The predictions folder is the one `medgen.errors` reads (predictions.csv + predictions.json),
plus `intermediate/`: the preprocessed slices (float16), the tumour probability maps (uint8,
0-255) and the extracted regions (uint8), in the CSV's row order, for the eyeballing app.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.detect.classify import CLASSES
from medgen.detect.pipeline import Outputs, load_detector, model_version
from medgen.detect.predictions import write_predictions
from medgen.exceptions import SettingError
from medgen.fileio import write_bytes_atomic

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


def predict_split(run: str | Path, data: str | Path, split: str, out: str | Path) -> Path:
    """Run the detector of `run` on `split` of `data`; write the predictions folder `out`."""
    run, data, out = Path(run), Path(data), Path(out)
    store = open_dataset(data)
    ids = store.split(split).index.to_numpy()
    if ids.size == 0:
        raise SettingError("split", f"{data} has no {split!r} slices")
    outputs = run_in_batches(run, data, ids)
    folder = out / INTERMEDIATE
    folder.mkdir(parents=True, exist_ok=True)
    save_array(folder / "preprocessed.npy", outputs.preprocessed.astype(np.float16))
    save_array(folder / "probability.npy", np.round(outputs.probability * 255).astype(np.uint8))
    save_array(folder / "region.npy", outputs.region.astype(np.uint8))
    return write_predictions(
        out,
        predictions_table(outputs, store.meta),
        model_version(run),
        split,
        data,
        str(store.manifest.get("content_hash", "")),
        image_size=store.size,
    )
