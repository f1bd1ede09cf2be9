"""Chapter: the tumour detector and its error analysis (Ng, *Machine Learning Yearning*).

Train the detector's parts, predict the dev split, split it into eyeball and blackbox sets,
record the evaluation, tally the eyeball errors by category with ceilings, and attribute each
eyeball error to a part of the pipeline. The project's SQLite store is left in the chapter's
folder, so `medgen errors serve --project ...` opens the same state for eyeballing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.detect import DetectorConfig, detector_config, load_detector, train_detector
from medgen.detect.pipeline import BoundDetector
from medgen.detect.predict import predict_split
from medgen.detect.predictions import Predictions, read_predictions
from medgen.devices import default_device
from medgen.errors import (
    ErrorStore,
    attribute_errors,
    evaluate_project,
    split_project,
    tally_project,
)
from medgen.errors.findings import (
    Finding,
    arm_recovers,
    bottleneck,
    remedy_fixes,
    slice_gap,
    top_location,
)
from medgen.errors.remedy import (
    ARMS,
    Generators,
    RemedyPlan,
    measured_sets,
    possible_arms,
    run_remedy,
)
from medgen.errors.split import split_tables
from medgen.report.html import FigureRef, render_template, table_html
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run

TALLY_BY = ("location", "tumour_type", "size_bin", "enhancing", "error_kind")
TALLY_ROWS = 12  # categories shown, the largest first
SLICE = "brainstem"  # the location the scenario makes rare in training
# The arms a CPU profile runs: the joint model's plain samples ("diffusion") are left out there,
# since they cost a detector's training and do not help (on the standard data they drew tumours
# three times the slice's area that a classifier tells apart from real ones 99% of the time, and
# the slice's error rose); drawing tumours into healthy slices ("inpaint") is the diffusion arm.
CPU_ARMS = ("baseline", "real", "inpaint", "augment")
DIFFUSION_ARM = "inpaint"  # the diffusion arm whose share of the real arm's gain has a target
TARGET_SHARE = 0.5
ARM_TEXT = {  # what each remedy arm adds, for the report
    "real": "new slices from the data generator: what collecting more data would give",
    "diffusion": "a conditional diffusion model of slice and mask",
    "gan": "a conditional GAN of slice and mask",
    "inpaint": "the diffusion model draws the tumours into healthy training slices",
    "augment": "classic transforms of the few brainstem tumours in the training split",
}


def accuracy_table(predictions: Predictions) -> pd.DataFrame:
    """Dev accuracy overall, on healthy slices, on tumours, per tumour location."""
    table = predictions.table
    correct = table["truth"] == table["prediction"]
    tumour = table["truth"] != "none"
    groups: dict[str, pd.Series] = {
        "all dev slices": correct,
        "healthy slices": correct[~tumour],
        "tumour slices": correct[tumour],
    }
    for location in sorted(table.loc[tumour, "location"].astype(str).unique()):
        groups[f"tumours: {location}"] = correct[tumour & (table["location"] == location)]
    rows = {
        name: {"slices": len(s), "accuracy": s.mean(), "error": 1 - s.mean()}
        for name, s in groups.items()
    }
    return pd.DataFrame(rows).T


def brainstem_gap(predictions: Predictions) -> Finding:
    """Whether brainstem tumours fail more often than tumours elsewhere (dev)."""
    table = predictions.table
    tumour = table[table["truth"] != "none"]
    wrong = tumour["truth"] != tumour["prediction"]
    return slice_gap(wrong, tumour["location"] == SLICE, SLICE)


def parts_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The by-parts table as the report shows it: plain headers, each share with its interval,
    "no gain" in its place where a perfect part does not raise accuracy."""
    share = [
        verdict or f"{s:.0%} ({lo:.0%}–{hi:.0%})"
        for s, lo, hi, verdict in zip(
            table["share"], table["share_low"], table["share_high"], table["verdict"], strict=True
        )
    ]
    shown = pd.DataFrame(
        {
            "errors": table["errors"].to_numpy(),
            "wrong type": table["wrong_type"].to_numpy(),
            "share of errors (95% CI)": share,
            "accuracy with the parts up to it perfect": table[
                "accuracy_if_perfect_up_to"
            ].to_numpy(),
        },
        index=pd.Index(table["part"], name="part"),
    )
    return shown


def prevalence(data: Path) -> dict[str, float]:
    """Share of brainstem tumours among the tumour slices of each split."""
    meta = open_dataset(data).meta
    tumours = meta[meta["label"] == 1]
    return {
        str(split): float((group["location"] == SLICE).mean())
        for split, group in tumours.groupby("split")
    }


def errors_chapter(ctx: StudyContext) -> ChapterResult:
    """Detector, predictions, eyeball/blackbox split, tally with ceilings, errors by parts."""
    p = ctx.profile
    data = ctx.out / ctx.upstream["data"]["dataset"]
    run, project = ctx.workdir / "detector", ctx.workdir / "project"
    config = detector_config(p.detector_steps, p.seed)
    ctx.log(f"training the detector ({p.detector_steps} segmentation steps)")
    summary = train_detector(data, run, config, log=ctx.log)
    ctx.log("predicting the dev split")
    predictions = read_predictions(predict_split(run, data, "dev", run / "predictions" / "dev"))
    with ErrorStore(project) as store:
        outcome = split_project(store, predictions, seed=p.seed)
        evaluation = evaluate_project(store, predictions).evaluation
        tally = tally_project(store, predictions, by=list(TALLY_BY))
    eyeball, blackbox = split_tables(predictions, outcome.split)
    ctx.log(f"error analysis by parts on {int((eyeball.truth != eyeball.prediction).sum())} errors")
    pipeline = BoundDetector(load_detector(run), open_dataset(data))
    parts = attribute_errors(pipeline, eyeball["id"].to_numpy(), eyeball["truth"].to_numpy())
    gap = brainstem_gap(predictions)
    top = top_location(tally.summary_, tally.n_errors_, SLICE)
    parts_table = parts.table()
    remedy, shares, fixes, joint = remedy_section(
        ctx, run, config, run / "predictions" / "dev", project
    )
    generators = f"trained for {p.remedy_generators}" if p.remedy_generators else ""
    if joint:
        generators = "the shipped reference model (provenance below)"
    rows = [
        {"parts made perfect": ", ".join(r.perfect) or "none", "eyeball accuracy": r.accuracy}
        for r in parts.ceiling
    ]
    ceiling = pd.DataFrame(rows).set_index("parts made perfect")
    tally_table = tally.summary_.sort_values("count", ascending=False).head(TALLY_ROWS)
    body = render_template(
        "errors_chapter.html",
        seconds=summary["seconds"],
        accuracy=table_html(accuracy_table(predictions), float_format="{:.3g}"),
        gap=gap,
        top=top,
        fixes=fixes,
        prevalence=prevalence(data),
        eyeball=len(eyeball),
        blackbox=len(blackbox),
        eyeball_errors=int((eyeball.truth != eyeball.prediction).sum()),
        evaluation=evaluation,
        tally=table_html(tally_table.set_index("category"), float_format="{:.3g}"),
        parts=table_html(parts_shown(parts_table), float_format="{:.3g}"),
        bottleneck=bottleneck(parts_table),
        ceiling=table_html(ceiling, float_format="{:.3g}"),
        n_errors=parts.n_errors,
        remedy=table_html(remedy, float_format="{:.3g}"),
        arms=list(remedy.index.get_level_values("arm").unique()),
        ARM_TEXT=ARM_TEXT,
        remedy_n=p.remedy_n,
        shares=shares,
        recovered=None
        if DIFFUSION_ARM not in shares
        else arm_recovers(shares[DIFFUSION_ARM], DIFFUSION_ARM, SLICE, TARGET_SHARE),
        generators=generators,
    )
    body += provenance_html({"joint (image, mask) diffusion": "joint_diffusion"} if joint else {})
    outputs = {
        "detector": "detector",
        "predictions": "detector/predictions/dev",
        "project": "project",
        "remedy": "remedy/remedy.json",
    }
    accuracy = float(np.mean(predictions.table.truth == predictions.table.prediction))
    line = f"dev accuracy {accuracy:.3f}; brainstem: gap {gap.verdict}, top {top.verdict}, "
    line += f"more data fixes it {fixes.verdict}"
    figures = remedy_figures(ctx.workdir / "remedy")
    return ChapterResult("The detector and its errors", body, figures, outputs, line)


def remedy_figures(remedy: Path) -> list[FigureRef]:
    """The remedy's added.png (chapter-relative), which it draws when the slice has training
    tumours, captioned with its rows as added.csv lists them; none without it."""
    if not (remedy / "added.png").is_file():
        return []
    rows = pd.read_csv(remedy / "added.csv")["examples"]
    caption = (
        f"What the remedy adds to the {SLICE} slice, one row each, top to bottom: "
        f"{'; '.join(rows)}. The true tumours are outlined."
    )
    return [FigureRef(f"{remedy.name}/added.png", caption)]


def study_arms(trains_generators: bool, given: set[str]) -> list[str]:
    """The remedy arms the chapter runs: every arm when the profile trains the generators, else
    CPU_ARMS whose generator is given (the baseline is the chapter's own detector)."""
    if trains_generators:
        return list(ARMS)
    return [a for a in CPU_ARMS if ARMS[a].generator is None or ARMS[a].generator in given]


def remedy_workers(cores: int, detectors: int) -> tuple[int, int | None]:
    """How many of the remedy's `detectors` train at once, and each one's torch threads (None:
    this process's). On a CPU, a detector's training uses two threads at about 1.3x the speed
    of one, so the arms train side by side, a core each (the next arm's examples are made
    meanwhile): on 2 cores the standard chapter takes 549 s instead of 612 s.
    The baseline, the chapter's own detector, is trained before at the process's thread count.
    On a GPU they train in turn."""
    if default_device().type != "cpu" or cores < 2 or detectors < 2:
        return 1, None
    jobs = min(cores, detectors)
    return jobs, max(1, cores // jobs)


def remedy_section(
    ctx: StudyContext, detector: Path, config: DetectorConfig, predictions: Path, project: Path
) -> tuple[pd.DataFrame, dict[str, dict[str, float]], Finding, bool]:
    """The remedy experiment on brainstem tumours: the chapter's detector is the baseline, and
    the generator arms run with the reference joint generator where the study uses it, or when
    the profile gives their generators a training budget; whether the reference was used."""
    p = ctx.profile
    data = ctx.out / ctx.upstream["data"]["dataset"]
    store = open_dataset(data)
    plan = RemedyPlan({"location": SLICE}, p.remedy_n, p.seed)
    joint = reference_run(ctx, "joint_diffusion")
    given = {} if joint is None else {"diffusion": joint}
    arms = possible_arms(store, plan, study_arms(bool(p.remedy_generators), set(given)))
    budget = p.remedy_generators or Generators({}).budget
    jobs, threads = 1, None
    if p.arms_at_once:
        cores = ctx.workers or os.cpu_count() or 1
        jobs, threads = remedy_workers(cores, sum(arm != "baseline" for arm in arms))
    result = run_remedy(
        data,
        ctx.workdir / "remedy",
        plan,
        measured_sets(store, predictions, project),
        config,
        arms=arms,
        generators=Generators(given, budget=budget, seed=p.seed),
        baseline_run=detector,
        jobs=jobs,
        threads=threads,
        progress=False,
        log=ctx.log,
    )
    table = result.table
    bounds = zip(table["low"], table["high"], strict=True)
    shown = table.assign(interval=[f"{lo:.3f}–{hi:.3f}" for lo, hi in bounds])
    shown = shown.drop(columns=["low", "high", "seeds", "seed_std"])  # one detector per arm
    shown = shown.set_index(["arm", "set", "scope"])
    shares = {  # the real arm's own share is 100% by definition
        arm: s
        for arm, s in result.intervals.get("test", {}).items()
        if arm != "real" and s["share"] == s["share"]
    }
    return shown, shares, remedy_fixes(result.table, SLICE), joint is not None
