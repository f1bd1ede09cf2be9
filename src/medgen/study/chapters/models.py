"""Chapter 3, the models: a VAE, a diffusion model in its latent space, and a GAN, trained on the
study's data within the chapter's budget; their samples beside real slices, and loss curves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medgen.models import load_model
from medgen.report.html import FigureRef, render_template, table_html
from medgen.report.training import loss_curves, sample_panels
from medgen.study.chapters.data import study_dataset
from medgen.study.context import ChapterResult, StudyContext
from medgen.train.recipe import RunConfig, read_run_config, train_on_data

# family -> (share of the chapter budget, --latent run or None), trained in this order; the
# shares leave a fifth for set-up, sampling and figures.
PLAN: dict[str, tuple[float, str | None]] = {
    "vae": (0.25, None),
    "diffusion": (0.35, "vae"),
    "gan": (0.2, None),
}
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


def models_chapter(ctx: StudyContext) -> ChapterResult:
    """Train the three families on the study's data; samples, loss curves and a cost table."""
    data = ctx.out / ctx.upstream["data"]["dataset"]
    runs: dict[str, Path] = {}
    rows, panels = [], {"real slices": real_slices(ctx, SHOWN)}
    for family, (share, latent) in PLAN.items():
        seconds = share * ctx.budget_s
        runs[family] = ctx.workdir / "runs" / family
        ctx.log(f"training {family} for {seconds:.0f} s")
        summary = train_on_data(
            family,
            data,
            runs[family],
            run_config(family, seconds, ctx.profile.seed),
            latent=None if latent is None else runs[latent],
            progress=False,
        )
        images, per_image = sample_timing(runs[family], SHOWN, ctx.profile.seed)
        name = "latent diffusion" if latent else family
        panels[name] = images
        rows.append(
            {
                "model": name,
                "parameters": summary["parameters"],
                "steps": summary["steps"],
                "images seen": summary["images"],
                "train s": summary["seconds"],
                "final loss": summary["final_metrics"].get("loss", float("nan")),
                "sample ms/image": 1000 * per_image,
            }
        )
    figures = []
    path, ref = ctx.figure("samples.png")
    sample_panels(panels, path)
    figures.append(FigureRef(ref, "Real training slices beside each family's samples."))
    path, ref = ctx.figure("losses.png")
    loss_curves(runs, path)
    figures.append(FigureRef(ref, "Training losses against images seen (metrics.jsonl)."))
    table = pd.DataFrame(rows).set_index("model")
    body = render_template(
        "models_chapter.html",
        table=table_html(table, float_format="{:.4g}"),
        budget=ctx.budget_s,
        runs={k: f"runs/{k}" for k in runs},
    )
    outputs = {family: f"runs/{family}" for family in runs}
    summary_line = ", ".join(f"{r['model']} {r['steps']} steps" for r in rows)
    return ChapterResult(
        "The models: VAE, latent diffusion, GAN", body, figures, outputs, summary_line
    )
