"""A trained model on disk: `model.safetensors` (every tensor) + `model.json` (family, config,
the weights' SHA-256).

Loading rebuilds the model from its config, then checks the file's SHA-256, keys and shapes
against it, so a foreign, truncated, pickled or bit-flipped file is refused with one clear line
and never unpickled. A model saved before the hash was recorded loads with a one-line warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgen import __version__
from medgen.exceptions import InputError
from medgen.fileio import (
    atomic_directory,
    check_sha256,
    read_json_object,
    sha256_of,
    write_json_atomic,
)
from medgen.tensorio import load_tensors, save_tensors, state_shapes

if TYPE_CHECKING:
    from medgen.models.protocol import GenerativeModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
HASH = "sha256"  # model.json: the SHA-256 of model.safetensors

_log = logging.getLogger(__name__)


def save_model(model: GenerativeModel, directory: str | Path) -> None:
    """Write `model` to `directory` as a whole (replacing an earlier export only once complete)."""
    with atomic_directory(directory, overwrite=True) as tmp:
        save_tensors(tmp / WEIGHTS_FILE, model.state_dict())
        record = {**model_record(model), HASH: sha256_of(tmp / WEIGHTS_FILE)}
        write_json_atomic(tmp / CONFIG_FILE, record)


def model_record(model: GenerativeModel) -> dict[str, Any]:
    """What `model.json` holds: enough to rebuild the model before its weights are read."""
    return {"family": model.family, "config": model.config_dict(), "medgen_version": __version__}


def read_record(directory: str | Path) -> dict[str, Any]:
    """The parsed `model.json` of a saved model, or one InputError line saying what is wrong."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise InputError(directory, "is not a folder holding a saved medgen model")
    if not path.exists():
        raise InputError(path, "no such file: not a saved medgen model")
    record = read_json_object(path)
    if not isinstance(record, dict) or not {"family", "config"} <= set(record):
        raise InputError(path, "needs the keys 'family' and 'config'")
    return record


def build_model(record: dict[str, Any], source: str | Path = "model.json") -> GenerativeModel:
    """A freshly initialised model of the family and config in `record`."""
    from medgen.models.registry import MODELS

    family = record["family"]
    if family not in MODELS:
        raise InputError(source, f"unknown model family {family!r} (known: {', '.join(MODELS)})")
    try:
        return MODELS[family].from_config(record["config"])
    except InputError as err:  # a bad value, named as the config names it: say where it is
        raise InputError(source, str(err)) from None
    except (TypeError, ValueError, KeyError) as err:
        raise InputError(
            source, f"holds a config medgen cannot build a model from ({err})"
        ) from None


def load_model(directory: str | Path) -> GenerativeModel:
    """The model saved in `directory` by `save_model`, in eval mode."""
    record = read_record(directory)
    model = build_model(record, Path(directory) / CONFIG_FILE)
    weights = Path(directory) / WEIGHTS_FILE
    digest = record.get(HASH)
    if digest is None:
        _log.warning(
            "medgen: warning: %s: records no SHA-256 of %s (saved by an older medgen); "
            "loading it unverified",
            Path(directory) / CONFIG_FILE,
            WEIGHTS_FILE,
        )
    elif not isinstance(digest, str):
        raise InputError(Path(directory) / CONFIG_FILE, f"field {HASH!r} is not a string")
    else:
        check_sha256(weights, digest, CONFIG_FILE)
    model.load_state_dict(load_tensors(weights, state_shapes(model.state_dict())))
    return model.eval()
