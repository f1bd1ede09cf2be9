"""The remedy's arms: what each adds, from which rows, reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from medgen.data.store import open_dataset
from medgen.errors.remedy.arms import (
    ARMS,
    NEAREST_LEVELS,
    attribute_conditions,
    augmented_examples,
    generated_examples,
    inpainted_examples,
    inpainting_bases,
    real_examples,
    reference_pool,
)
from medgen.errors.remedy.plan import RemedyPlan, references
from medgen.errors.remedy.slices import slice_train_ids, slice_tumours
from medgen.exceptions import InputError, SettingError
from medgen.tasks.augment import (
    classic_augment,
    generate_with_masks,
    inpaint_with_masks,
    joint_condition_names,
    with_base_grain,
)

CEREBELLUM = {"location": "cerebellum"}


def test_joint_generators_make_slices_with_masks(joint_runs: dict[str, Path]) -> None:
    wanted = [{"location": "brainstem", "tumour_type": "malignant"}] * 3
    for run in joint_runs.values():
        images, masks = generate_with_masks(run, wanted, seed=1)
        assert images.shape == masks.shape == (3, 64, 64) and masks.dtype == bool
        assert images.min() >= 0 and images.max() <= 1
    with pytest.raises(InputError, match="liver"):
        generate_with_masks(joint_runs["gan"], [{"location": "liver"}])


def test_inpainting_redraws_only_around_the_mask(joint_runs: dict[str, Path]) -> None:
    rng = np.random.default_rng(0)
    bases = rng.uniform(0.2, 0.8, (3, 64, 64)).astype(np.float32)
    masks = np.zeros((3, 64, 64), bool)
    masks[:, 30:34, 28:33] = True
    wanted = [{"location": "brainstem", "tumour_type": "malignant"}] * 3
    drawn = inpaint_with_masks(joint_runs["diffusion"], bases, masks, wanted, seed=2, margin=2)
    assert drawn.shape == bases.shape and drawn.dtype == np.float32
    assert drawn.min() >= 0 and drawn.max() <= 1
    redrawn = np.zeros((64, 64), bool)
    redrawn[28:36, 26:35] = True  # the mask grown by 2 px (a square dilation)
    assert np.array_equal(drawn[:, ~redrawn], bases[:, ~redrawn])  # the rest is the scan's own
    assert (drawn[:, redrawn] != bases[:, redrawn]).mean() > 0.9
    again = inpaint_with_masks(joint_runs["diffusion"], bases, masks, wanted, seed=2, margin=2)
    assert np.array_equal(drawn, again)
    plain = inpaint_with_masks(
        joint_runs["diffusion"], bases, masks, wanted, seed=2, margin=2, base_grain=False
    )  # the same drawing, its grain the model's own
    assert np.array_equal(plain[:, ~redrawn], bases[:, ~redrawn])
    expected = np.where(redrawn, with_base_grain(plain, bases), bases)
    np.testing.assert_allclose(drawn, expected, atol=1e-5)
    with pytest.raises(InputError, match="GAN run"):
        inpaint_with_masks(joint_runs["gan"], bases, masks, wanted)
    with pytest.raises(InputError, match="2 conditions"):
        inpaint_with_masks(joint_runs["diffusion"], bases, masks, wanted[:2])
    with pytest.raises(InputError, match="64x64"):
        inpaint_with_masks(joint_runs["diffusion"], bases[:, :32, :32], masks[:, :32, :32], wanted)


def test_inpainted_tumours_sit_in_healthy_slices_of_the_masks_level(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    train = store.split("train")
    reference = slice_train_ids(store, CEREBELLUM)
    assert reference.size > 0
    bases = inpainting_bases(store, np.repeat(reference[:1], 40), 40, seed=0)
    assert (store.meta.loc[bases, "label"] == 0).all() and set(bases) <= set(train.index)
    healthy_z = train.loc[train["label"] == 0, "source_z"].to_numpy()
    level = store.meta.loc[reference[0], "source_z"]
    allowed = np.sort(np.abs(healthy_z - level))[NEAREST_LEVELS - 1]
    assert (np.abs(store.meta.loc[bases, "source_z"] - level) <= allowed).all()
    assert len(set(bases)) > 1  # a choice among the nearest, not always the same slice


class _Levels:
    """What `inpainting_bases` reads of a store: the metadata and its splits."""

    def __init__(self, meta: pd.DataFrame) -> None:
        self.meta = meta

    def split(self, name: str) -> pd.DataFrame:
        return self.meta[self.meta["split"] == name]


def test_inpainting_bases_spread_over_every_tied_slice_whatever_the_reference() -> None:
    # 10 levels, one tumour slice and 30 healthy ones at each, as the built-in data hold about
    # 34 healthy slices per level; references drawn the way the inpaint arm draws them.
    levels, per_level, n = 10, 30, 3000
    z = np.concatenate([np.arange(levels), np.repeat(np.arange(levels), per_level)])
    labels = [1] * levels + [0] * (levels * per_level)
    meta = pd.DataFrame({"split": "train", "label": labels, "source_z": z.astype(float)})
    followed = references(0).integers(0, levels, n)  # ids 0..9: the tumours
    bases = inpainting_bases(_Levels(meta), followed, n, seed=0)  # type: ignore[arg-type]
    assert (meta.loc[bases, "label"] == 0).all()
    assert np.array_equal(meta.loc[bases, "source_z"].to_numpy(), z[followed])  # its own level
    for level in range(levels):  # each reference meets all its level's slices, not a few
        assert len(set(bases[followed == level])) == per_level


def test_the_inpaint_arm_draws_into_healthy_slices_inside_their_brains(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 5, seed=1)
    added = inpainted_examples(store, plan, joint_runs["diffusion"])
    assert added.images.shape == added.masks.shape == (5, 64, 64)
    assert added.masks.any(axis=(1, 2)).all() and set(added.kinds) <= {"benign", "malignant"}
    assert (store.meta.loc[added.sources, "label"] == 0).all()  # sources: the healthy bases
    brains = np.asarray(store.array("brain_mask")[added.sources]).astype(bool)
    assert not (added.masks & ~brains).any()  # each mask inside its own base's brain
    bases = np.asarray(store.array("images")[added.sources])
    outside = ~ndimage.binary_dilation(added.masks, np.ones((1, 3, 3), bool), iterations=2)
    assert np.array_equal(added.images[outside], bases[outside])  # the rest is the base's own
    again = inpainted_examples(store, plan, joint_runs["diffusion"])
    assert all(np.array_equal(a, b) for a, b in zip(added, again, strict=True))
    with pytest.raises(SettingError, match="no tumour in this slice"):
        inpainted_examples(store, RemedyPlan({"location": "none"}, 2), joint_runs["diffusion"])


def test_the_inpaint_arm_follows_the_slices_tumours_it_augments(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 6, seed=2)
    own = slice_tumours(store, CEREBELLUM)
    moved = classic_augment(own.images, own.masks, 6, seed=2)
    added = inpainted_examples(store, plan, joint_runs["diffusion"])
    assert np.array_equal(added.kinds, own.kinds[moved.picks])  # each moved mask's own type
    assert not (added.masks & ~moved.masks).any()  # the moved masks, clipped to each brain


def test_generator_conditions_keep_the_slices_joint_attributes(
    builtin_dataset: Path, joint_runs: dict[str, Path]
) -> None:
    store = open_dataset(builtin_dataset)
    names = ("location", "tumour_type", "enhancing")
    assert joint_condition_names(joint_runs["diffusion"]) == names  # the data record enhancing
    pool = reference_pool(store, CEREBELLUM)
    assert np.array_equal(pool, slice_train_ids(store, CEREBELLUM))
    drawn = attribute_conditions(store, CEREBELLUM, names, pool[references(0).integers(0, 9, 50)])
    rows = store.meta.loc[pool, ["tumour_type", "enhancing"]]
    seen = {(r.tumour_type, str(r.enhancing)) for r in rows.itertuples()}
    assert {(c["tumour_type"], c["enhancing"]) for c in drawn} <= seen  # joint, not crossed
    assert all(c["location"] == "cerebellum" and set(c) == set(names) for c in drawn)
    anywhere = reference_pool(store, {"location": "none"})  # no such tumour: any tumour's
    assert anywhere.size > 0 and (store.meta.loc[anywhere, "label"] == 1).all()


def test_generator_arms_keep_n_of_their_oversampled_candidates(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 3, seed=0, oversample=3, guidance=2.0)
    pool = slice_train_ids(store, CEREBELLUM)
    for family in ("diffusion", "gan"):
        added = generated_examples(store, plan, joint_runs[family])
        assert added.images.shape == added.masks.shape == (3, 64, 64)
        assert len(added.kinds) == 3 and set(added.sources) <= set(pool)
        assert np.array_equal(store.meta.loc[added.sources, "tumour_type"], added.kinds)
    added = inpainted_examples(store, plan, joint_runs["diffusion"])
    assert added.masks.any(axis=(1, 2)).all() and len(added.sources) == 3


def test_classic_augmentation_moves_the_mask_with_the_image_and_names_its_originals() -> None:
    images = np.zeros((2, 32, 32), dtype=np.float32)
    masks = np.zeros((2, 32, 32), dtype=bool)
    images[0, 10:16, 8:14], masks[0, 10:16, 8:14] = 1.0, True  # the lesion is the bright square
    images[1, 20:24, 20:24], masks[1, 20:24, 20:24] = 0.6, True  # a smaller, fainter one
    made = classic_augment(images, masks, 12, seed=3)
    assert made.images.shape == (12, 32, 32) and made.masks.any(axis=(1, 2)).all()
    assert set(made.picks) == {0, 1}
    for im, m, k in zip(made.images, made.masks, made.picks, strict=True):
        assert im[m].mean() > 3 * max(im[~m].mean(), 1e-3)  # still the bright part
        assert abs(int(m.sum()) - int(masks[k].sum())) <= 0.5 * masks[k].sum()  # its original's
    again = classic_augment(images, masks, 12, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(made, again, strict=True))


def test_the_augment_arm_names_the_training_tumours_it_transformed(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    added = augmented_examples(store, RemedyPlan(CEREBELLUM, 8, seed=4), None)
    own = slice_tumours(store, CEREBELLUM)
    assert set(added.sources) <= set(own.sources)
    assert np.array_equal(store.meta.loc[added.sources, "tumour_type"], added.kinds)
    with pytest.raises(SettingError, match="no tumour in this slice"):
        augmented_examples(store, RemedyPlan({"location": "none"}, 2), None)


def test_the_real_data_oracle_makes_tumours_of_the_slice(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    added = real_examples(store, RemedyPlan({"location": "brainstem"}, 6), None)
    assert added.images.shape == (6, 64, 64) and added.masks.any(axis=(1, 2)).all()
    assert set(added.kinds) <= {"benign", "malignant"} and (added.sources == -1).all()
    with pytest.raises(SettingError, match="location only"):
        real_examples(store, RemedyPlan({"tumour_type": "benign"}, 2), None)


def test_the_registry_names_each_arms_needs() -> None:
    assert list(ARMS) == ["baseline", "real", "diffusion", "inpaint", "gan", "augment"]
    assert {n: a.generator for n, a in ARMS.items() if a.generator} == {
        "diffusion": "diffusion",
        "inpaint": "diffusion",
        "gan": "gan",
    }
    assert {n for n, a in ARMS.items() if a.from_slice} == {"inpaint", "augment"}
    assert ARMS["baseline"].make(None, RemedyPlan(), None) is None  # type: ignore[arg-type]
