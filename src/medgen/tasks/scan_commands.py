"""`medgen denoise --input` and `medgen anomaly --input` as library calls: a run and a user's
scan in, results in the scan's geometry out, each file or folder whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medgen.exceptions import InputError
from medgen.tasks.adapter import PixelDenoiser
from medgen.tasks.anomaly_split import AnomalySettings
from medgen.tasks.on_scans import anomaly_scan, denoise_scan, open_prior
from medgen.tasks.outputs import Advance, no_progress
from medgen.tasks.run import DenoiseSettings
from medgen.tasks.scan_outputs import (
    beside,
    check_file,
    check_output,
    write_montage,
    write_result,
)
from medgen.tasks.scans import Scan, read_scan
from medgen.validate import positive, random_seed, whole

MONTAGE_SLICES = 12  # the most anomalous slices shown in the montage


class ScanOptions(NamedTuple):
    """How a task runs on a user's scan."""

    axis: int = 2  # NIfTI slicing axis in RAS+ order: 0 sagittal, 1 coronal, 2 axial
    batch_size: int = 16  # slices per batch
    seed: int = 0  # seed of the samplers' noise
    overwrite: bool = False  # replace existing outputs


def _open(
    run: str | Path, source: str | Path, o: ScanOptions, check: Callable[[Scan], None]
) -> tuple[Scan, PixelDenoiser, int]:
    """The scan, its outputs checked by `check` (before the model loads), the model, its size."""
    whole("batch_size", o.batch_size, 1)
    random_seed("seed", o.seed)
    scan = read_scan(source, o.axis)
    check(scan)
    return (scan, *open_prior(run))


def denoise_input(
    run: str | Path,
    source: str | Path,
    out: str | Path,
    d: DenoiseSettings,
    o: ScanOptions = ScanOptions(),
    *,
    strength: float = 1.0,
    progress: Advance = no_progress,
) -> dict[str, Any]:
    """Denoise the scan `source` with run `run`'s diffusion model: `out` (and its uncertainty
    map beside it, `<out>_uncertainty`) in the scan's geometry; returns what was done."""
    out = Path(out)
    positive("strength", strength)
    uncertainty = beside(out, "uncertainty")

    def check(scan: Scan) -> None:
        check_output(scan, out, o.overwrite)
        check_output(scan, uncertainty, o.overwrite)

    scan, model, size = _open(run, source, o, check)
    result = denoise_scan(
        model, size, scan, d, strength, batch_size=o.batch_size, seed=o.seed, progress=progress
    )
    write_result(scan, result.uncertainty, uncertainty, "medgen denoise uncertainty", o.overwrite)
    write_result(scan, result.output, out, "medgen denoised", o.overwrite)
    return {
        "slices": len(scan.planes),
        "sigma": result.sigma,
        "sigma_model": result.sigma_model,
        "window": list(result.window),
        "nfe_per_slice": result.nfe,
        "outputs": [str(out), str(uncertainty)],
    }


def anomaly_input(
    run: str | Path,
    source: str | Path,
    out: str | Path,
    a: AnomalySettings,
    o: ScanOptions = ScanOptions(),
    *,
    progress: Advance = no_progress,
) -> dict[str, Any]:
    """Anomaly maps of the scan `source` by run `run`'s healthy-only model: the map as `out` in
    the scan's geometry (an overlay) and a PNG montage of the most anomalous slices beside it
    (`<out>_montage.png`); returns the slice scores and the outputs."""
    out = Path(out)
    montage = beside(out, "montage", "png")

    def check(scan: Scan) -> None:
        check_output(scan, out, o.overwrite)
        check_file(montage, o.overwrite)

    scan, model, size = _open(run, source, o, check)
    result = anomaly_scan(
        model, size, scan, a, batch_size=o.batch_size, seed=o.seed, progress=progress
    )
    top = np.argsort(-result.scores, kind="stable")[:MONTAGE_SLICES]
    titles = [f"slice {i}: {result.scores[i]:.3f}" for i in top]
    write_montage(montage, result.images[top], result.model_map[top], titles)
    write_result(scan, result.map, out, "medgen anomaly map", o.overwrite)
    return {
        "slices": len(scan.planes),
        "scores": [round(float(s), 6) for s in result.scores],
        "most_anomalous": int(top[0]),
        "nfe_per_slice": result.nfe,
        "outputs": [str(out), str(montage)],
    }


def reconstruct_input(
    run: str | Path,
    kspace: str | Path,
    mask: str | Path,
    out: str | Path,
    *,
    k: int = 4,
    steps: int = 50,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Reconstruct measured single-coil k-space with run `run`'s prior: `out` (NIfTI) and its
    uncertainty map beside it (`<out>_uncertainty`); returns what was done."""
    from medgen.tasks.measured import read_kspace, read_mask, reconstruct_measured, write_images
    from medgen.tasks.run import check_sampling
    from medgen.tasks.scan_outputs import is_nifti_name

    out = Path(out)
    check_sampling(k, steps)
    if not is_nifti_name(out):
        raise InputError(out, "must be named .nii or .nii.gz")
    uncertainty = beside(out, "uncertainty")
    check_file(out, overwrite)
    check_file(uncertainty, overwrite)
    measured = read_kspace(kspace)
    sampled = read_mask(mask, (int(measured.shape[1]), int(measured.shape[2])))
    model, size = open_prior(run)
    result = reconstruct_measured(model, size, measured, sampled, k=k, steps=steps, seed=seed)
    write_images(uncertainty, result.std)
    write_images(out, result.mean)
    return {
        "slices": len(measured),
        "measured_fraction": float(sampled.mean()),
        "scale": result.scale,
        "nfe_per_slice": result.nfe,
        "outputs": [str(out), str(uncertainty)],
    }
