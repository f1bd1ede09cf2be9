"""`medgen compare RUN... --data DIR --out DIR` as a library call.

For each run: n samples, their features in one feature space, FD/KID/PRDC against held-out
real slices with half-sampling intervals, the memorisation check, and what the run cost; unseen
real slices scored the same way give the floor. Conditional runs also get one row per
condition (their samples for that condition against the real slices of that condition), marked
blind where the feature space does not place that condition's tumour location on dev.
Everything lands in OUT atomically: metrics.json/.csv, per_condition.csv, samples.png,
summary.md and report.html.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medgen.compare.metrics import MetricSettings, fd_and_prdc, quality_row
from medgen.compare.runs import Contestant, draw, open_contestants
from medgen.compare.summary import (
    CONDITION_INTERVALS,
    FLOOR,
    blind_classes,
    condition_table,
    display_table,
    feature_space_sentences,
    is_blind,
    quality_and_cost,
    summary_sentences,
)
from medgen.data.store import StoredDataset, open_dataset
from medgen.evaluate import kernel_inception_distance
from medgen.evaluate.extractor import Extractor
from medgen.evaluate.features import (
    FeatureConfig,
    load_extractor,
    scores_with_recalls,
    train_extractor,
)
from medgen.evaluate.sharpness import image_sharpness, relative_sharpness
from medgen.exceptions import InputError
from medgen.fileio import (
    atomic_directory,
    check_overwrite,
    jsonable,
    write_json_atomic,
    write_text_atomic,
)
from medgen.models import DiffusionModel
from medgen.report.html import (
    FigureRef,
    Report,
    Section,
    render_fragment,
    render_template,
    table_html,
)
from medgen.report.tables import mode_collapse_shown
from medgen.report.training import sample_panels
from medgen.train.recipe import conditioning_of
from medgen.validate import fits_in_memory, optional_whole, random_seed, whole

FORMAT = "medgen-compare"  # metrics.json's "format": what --overwrite may replace
MIN_SAMPLES = 10  # below this, no metric here means anything
MIN_CONDITION_REAL = 10  # real slices a condition needs before it gets a row


@dataclass(frozen=True)
class CompareSettings:
    """Sample counts and seeds of a comparison (recorded in metrics.json)."""

    n: int = 1000  # samples per run
    n_real: int = 1000  # real slices in each reference set (fewer if the split is smaller)
    n_train: int = 2000  # training slices for the memorisation check
    per_condition: int = 100  # samples per condition of a conditional run
    steps: int | None = None  # diffusion sampling steps (None: each run's own setting)
    shown: int = 16  # images per panel of the samples figure
    seed: int = 0
    metrics: MetricSettings = field(default_factory=MetricSettings)

    def check(self) -> None:
        """SettingError naming the first setting out of range."""
        for name in ("n", "n_real", "n_train", "per_condition"):
            whole(name, getattr(self, name), MIN_SAMPLES)
        optional_whole("steps", self.steps, 1)
        whole("shown", self.shown, 1)
        random_seed("seed", self.seed)


@dataclass
class RealSets:
    """Features of the real reference sets (see medgen.compare.metrics)."""

    reference: Tensor  # test split
    train: Tensor
    held_out: Tensor  # dev split, half A: memorisation's yardstick
    floor: Tensor  # dev split, half B: scored as if it were a model
    reference_sharpness: np.ndarray  # per-image sharpness of the test slices
    floor_sharpness: np.ndarray  # ... and of the floor's slices


def pick(store: StoredDataset, split: str, n: int, seed: int) -> np.ndarray:
    """Up to n random row ids of `split`, sorted (so the memory-mapped read is sequential)."""
    ids = store.split(split).index.to_numpy()
    if ids.size == 0:
        raise InputError(store.root, f"has no {split} split; compare needs train, dev and test")
    chosen = np.random.default_rng(seed).choice(ids, size=min(n, ids.size), replace=False)
    return np.sort(chosen)


def images_of(store: StoredDataset, ids: np.ndarray) -> np.ndarray:
    """Slices (n, H, W) float32 in [0, 1]."""
    return np.asarray(store.array("images")[ids], dtype=np.float32)


def real_sets(store: StoredDataset, extractor: Extractor, settings: CompareSettings) -> RealSets:
    """Features of the test, train and dev reference sets."""
    s = settings.seed
    dev = pick(store, "dev", 2 * settings.n_real, s + 2)
    half = dev.size // 2
    if half < MIN_SAMPLES:
        raise InputError(store.root, f"has {dev.size} dev slices; compare needs {2 * MIN_SAMPLES}")
    reference = images_of(store, pick(store, "test", settings.n_real, s))
    floor = images_of(store, dev[half:])
    return RealSets(
        reference=extractor(reference),
        train=extractor(images_of(store, pick(store, "train", settings.n_train, s + 1))),
        held_out=extractor(images_of(store, dev[:half])),
        floor=extractor(floor),
        reference_sharpness=image_sharpness(reference),
        floor_sharpness=image_sharpness(floor),
    )


def sharpness_columns(values: np.ndarray, real: RealSets, seed: int) -> dict[str, float]:
    """The row's relative sharpness against the test slices, with its interval."""
    found = relative_sharpness(values, real.reference_sharpness, seed=seed)
    return {
        "sharpness": found.value,
        "sharpness_low": found.low,
        "sharpness_high": found.high,
        "sharpness_se": found.se,
    }


def check_sizes(contestants: Sequence[Contestant], store: StoredDataset) -> None:
    """Every run must make images of the data's size."""
    for c in contestants:
        size = getattr(c.model.config, "image_size", None)
        if size is not None and int(size) != store.size:
            raise InputError(
                c.path, f"makes {size}-pixel images but {store.root} has {store.size}-pixel slices"
            )


def condition_rows(
    contestant: Contestant,
    store: StoredDataset,
    extractor: Extractor,
    settings: CompareSettings,
    blind: Mapping[str, Mapping[str, float]],
) -> list[dict[str, Any]]:
    """For a conditional run: per condition, its samples against real dev+test slices of it;
    a condition naming a class in `blind` (`blind_classes`) is marked so, and no sentence
    reads it."""
    conditioning = conditioning_of(contestant.model)
    if conditioning is None or not conditioning.names:
        return []
    names = tuple(conditioning.names)
    unseen = store.meta[store.meta["split"].isin(["dev", "test"])]
    rows = []
    for values in itertools.product(*conditioning.vocab):
        where = np.ones(len(unseen), dtype=bool)
        for name, value in zip(names, values, strict=True):
            where &= unseen[name].astype(str).to_numpy() == value
        ids = unseen.index.to_numpy()[where]
        if ids.size < MIN_CONDITION_REAL:
            continue
        real = extractor(images_of(store, np.sort(ids[: settings.n_real])))
        condition = dict(zip(names, values, strict=True))
        labels = torch.tensor(conditioning.encode(condition))
        n = settings.per_condition
        samples = draw(
            contestant, n, seed=settings.seed, cond=labels.expand(n, -1), steps=settings.steps
        )
        fake = extractor(samples.images)
        measured = fd_and_prdc(fake, real, settings.metrics)
        kid = kernel_inception_distance(
            real,
            fake,
            subsets=settings.metrics.kid_subsets,
            subset_size=settings.metrics.kid_subset_size,
            seed=settings.seed,
        )
        rows.append(
            {
                "run": contestant.name,
                "condition": ", ".join(f"{a}={v}" for a, v in condition.items()),
                "real slices": int(real.shape[0]),
                "samples": n,
                **{
                    f"{name}{end}": measured[f"{name}{end}"]
                    for name in CONDITION_INTERVALS
                    for end in ("", "_low", "_high")
                },
                "KID x1000": 1000 * kid.mean,
                "KID x1000 std": 1000 * kid.std,  # over subsets, as the main table reports it
                "blind": is_blind(condition, blind),
            }
        )
    return rows


@dataclass
class Comparison:
    """What `compare_runs` measured and where it wrote it."""

    out: Path
    rows: list[dict[str, Any]]  # one per run
    floor: dict[str, Any]
    per_condition: list[dict[str, Any]]
    features: str  # the feature space's name (id)
    summary: list[str]
    feature_scores: dict[str, float] = field(default_factory=dict)  # what the space knows (dev)


def recorded_path(path: Path, out: Path) -> str:
    """`path` as `out`'s records name it: relative to `out` when it lies in `out`'s parent
    folder (so renaming that folder, as an atomic write does, keeps it valid), else absolute."""
    path, out = path.resolve(), out.resolve()
    if path.is_relative_to(out.parent):
        return os.path.relpath(path, out)
    return str(path)


def get_extractor(
    features: str | Path | None, data: Path, workdir: Path, log: Callable[[str], None]
) -> tuple[Extractor, str]:
    """The given feature space, or a domain extractor trained now into workdir/features; with
    where it is as the comparison written in `workdir` records it (`recorded_path`)."""
    if features is not None:
        return load_extractor(features), recorded_path(Path(features), workdir)
    log("training the domain feature extractor on the data's train split")
    train_extractor(data, workdir / "features", FeatureConfig())
    return load_extractor(workdir / "features"), "features"


def measure(
    contestants: Sequence[Contestant],
    store: StoredDataset,
    extractor: Extractor,
    settings: CompareSettings,
    log: Callable[[str], None],
    blind: Mapping[str, Mapping[str, float]],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, np.ndarray], list[dict[str, Any]]]:
    """Rows per run, the floor row, the panels to show and the per-condition rows (those of
    a class in `blind` marked)."""
    real = real_sets(store, extractor, settings)
    floor = quality_row(real.floor, real.reference, real.train, real.held_out, settings.metrics)
    floor |= {"run": FLOOR, "model": "real", "family": "real", "nfe": None}
    floor |= sharpness_columns(real.floor_sharpness, real, settings.seed)
    shown = images_of(store, pick(store, "test", settings.shown, settings.seed + 3))
    panels: dict[str, np.ndarray] = {"real slices (test)": shown}
    rows, per_condition = [], []
    for c in contestants:
        log(f"sampling {settings.n} images from {c.name}")
        samples = draw(c, settings.n, seed=settings.seed, steps=settings.steps)
        row = quality_row(
            extractor(samples.images), real.reference, real.train, real.held_out, settings.metrics
        )
        row |= sharpness_columns(image_sharpness(samples.images), real, settings.seed)
        row |= {
            "run": c.name,
            "model": c.kind,
            "family": c.family,
            "path": str(c.path),
            "parameters": c.parameters,
            "images_seen": c.images_seen,
            "train_seconds": round(c.train_seconds, 1),
            "ms_per_image": 1000 * samples.seconds_per_image,
            "nfe": samples.nfe,
            "steps": (settings.steps or c.model.config.steps)
            if isinstance(c.model, DiffusionModel)
            else None,
        }
        rows.append(row)
        panels[c.name] = samples.images[: settings.shown]
        if c.condition_names:
            log(f"per-condition samples from {c.name}")
            per_condition += condition_rows(c, store, extractor, settings, blind)
    return rows, floor, panels, per_condition


def compare_runs(
    runs: Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    *,
    features: str | Path | None = None,
    settings: CompareSettings | None = None,
    mode_collapse: pd.DataFrame | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> Comparison:
    """Compare trained runs on `data` and write the results to `out` (see the module docstring)."""
    settings = settings or CompareSettings()
    settings.check()
    out = Path(out)
    check_overwrite(out, overwrite, "metrics.json", FORMAT)
    store = open_dataset(data)
    fits_in_memory("n", settings.n, settings.n * 4 * store.size**2)  # the samples, float32
    contestants = open_contestants(list(runs))
    check_sizes(contestants, store)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        extractor, where = get_extractor(features, Path(data), tmp, log)
        scores = scores_with_recalls(extractor, store, seed=settings.seed)
        rows, floor, panels, per_condition = measure(
            contestants, store, extractor, settings, log, blind_classes(scores)
        )
        summary = [*summary_sentences(rows, floor), *feature_space_sentences(scores)]
        comparison = Comparison(out, rows, floor, per_condition, extractor.name, summary, scores)
        write_outputs(tmp, comparison, panels, settings, where, mode_collapse)
    return comparison


def write_outputs(
    folder: Path,
    comparison: Comparison,
    panels: dict[str, np.ndarray],
    settings: CompareSettings,
    features_at: str,
    mode_collapse: pd.DataFrame | None,
) -> None:
    """metrics.json/.csv, per_condition.csv, mode_collapse.csv, samples.png, summary.md, HTML."""
    record = {
        "format": FORMAT,
        "features": comparison.features,
        "features_at": features_at,
        "feature_scores": comparison.feature_scores,
        "settings": asdict(settings),
        "runs": comparison.rows,
        "floor": comparison.floor,
        "per_condition": comparison.per_condition,
        "summary": comparison.summary,
    }
    write_json_atomic(folder / "metrics.json", jsonable(record))
    table = pd.DataFrame([*comparison.rows, comparison.floor]).drop(columns="half_samples")
    write_text_atomic(folder / "metrics.csv", table.to_csv(index=False))
    if comparison.per_condition:
        per = pd.DataFrame(comparison.per_condition)
        write_text_atomic(folder / "per_condition.csv", per.to_csv(index=False))
    if mode_collapse is not None:
        write_text_atomic(folder / "mode_collapse.csv", mode_collapse.to_csv())
    sample_panels(panels, folder / "samples.png")
    lines = ["# Comparison", "", f"Feature space: {comparison.features}", ""]
    write_text_atomic(
        folder / "summary.md", "\n".join(lines + [f"- {s}" for s in comparison.summary]) + "\n"
    )
    shown = None if mode_collapse is None else mode_collapse_shown(mode_collapse)
    body = comparison_html(comparison, settings, shown)
    figures = [FigureRef("samples.png", "Real test slices beside each run's samples.")]
    report = Report(
        "medgen compare", f"{len(comparison.rows)} runs, feature space {comparison.features}"
    )
    report.add(
        Section("compare", "Diffusion, GAN and VAE compared", render_fragment(body, figures, "."))
    )
    report.write(folder)


def comparison_html(
    comparison: Comparison, settings: CompareSettings, mode_collapse: pd.DataFrame | None
) -> str:
    """The comparison as an HTML fragment (the study's chapter uses it too)."""
    quality, cost = quality_and_cost(display_table([*comparison.rows, comparison.floor]))
    per = comparison.per_condition
    return render_template(
        "compare_chapter.html",
        table=table_html(quality, float_format="{:.3g}"),
        cost=table_html(cost, float_format="{:.3g}"),
        summary=comparison.summary,
        features=comparison.features,
        feature_scores=comparison.feature_scores,
        settings=settings,
        per_condition=table_html(condition_table(per)) if per else "",
        mode_collapse=table_html(mode_collapse) if mode_collapse is not None else "",
    )
