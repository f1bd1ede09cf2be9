"""Chapter 1, the data: build (or reuse) the dataset, count it, show examples and distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from medgen.config import to_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.report.figures import dataset_grid, intensity_noise_figure
from medgen.report.html import FigureRef, render_template, table_html
from medgen.report.tables import SPLIT_ORDER, counts_table, ordered, type_summary
from medgen.study.context import ChapterResult, StudyContext

DATA_DIR = "data"  # the study's own dataset, relative to the study folder
ORIGINS = {
    "built": "built for this study",
    "reused": "already in the study folder, with the profile's config",
    "given": "given with --data",
}


class DatasetChoice(NamedTuple):
    """The dataset a study uses and how it came to be (a key of ORIGINS)."""

    store: StoredDataset
    origin: str


def ensure_dataset(ctx: StudyContext) -> DatasetChoice:
    """The --data dataset, or out/data if its config matches the profile's, else a new build."""
    if ctx.data is not None:
        return DatasetChoice(open_dataset(ctx.data), "given")
    from medgen.data.synth import make_dataset, resolve_config

    root = ctx.out / DATA_DIR
    cfg = resolve_config(None, **ctx.profile.data)
    if (root / "manifest.json").is_file():
        store = open_dataset(root)
        if store.manifest.get("config") == to_dict(cfg):
            ctx.log(f"reusing the dataset at {root}")
            return DatasetChoice(store, "reused")
        ctx.log(f"the dataset at {root} has another config; rebuilding it")
    ctx.log(f"building {cfg.n_train + cfg.n_dev + cfg.n_test} slices at {cfg.size} px in {root}")
    with ctx.progress("making slices") as advance:
        make_dataset(root, cfg, workers=ctx.workers, overwrite=True, progress=advance)
    return DatasetChoice(open_dataset(root), "built")


def study_dataset(ctx: StudyContext) -> StoredDataset:
    """The dataset the data chapter settled on, for the chapters after it."""
    return open_dataset(ctx.out / ctx.upstream["data"]["dataset"])


def dataset_facts(choice: DatasetChoice) -> dict[str, Any]:
    """Key facts about the dataset, for the chapter's header list."""
    store, manifest = choice.store, choice.store.manifest
    config = manifest.get("config", {})
    return {
        "folder": str(store.root),
        "origin": ORIGINS[choice.origin],
        "slices": len(store),
        "image size": f"{store.size} × {store.size} px",
        "arrays": ", ".join(store.arrays),
        "data seed": config.get("seed", "–"),
        "content hash": str(manifest.get("content_hash", ""))[:16],
    }


def data_figures(ctx: StudyContext, store: StoredDataset) -> list[FigureRef]:
    """Example grids per split and the distributions figure, saved in the chapter's folder."""
    figures = []
    for split in ordered(store.meta["split"], SPLIT_ORDER):
        path, ref = ctx.figure(f"grid_{split}.png")
        ctx.log(f"drawing examples of {split}")
        dataset_grid(
            store, path, split=split, per_cell=ctx.profile.examples_per_cell, seed=ctx.profile.seed
        )
        caption = (
            f"{split}: random examples per location × tumour type; tumour outlined in red, "
            "oedema in yellow."
        )
        figures.append(FigureRef(ref, caption))
    path, ref = ctx.figure("distributions.png")
    intensity_noise_figure(
        store, path, max_slices=ctx.profile.distribution_slices, seed=ctx.profile.seed
    )
    caption = (
        "Brain-pixel intensities, clean vs noisy, and the per-slice noise, bias field, tumour "
        "size, contrast and oedema per tumour type."
    )
    figures.append(FigureRef(ref, caption))
    return figures


def data_chapter(ctx: StudyContext) -> ChapterResult:
    """Build or reuse the dataset; tabulate split × location × type; show examples and spreads."""
    choice = ensure_dataset(ctx)
    store = choice.store
    counts = counts_table(store.meta)
    body = render_template(
        "data_chapter.html",
        facts=dataset_facts(choice),
        counts=table_html(counts),
        summary=table_html(type_summary(store.meta)),
    )
    figures = data_figures(ctx, store)
    on_disk = store.root.resolve() if choice.origin == "given" else Path(DATA_DIR)
    outputs = {
        "dataset": str(on_disk),
        "content_hash": store.manifest.get("content_hash", ""),
        "n_slices": len(store),
        "size": store.size,
    }
    splits = ", ".join(f"{k} {v}" for k, v in counts.loc[("total", "")].items())
    return ChapterResult("The data", body, figures, outputs, f"{choice.origin}: {splits}")
