"""Experiment trackers (accelerate's): each metrics line and sample grid mirrored to TensorBoard,
Weights & Biases, MLflow, Aim or Comet, beside metrics.jsonl, which stays the record.

A tracker only receives what the run has already measured: nothing it does feeds back into
training, and each call runs with the global random states preserved, so a run ends with the
same weights with or without one. Local files go under RUN/tracker/: TensorBoard's event files
in RUN/tracker/medgen/, the other trackers' local caches, and runs.json, the run id each tracker
gave, so that a resumed run continues the same tracker run. TensorBoard is told the step a run
resumes from (`purge_step`), which hides the events a killed process logged past its last
checkpoint, as metrics.jsonl drops those lines.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator

from medgen.exceptions import SettingError
from medgen.fileio import read_json_object, write_json_atomic
from medgen.train.rng import preserved_global_rng

TRACKER_DIR = "tracker"  # RUN/tracker: every tracker's local files
PROJECT = "medgen"  # the tracker project (TensorBoard: the folder under RUN/tracker)
RUN_IDS = "runs.json"  # RUN/tracker/runs.json: tracker name -> the run id it gave
GRID_TAG = "samples"

Grid = np.ndarray  # (H, W, C) uint8: the pixels of a sample grid PNG


def _no_id(tracker: Any) -> str | None:
    return None


@dataclass(frozen=True)
class TrackerKind:
    """How medgen drives one of accelerate's trackers."""

    packages: tuple[str, ...]  # any one of these importable makes it usable; the first: to install
    # (run folder, run id saved by an earlier process or None, step resumed from) -> init kwargs
    init: Callable[[Path, str | None, int], dict[str, Any]]
    log_grid: Callable[[Any, Grid, Path, int], None]  # (tracker, pixels, PNG file, step)
    run_id: Callable[[Any], str | None] = _no_id  # the started run's id, saved for resuming
    stores_config: bool = True  # log config.json's values as the run's hyperparameters


def _tensorboard_init(out: Path, saved: str | None, step: int) -> dict[str, Any]:
    return {"purge_step": step + 1} if step > 0 else {}


def _wandb_init(out: Path, saved: str | None, step: int) -> dict[str, Any]:
    run = {"id": saved, "resume": "allow"} if saved else {}
    return {"name": out.name, "dir": str(out / TRACKER_DIR), **run}


TRACKERS: dict[str, TrackerKind] = {
    "tensorboard": TrackerKind(
        packages=("tensorboard", "tensorboardX"),
        init=_tensorboard_init,
        log_grid=lambda t, grid, path, step: t.log_images(
            {GRID_TAG: grid[None]}, step=step, dataformats="NHWC"
        ),
        stores_config=False,  # config.json sits beside the events; add_hparams opens a 2nd run
    ),
    "wandb": TrackerKind(
        packages=("wandb",),
        init=_wandb_init,
        log_grid=lambda t, grid, path, step: t.log_images({GRID_TAG: [grid]}, step=step),
        run_id=lambda t: str(t.run.id),
    ),
    "mlflow": TrackerKind(
        packages=("mlflow",),
        init=lambda out, saved, step: {"run_name": out.name, "run_id": saved},
        log_grid=lambda t, grid, path, step: t.log_artifact(str(path), artifact_path=GRID_TAG),
        run_id=lambda t: str(t.active_run.info.run_id),
    ),
    "aim": TrackerKind(
        packages=("aim",),
        init=lambda out, saved, step: {"run_hash": saved} if saved else {},
        log_grid=lambda t, grid, path, step: t.log_images({GRID_TAG: grid}, step=step),
        run_id=lambda t: str(t.writer.hash),
    ),
    "comet_ml": TrackerKind(
        packages=("comet_ml",),
        init=lambda out, saved, step: {"experiment_key": saved} if saved else {},
        log_grid=lambda t, grid, path, step: t.tracker.log_image(grid, name=GRID_TAG, step=step),
        run_id=lambda t: str(t.tracker.get_key()),
    ),
}


def check_trackers(names: Collection[str]) -> tuple[str, ...]:
    """`names` as a tuple, once each, if every one is a known tracker whose package is installed."""
    for name in names:
        if name not in TRACKERS:
            raise SettingError("log_with", f"unknown tracker {name!r} (use {', '.join(TRACKERS)})")
        packages = TRACKERS[name].packages
        if not any(importlib.util.find_spec(p) is not None for p in packages):
            raise SettingError(
                "log_with",
                f"{name} needs the {packages[0]!r} package, which is not installed "
                f"(pip install {packages[0]})",
            )
    return tuple(dict.fromkeys(names))


class Trackers:
    """The trackers of one run, driven from the main process only; all calls do nothing when
    the run logs to none (or in the other processes)."""

    def __init__(self, accelerator: Accelerator, out: Path) -> None:
        self.accelerator, self.out = accelerator, out
        self.started: list[Any] = []

    def start(self, step: int, settings: Mapping[str, Any]) -> None:
        """Start every tracker the accelerator was given; `step` > 0 continues a resumed run."""
        names = [str(name) for name in self.accelerator.log_with]
        if not names or not self.accelerator.is_main_process:
            return
        (self.out / TRACKER_DIR).mkdir(parents=True, exist_ok=True)
        ids_path = self.out / TRACKER_DIR / RUN_IDS
        saved = read_json_object(ids_path) if ids_path.exists() and step > 0 else {}
        kwargs = {n: TRACKERS[n].init(self.out, saved.get(n), step) for n in names}
        with preserved_global_rng():
            self.accelerator.init_trackers(PROJECT, config=None, init_kwargs=kwargs)
            self.started = list(self.accelerator.trackers)
            for tracker in self.started:
                if TRACKERS[tracker.name].stores_config and step == 0:
                    tracker.store_init_configuration(hyperparameters(settings))
            ids = {t.name: TRACKERS[t.name].run_id(t) for t in self.started}
        ids = {name: run_id for name, run_id in ids.items() if run_id is not None}
        if ids:
            write_json_atomic(ids_path, {**saved, **ids})

    def log(self, record: Mapping[str, Any]) -> None:
        """A metrics.jsonl line as scalars at its step: every metric, lr and images/s."""
        if not self.started:
            return
        scalars = {f"metrics/{k}": float(v) for k, v in record["metrics"].items()}
        scalars |= {"lr": float(record["lr"]), "images_per_second": record["images_per_second"]}
        with preserved_global_rng():
            for tracker in self.started:
                tracker.log(scalars, step=record["step"])

    def log_grid(self, grid: Grid, path: Path, step: int) -> None:
        """A sample grid (the pixels of the PNG at `path`) as an image at `step`."""
        with preserved_global_rng():
            for tracker in self.started:
                TRACKERS[tracker.name].log_grid(tracker, grid, path, step)

    def finish(self) -> None:
        """Flush and close every tracker; safe to call twice."""
        with preserved_global_rng():
            for tracker in self.started:
                tracker.finish()
        self.started = []


def hyperparameters(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """config.json's values flattened to "train/lr"-style keys of bool, int, float, str or None,
    the types trackers take as hyperparameters."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat |= hyperparameters(value, f"{prefix}{key}/")
        elif value is None or isinstance(value, bool | int | float | str):
            flat[f"{prefix}{key}"] = value
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


__all__ = [
    "PROJECT",
    "TRACKERS",
    "TRACKER_DIR",
    "TrackerKind",
    "Trackers",
    "check_trackers",
    "hyperparameters",
]
