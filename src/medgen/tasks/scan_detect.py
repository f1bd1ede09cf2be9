"""`medgen detect predict --input`: the tumour detector on every slice of a user's scan.

The slices are prepared exactly as `medgen data import` prepares them (`make_slices`: the
volume's 0.5-99.5 percentile window, each plane fitted into the detector's square), so the
detector sees what it would see on the scan imported as a dataset; empty slices are kept, so the
table has one row per plane of the scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from medgen.data.importers.common import make_slices
from medgen.data.store import StoredDataset
from medgen.exceptions import InputError
from medgen.fileio import write_bytes_atomic
from medgen.tasks.scan_outputs import check_file
from medgen.tasks.scans import read_scan

DEFAULT_SIZE = 64  # the slice size of a detector whose size is not recorded


class _Slices:
    """Slices in memory as the one array a `Detector` reads from a dataset, `images`."""

    def __init__(self, images: NDArray[np.float32]) -> None:
        self.images = images

    def array(self, name: str) -> NDArray[np.float32]:
        if name != "images":
            raise KeyError(name)  # only the perfect parts read other arrays
        return self.images


def slice_table(run: str | Path, images: NDArray[np.float32]) -> pd.DataFrame:
    """One row per slice: its index, the predicted class, each class's score, region pixels."""
    from medgen.detect.classify import CLASSES
    from medgen.detect.pipeline import load_detector

    detector = load_detector(run)
    ids = np.arange(len(images))
    outputs = detector.run(cast(StoredDataset, _Slices(images)), ids)
    table = pd.DataFrame({"slice": ids, "prediction": outputs.prediction.astype(str)})
    for i, name in enumerate(CLASSES):
        table[f"score_{name}"] = outputs.class_probabilities[:, i].round(4)
    table["region_px"] = outputs.region.reshape(len(ids), -1).sum(1).astype(np.int64)
    return table


def predict_input(
    run: str | Path, source: str | Path, out: str | Path, *, axis: int = 2, overwrite: bool = False
) -> dict[str, Any]:
    """Classify every slice of the scan `source`; write the per-slice table `out` (.csv)."""
    from medgen.detect.pipeline import load_detector_config
    from medgen.detect.predict import detector_image_size

    run, out = Path(run), Path(out)
    if out.suffix.lower() != ".csv":
        raise InputError(out, "must be named .csv (the per-slice table)")
    check_file(out, overwrite)
    load_detector_config(run)  # a detector run, before the scan is read
    scan = read_scan(source, axis)
    size = detector_image_size(run) or DEFAULT_SIZE
    slices = make_slices(scan.planes, scan.spacing, size, skip_empty=False)
    table = slice_table(run, slices.images)
    write_bytes_atomic(out, table.to_csv(index=False).encode("utf-8"))
    counts = table["prediction"].value_counts()
    return {"slices": len(table), "predictions": {str(k): int(v) for k, v in counts.items()}}
