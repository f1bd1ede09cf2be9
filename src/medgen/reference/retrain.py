"""Reproduce a reference model from its recipe, and say whether it came out as the shipped one.

`retrain` runs the library calls behind the recorded command (`medgen train ... --config
train.toml`, or `medgen features`), packages the run as a reference folder, and compares its dev
metrics with the shipped model's: a difference within NOISE_Z standard errors of the difference
is "within noise". With a smaller budget than the recipe's the difference measures what the
shorter training costs, and the comparison says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgen.data.store import open_dataset
from medgen.reference.build import package_reference
from medgen.reference.catalog import (
    REGISTER_DEV_PAIRS,
    REGISTER_TRAIN_SLICES,
    Recipe,
    budget_steps,
    get_recipe,
)
from medgen.reference.zoo import Reference, load_reference, reference_folder

NOISE_Z = 2.0  # |difference| / its standard error below which two dev metrics agree


@dataclass(frozen=True)
class Retrained:
    """A retrained reference: its folder, provenance, and its dev metrics beside the shipped
    model's (empty when nothing comparable is shipped)."""

    folder: Path
    provenance: dict[str, Any]
    comparison: list[dict[str, Any]]


def train_recipe(
    recipe: Recipe,
    data: Path,
    run: Path,
    budget: str | None,
    latent_run: Path | None,
    progress: bool,
    prior_run: Path | None = None,
) -> None:
    """The library calls of the recipe's command: train it on `data` into `run`."""
    if recipe.family == "features":
        from medgen.evaluate.features import FeatureConfig, train_extractor

        steps = recipe.steps if budget is None else budget_steps(budget)
        train_extractor(data, run, FeatureConfig(steps=steps))
        return
    if recipe.family == "registration":
        from medgen.tasks.registration.command import run_register
        from medgen.tasks.registration.run import RegisterSettings
        from medgen.tasks.registration.train import TrainSettings

        assert prior_run is not None
        steps = recipe.steps if budget is None else budget_steps(budget)
        s = RegisterSettings(
            split="dev",
            limit=REGISTER_DEV_PAIRS,
            train_slices=REGISTER_TRAIN_SLICES,
            train=TrainSettings(steps=steps),
        )
        run_register(prior_run, data, s, save_to=run)
        return
    from medgen.tasks.augment import train_joint_generator
    from medgen.train.recipe import read_run_config, train_on_data

    config = read_run_config(recipe.config_file, recipe.family, budget=budget)
    if recipe.joint:
        train_joint_generator(recipe.family, data, run, config, progress=progress)
        return
    train_on_data(
        recipe.family,
        data,
        run,
        config,
        cond=recipe.cond,
        latent=latent_run,
        where=recipe.where,
        progress=progress,
    )


def compare_dev(new: dict[str, float], old: dict[str, float]) -> list[dict[str, Any]]:
    """Per dev metric: shipped, retrained, their difference in standard errors, and a verdict."""
    rows = []
    for name, before in old.items():
        if name.endswith(" se") or name not in new:
            continue
        after = new[name]
        spread = math.hypot(old.get(f"{name} se", 0.0), new.get(f"{name} se", 0.0))
        z = (after - before) / spread if spread > 0 else math.inf * (after != before)
        rows.append(
            {
                "metric": name,
                "shipped": before,
                "retrained": after,
                "z": z,
                "agree": bool(abs(z) <= NOISE_Z),
            }
        )
    return rows


def retrain(
    name: str,
    data: str | Path,
    out: str | Path,
    *,
    budget: str | None = None,
    latent_run: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    root: Path | None = None,
) -> Retrained:
    """Train reference `name` on `data` into OUT/runs/NAME, package it as OUT/NAME, and compare its
    dev metrics with the shipped model's (when one is shipped for the same data)."""
    recipe = get_recipe(name)
    data, out = Path(data), Path(out)
    store = open_dataset(data)
    shipped: Reference | None = None
    if (reference_folder(name, root) / "provenance.json").is_file():
        shipped = load_reference(name, root)
        reason = shipped.mismatch(store)
        if reason is not None:
            log(f"{reason}: the retrained model's dev metrics are not compared with it")
            shipped = None
    latent = None
    if recipe.latent:
        latent = Path(latent_run) if latent_run else reference_folder(recipe.latent, root)
    prior = reference_folder(recipe.prior, root) if recipe.prior else None
    log(f"training {name}: {recipe.role}")
    run = out / "runs" / name
    train_recipe(recipe, data, run, budget, latent, progress, prior)
    provenance = package_reference(name, run, data, out / name, budget=budget)
    comparison = (
        [] if shipped is None else compare_dev(provenance["dev"], shipped.provenance["dev"])
    )
    return Retrained(out / name, provenance, comparison)
