"""Chapter 5, diffusion at work: denoising, anomaly detection and undersampled-MRI
reconstruction by pixel-space diffusion models, against their classical peers.

Two diffusion models serve, one trained on every training slice (the prior for denoising and
reconstruction) and one on the healthy training slices only, at the noise levels anomaly
detection queries (PRIOR_LEVELS), with a VAE on the same healthy slices as the anomaly baseline:
an anomaly detector must not have seen tumours, and the models chapter's latent diffusion model
cannot serve (the tasks need pixel space). Each is the shipped reference model where the
profile uses them and the data are its own (REFERENCES), and is otherwise trained here within
its share of the budget.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from medgen.data.store import open_dataset
from medgen.models import VAE, load_model
from medgen.models.diffusion import DiffusionConfig
from medgen.report.html import FigureRef, render_template, table_html
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run
from medgen.tasks.anomaly_split import PRIOR_LEVELS
from medgen.tasks.outputs import PANEL_COLUMNS, TaskOutcome, write_panel
from medgen.tasks.run import TaskSettings, open_pixel_model
from medgen.tasks.tables import Table, anomaly_table, denoise_table, reconstruct_table
from medgen.train.recipe import read_run_config, train_on_data

BATCH_SIZE = 32
ANOMALY_FACTOR = 4  # test slices scored for anomalies per denoised / reconstructed slice
# run -> (family, share of the chapter budget, --where, [model] fields beside the defaults); the
# rest of the budget is for the three tasks
PLAN: dict[str, tuple[str, float, str | None, dict[str, float] | None]] = {
    "diffusion": ("diffusion", 0.4, None, None),
    "diffusion_healthy": ("diffusion", 0.25, "label=0", PRIOR_LEVELS),
    "vae_healthy": ("vae", 0.1, "label=0", None),
}
REFERENCES = {
    "diffusion": "pixel_prior",
    "diffusion_healthy": "healthy_prior",
    "vae_healthy": "healthy_vae",
}


def train_runs(ctx: StudyContext, data: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The chapter's three runs (a reference, or trained within its share of the budget), and
    the references among them (run name -> reference name)."""
    runs, used = {}, {}
    train = open_dataset(data).split("train")
    for name, (family, share, where, model) in PLAN.items():
        found = reference_run(ctx, REFERENCES[name])
        if found is not None:
            runs[name], used[name] = found, REFERENCES[name]
            continue
        seconds = max(share * ctx.budget_s, 1.0)
        ctx.log(f"training {name} for {seconds:.0f} s")
        available = len(train) if where is None else int((train["label"] == 0).sum())
        config = read_run_config(
            None,
            family,
            model=model,
            budget=f"{seconds:.0f}s",
            batch_size=min(BATCH_SIZE, available),  # the tiny profile has 30 healthy slices
            checkpoint_every=10_000,
            log_every=25,
            seed=ctx.profile.seed,
        )
        runs[name] = ctx.workdir / "runs" / name
        train_on_data(family, data, runs[name], config, where=where, progress=False)
    return runs, used


def panel(ctx: StudyContext, name: str, outcome: TaskOutcome, caption: str) -> FigureRef:
    """The first slice of an outcome as input | output | truth | error | uncertainty."""
    path, ref = ctx.figure(f"{name}.png")
    a = outcome.arrays
    write_panel(path, {c: getattr(a, c)[0] for c in PANEL_COLUMNS}, f"slice {int(a.ids[0])}")
    return FigureRef(ref, caption)


def tasks_chapter(ctx: StudyContext) -> ChapterResult:
    """Train the chapter's runs; denoise, detect anomalies and reconstruct; three peer tables."""
    data = ctx.out / ctx.upstream["data"]["dataset"]
    store = open_dataset(data)
    runs, used = train_runs(ctx, data)
    p = ctx.profile
    s = TaskSettings(
        split="test",
        limit=p.tasks_slices,
        batch_size=8,
        seed=p.seed,
        tune_slices=p.tasks_tune_slices,
    )
    model = open_pixel_model(runs["diffusion"], store)
    vae = load_model(runs["vae_healthy"] / "model").eval()
    assert isinstance(vae, VAE)
    ctx.log("denoising at three noise levels")
    denoised = denoise_table(model, store, s)
    ctx.log("anomaly detection")
    healthy = open_pixel_model(runs["diffusion_healthy"], store)
    # anomaly scoring is cheap per slice and needs tumours of every kind: four times as many
    scored = replace(s, limit=p.tasks_slices * ANOMALY_FACTOR)
    anomalies = anomaly_table(healthy, vae, store, scored)
    ctx.log("reconstruction at 4x and 8x")
    recon = reconstruct_table(model, store, s)
    figures = [
        panel(
            ctx,
            "denoise",
            denoised.outcomes["0.10"],
            "Denoising at noise 0.10: noisy input, "
            "mean of the posterior samples, clean truth, |error| and posterior std.",
        ),
        panel(
            ctx,
            "anomaly",
            anomalies.outcomes["anomaly"],
            "Anomaly detection: scan, healthy look-alike, tumour mask, anomaly map "
            "and the spread of the look-alike's estimates.",
        ),
        panel(
            ctx,
            "reconstruct",
            recon.outcomes["4x"],
            "Reconstruction at 4x: zero-filled "
            "input, posterior mean, truth, |error| and posterior std.",
        ),
    ]

    def html(t: Table) -> str:
        return table_html(t.table, float_format="{:.3f}")

    # a run trained here is chapter-relative; a reference is where medgen is installed
    links = {k: f"runs/{k}" if v.is_relative_to(ctx.workdir) else str(v) for k, v in runs.items()}
    body = render_template(
        "tasks_chapter.html",
        budget=ctx.budget_s,
        slices=s.limit,
        anomaly_slices=scored.limit,
        tune=s.tune_slices,
        prior=PRIOR_LEVELS,
        edm=DiffusionConfig(),  # the default training levels, for comparison
        denoise=html(denoised),
        anomaly=html(anomalies),
        reconstruct=html(recon),
        verdicts={
            "Denoising": denoised.verdict,
            "Anomaly detection": anomalies.verdict,
            "Reconstruction": recon.verdict,
        },
        runs=links,
        references=used,
    )
    body += provenance_html(used)
    outputs = dict(links)
    met = {"denoise": denoised.met, "anomaly": anomalies.met, "reconstruct": recon.met}
    outputs["targets_met"] = ", ".join(k for k, v in met.items() if v) or "none"
    summary = "targets met: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in met.items())
    return ChapterResult(
        "Diffusion at work: denoising, anomalies, reconstruction", body, figures, outputs, summary
    )
