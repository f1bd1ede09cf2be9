"""`medgen train` and `medgen sample`: train a family on a dataset folder; draw from a run."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import Family, Sampler, Tracker, finite_number


def train_command(
    family: Family = typer.Argument(..., help="Model family: diffusion, gan or vae."),
    data: Path = typer.Option(..., help="Dataset folder (medgen data make / import)."),
    out: Path = typer.Option(..., help="Run folder: checkpoints, metrics, samples, model/."),
    config: Path | None = typer.Option(
        None,
        help="TOML/JSON with [train] and [model] tables (unknown keys are refused). "
        "[default: the family's defaults]",
    ),
    budget: str | None = typer.Option(
        None, help="When to stop: 500steps, 20000img, 90s, 10m or 1.5h. [default: 500steps]"
    ),
    batch_size: int | None = typer.Option(None, help="Images per process per step. [default: 32]"),
    cond: str | None = typer.Option(
        None,
        help="Condition on metadata columns, e.g. type,location (diffusion, gan). "
        "[default: unconditional]",
    ),
    latent: Path | None = typer.Option(
        None,
        help="A trained VAE run: train the diffusion model in its latent space. "
        "[default: pixel space]",
    ),
    init: str | None = typer.Option(
        None,
        help="Start from a trained model's weights: a run folder or a shipped reference (e.g. "
        "pixel_prior). Its network and noise scales are kept; --cond labels it lacks start at "
        "zero, so step 0 is that model. [default: fresh weights]",
    ),
    seed: int | None = typer.Option(None, help="Seed of data order and model noise. [default: 0]"),
    where: str | None = typer.Option(
        None,
        help="Train on the matching slices only, e.g. label=0 (healthy, for medgen anomaly). "
        "[default: every training slice]",
    ),
    joint: bool = typer.Option(
        False,
        help="Train a joint (image, tumour mask) generator conditional on tumour type, location "
        "and appearance: the remedy's (diffusion, gan).",
    ),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    cpu: bool = typer.Option(False, help="Train on the CPU even when a GPU is present."),
    log_with: list[Tracker] | None = typer.Option(
        None,
        help="Also send each metrics line (every loss term, lr, images/s) and sample grid to "
        "this experiment tracker (repeatable; its package must be installed): tensorboard "
        "writes OUT/tracker/medgen/ (tensorboard --logdir OUT/tracker), the others keep their "
        "local files in OUT/tracker/. metrics.jsonl stays the record. [default: none]",
    ),
) -> None:
    """Train a diffusion model, a GAN or a VAE on the train split of a dataset.

    Runs on many GPUs or machines with no change: accelerate launch -m medgen train ...
    (two CPU processes: accelerate launch --multi_gpu --num_processes 2 -m medgen train ... --cpu)

    Example: medgen train diffusion --data data --out runs/diffusion --budget 10m

    Example: medgen train diffusion --data data --out runs/cond --cond type,location --budget 10m

    Example: medgen train diffusion --data data --out runs/t --cond tumour_type --init pixel_prior

    Example: medgen train gan --data data --out runs/gan --budget 10m --log-with tensorboard

    Example: medgen train vae --data data --out runs/vae --budget 10m
    """
    from medgen.exceptions import InputError, SettingError
    from medgen.tasks.augment import train_joint_generator
    from medgen.train.loop import NonFiniteLoss, leaving_process_group
    from medgen.train.recipe import read_run_config, train_on_data
    from medgen.train.tracking import check_trackers

    trackers = check_trackers([t.value for t in log_with or ()])
    run_config = read_run_config(config, family, budget=budget, batch_size=batch_size, seed=seed)
    if joint:
        given = {
            "cond": cond,
            "latent": latent,
            "where": where,
            "init": init,
        }
        for flag, value in given.items():
            if value is not None:
                raise SettingError(flag, "does not apply to a joint generator (--joint)")
    try:
        with leaving_process_group():
            if joint:
                summary = train_joint_generator(
                    family, data, out, run_config, cpu=cpu, resume=resume, log_with=trackers
                )
            else:
                summary = train_on_data(
                    family,
                    data,
                    out,
                    run_config,
                    cond=cond,
                    latent=latent,
                    resume=resume,
                    cpu=cpu,
                    where=where,
                    log_with=trackers,
                    init=None if init is None else init_folder(init),
                )
    except NonFiniteLoss as err:
        raise InputError(out, f"training stopped: {err}") from None
    done = f"{summary['steps']} steps, {summary['images']} images in {summary['seconds']:.0f} s"
    if summary["status"] != "finished":
        print(f"{summary['status']} after {done}; continue with --resume (checkpoint in {out})")
        raise typer.Exit(130)
    print(f"finished: {done}; model in {out}/model")


def init_folder(value: str) -> Path:
    """The folder that --init names: a path as given, or else a shipped reference's folder."""
    from medgen.exceptions import InputError
    from medgen.reference import RECIPES, load_reference

    path = Path(value)
    if path.exists():
        return path
    if value in RECIPES:
        folder = load_reference(value).folder
        if not (folder / "model").is_dir():
            raise InputError(value, "is a shipped reference that holds no generative model")
        return folder
    known = ", ".join(RECIPES)
    raise InputError(value, f"is neither a run folder nor a shipped reference ({known})")


def sample_command(
    run: Path = typer.Argument(..., help="A run folder written by medgen train."),
    out: Path = typer.Option(Path("samples.png"), help="A .png grid or a .npy array (n, H, W)."),
    n: int = typer.Option(64, help="Number of images."),
    sampler: Sampler | None = typer.Option(
        None, help="Diffusion sampler. [default: the run's own]"
    ),
    steps: int | None = typer.Option(
        None, help="Diffusion sampling steps. [default: the run's own]"
    ),
    cond: str | None = typer.Option(
        None,
        help="The condition of a conditional run, e.g. location=brainstem,type=malignant. "
        "[default: none]",
    ),
    guidance: float | None = typer.Option(
        None,
        parser=finite_number,
        help="Classifier-free guidance scale: 0 unconditional, 1 conditional, > 1 guided. "
        "[default: the run's own]",
    ),
    seed: int = typer.Option(0, help="Seed of the initial noise."),
) -> None:
    """Draw images from a trained run.

    Example: medgen sample runs/diffusion --n 64 --out samples.png

    Example: medgen sample runs/cond --n 64 --cond location=brainstem --guidance 2 --out s.png
    """
    from medgen.train.generate import sample_run

    result = sample_run(
        run, out, n, sampler=sampler, steps=steps, cond=cond, guidance=guidance, seed=seed
    )
    per_image = result.seconds / result.shape[0]
    nfe = f", {result.nfe} NFE per image" if result.nfe is not None else ""
    print(
        f"wrote {result.path}: {result.shape[0]} images in {result.seconds:.1f} s "
        f"({per_image * 1000:.0f} ms per image{nfe})"
    )
