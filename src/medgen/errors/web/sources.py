"""Where the eyeballing app's pictures come from: the dataset the predictions were made on.

`predictions.json` names its dataset folder as the detector was given it, often relative to the
folder `detect predict` (or `medgen study`) ran in. The app looks for it as written, then below
each folder above the predictions folder and above the project folder (the study's run folder is
one of them), and takes the first dataset whose content hash is the predictions' own: a folder of
the same name holding other data is never shown as if it were the one predicted on. What is not
found is said on every page (`ExampleImages.missing`), never dropped in silence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from medgen.data.store import StoredDataset, open_dataset
from medgen.detect.predictions import JSON_NAME, Predictions
from medgen.exceptions import InputError


def candidate_folders(data: str | Path, predictions: Path, project: Path) -> Iterator[Path]:
    """Where dataset path `data` may point: as written, then under each folder above the
    predictions and the project folders (nearest first), each once."""
    path = Path(data)
    if path.is_absolute():
        yield path
        return
    seen: set[Path] = set()
    for root in (Path.cwd(), *ancestors(predictions), *ancestors(project)):
        folder = (root / path).resolve()
        if folder not in seen:
            seen.add(folder)
            yield folder


def ancestors(folder: Path) -> list[Path]:
    """`folder` made absolute, then each folder above it."""
    absolute = folder.resolve()
    return [absolute, *absolute.parents]


def same_data(dataset: StoredDataset, predictions: Predictions) -> bool:
    """True if `dataset` holds the data `predictions` were made on (same content hash)."""
    return str(dataset.manifest.get("content_hash", "")) == predictions.content_hash


def find_dataset(
    predictions: Predictions, project: str | Path, data: str | Path | None = None
) -> StoredDataset | None:
    """The dataset `predictions` were made on, or None if it is found nowhere.

    `data` (the user's own pointer, `serve --data`) is taken as given: InputError if it is not
    a dataset or holds other data than the predictions'.
    """
    if data is not None:
        dataset = open_dataset(data)
        if not same_data(dataset, predictions):
            raise InputError(
                data, f"is not the dataset of {predictions.path} (its content hash differs)"
            )
        return dataset
    for folder in candidate_folders(predictions.data, predictions.path, Path(project)):
        if not (folder / "manifest.json").is_file():
            continue
        try:
            dataset = open_dataset(folder)
        except InputError:  # a damaged copy: look further
            continue
        if same_data(dataset, predictions):
            return dataset
    return None


def dataset_missing(predictions: Predictions) -> str:
    """Why the dataset's pictures are missing, and what to do about it."""
    return (
        f"dataset {predictions.data!r} (named in {predictions.path / JSON_NAME}) was not found "
        "from the current folder, the predictions folder or the project folder; restart with "
        "`medgen errors serve --data DATASET`"
    )
