"""`medgen denoise / anomaly / reconstruct` as library calls: a run, a dataset and an output
folder in; arrays, PNG panels, per_slice.csv and metrics.json out (all or nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.exceptions import InputError
from medgen.models import VAE
from medgen.tasks.anomaly_split import AnomalySettings, anomaly_split
from medgen.tasks.outputs import Advance, TaskOutcome, check_out, no_progress, write_outcome
from medgen.tasks.reconstruct_split import ReconstructSettings, reconstruct_split
from medgen.tasks.run import (
    DenoiseSettings,
    PixelDenoiser,
    TaskSettings,
    denoise_split,
    open_pixel_model,
)

PANELS = 8  # slices drawn as PNG panels


def _run_task(
    task: str,
    run: str | Path,
    data: str | Path,
    out: str | Path,
    overwrite: bool,
    panels: int,
    compute: Callable[[PixelDenoiser, StoredDataset], TaskOutcome],
) -> dict[str, Any]:
    """Check `out`, open the data and the run's model, compute, write atomically; the metrics."""
    check_out(Path(out), overwrite, task)
    store = open_dataset(data)
    model = open_pixel_model(run, store)
    with torch.no_grad():
        outcome = compute(model, store)
    write_outcome(Path(out), outcome, panels, overwrite)
    return outcome.metrics


def run_denoise(
    run: str | Path,
    data: str | Path,
    out: str | Path,
    s: TaskSettings,
    d: DenoiseSettings,
    *,
    overwrite: bool = False,
    panels: int = PANELS,
    progress: Advance = no_progress,
) -> dict[str, Any]:
    """Denoise a split with run `run`'s diffusion model (and peers); write and return metrics."""
    return _run_task(
        "denoise",
        run,
        data,
        out,
        overwrite,
        panels,
        lambda model, store: denoise_split(model, store, s, d, progress),
    )


def run_reconstruct(
    run: str | Path,
    data: str | Path,
    out: str | Path,
    s: TaskSettings,
    r: ReconstructSettings,
    *,
    overwrite: bool = False,
    panels: int = PANELS,
    progress: Advance = no_progress,
) -> dict[str, Any]:
    """Reconstruct undersampled k-space of a split's clean slices; write and return metrics."""
    return _run_task(
        "reconstruct",
        run,
        data,
        out,
        overwrite,
        panels,
        lambda model, store: reconstruct_split(model, store, s, r, progress),
    )


def open_vae(run: str | Path) -> VAE:
    """The VAE of a `medgen train vae` run (InputError for another family)."""
    from medgen.train.generate import open_run

    model = open_run(run)
    if not isinstance(model, VAE):
        raise InputError(run, f"holds a {model.family} model; --vae needs a VAE run")
    return model.eval()


def run_anomaly(
    run: str | Path,
    data: str | Path,
    out: str | Path,
    s: TaskSettings,
    a: AnomalySettings,
    *,
    vae: str | Path | None = None,
    overwrite: bool = False,
    panels: int = PANELS,
    progress: Advance = no_progress,
) -> dict[str, Any]:
    """Anomaly maps of a split by a healthy diffusion model (and a VAE baseline); write, return."""
    baseline = open_vae(vae) if vae is not None else None
    return _run_task(
        "anomaly",
        run,
        data,
        out,
        overwrite,
        panels,
        lambda model, store: anomaly_split(model, store, s, a, baseline, progress),
    )
