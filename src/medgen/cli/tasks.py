"""`medgen denoise`, `medgen anomaly`, `medgen reconstruct`: a diffusion run at work on a split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import typer

from medgen.cli.values import (
    AnomalyMethod,
    AnomalyNoise,
    Cleanup,
    DenoiseMethod,
    KspaceMask,
    Split,
    Truth,
    finite_number,
)

SPLIT_HELP = "Split to process: train, dev or test."
LIMIT_HELP = "Process only the first N slices of the split. [default: all]"
PEERS_HELP = "Comma-separated classical peers to run beside medgen, tuned on dev ('all' for all)."


JOBS_HELP = "Processes the classical peers run in (their seconds per slice stay one core's)."
INPUT_HELP = (
    "Your own scan instead of --data: a NIfTI file (.nii, .nii.gz) or a DICOM series folder. "
    "[default: none]"
)
AXIS_HELP = "--input NIfTI: slicing axis in RAS+ order, 0 sagittal, 1 coronal, 2 axial."
SCAN_OUT_HELP = (
    "--data: output folder. --input: a .nii/.nii.gz file (NIfTI input) or a folder for the "
    "derived DICOM series (DICOM input)"
)


def _peers(text: str | None, known: dict[str, Any]) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(known) if text == "all" else tuple(p.strip() for p in text.split(",") if p)


def one_source(data: Path | None, scan: Path | None, other: str = "--input") -> None:
    """Exactly one of --data (the benchmark) and the own-data option (InputError otherwise)."""
    from medgen.exceptions import InputError

    if (data is None) == (scan is None):
        both = "both given" if data is not None else "neither given"
        raise InputError(f"--data/{other}", f"give exactly one ({both})")


def _benchmark_only(scan: Path | None, **given: object) -> None:
    """Refuse options that compare against clean truth, which a user's own data lacks."""
    from medgen.exceptions import InputError

    for name, value in given.items():
        if scan is not None and value:
            flag = "--" + name.replace("_", "-")
            raise InputError(flag, "applies to --data only (your own data has no clean truth)")


def _on_scan(label: str, call: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> None:
    """A task on a user's scan, with a progress bar; then where its outputs went."""
    from medgen.cli.progress import progress_bar

    with progress_bar(label) as advance:
        facts = call(*args, progress=advance, **kwargs)
    _print_facts(facts)


def _print_facts(facts: dict[str, Any]) -> None:
    """One line: where the outputs went, and the numbers behind them."""
    shown = {k: v for k, v in facts.items() if k not in ("outputs", "scores")}
    numbers = ", ".join(f"{k} {_number(v)}" for k, v in shown.items())
    print(f"wrote {' and '.join(facts['outputs'])} ({numbers})")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "-".join(map(_number, value))
    return str(value)


def _report(metrics: dict[str, Any], out: Path) -> None:
    """One line per method: the headline scores."""
    from medgen.tasks.anomaly_split import TRUTH_WORDS

    for name, m in metrics["methods"].items():
        if "psnr_brain" in m:
            print(
                f"{name}: PSNR {m['psnr_brain']:.2f} dB (brain) / {m['psnr']:.2f} dB, SSIM "
                f"{m['ssim_brain']:.3f} / {m['ssim']:.3f}, {m['seconds']:.3f} s/slice"
            )
        else:
            g = m["groups"]["all"]
            print(
                f"{name}: slice AUROC {g['slice_auroc']:.3f}, pixel AUPRC {g['pixel_auprc']:.3f}, "
                f"Dice {g['dice']:.3f} ({TRUTH_WORDS[metrics['truth']]}), "
                f"{m['s_per_slice']:.3f} s/slice"
            )
    print(f"wrote {out} ({metrics['n']} slices): arrays/, panels/, per_slice.csv, metrics.json")


def denoise_command(
    run: Path = typer.Argument(..., help="A pixel-space diffusion run (medgen train diffusion)."),
    data: Path | None = typer.Option(
        None, help="Dataset folder with clean and brain_mask arrays (benchmark). [default: none]"
    ),
    scan: Path | None = typer.Option(None, "--input", help=INPUT_HELP),
    out: Path | None = typer.Option(
        None, help=SCAN_OUT_HELP + ", its uncertainty map beside it. [default: denoised]"
    ),
    axis: int = typer.Option(2, help=AXIS_HELP),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    noise: float = typer.Option(
        0.1, parser=finite_number, help="Std of the simulated Rician noise, [0, 1] units."
    ),
    sigma: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Noise std the methods are told, [0, 1] units (--input: of the scan's window). "
        "[default: estimated per slice; --input: per scan]",
    ),
    method: DenoiseMethod = typer.Option(
        "sample", help="mean: one-step posterior mean; sample: k samples."
    ),
    mirrored: bool = typer.Option(
        True, help="mean: average with the mirrored slice's posterior mean (2 NFE)."
    ),
    k: int = typer.Option(4, help="Posterior samples averaged (their spread: the uncertainty)."),
    steps: int = typer.Option(10, help="Reverse steps per sample (NFE per slice)."),
    strength: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Level the model is told / the noise std. [default: tuned on 8 dev slices; "
        "--input: 1]",
    ),
    peers: str | None = typer.Option(
        None, help=PEERS_HELP + " nl_means,tv_chambolle,wavelet,bm3d [default: none]"
    ),
    limit: int | None = typer.Option(None, help=LIMIT_HELP),
    batch_size: int = typer.Option(16, help="Slices per batch."),
    seed: int = typer.Option(0, help="Seed of the simulated noise and the samplers."),
    jobs: int = typer.Option(1, help=JOBS_HELP),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Denoise Rician-noisy slices with a diffusion model's posterior (and classical peers),
    or your own scan (--input) slice by slice at the noise level estimated from it.

    With --input each slice is mapped to [0, 1] by the scan's window (0.5th percentile to the
    head's 99.5th), resized to the model's size, denoised, resized back and mapped back, and
    written in the input's geometry: NIfTI keeps its affine and header, DICOM becomes a new
    derived series with de-identified headers.

    Example: medgen denoise runs/diffusion --data data --noise 0.1 --peers all --out denoised

    Example: medgen denoise pixel_prior --input scan.nii.gz --out denoised.nii.gz
    """
    from medgen.cli.progress import progress_bar
    from medgen.tasks.commands import run_denoise
    from medgen.tasks.peers import DENOISE_PEERS
    from medgen.tasks.run import DenoiseSettings, TaskSettings

    one_source(data, scan)
    _benchmark_only(scan, peers=peers)

    settings = TaskSettings(
        split=split,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        peers=_peers(peers, DENOISE_PEERS),
        jobs=jobs,
    )
    d = DenoiseSettings(
        noise=noise,
        sigma=sigma,
        method=method,
        k=k,
        steps=steps,
        strength=strength,
        mirrored=mirrored,
    )
    if scan is not None:
        from medgen.tasks.scan_commands import ScanOptions, denoise_input

        o = ScanOptions(axis, batch_size, seed, overwrite)
        where = (run, scan, out or Path("denoised"), d, o)
        strength = 1.0 if strength is None else strength
        _on_scan("denoising", denoise_input, *where, strength=strength)
        return
    assert data is not None
    out = out or Path("denoised")
    with progress_bar("denoising") as advance:
        metrics = run_denoise(run, data, out, settings, d, overwrite=overwrite, progress=advance)
    _report(metrics, out)


def anomaly_command(
    run: Path = typer.Argument(..., help="A pixel-space diffusion run trained on healthy slices."),
    data: Path | None = typer.Option(
        None,
        help="Dataset folder with brain_mask and tumour_mask arrays (benchmark). [default: none]",
    ),
    scan: Path | None = typer.Option(None, "--input", help=INPUT_HELP),
    out: Path | None = typer.Option(
        None,
        help=SCAN_OUT_HELP + " holding the anomaly map, a PNG montage beside it. "
        "[default: anomaly]",
    ),
    axis: int = typer.Option(2, help=AXIS_HELP),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    vae: Path | None = typer.Option(
        None, help="A VAE run: its reconstruction error as baseline. [default: none]"
    ),
    method: AnomalyMethod = typer.Option(
        "ensemble",
        help="ensemble (posterior means over noise levels and draws) or partial (AnoDDPM).",
    ),
    t_sigma: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Top noise level, [0, 1] units. [default: chosen on dev; --input: 0.2]",
    ),
    levels: int = typer.Option(4, help="ensemble: noise levels up to --t-sigma."),
    draws: int = typer.Option(10, help="ensemble: noise draws per level (NFE: levels x draws)."),
    steps: int = typer.Option(10, help="partial: Heun steps back to 0 (2 steps - 1 NFE)."),
    repeats: int = typer.Option(2, help="partial: reconstructions averaged per slice."),
    noise: AnomalyNoise = typer.Option(
        "gaussian", "--noise-kind", help="gaussian or structured (simplex-like)."
    ),
    truth: Truth = typer.Option(
        "tumour",
        help="Anomalous pixels of the headline scores: tumour (the tumour mask) or whole "
        "(tumour and oedema, as BraTS's whole tumour). Both are in metrics.json.",
    ),
    cleanup: Cleanup = typer.Option(
        "auto",
        help="Mask clean-up after the threshold: none, fill (holes), region (filled, the most "
        "anomalous connected region only), or auto (the best Dice on dev).",
    ),
    segment_blur: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Smoothing (pixels) of the residual the lesion masks are cut from. "
        "[default: chosen on dev, 0.5 to 1.5]",
    ),
    tune_slices: int = typer.Option(
        32, help="Dev tumour slices the noise level and the map thresholds are chosen on."
    ),
    limit: int | None = typer.Option(None, help=LIMIT_HELP),
    batch_size: int = typer.Option(16, help="Slices per batch."),
    seed: int = typer.Option(0, help="Seed of the look-alike's noise."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Anomaly maps and scores from a healthy-only diffusion model's look-alike of each scan.

    Train the model with: medgen train diffusion --data data --out runs/healthy --where label=0

    and its --vae baseline with: medgen train vae --data data --out runs/vae_healthy --where label=0

    Example: medgen anomaly runs/healthy --data data --vae runs/vae_healthy --out anomaly

    Example: medgen anomaly healthy_prior --input scan.nii.gz --out anomaly.nii.gz
    """
    from medgen.cli.progress import progress_bar
    from medgen.tasks.anomaly_split import AnomalySettings
    from medgen.tasks.commands import run_anomaly
    from medgen.tasks.run import TaskSettings

    one_source(data, scan)
    _benchmark_only(scan, vae=vae)

    settings = TaskSettings(
        split=split, limit=limit, batch_size=batch_size, seed=seed, tune_slices=tune_slices
    )
    a = AnomalySettings(
        method=method,
        t_sigma=t_sigma,
        levels=levels,
        draws=draws,
        steps=steps,
        repeats=repeats,
        noise=noise,
        truth=truth,
        cleanup=cleanup,
        segment_blur=segment_blur,
    )
    if scan is not None:
        from medgen.tasks.scan_commands import ScanOptions, anomaly_input

        o = ScanOptions(axis, batch_size, seed, overwrite)
        _on_scan("anomaly maps", anomaly_input, run, scan, out or Path("anomaly"), a, o)
        return
    assert data is not None
    out = out or Path("anomaly")
    with progress_bar("anomaly maps") as advance:
        metrics = run_anomaly(
            run, data, out, settings, a, vae=vae, overwrite=overwrite, progress=advance
        )
    _report(metrics, out)


def reconstruct_command(
    run: Path = typer.Argument(..., help="A pixel-space diffusion run (medgen train diffusion)."),
    data: Path | None = typer.Option(
        None, help="Dataset folder with clean and brain_mask arrays (benchmark). [default: none]"
    ),
    kspace: Path | None = typer.Option(
        None,
        help="Measured single-coil k-space instead of --data: .npy (slices, rows, cols) complex, "
        "or .h5 with a 'kspace' dataset (fastMRI). [default: none]",
    ),
    out: Path | None = typer.Option(
        None,
        help="--data: output folder. --kspace: a .nii/.nii.gz file, its uncertainty map beside "
        "it. [default: reconstructed; --kspace: reconstructed.nii.gz]",
    ),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    accel: float = typer.Option(
        4.0, parser=finite_number, help="Acceleration, 2 to 8 (samples measured: 1/accel)."
    ),
    mask: str = typer.Option(
        "cartesian",
        help="--data: the simulated mask, cartesian, equispaced, random or variable_density. "
        "--kspace: the measured one, .npy or .h5 ('mask'), (cols,) lines or (rows, cols).",
    ),
    k: int = typer.Option(4, help="Posterior samples (their spread: the uncertainty map)."),
    steps: int = typer.Option(50, help="Reverse steps (NFE per slice)."),
    peers: str | None = typer.Option(
        None, help=PEERS_HELP + " zero_filled,cs_tv,cs_wavelet [default: none]"
    ),
    limit: int | None = typer.Option(None, help=LIMIT_HELP),
    batch_size: int = typer.Option(16, help="Slices per batch."),
    seed: int = typer.Option(0, help="Seed of the mask and the sampler."),
    jobs: int = typer.Option(1, help=JOBS_HELP),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Reconstruct undersampled single-coil k-space by diffusion posterior sampling with hard
    data consistency (and classical peers).

    Example: medgen reconstruct runs/diffusion --data data --accel 4 --mask cartesian --peers all

    Example: medgen reconstruct pixel_prior --kspace kspace.npy --mask mask.npy --out recon.nii.gz
    """
    from medgen.cli.progress import progress_bar
    from medgen.exceptions import InputError
    from medgen.tasks.commands import run_reconstruct
    from medgen.tasks.peers import RECONSTRUCT_PEERS
    from medgen.tasks.reconstruct_split import ReconstructSettings
    from medgen.tasks.run import TaskSettings

    one_source(data, kspace, "--kspace")
    _benchmark_only(kspace, peers=peers)
    if kspace is not None:
        from medgen.tasks.scan_commands import reconstruct_input

        facts = reconstruct_input(
            run,
            kspace,
            Path(mask),
            out or Path("reconstructed.nii.gz"),
            k=k,
            steps=steps,
            seed=seed,
            overwrite=overwrite,
        )
        _print_facts(facts)
        return
    assert data is not None
    if mask not in get_args(KspaceMask):  # a file is --kspace's measured mask, not a kind
        choices = ", ".join(repr(m) for m in get_args(KspaceMask))
        raise InputError("--mask", f"{mask!r} is not one of {choices}")
    out = out or Path("reconstructed")

    settings = TaskSettings(
        split=split,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        peers=_peers(peers, RECONSTRUCT_PEERS),
        jobs=jobs,
    )
    r = ReconstructSettings(accel=accel, mask=mask, k=k, steps=steps)
    with progress_bar("reconstructing") as advance:
        metrics = run_reconstruct(
            run, data, out, settings, r, overwrite=overwrite, progress=advance
        )
    _report(metrics, out)
