"""`medgen classify` as a library call: a conditional diffusion run and a dataset in; per-slice
posteriors (per_slice.csv) and the scores (metrics.json) out, written all or nothing."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medgen.data.conditions import ALIASES
from medgen.data.store import StoredDataset, open_dataset
from medgen.exceptions import InputError, SettingError
from medgen.fileio import atomic_directory, write_json_atomic, write_text_atomic
from medgen.tasks.classification.bayes import log_uniform_draws
from medgen.tasks.classification.conditional import ConditionalDenoiser, open_class_denoiser
from medgen.tasks.classification.methods import class_log_prior, diffusion_method
from medgen.tasks.classification.scores import class_scores
from medgen.tasks.outputs import check_out
from medgen.tasks.run import split_ids
from medgen.validate import positive, whole

TASK = "classify"
# levels classified over when not told, [-1, 1] units: the range chosen on dev among six
# (benchmarks/classify.py; benchmarks/results/classify.txt)
DEFAULT_LEVELS = (0.02, 20.0)


@dataclass(frozen=True)
class ClassifySettings:
    """What `medgen classify` scores, and how."""

    label: str = "tumour_type"  # the metadata column whose values are the classes
    split: str = "test"
    limit: int | None = None  # first N slices of the split; None: all
    draws: int = 8  # (sigma, eps) draws per slice, shared by every class: NFE = classes x draws
    sigma_min: float = DEFAULT_LEVELS[0]  # levels in the model's [-1, 1] units
    sigma_max: float = DEFAULT_LEVELS[1]
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        whole("draws", self.draws, 1)
        whole("batch_size", self.batch_size, 1)
        if positive("sigma_min", self.sigma_min) >= self.sigma_max:
            raise SettingError(
                "sigma_max", f"must be above sigma_min ({self.sigma_min:g}), got {self.sigma_max:g}"
            )


def truth_of(store: StoredDataset, ids: np.ndarray, cd: ConditionalDenoiser) -> np.ndarray:
    """(N,) class indices of rows `ids` by the model's classes (InputError for a column the data
    lacks or a value the model was not conditioned on)."""
    if cd.label not in store.meta:
        raise InputError(store.root, f"has no metadata column {cd.label!r} to score against")
    values = store.meta.loc[ids, cd.label].astype(str).to_numpy()
    unknown = sorted(set(values) - set(cd.classes))
    if unknown:
        raise InputError(
            store.root,
            f"{cd.label}={unknown[0]!r} is not a class the model was conditioned on "
            f"({', '.join(cd.classes)})",
        )
    return np.array([cd.classes.index(v) for v in values], np.int64)


def classify_split(
    run: str | Path, store: StoredDataset, s: ClassifySettings
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The diffusion classifier of run `run` on a split: its metrics and per-slice posteriors."""
    cd = open_class_denoiser(run, ALIASES.get(s.label, s.label))  # "type": tumour_type
    if cd.image_size != store.size:
        raise InputError(
            run, f"models {cd.image_size}-pixel images; {store.root} has {store.size}-pixel"
        )
    ids = split_ids(store, s.split, s.limit)
    truth = truth_of(store, ids, cd)
    meta = store.meta
    train = meta.loc[meta["split"] == "train", cd.label] if "split" in meta else meta[cd.label]
    log_prior = class_log_prior(list(train.astype(str)), cd.classes)
    generator = torch.Generator().manual_seed(s.seed)
    shape = (1, store.size, store.size)
    draws = log_uniform_draws(s.draws, s.sigma_min, s.sigma_max, shape, generator)
    method = diffusion_method("diffusion", cd, draws, log_prior, cd.classes, s.batch_size)
    images = np.asarray(store.array("images")[ids], np.float32)
    start = time.perf_counter()
    probs = method.probabilities(images)
    seconds = (time.perf_counter() - start) / len(ids)
    metrics = {
        "task": TASK,
        "n": len(ids),
        "classes": list(cd.classes),
        "settings": asdict(s),
        **class_scores(probs, truth, cd.classes),
        "nfe_per_slice": method.nfe,
        "s_per_slice": seconds,
    }
    per_slice = pd.DataFrame(
        {
            "id": ids,
            "truth": [cd.classes[t] for t in truth],
            "prediction": [cd.classes[p] for p in probs.argmax(1)],
        }
    )
    for c, name in enumerate(cd.classes):
        per_slice[f"p_{name}"] = probs[:, c]
    return metrics, per_slice


def run_classify(
    run: str | Path,
    data: str | Path,
    out: str | Path,
    s: ClassifySettings,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Classify a split with run `run`'s conditional diffusion model; write and return metrics."""
    check_out(Path(out), overwrite, TASK)
    store = open_dataset(data)
    with torch.no_grad():
        metrics, per_slice = classify_split(run, store, s)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_text_atomic(tmp / "per_slice.csv", per_slice.to_csv(index=False))
        write_json_atomic(tmp / "metrics.json", metrics)
    return metrics
