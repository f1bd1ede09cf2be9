"""Chapter 5, diffusion at work: denoising, anomaly detection and undersampled-MRI
reconstruction by pixel-space diffusion models, against their classical peers.

Each target is read from the 95% paired interval of medgen's gain over its baseline
(`read_claim`): met where the whole interval clears the margin, not shown where it holds the
margin, not met where it lies below it.

Two diffusion models serve, one trained on every training slice (the prior for denoising and
reconstruction) and one on the healthy training slices only, at the noise levels anomaly
detection queries (PRIOR_LEVELS), with a VAE on the same healthy slices as the anomaly baseline:
an anomaly detector must not have seen tumours, and the models chapter's latent diffusion model
cannot serve (the tasks need pixel space). Each is the shipped reference model where the
profile uses them and the data are its own (REFERENCES), and is otherwise trained here within
its share of the budget.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from medgen.data.store import open_dataset
from medgen.errors.findings import Finding
from medgen.models import VAE, load_model
from medgen.models.diffusion import DiffusionConfig
from medgen.report.html import MISSING, FigureRef, render_template, table_html
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run
from medgen.tasks.anomaly_split import PRIOR_LEVELS
from medgen.tasks.claims import VERDICT_WORDS, Claim, claim_verdict
from medgen.tasks.intervals import RESAMPLES
from medgen.tasks.outputs import PANEL_COLUMNS, TaskOutcome, write_panel
from medgen.tasks.run import TaskSettings, open_pixel_model
from medgen.tasks.tables import anomaly_table, denoise_table, reconstruct_table
from medgen.train.recipe import read_run_config, train_on_data

BATCH_SIZE = 32
# Slices scored per denoised slice (profile.tasks_slices). Anomaly scoring is cheap per slice
# (40 NFE) and needs tumours of every kind; a reconstructed slice costs 400 NFE, and the
# reconstruction gains stand several interval widths clear of their margins at under half the
# slices, while the denoising and anomaly gains lie near theirs and need every slice they get.
ANOMALY_FACTOR = 4
RECONSTRUCT_FACTOR = 0.4
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
# the tasks in words
TASK_WORDS = {
    "denoise": "Denoising",
    "anomaly": "Anomaly detection",
    "reconstruct": "Reconstruction",
    "register": "Registration",
    "classify": "Classification",
    "segment": "Label-efficient segmentation",
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


def read_claim(c: Claim) -> Finding:
    """A target read from its gain's interval: clear (the interval clears the margin), unclear
    (it holds the margin: not shown) or contradicted (it lies below the margin, or a condition
    besides the gain fails)."""
    g, digits = c.gain, 2 if "dB" in c.score else 3
    claim = f"{TASK_WORDS[c.task]}, {c.score}"
    if math.isnan(g.estimate):
        return Finding("unclear", f"{claim}: not measured (no {c.baseline} scores to compare).")

    def signed(x: float) -> str:
        return f"{x:+.{digits}f}"

    said = (
        f"{c.ours} {c.ours_value:.{digits}f} vs {c.baseline} {c.baseline_value:.{digits}f}, "
        f"a gain of {signed(g.estimate)}"
    )
    target = f"the target of {signed(c.margin)}"
    verdict = claim_verdict(c)
    if c.blocked:
        return Finding(verdict, f"{claim}: not met, {c.blocked} ({said}).")
    if math.isnan(g.low):
        return Finding(verdict, f"{claim}: not shown, too few {c.unit} for an interval ({said}).")
    said += f" (95% interval {signed(g.low)} to {signed(g.high)}, {g.n} {c.unit})"
    if verdict == "clear":
        return Finding(verdict, f"{claim}: met, {said}, clear of {target}.")
    if verdict == "contradicted":
        return Finding(verdict, f"{claim}: not met, {said}, below {target}.")
    zero = ", and zero: not even a gain is shown" if g.low <= 0 <= g.high else ""
    return Finding(
        "unclear", f"{claim}: not shown, {said}, an interval that contains {target}{zero}."
    )


def task_verdict(findings: list[Finding]) -> str:
    """A task's target from its claims': clear if all are, contradicted if any is."""
    verdicts = {f.verdict for f in findings}
    if "contradicted" in verdicts:
        return "contradicted"
    return "clear" if verdicts == {"clear"} else "unclear"


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: both scores, the gain with its 95% interval, the margin, the verdict."""
    rows = [
        {
            "task": c.task,
            "score": c.score,
            "medgen": c.ours,
            "baseline": c.baseline,
            "medgen score": c.ours_value,
            "baseline score": c.baseline_value,
            "gain": c.gain.estimate,
            "95% low": c.gain.low,
            "95% high": c.gain.high,
            "target gain": c.margin,
            "n": c.gain.n,
            "of": c.unit,
            "verdict": VERDICT_WORDS[read_claim(c).verdict],
        }
        for c in claims
    ]
    return pd.DataFrame(rows)


def with_interval(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """`table` with `column` shown as "value [low, high]" in place of it and its "95% low" and
    "95% high" columns; the value alone where it has no interval."""
    low, high = f"{column} 95% low", f"{column} 95% high"

    def shown(row: pd.Series) -> str:
        value, lo, hi = row[column], row[low], row[high]
        if math.isnan(value):
            return MISSING
        return f"{value:.3f}" if math.isnan(lo) else f"{value:.3f} [{lo:.3f}, {hi:.3f}]"

    at = table.columns.get_loc(column)
    cells = table.apply(shown, axis=1)
    out = table.drop(columns=[column, low, high])
    out.insert(at, f"{column} [95% interval]", cells)
    return out


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
    scored = replace(s, limit=p.tasks_slices * ANOMALY_FACTOR)
    anomalies = anomaly_table(healthy, vae, store, scored)
    ctx.log("reconstruction at 4x and 8x")
    recon_s = replace(s, limit=max(2, round(p.tasks_slices * RECONSTRUCT_FACTOR)))
    recon = reconstruct_table(model, store, recon_s)
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

    def html(table: pd.DataFrame) -> str:
        return table_html(table, float_format="{:.3f}")

    tables = {"denoise": denoised, "anomaly": anomalies, "reconstruct": recon}
    claims = [c for t in tables.values() for c in t.claims]
    verdicts = {k: task_verdict([read_claim(c) for c in t.claims]) for k, t in tables.items()}
    # a run trained here is chapter-relative; a reference is where medgen is installed
    links = {k: f"runs/{k}" if v.is_relative_to(ctx.workdir) else str(v) for k, v in runs.items()}
    body = render_template(
        "tasks_chapter.html",
        budget=ctx.budget_s,
        slices=s.limit,
        recon_slices=recon_s.limit,
        anomaly_slices=scored.limit,
        tune=s.tune_slices,
        prior=PRIOR_LEVELS,
        edm=DiffusionConfig(),  # the default training levels, for comparison
        denoise=html(denoised.table),
        anomaly=html(with_interval(anomalies.table, "slice AUROC")),
        reconstruct=html(recon.table),
        claims=table_html(claims_table(claims), float_format="{:.3f}"),
        resamples=RESAMPLES,
        findings=[read_claim(c).sentence for c in claims],
        notes=[t.note for t in tables.values() if t.note],
        runs=links,
        references=used,
    )
    body += provenance_html(used)
    outputs = dict(links)
    outputs["targets_met"] = ", ".join(k for k, v in verdicts.items() if v == "clear") or "none"
    summary = "targets: " + ", ".join(f"{k} {VERDICT_WORDS[v]}" for k, v in verdicts.items())
    return ChapterResult(
        "Diffusion at work: denoising, anomalies, reconstruction", body, figures, outputs, summary
    )
