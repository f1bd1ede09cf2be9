"""Chapter 3, the models: a VAE, a diffusion model in its latent space, and a GAN; their samples
beside real slices, and loss curves.

With the profile's reference models (and the data they were trained on) the three are the
shipped references, sampled here, and one short run of the latent diffusion recipe is trained
from scratch within the budget, so that the reader sees training work and can set its curve
beside the reference run's. Without them, the three are trained here within the budget.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medgen.models import load_model
from medgen.reference.catalog import get_recipe
from medgen.report.html import FigureRef, render_template, table_html
from medgen.report.training import curves_compared, loss_curves, read_metrics, sample_panels
from medgen.study.chapters.data import study_dataset
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run
from medgen.train.recipe import RunConfig, read_run_config, train_on_data

# family -> (share of the chapter budget, --latent run or None), trained in this order; the
# shares leave a fifth for set-up, sampling and figures.
PLAN: dict[str, tuple[float, str | None]] = {
    "vae": (0.25, None),
    "diffusion": (0.35, "vae"),
    "gan": (0.2, None),
}
REFERENCES = {"vae": "vae", "diffusion": "latent_diffusion", "gan": "gan"}  # family -> reference
LATENT_REFERENCE = "autoencoder"  # the latent space of the latent diffusion reference
SCRATCH_SHARE = 0.6  # of the budget: the from-scratch run beside the reference models
SHOWN = 16  # images per panel of the samples figure
SAMPLE_STEPS = 20  # diffusion sampling steps in the chapter


def run_config(family: str, seconds: float, seed: int) -> RunConfig:
    """A wall-clock budget, checkpoints rare (the study is resumable by chapter, not by step)."""
    budget = f"{max(seconds, 1.0):.0f}s"
    return read_run_config(
        None,
        family,
        budget=budget,
        checkpoint_every=10_000,
        log_every=5,
        monitor_every=25,
        seed=seed,
    )


def real_slices(ctx: StudyContext, n: int) -> np.ndarray:
    """n random training slices (n, H, W)."""
    store = study_dataset(ctx)
    ids = store.split("train").index.to_numpy()
    pick = np.random.default_rng(ctx.profile.seed).choice(ids, size=min(n, len(ids)), replace=False)
    return np.asarray(store.array("images")[np.sort(pick)], dtype=np.float32)


def sample_timing(run: Path, n: int, seed: int) -> tuple[np.ndarray, float]:
    """n samples (n, H, W) of the run's final model, and seconds per image."""
    model = load_model(run / "model").eval()
    options: dict[str, Any] = {"steps": SAMPLE_STEPS} if model.family == "diffusion" else {}
    start = time.perf_counter()
    images = model.sample(n, generator=torch.Generator().manual_seed(seed), **options)
    return images[:, 0].numpy(), (time.perf_counter() - start) / n


def final_loss(run: Path) -> float:
    """The last logged training loss of a run (NaN if it logged none)."""
    losses = [
        r["metrics"]["loss"]
        for r in read_metrics(run / "metrics.jsonl")
        if "loss" in r.get("metrics", {})
    ]
    return float(losses[-1]) if losses else float("nan")


def trained_row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The cost-table row of a run trained in this chapter."""
    return {
        "model": name,
        "source": "trained here",
        "parameters": summary["parameters"],
        "steps": summary["steps"],
        "images seen": summary["images"],
        "train s": summary["seconds"],
        "final loss": summary["final_metrics"].get("loss", float("nan")),
    }


def reference_row(name: str, folder: Path) -> dict[str, Any]:
    """The cost-table row of a shipped reference model (its provenance)."""
    from medgen.reference.zoo import load_reference

    p = load_reference(folder.name).provenance
    model = load_model(folder / "model")
    return {
        "model": name,
        "source": "reference",
        "parameters": sum(t.numel() for t in model.parameters()),
        "steps": p["steps"],
        "images seen": p["images"],
        "train s": p["seconds"],
        "final loss": final_loss(folder),
    }


def scratch_run(ctx: StudyContext, data: Path, vae: Path) -> tuple[Path, dict[str, Any]]:
    """The latent diffusion reference's recipe, trained from scratch within SCRATCH_SHARE of
    the budget, in the latent space of the reference's autoencoder (`vae`)."""
    recipe = get_recipe(REFERENCES["diffusion"])
    seconds = max(SCRATCH_SHARE * ctx.budget_s, 1.0)
    ctx.log(f"training latent diffusion from scratch for {seconds:.0f} s (the reference's recipe)")
    config = read_run_config(
        recipe.config_file, "diffusion", budget=f"{seconds:.0f}s", checkpoint_every=10_000
    )
    run = ctx.workdir / "runs" / "scratch"
    summary = train_on_data(
        "diffusion", data, run, config, cond=recipe.cond, latent=vae, progress=False
    )
    return run, summary


def latent_space(
    ctx: StudyContext, data: Path, vae: Path, vae_trained_here: bool, seconds: float
) -> tuple[Path, float, dict[str, Any] | None]:
    """Where a latent diffusion model trained in this chapter works, the seconds left to train
    it, and the summary of an autoencoder trained for it (None if none was).

    The VAE trained here has a spatial latent (the family's default), so the diffusion model
    works in it, as `medgen train diffusion --latent` does. The comparison's reference VAE has
    a vector latent, which a diffusion model cannot use: then the shipped autoencoder, where it
    was trained on these data, and otherwise an autoencoder of its recipe trained here on half
    the seconds."""
    if vae_trained_here:
        return vae, seconds, None
    shipped = reference_run(ctx, LATENT_REFERENCE)
    if shipped is not None:
        return shipped, seconds, None
    run = ctx.workdir / "runs" / LATENT_REFERENCE
    ctx.log(f"training the latent diffusion model's autoencoder for {seconds / 2:.0f} s")
    config = read_run_config(
        get_recipe(LATENT_REFERENCE).config_file,
        "vae",
        budget=f"{max(seconds / 2, 1.0):.0f}s",
        checkpoint_every=10_000,
        seed=ctx.profile.seed,
    )
    summary = train_on_data("vae", data, run, config, progress=False)
    return run, seconds / 2, summary


def models_chapter(ctx: StudyContext) -> ChapterResult:
    """The three families (the reference models, or runs trained here); samples, loss curves
    and a cost table."""
    data = ctx.out / ctx.upstream["data"]["dataset"]
    runs: dict[str, Path] = {}
    used: dict[str, str] = {}  # shown name -> reference name
    rows, panels = [], {"real slices": real_slices(ctx, SHOWN)}
    autoencoder: Path | None = None  # the latent diffusion reference's, when it is used
    for family, (share, latent) in PLAN.items():
        name = "latent diffusion" if latent else family
        found = reference_run(ctx, REFERENCES[family])
        if latent is not None and found is not None:
            # the reference lives in its own autoencoder's latent space: only with it
            autoencoder = reference_run(ctx, LATENT_REFERENCE)
            if autoencoder is None:
                found = None
            else:
                used[f"{name}'s autoencoder"] = LATENT_REFERENCE
        if found is not None:
            runs[family] = found
            used[name] = REFERENCES[family]
            rows.append(reference_row(name, found))
        else:
            seconds = share * ctx.budget_s
            space = None
            if latent is not None:
                here = runs[latent].is_relative_to(ctx.workdir)
                space, seconds, made = latent_space(ctx, data, runs[latent], here, seconds)
                if made is not None:
                    rows.append(trained_row(f"{name}'s autoencoder", made))
                elif not here:
                    used[f"{name}'s autoencoder"] = LATENT_REFERENCE
            runs[family] = ctx.workdir / "runs" / family
            ctx.log(f"training {family} for {seconds:.0f} s")
            summary = train_on_data(
                family,
                data,
                runs[family],
                run_config(family, seconds, ctx.profile.seed),
                latent=space,
                progress=False,
            )
            rows.append(trained_row(name, summary))
        images, per_image = sample_timing(runs[family], SHOWN, ctx.profile.seed)
        panels[name] = images
        rows[-1]["sample ms/image"] = 1000 * per_image
    figures = []
    path, ref = ctx.figure("samples.png")
    sample_panels(panels, path)
    figures.append(FigureRef(ref, "Real training slices beside each family's samples."))
    path, ref = ctx.figure("losses.png")
    loss_curves(runs, path)
    figures.append(FigureRef(ref, "Training losses against images seen (metrics.jsonl)."))
    trained_here = [r["model"] for r in rows if r["source"] == "trained here"]
    scratch = None
    if autoencoder is not None and "latent diffusion" in used:
        scratch, summary = scratch_run(ctx, data, autoencoder)
        rows.append(trained_row("latent diffusion, from scratch", summary))
        path, ref = ctx.figure("scratch.png")
        curves_compared(
            {"reference": runs["diffusion"], "from scratch here": scratch}, "loss", path
        )
        figures.append(
            FigureRef(
                ref,
                "The latent diffusion recipe's training loss: the shipped reference run and the "
                "run trained from scratch in this chapter, against images seen.",
            )
        )
    table = pd.DataFrame(rows).set_index("model")
    # a run trained here is chapter-relative; a reference is where medgen is installed
    links = {k: f"runs/{k}" if v.is_relative_to(ctx.workdir) else str(v) for k, v in runs.items()}
    body = render_template(
        "models_chapter.html",
        table=table_html(table, float_format="{:.4g}"),
        budget=ctx.budget_s,
        runs=links,
        references=used,
        scratch=scratch is not None,
        trained_here=trained_here,
    )
    body += provenance_html(used)
    outputs = {family: links[family] for family in runs}
    summary_line = ", ".join(f"{r['model']} {r['steps']} steps ({r['source']})" for r in rows)
    return ChapterResult(
        "The models: VAE, latent diffusion, GAN", body, figures, outputs, summary_line
    )
