"""Chapter 6, diffusion where labels are few or none: segmentation from the pixel prior's features
with a handful of labelled slices, against U-Nets trained on the same slices; and unsupervised
deformable registration whose training similarity compares the prior's denoised images, against
ANTs SyN and SimpleITK's demons, scored on the built-in data's true displacements.

The pixel-space prior is the tasks chapter's (the shipped reference where the data are its own,
otherwise the run trained there), so this chapter trains no generative model: its budget goes to
the segmenters and the registration networks. Each target is read from its gain's interval, over
draws of the labelled slices or over registered pairs (`read_claim`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from medgen.data.store import open_dataset
from medgen.report.html import MISSING, render_template, table_html
from medgen.study.chapters.tasks import read_claim, task_verdict
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run
from medgen.tasks.claims import VERDICT_WORDS
from medgen.tasks.fewlabels.command import open_feature_model
from medgen.tasks.fewlabels.table import (
    OURS,
    TARGET_CLASSES,
    TARGETS,
    SegmentSettings,
    segment_table,
)
from medgen.tasks.registration.nets import RegistrationNet
from medgen.tasks.registration.run import RegisterSettings, register_split, train_methods
from medgen.tasks.registration.saved import load_nets, read_info
from medgen.tasks.registration.table import SYN, register_table
from medgen.tasks.registration.train import TrainSettings
from medgen.tasks.run import open_pixel_model

PRIOR = "pixel_prior"  # the reference standing in for the tasks chapter's prior
NETS = "registration"  # the reference registration networks


def prior_run(ctx: StudyContext) -> tuple[Path, dict[str, str]]:
    """The pixel-space prior: the reference where the study uses it, else the tasks chapter's
    run; and the references used (shown name -> reference name)."""
    found = reference_run(ctx, PRIOR)
    if found is not None:
        return found, {"diffusion": PRIOR}
    link = Path(ctx.upstream["tasks"]["diffusion"])
    return (link if link.is_absolute() else ctx.out / "chapters" / "tasks" / link), {}


def segment_settings(ctx: StudyContext) -> SegmentSettings:
    """The profile's counts, draws, test slices and training steps."""
    p = ctx.profile
    s = SegmentSettings(
        counts=p.segment_counts, draws=p.segment_draws, test=p.segment_test, seed=p.seed
    )
    pixels = replace(s.segmenter.pixels, steps=p.segment_steps)
    return replace(
        s,
        segmenter=replace(s.segmenter, pixels=pixels),
        peers=replace(s.peers, steps=p.segment_steps),
    )


def dice_cell(row: pd.Series) -> str:
    """ "mean (low–high)"; the mean alone without an interval, MISSING where the class is in
    neither the truth nor the prediction."""
    if math.isnan(row["dice"]):
        return MISSING
    if math.isnan(row["low"]):
        return f"{row['dice']:.3f}"
    return f"{row['dice']:.3f} ({row['low']:.3f}–{row['high']:.3f})"


def dice_wide(table: pd.DataFrame) -> pd.DataFrame:
    """A row per N and method, a column per class, each cell "mean (low–high)" over draws."""
    cells = table.apply(dice_cell, axis=1)
    wide = cells.unstack("class")  # sorts rows and columns: put back the table's order
    rows = list(dict.fromkeys(table.index.droplevel("class")))
    classes = list(dict.fromkeys(table.index.get_level_values("class")))
    return wide.loc[rows, classes]


def register_settings(ctx: StudyContext) -> RegisterSettings:
    """The profile's pairs, training slices and steps."""
    p = ctx.profile
    return RegisterSettings(
        limit=p.register_pairs,
        train_slices=p.register_train_slices,
        seed=p.seed,
        train=TrainSettings(steps=p.register_steps, seed=p.seed),
    )


def registration_nets(
    ctx: StudyContext, run: Path, data: Path, s: RegisterSettings
) -> tuple[dict[str, RegistrationNet], RegisterSettings, dict[str, str]]:
    """The shipped registration networks where the study uses references and they were
    trained on its data (with the settings they were trained with), else networks trained
    here for the profile's steps; and the references used (shown name -> reference name)."""
    store = open_dataset(data)
    found = reference_run(ctx, NETS)
    if found is not None:
        info = read_info(found)
        steps = int(next(iter(info["nets"].values()))["steps"])
        trained = replace(
            s, train_slices=int(info["train_slices"]), train=replace(s.train, steps=steps)
        )
        return load_nets(found, store.size), trained, {"registration networks": NETS}
    nets, _ = train_methods(open_pixel_model(run, store), store, s, ctx.log)
    return nets, s, {}


def uses_chapter(ctx: StudyContext) -> ChapterResult:
    """Few-label segmentation: the diffusion-feature segmenter and its U-Net peers at each N."""
    data = ctx.out / ctx.upstream["data"]["dataset"]
    store = open_dataset(data)
    run, used = prior_run(ctx)
    model = open_feature_model(run, store.size)
    s = segment_settings(ctx)
    ctx.log(f"segmentation with {', '.join(map(str, s.counts))} labelled slices, {s.draws} draws")
    result = segment_table(model, store, s)
    nets, reg_s, reg_used = registration_nets(ctx, run, data, register_settings(ctx))
    ctx.log(f"registration of {reg_s.limit} pairs, networks trained {reg_s.train.steps} steps")
    registered = register_table(
        register_split(nets, store, reg_s, ctx.log), reg_s.seed, reg_s.refine.steps
    )
    findings = [read_claim(c) for c in result.claims]
    reg_findings = [read_claim(c) for c in registered.claims]
    verdict = task_verdict(findings) if findings else "unclear"
    # the target is the comparison with SyN; the one with the plain network is the ablation
    against_syn = [
        f for c, f in zip(registered.claims, reg_findings, strict=True) if c.baseline == SYN
    ]
    reg_verdict = task_verdict(against_syn) if against_syn else "unclear"
    body = render_template(
        "uses_chapter.html",
        counts=[("all" if n is None else n) for n in s.counts],
        draws=s.draws,
        test=s.test,
        steps=s.peers.steps,
        ours=OURS,
        targets={("all" if n is None else n): m for n, m in TARGETS.items() if n in s.counts},
        target_classes=TARGET_CLASSES,
        dice=table_html(dice_wide(result.table)),
        findings=[f.sentence for f in findings],
        note=result.note,
        pairs=reg_s.limit,
        reg_train=reg_s.train_slices,
        reg_steps=reg_s.train.steps,
        refine_steps=reg_s.refine.steps,
        registration=table_html(registered.table, float_format="{:.3f}"),
        reg_findings=[f.sentence for f in reg_findings],
        reg_note=registered.note,
        prior=used.get("diffusion", str(run)),  # a reference is opened by its name
        references=used,
        nets=reg_used.get("registration networks"),
    )
    body += provenance_html({**used, **reg_used})
    summary = (
        f"targets: few-label segmentation {VERDICT_WORDS[verdict]}, "
        f"registration {VERDICT_WORDS[reg_verdict]}"
    )
    outputs = {
        "segment_target": VERDICT_WORDS[verdict],
        "register_target": VERDICT_WORDS[reg_verdict],
    }
    title = "Diffusion where labels are few or none: segmentation, registration"
    return ChapterResult(title, body, [], outputs, summary)
