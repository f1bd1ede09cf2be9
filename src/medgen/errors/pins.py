"""The predictions an eyeball/blackbox split was drawn from, and saying so when they change.

A split is drawn from one predictions folder; the project pins it to that folder and to the
SHA-256 of its predictions.csv. When the CSV there is replaced afterwards (`medgen detect predict
--overwrite`), the commands that read it name the change, instead of saying that there is no
split yet (new data) or tallying other predictions than the split's without a word.
"""

from __future__ import annotations

from pathlib import Path

from medgen.detect.predictions import CSV_NAME, Predictions
from medgen.errors.store import ErrorStore, StoredSplit
from medgen.exceptions import InputError
from medgen.fileio import sha256_of


def folder_of(predictions: Predictions) -> str:
    """The resolved predictions folder, as a pin records it."""
    return str(Path(predictions.path).resolve())


def csv_sha256(predictions: Predictions) -> str:
    """The SHA-256 of the predictions' CSV, as a pin records it."""
    return sha256_of(Path(predictions.path) / CSV_NAME)


def pin_split(store: ErrorStore, split: StoredSplit, predictions: Predictions) -> None:
    """Pin `split` to the `predictions` it was just drawn from."""
    folder, digest, model = (
        folder_of(predictions),
        csv_sha256(predictions),
        predictions.model_version,
    )
    store.pin_predictions(split.split_id, folder, digest, model)


def replaced_note(store: ErrorStore, predictions: Predictions, split: StoredSplit) -> str | None:
    """A line saying that the predictions `split` was drawn from were replaced by `predictions`
    (same folder, other CSV), and how to draw a new eyeball set; None if they were not."""
    pin = next(iter(store.pins(split_id=split.split_id)), None)
    if pin is None or pin.folder != folder_of(predictions) or pin.sha256 == csv_sha256(predictions):
        return None
    return (
        f"{predictions.path / CSV_NAME} changed since the eyeball/blackbox split was drawn from "
        f"it (then {pin.model_version}, now {predictions.model_version}); the eyeball set stays "
        f"as drawn (`medgen errors split --refresh --predictions {predictions.path}` draws anew)"
    )


def no_split_error(store: ErrorStore, predictions: Predictions) -> InputError:
    """The error for `predictions` that have no split in the project: they replaced predictions
    a split was drawn from (of another dataset or split, since they have none), or no split was
    ever made."""
    pin = next(iter(store.pins(folder=folder_of(predictions))), None)
    if pin is None:
        return InputError(
            predictions.path, "no eyeball/blackbox split yet (run `medgen errors split` first)"
        )
    return InputError(
        predictions.path / CSV_NAME,
        f"changed since the eyeball/blackbox split was drawn from it: then {pin.split_name} of "
        f"dataset {pin.content_hash[:12]}, now {predictions.split} of dataset "
        f"{predictions.content_hash[:12]}; run `medgen errors split --predictions "
        f"{predictions.path}` to split these (predict into a new --out to keep both)",
    )
