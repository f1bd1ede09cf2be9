"""The inputs cases share, each built once on first use, through medgen itself, and never
written to by a case (a case that damages one works on its own copy).

Cheap ones: tiny built-in datasets, copies of the shipped reference models (a pixel-space
diffusion prior, a VAE, the feature extractor) and a predictions folder with its errors project.
Trained ones (the slow cases' only): a detector and a VAE run with checkpoints.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

from faultcases.launch import launch

TINY_VAE = """
[train]
batch_size = 4
log_every = 1
checkpoint_every = 1

[model]
hidden = [8, 16]
latent_channels = 2
"""


class FixtureError(RuntimeError):
    """A shared input could not be built: every case that needs it fails with this reason."""


def build_errors_project(data: str, root: str) -> str | None:
    """Made-up detector predictions on the dev split of `data` (about a third of them wrong) in
    ROOT/predictions, an errors project holding their split in ROOT/project, and the ids of
    the eyeball set's errors in ROOT/eyeball_errors.json."""
    import numpy as np
    import pandas as pd

    from medgen.data.store import open_dataset
    from medgen.detect.predictions import read_predictions, write_predictions
    from medgen.errors.split import split_project
    from medgen.errors.store import ErrorStore
    from medgen.errors.watch import evaluate_project

    dataset = open_dataset(data)
    dev = dataset.split("dev")
    truth = dev["tumour_type"].astype(str).to_numpy()
    prediction = truth.copy()
    wrong = np.arange(len(truth)) % 3 == 0
    prediction[wrong] = np.where(truth[wrong] == "none", "malignant", "none")
    table = pd.DataFrame({"id": dev["id"].to_numpy(), "truth": truth, "prediction": prediction})
    for column in ("location", "tumour_type", "tumour_px", "enhancing", "noise_sigma"):
        table[column] = dev[column].to_numpy()
    folder = Path(root) / "predictions"
    content_hash = str(dataset.manifest["content_hash"])
    write_predictions(folder, table, "v1", "dev", data, content_hash, image_size=dataset.size)
    with ErrorStore(Path(root) / "project") as store:
        predictions = read_predictions(folder)
        split = split_project(store, predictions, target_errors=20).split
        evaluate_project(store, predictions)
    eyeball = table[table["id"].isin(split.eyeball) & (table["truth"] != table["prediction"])]
    (Path(root) / "eyeball_errors.json").write_text(json.dumps(sorted(map(int, eyeball["id"]))))
    return None


def _is(folder: Path, family: str) -> bool:
    """Whether `folder` is a shipped run of `family`, 64 px, unconditional, in pixel space."""
    try:
        record = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    model = record.get("model", {})
    plain = not model.get("latent_vae") and not model.get("conditioning", {}).get("names")
    return record.get("family") == family and model.get("image_size") == 64 and plain


class Fixtures:
    """Shared inputs under `root`, built on first use in `mode` (see `launch`)."""

    def __init__(self, root: Path, mode: str = "fork") -> None:
        self.root = root
        self.mode = mode
        root.mkdir(parents=True, exist_ok=True)

    def _medgen(self, *argv: str) -> None:
        """Run `medgen ARGV` in `root`; a failure is a FixtureError with its last stderr line."""
        io_dir = self.root / ".io" / argv[0]
        ran = launch(list(argv), None, self.root, io_dir, mode=self.mode, timeout=600)
        if ran.code != 0:
            tail = (ran.stderr.strip().splitlines() or ["no output"])[-1]
            raise FixtureError(f"medgen {' '.join(argv)}: exit {ran.code}: {tail}")

    def _shipped(self, name: str, family: str | None = None) -> Path:
        """A copy of shipped reference `name`, else of the first unconditional pixel-space
        one of `family` (references may be renamed)."""
        from medgen.reference.zoo import MODELS_DIR

        dest = self.root / name
        if not dest.exists():
            source = MODELS_DIR / name
            if not source.is_dir() and family is not None:
                source = next((f for f in sorted(MODELS_DIR.iterdir()) if _is(f, family)), source)
            if not source.is_dir():
                raise FixtureError(f"no shipped reference {name!r} in {MODELS_DIR}")
            shutil.copytree(source, dest)
        return dest

    @functools.cached_property
    def data32(self) -> Path:
        """64 built-in slices of 32 x 32 (train 32, dev 16, test 16)."""
        sizes = ("--n-train", "32", "--n-dev", "16", "--n-test", "16", "--workers", "1")
        self._medgen("data", "make", "--out", "data32", "--size", "32", *sizes)
        return self.root / "data32"

    @functools.cached_property
    def data64(self) -> Path:
        """128 built-in slices of 64 x 64, the shipped models' size (train 32, dev 80, test 16)."""
        sizes = ("--n-train", "32", "--n-dev", "80", "--n-test", "16", "--workers", "1")
        self._medgen("data", "make", "--out", "data64", "--size", "64", *sizes)
        return self.root / "data64"

    @functools.cached_property
    def prior(self) -> Path:
        """The shipped pixel-space diffusion prior (64 x 64), a run folder with model/."""
        return self._shipped("pixel_prior", "diffusion")

    @functools.cached_property
    def vae(self) -> Path:
        """The shipped VAE (64 x 64)."""
        return self._shipped("vae", "vae")

    @functools.cached_property
    def features(self) -> Path:
        """The shipped feature extractor folder (extractor.json, weights.safetensors)."""
        return self._shipped("features")

    @functools.cached_property
    def errors(self) -> Path:
        """ROOT/errors/predictions (on data64's dev split) and ROOT/errors/project (split)."""
        folder = self.root / "errors"
        probe = functools.partial(build_errors_project, str(self.data64), str(folder))
        ran = launch(None, probe, self.root, self.root / ".io/errors", mode="fork", timeout=600)
        if ran.code != 0:
            tail = (ran.stderr.strip().splitlines() or ["no output"])[-1]
            raise FixtureError(f"the errors project: exit {ran.code}: {tail}")
        return folder

    @property
    def eyeball_errors(self) -> list[int]:
        """Ids of the errors project's eyeball-set errors (for tagging)."""
        return [int(i) for i in json.loads((self.errors / "eyeball_errors.json").read_text())]

    def resolve(self, word: object) -> object:
        """The path a fixture's name in capitals stands for in a command line (PRIOR, DATA32,
        DATA64, FEATURES, PRED, PROJECT); any other word as it is."""
        names = {
            "PRIOR": lambda: self.prior,
            "DATA32": lambda: self.data32,
            "DATA64": lambda: self.data64,
            "FEATURES": lambda: self.features,
            "PRED": lambda: self.errors / "predictions",
            "PROJECT": lambda: self.errors / "project",
        }
        return names[word]() if isinstance(word, str) and word in names else word

    @functools.cached_property
    def detector(self) -> Path:
        """A detector trained for 2 steps on data32 (slow)."""
        data = str(self.data32)
        self._medgen("detect", "train", "--data", data, "--out", "detector", "--steps", "2")
        return self.root / "detector"

    @functools.cached_property
    def trained(self) -> Path:
        """A tiny VAE run on data32 with two checkpoints (slow)."""
        config = self.root / "tiny-vae.toml"
        config.write_text(TINY_VAE)
        data = str(self.data32)
        argv = ("train", "vae", "--data", data, "--out", "trained", "--config", str(config))
        self._medgen(*argv, "--budget", "2steps")
        return self.root / "trained"
