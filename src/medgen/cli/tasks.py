"""`medgen denoise`, `medgen anomaly`, `medgen reconstruct`: a diffusion run at work on a split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _peers(text: str | None, known: dict[str, Any]) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(known) if text == "all" else tuple(p.strip() for p in text.split(",") if p)


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
    data: Path = typer.Option(..., help="Dataset folder with clean and brain_mask arrays."),
    out: Path = typer.Option(Path("denoised"), help="Output folder."),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    noise: float = typer.Option(
        0.1, parser=finite_number, help="Std of the simulated Rician noise, [0, 1] units."
    ),
    sigma: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Noise std the methods are told. [default: estimated per slice]",
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
        help="Level the model is told / the noise std. [default: tuned on 8 dev slices]",
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
    """Denoise Rician-noisy slices with a diffusion model's posterior (and classical peers).

    Example: medgen denoise runs/diffusion --data data --noise 0.1 --peers all --out denoised
    """
    from medgen.cli.progress import progress_bar
    from medgen.tasks.commands import run_denoise
    from medgen.tasks.peers import DENOISE_PEERS
    from medgen.tasks.run import DenoiseSettings, TaskSettings

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
    with progress_bar("denoising") as advance:
        metrics = run_denoise(run, data, out, settings, d, overwrite=overwrite, progress=advance)
    _report(metrics, out)


def anomaly_command(
    run: Path = typer.Argument(..., help="A pixel-space diffusion run trained on healthy slices."),
    data: Path = typer.Option(..., help="Dataset folder with brain_mask and tumour_mask arrays."),
    out: Path = typer.Option(Path("anomaly"), help="Output folder."),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    vae: Path | None = typer.Option(
        None, help="A VAE run: its reconstruction error as baseline. [default: none]"
    ),
    method: AnomalyMethod = typer.Option(
        "ensemble",
        help="ensemble (posterior means over noise levels and draws) or partial (AnoDDPM).",
    ),
    t_sigma: float | None = typer.Option(
        None, parser=finite_number, help="Top noise level, [0, 1] units. [default: chosen on dev]"
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
    """
    from medgen.cli.progress import progress_bar
    from medgen.tasks.anomaly_split import AnomalySettings
    from medgen.tasks.commands import run_anomaly
    from medgen.tasks.run import TaskSettings

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
    with progress_bar("anomaly maps") as advance:
        metrics = run_anomaly(
            run, data, out, settings, a, vae=vae, overwrite=overwrite, progress=advance
        )
    _report(metrics, out)


def reconstruct_command(
    run: Path = typer.Argument(..., help="A pixel-space diffusion run (medgen train diffusion)."),
    data: Path = typer.Option(..., help="Dataset folder with clean and brain_mask arrays."),
    out: Path = typer.Option(Path("reconstructed"), help="Output folder."),
    split: Split = typer.Option("test", help=SPLIT_HELP),
    accel: float = typer.Option(
        4.0, parser=finite_number, help="Acceleration, 2 to 8 (samples measured: 1/accel)."
    ),
    mask: KspaceMask = typer.Option(
        "cartesian", help="cartesian, equispaced, random or variable_density."
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
    """
    from medgen.cli.progress import progress_bar
    from medgen.tasks.commands import run_reconstruct
    from medgen.tasks.peers import RECONSTRUCT_PEERS
    from medgen.tasks.run import ReconstructSettings, TaskSettings

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
