"""`medgen train` as a library call: a family, a dataset folder and a run folder in, a run out.

This is where a model meets its data: the image size and channels come from the dataset, the
condition vocabularies from its training split, a diffusion model's noise scales from its
training images (Song & Ermon 2020's rule for sigma_max), a latent model's VAE from another run.
On --resume the model is rebuilt from the run's own config.json, never re-estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import Dataset

from medgen.config import from_dict, read_table
from medgen.data.conditions import (
    AddConditions,
    condition_names,
    condition_values,
    condition_vocab,
)
from medgen.data.dataset import SliceDataset
from medgen.data.store import StoredDataset, open_dataset
from medgen.exceptions import InputError, SettingError
from medgen.fileio import read_json_object
from medgen.models import MODELS, VAE, GenerativeModel, load_model, noise_scales
from medgen.models.common import conditioning_of
from medgen.models.diffusion import DiffusionModel
from medgen.models.io import build_model
from medgen.train.budget import parse_budget
from medgen.train.checkpoint import latest_checkpoint
from medgen.train.config import TrainConfig
from medgen.train.init import initial_model
from medgen.train.loop import train
from medgen.train.rng import init_seed, seed_globals
from medgen.train.rundir import CONFIG, MODEL

SCALE_EXAMPLES = 512  # training images used to measure a diffusion model's noise scales
FIT_AXES = 64  # leading covariance axes of the data's Gaussian fit a new diffusion model keeps


@dataclass
class RunConfig:
    """A `--config` file: [train] (TrainConfig fields) and [model] (the family's config fields)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    model: dict[str, Any] = field(default_factory=dict)


# Optimiser settings a family trains best with, unless the config or the command line says
# otherwise. The GAN takes DCGAN's (Radford et al. 2016): Adam's beta1 = 0.5, whose min-max game
# oscillates under the usual 0.9, and no clipping: the generator's gradient norm runs at ~30
# while the discriminator's is ~0.03, so a clip at 1 would freeze the generator alone.
FAMILY_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {"betas": [0.5, 0.999], "grad_clip": 0.0},
}


def read_run_config(
    path: str | Path | None,
    family: str | None = None,
    model: dict[str, Any] | None = None,
    **train_overrides: Any,
) -> RunConfig:
    """The family's defaults, then the config file, then the caller's `model` fields and
    [train] options (None: not given), in that order."""
    raw = {} if path is None else read_table(path)
    given = {k: v for k, v in train_overrides.items() if v is not None}
    if "budget" in given:  # the caller's own setting: a bad one is named as such, not as config
        parse_budget(given["budget"])
    tables = {name: raw.get(name, {}) for name in ("train", "model")}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise InputError(f"{path} [{name}]", "expected a table")
    merged = {**FAMILY_TRAIN_DEFAULTS.get(family or "", {}), **tables["train"], **given}
    fields = {**tables["model"], **(model or {})}
    return from_dict(RunConfig, {**raw, "train": merged, "model": fields}, str(path or "options"))


def train_on_data(
    family: str,
    data: str | Path,
    out: str | Path,
    config: RunConfig,
    *,
    cond: str | None = None,
    latent: str | Path | None = None,
    resume: bool = False,
    cpu: bool = False,
    progress: bool = True,
    where: str | None = None,
    log_with: Sequence[str] = (),
    init: str | Path | None = None,
) -> dict[str, Any]:
    """Train a `family` model on the train split of dataset `data` into run folder `out`.

    where="label=0" keeps only the training slices whose metadata match (e.g. healthy slices,
    for anomaly detection); several conditions separated by commas must all hold. `log_with`
    names experiment trackers that get a copy of the metrics and sample grids (`train`). `init`
    (a trained run or saved model folder) starts a new run from its weights
    (`medgen.train.init`); a resumed run continues from its checkpoint instead.
    """
    if init is not None and latent is not None:
        raise SettingError("latent", "a run started from --init keeps that model's own VAE")
    if family not in MODELS:
        raise InputError("family", f"unknown family {family!r} (choose one of {', '.join(MODELS)})")
    store = open_dataset(data)
    saved = Path(out) / CONFIG
    seed_globals(init_seed(config.train.seed))  # before the model: its initial weights
    if resume and saved.exists() and latest_checkpoint(out) is not None:
        # the checkpoint fills the weights and buffers (a latent model's VAE, the data's fit);
        # without one the run starts afresh, and new_model measures what it measured then
        model = resumed_model(saved, family)
    elif init is not None:
        model = initial_model(init, family, store, config.model, cond)
    else:
        model = new_model(family, store, config.model, cond, latent)
    dataset = training_set(store, model, where)
    return train(
        model,
        dataset,
        out,
        config.train,
        data=data,
        resume=resume,
        cpu=cpu,
        progress=progress,
        log_with=log_with,
    )


def resumed_model(saved: Path, family: str) -> GenerativeModel:
    """The model a run folder's config.json describes (fresh weights; the checkpoint fills them)."""
    record = read_json_object(saved)
    if record.get("family") != family:
        raise InputError(
            saved, f"is a {record.get('family')!r} run; cannot resume it as {family!r}"
        )
    return build_model({"family": family, "config": record.get("model", {})}, saved)


def training_set(
    store: StoredDataset, model: GenerativeModel, where: str | None = None, split: str = "train"
) -> Dataset[dict[str, Any]]:
    """The `split` (the slices matching `where`), with labels if the model is conditional."""
    conditioning = conditioning_of(model)
    transform = None
    if conditioning is not None and conditioning.names:
        transform = AddConditions(store.meta, conditioning.names, conditioning.vocab)
    keep = None if where is None else metadata_filter(store.meta, where)
    dataset = SliceDataset(store, split=split, where=keep, transform=transform)
    if len(dataset) == 0:
        matching = "" if where is None else f" matching {where!r}"
        raise InputError(store.root, f"has no slices{matching} in its {split} split")
    return dataset


def metadata_filter(meta: pd.DataFrame, where: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A SliceDataset filter from "label=0,location=frontal" (values compared as text)."""
    try:
        wanted = condition_values(where)
    except ValueError as err:
        raise SettingError("where", str(err)) from None
    for column in wanted:
        if column not in meta:
            raise SettingError("where", f"no metadata column {column!r}")

    def keep(table: pd.DataFrame) -> pd.Series:
        mask = pd.Series(True, index=table.index)
        for column, value in wanted.items():
            mask &= table[column].astype(str) == value
        return mask

    return keep


def new_model(
    family: str,
    store: StoredDataset,
    overrides: dict[str, Any],
    cond: str | None,
    latent: str | Path | None,
) -> GenerativeModel:
    """A fresh model sized for `store`'s images, with `overrides` from the config file."""
    size = int(store.array("images").shape[-1])
    settings: dict[str, Any] = {"image_size": size, "channels": 1, **overrides}
    if cond:
        if family == "vae":
            raise SettingError("cond", "the VAE is unconditional; drop --cond")
        try:
            names = condition_names(cond)
        except ValueError as err:
            raise SettingError("cond", str(err)) from None
        vocab = condition_vocab(store.split("train"), names)
        settings["conditioning"] = {
            **settings.get("conditioning", {}),
            "names": names,
            "vocab": vocab,
        }
    if latent is not None and family != "diffusion":
        raise SettingError("latent", "only a diffusion model runs in a VAE's latent space")
    if family != "diffusion":
        return build_model({"family": family, "config": settings}, "config [model]")
    return new_diffusion(store, settings, latent)


def new_diffusion(
    store: StoredDataset, settings: dict[str, Any], latent: str | Path | None
) -> DiffusionModel:
    """A diffusion model whose noise scales (unless set) are measured on the training images."""
    images = first_train_images(store, SCALE_EXAMPLES)
    vae: VAE | None = None
    if latent is not None:
        vae = load_vae(latent)
        if vae.config.dense:
            raise InputError(
                latent,
                "is a VAE with a vector latent (dense); a latent diffusion model needs a VAE "
                "with a spatial latent",
            )
        if vae.config.image_size != settings["image_size"]:
            raise InputError(
                latent,
                f"is a VAE for {vae.config.image_size}-pixel images, "
                f"the data are {settings['image_size']} pixels",
            )
        with torch.no_grad():
            mu, _ = vae.encode(images)
        scale = 1.0 / float(mu.std())  # latents at unit std, as Rombach et al. 2022 do
        x, settings["latent_scale"] = mu * scale, scale
        settings["latent_vae"] = vae.config_dict()
    else:
        x = images * 2 - 1
    scales = noise_scales(x)
    settings.setdefault("sigma_data", round(scales.sigma_data, 4))
    settings.setdefault("sigma_max", round(max(scales.sigma_max, 2 * scales.sigma_data), 2))
    settings.setdefault("fit_axes", FIT_AXES)
    model = build_model({"family": "diffusion", "config": settings}, "config [model]")
    assert isinstance(model, DiffusionModel)
    if vae is not None:
        model.adopt_vae(vae)
    if model.config.fit_axes > 0:
        model.fit_data(x)
    return model


def first_train_images(store: StoredDataset, n: int) -> torch.Tensor:
    """Up to n training images (n, 1, H, W) in [0, 1], spread evenly over the split."""
    ids = store.split("train").index.to_numpy()
    if len(ids) == 0:
        raise InputError(store.root, "has no slices in its train split")
    pick = ids[:: max(1, len(ids) // n)][:n]
    return torch.from_numpy(store.array("images")[pick].copy()).unsqueeze(1).float()


def load_vae(run: str | Path) -> VAE:
    """The trained VAE of run folder `run` (or of a saved model folder)."""
    folder = Path(run) / MODEL if (Path(run) / MODEL).is_dir() else Path(run)
    model = load_model(folder)
    if not isinstance(model, VAE):
        raise InputError(run, f"holds a {model.family} model; --latent needs a VAE run")
    return model


__all__ = ["RunConfig", "read_run_config", "train_on_data"]
