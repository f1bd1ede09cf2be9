"""The remedy's arms: what each one adds to training for the failing slice, one signature each.

- baseline: nothing (the detector as it is);
- real: n new slices of the failing kind from the data generator itself, the "more data"
  oracle (built-in data only: it re-runs the generator with the data's own config);
- diffusion / gan: n (slice, mask) pairs from a conditional joint generator
  (`medgen.tasks.augment`), tumour types and appearance drawn jointly from the slice's training
  tumours;
- inpaint: n tumours drawn by the joint diffusion model into healthy training slices of the same
  level, under masks of the slice's training tumours moved by a random affine: the anatomy and
  the noise's grain are real, the lesion is the model's, and the mask is exactly where the
  lesion is drawn;
- augment: n classic augmentations of the slice's own training tumours.

With `oversample` K a generator arm makes n K candidates and keeps the n most like the slice's
training tumours (`lesions.closest_to_reference`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from medgen.config import from_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.data.synth.config import LOCATIONS, ScenarioConfig
from medgen.errors.remedy.lesions import closest_to_reference, lesion_features
from medgen.errors.remedy.plan import Added, RemedyPlan, references, stream
from medgen.errors.remedy.slices import slice_train_ids, slice_tumours
from medgen.exceptions import SettingError
from medgen.tasks.augment import (
    classic_augment,
    generate_with_masks,
    inpaint_with_masks,
    joint_condition_names,
)

NEAREST_LEVELS = 10  # a drawn tumour's base: one of the healthy slices nearest the mask's level
REAL_SEED_OFFSET = 1_000_003  # the oracle's generator seed, away from the data's own


@dataclass(frozen=True)
class Arm:
    """One way to add examples of the slice: `make(store, plan, run)` returns them (None: adds
    nothing); `generator` names the kind of run it draws with (None: it needs none)."""

    make: Callable[[StoredDataset, RemedyPlan, Path | None], Added | None]
    generator: str | None = None
    from_slice: bool = False  # it starts from the slice's own training tumours


def nothing_added(store: StoredDataset, plan: RemedyPlan, run: Path | None) -> None:
    """The baseline adds no example."""
    return None


def real_examples(store: StoredDataset, plan: RemedyPlan, run: Path | None) -> Added:
    """n new tumour slices of the slice's location from the data generator (the oracle)."""
    if set(plan.slice) != {"location"} or "config" not in store.manifest:
        raise SettingError(
            "slice",
            "the real-data arm re-runs the built-in generator, which makes slices by location "
            "only, on built-in data",
        )
    base = from_dict(DataConfig, store.manifest["config"], f"{store.root} manifest config")
    weights = {loc: 1.0 if loc == plan.slice["location"] else 0.0 for loc in LOCATIONS}
    scenario = ScenarioConfig(tumour_fraction=1.0, location_prevalence={"train": weights})
    seed = base.seed + REAL_SEED_OFFSET + plan.seed
    config = replace(base, n_train=plan.n, n_dev=0, n_test=0, seed=seed, scenario=scenario)
    with tempfile.TemporaryDirectory() as tmp:
        make_dataset(Path(tmp) / "extra", config, workers=1)
        extra = open_dataset(Path(tmp) / "extra")
        return Added(
            np.asarray(extra.array("images"), dtype=np.float32),
            np.asarray(extra.array("tumour_mask")).astype(bool),
            extra.meta["tumour_type"].astype(str).to_numpy(),
            np.full(plan.n, -1, dtype=np.int64),
        )


def attribute_conditions(
    store: StoredDataset, values: dict[str, str], names: Sequence[str], ids: np.ndarray
) -> list[dict[str, str]]:
    """One condition dict per row id: the slice's values, the rest of `names` from the row."""
    others = [name for name in names if name not in values]
    rows = store.meta.loc[ids, others].astype(str)
    return [{**values, **row} for row in rows.to_dict(orient="records")]


def reference_pool(store: StoredDataset, values: dict[str, str]) -> np.ndarray:
    """The tumours a generator arm takes its conditions from: the slice's training tumours (of
    any location where the slice has none)."""
    pool = slice_train_ids(store, values)
    if pool.size == 0:
        train = store.split("train")
        pool = train.index.to_numpy()[train["label"].to_numpy() == 1]
    return pool


def most_like_the_slice(
    store: StoredDataset, plan: RemedyPlan, candidates: Added, order: np.ndarray
) -> Added:
    """The plan.n candidates closest to the slice's training tumours (all if not oversampled);
    `order`: the slice's tumours in the order they take their nearest candidate."""
    if plan.oversample == 1:
        return candidates
    reference = slice_tumours(store, plan.slice)
    if len(reference.images) == 0:  # nothing to match: the first plan.n
        return Added(*(part[: plan.n] for part in candidates))
    keep = closest_to_reference(
        lesion_features(candidates.images, candidates.masks),
        lesion_features(reference.images, reference.masks),
        order,
    )
    return Added(*(part[keep] for part in candidates))


def generated_examples(store: StoredDataset, plan: RemedyPlan, run: Path | None) -> Added:
    """n (slice, mask) pairs from a joint generator run, each conditioned on a training tumour
    of the slice drawn at random (its type and appearance), so tumour types and appearances
    keep the slice's proportions; the n of n x oversample candidates most like the slice's."""
    assert run is not None, "a generator arm needs its run"
    names = joint_condition_names(run)
    pool = reference_pool(store, plan.slice)
    picks = references(plan.seed).integers(0, len(pool), plan.n * plan.oversample)
    conditions = attribute_conditions(store, plan.slice, names, pool[picks])
    images, masks = generate_with_masks(run, conditions, seed=plan.seed, guidance=plan.guidance)
    kinds = np.array([c["tumour_type"] for c in conditions])
    made = Added(images, masks, kinds, pool[picks].astype(np.int64))
    return most_like_the_slice(store, plan, made, picks[: plan.n])


def inpainting_bases(store: StoredDataset, reference: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n healthy training slice ids, each near the level of `reference` (the mask's own slice):
    drawn at random among every healthy slice no farther in `source_z` than the NEAREST_LEVELS-th
    nearest, ties all included (any healthy slice without that column).

    Why the ties: the built-in data hold about 34 healthy slices per level, each posed, biased
    and noised on its own; a detector learns few backgrounds with their lesions, so every one of
    them is a candidate (the draw has its own stream: `stream`)."""
    train = store.split("train")
    healthy = train.index.to_numpy()[train["label"].to_numpy() == 0]
    if healthy.size == 0:
        raise SettingError("slice", "the train split has no healthy slice to draw tumours into")
    rng = stream(seed, "inpainting bases")
    if "source_z" not in store.meta:
        return rng.choice(healthy, size=n)
    level = store.meta.loc[healthy, "source_z"].to_numpy(dtype=float)
    wanted = store.meta.loc[reference, "source_z"].to_numpy(dtype=float)
    nth = min(NEAREST_LEVELS, healthy.size) - 1
    out = np.empty(n, dtype=healthy.dtype)
    for i, z in enumerate(wanted):
        gap = np.abs(level - z)
        near = np.flatnonzero(gap <= np.partition(gap, nth)[nth])
        out[i] = healthy[rng.choice(near)]
    return out


def inpainted_examples(store: StoredDataset, plan: RemedyPlan, run: Path | None) -> Added:
    """n tumours of the slice drawn by a joint diffusion model into healthy training slices;
    each example's source is the healthy slice it was drawn into."""
    assert run is not None, "the inpaint arm needs its diffusion run"
    own = slice_tumours(store, plan.slice)
    if len(own.images) == 0:
        raise SettingError(
            "slice", "the train split has no tumour in this slice to take masks from"
        )
    moved = classic_augment(own.images, own.masks, plan.n * plan.oversample, plan.seed)
    followed = own.sources[moved.picks]  # each example's reference tumour
    bases = inpainting_bases(store, followed, len(followed), plan.seed)
    base_images = np.asarray(store.array("images")[bases], dtype=np.float32)
    masks = moved.masks
    if "brain_mask" in store.arrays:  # a moved mask stays inside the base's brain
        inside = masks & np.asarray(store.array("brain_mask")[bases]).astype(bool)
        masks = np.where(inside.any(axis=(1, 2))[:, None, None], inside, masks)
    names = joint_condition_names(run)  # the reference tumour's own type and appearance
    conditions = attribute_conditions(store, plan.slice, names, followed)
    drawn = inpaint_with_masks(
        run, base_images, masks, conditions, seed=plan.seed, guidance=plan.guidance
    )
    made = Added(drawn, masks, own.kinds[moved.picks], bases.astype(np.int64))
    return most_like_the_slice(store, plan, made, moved.picks[: plan.n])


def augmented_examples(store: StoredDataset, plan: RemedyPlan, run: Path | None) -> Added:
    """n classic augmentations of the slice's training tumours."""
    own = slice_tumours(store, plan.slice)
    if len(own.images) == 0:
        raise SettingError("slice", "the train split has no tumour in this slice to augment")
    made = classic_augment(own.images, own.masks, plan.n, plan.seed)
    return Added(made.images, made.masks, own.kinds[made.picks], own.sources[made.picks])


ARMS: dict[str, Arm] = {
    "baseline": Arm(nothing_added),
    "real": Arm(real_examples),
    "diffusion": Arm(generated_examples, generator="diffusion"),
    "inpaint": Arm(inpainted_examples, generator="diffusion", from_slice=True),
    "gan": Arm(generated_examples, generator="gan"),
    "augment": Arm(augmented_examples, from_slice=True),
}
