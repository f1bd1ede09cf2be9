"""The remedy loop: its arms' data, its measurements, and the command end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import ndimage

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import open_dataset
from medgen.detect import DetectorConfig
from medgen.errors import remedy
from medgen.errors.placement import SEARCH_PX
from medgen.errors.remedy import (
    NEAREST_LEVELS,
    SHOWN,
    DetectorTrainer,
    RemedyPlan,
    at_contrast,
    borrowed_shapes,
    closest_to_reference,
    describe_examples,
    error_with_interval,
    found_share,
    generated_examples,
    generation_conditions,
    inpainted_examples,
    inpainting_bases,
    lesion_depths,
    lesion_grain,
    over_seeds,
    parse_slice,
    real_examples,
    recovered,
    remedy_experiment,
    ring_contrasts,
    seeded,
    slice_train_ids,
    slice_tumours,
    stream,
)
from medgen.exceptions import InputError
from medgen.tasks.augment import (
    classic_augment,
    generate_with_masks,
    inpaint_with_masks,
    joint_condition_names,
    train_joint_generator,
    with_base_grain,
)
from medgen.train.recipe import read_run_config

TINY = {
    "diffusion": "[model]\nsteps = 2\n"
    "unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }\n",
    "gan": "[model]\nwidth = 8\n",
}


@pytest.fixture(scope="module")
def joint_runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("joint")
    runs = {}
    for family, text in TINY.items():
        (root / f"{family}.toml").write_text(text)
        config = read_run_config(root / f"{family}.toml", family, budget="2steps", batch_size=4)
        runs[family] = root / family
        train_joint_generator(family, builtin_dataset, runs[family], config, progress=False)
    return runs


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
    np.testing.assert_allclose(drawn, np.where(redrawn, with_base_grain(plain, bases), bases),
                               atol=1e-5)  # fmt: skip
    with pytest.raises(InputError, match="GAN run"):
        inpaint_with_masks(joint_runs["gan"], bases, masks, wanted)
    with pytest.raises(InputError, match="2 conditions"):
        inpaint_with_masks(joint_runs["diffusion"], bases, masks, wanted[:2])
    with pytest.raises(InputError, match="64x64"):
        inpaint_with_masks(joint_runs["diffusion"], bases[:, :32, :32], masks[:, :32, :32], wanted)


def test_inpainted_tumours_sit_in_healthy_slices_of_the_masks_level(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    train = store.split("train")
    reference = slice_train_ids(store, {"location": "cerebellum"})
    assert reference.size > 0
    bases = inpainting_bases(store, np.repeat(reference[:1], 40), 40, seed=0)
    assert (store.meta.loc[bases, "label"] == 0).all() and set(bases) <= set(train.index)
    healthy_z = train.loc[train["label"] == 0, "source_z"].to_numpy()
    gap = np.abs(healthy_z - store.meta.loc[reference[0], "source_z"])
    allowed = np.sort(gap)[NEAREST_LEVELS - 1]
    assert (np.abs(store.meta.loc[bases, "source_z"] - store.meta.loc[reference[0], "source_z"])
            <= allowed).all()  # fmt: skip
    assert len(set(bases)) > 1  # a choice among the nearest, not always the same slice


class _Levels:
    """What `inpainting_bases` reads of a store: the metadata and its splits."""

    def __init__(self, meta: pd.DataFrame) -> None:
        self.meta = meta

    def split(self, name: str) -> pd.DataFrame:
        return self.meta[self.meta["split"] == name]


def test_inpainting_bases_spread_over_every_tied_slice_whatever_the_reference() -> None:
    # 10 levels, one tumour slice and 30 healthy ones at each, as the built-in data hold about
    # 34 healthy slices per level; references drawn the way inpainted_examples draws them.
    levels, per_level, n = 10, 30, 3000
    z = np.concatenate([np.arange(levels), np.repeat(np.arange(levels), per_level)])
    meta = pd.DataFrame({"split": "train", "label": [1] * levels + [0] * (levels * per_level),
                         "source_z": z.astype(float)})  # fmt: skip
    references = np.random.default_rng(0).integers(0, levels, n)  # ids 0..9: the tumours
    bases = inpainting_bases(_Levels(meta), references, n, seed=0)  # type: ignore[arg-type]
    assert (meta.loc[bases, "label"] == 0).all()
    assert np.array_equal(meta.loc[bases, "source_z"].to_numpy(), z[references])  # its own level
    for level in range(levels):  # each reference meets all its level's slices, not a few
        assert len(set(bases[references == level])) == per_level


def test_a_purposes_stream_does_not_follow_the_seeds_own() -> None:
    picks = np.random.default_rng(0).integers(0, 40, 4000)
    alike = np.random.default_rng(0).integers(0, 10, 4000)  # the failure the streams avoid
    assert max(len(set(alike[picks == k])) for k in range(40)) == 1
    drawn = stream(0, "inpainting bases").integers(0, 10, 4000)
    assert min(len(set(drawn[picks == k])) for k in range(40)) == 10
    other = stream(0, "borrowed shapes").integers(0, 10, 4000)
    assert not np.array_equal(drawn, other)
    assert np.array_equal(drawn, stream(0, "inpainting bases").integers(0, 10, 4000))


def test_the_inpaint_arm_keeps_masks_inside_the_brain(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 5, {}, seed=1)
    images, masks, kinds = inpainted_examples(joint_runs["diffusion"], store, plan)
    assert images.shape == masks.shape == (5, 64, 64) and masks.any(axis=(1, 2)).all()
    assert set(kinds) <= {"benign", "malignant"}
    brains = np.asarray(store.array("brain_mask")).astype(bool)
    # every mask lies inside the brain of some healthy training slice it was drawn into
    healthy = store.split("train").query("label == 0").index.to_numpy()
    for m in masks:
        assert any(not (m & ~brains[i]).any() for i in healthy)
    with pytest.raises(InputError, match="no tumour in this slice"):
        inpainted_examples(joint_runs["diffusion"], store, RemedyPlan({"location": "none"}, 2, {}))


def test_the_inpaint_arm_redraws_as_far_around_each_mask_as_its_margin(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 4, {}, seed=1, inpaint_margin=2)
    narrow, masks, _ = inpainted_examples(joint_runs["diffusion"], store, plan)
    wide, same, _ = inpainted_examples(joint_runs["diffusion"], store,
                                       replace(plan, inpaint_margin=5))  # fmt: skip
    assert np.array_equal(same, masks)  # the same masks and bases: only the margin moves
    square = np.ones((3, 3), bool)  # inpainting's dilation is a square one
    for a, b, m in zip(narrow, wide, masks, strict=True):
        within2 = ndimage.binary_dilation(m, square, iterations=2)
        within5 = ndimage.binary_dilation(m, square, iterations=5)
        assert np.array_equal(a[~within5], b[~within5])  # both the base's own out there
        ring = within5 & ~within2  # the base's in the narrow one, the model's in the wide one
        assert (a[ring] != b[ring]).mean() > 0.9
    with pytest.raises(ValueError, match="inpaint_margin"):
        replace(plan, inpaint_margin=-1)


def test_the_inpaint_arm_matched_places_its_masks_on_their_anatomy_in_each_base(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 4, {}, seed=1)
    _, copied, _ = inpainted_examples(joint_runs["diffusion"], store, plan)
    _, matched, _ = inpainted_examples(joint_runs["diffusion"], store,
                                       replace(plan, inpaint_placement="matched"))  # fmt: skip
    assert matched.any(axis=(1, 2)).all()
    shifts = np.array([np.subtract(ndimage.center_of_mass(b), ndimage.center_of_mass(a))
                       for a, b in zip(copied, matched, strict=True)])  # fmt: skip
    assert (np.abs(shifts) <= SEARCH_PX + 1).all()  # a local move (+1: the brain's edge clips)
    assert (np.abs(shifts) > 0.5).any()  # real brains differ: some masks move to their anatomy
    with pytest.raises(ValueError, match="inpaint_placement"):
        replace(plan, inpaint_placement="anywhere")


def test_borrowed_shapes_are_training_tumours_centred_on_the_given_masks(
    builtin_dataset: Path,
) -> None:
    store = open_dataset(builtin_dataset)
    train = store.split("train")
    tumours = np.sort(train.index.to_numpy()[train["label"].to_numpy() == 1])
    known = np.asarray(store.array("tumour_mask")[tumours]).astype(bool)
    known = known[known.any(axis=(1, 2))]
    masks = np.zeros((30, 64, 64), dtype=bool)
    for i in range(30):  # small squares spread over the middle of the slice
        r, c = 24 + i % 5 * 3, 20 + i // 5 * 4
        masks[i, r : r + 3, c : c + 3] = True
    masks[7] = False  # an empty mask stays empty
    out = borrowed_shapes(store, masks, seed=0)
    assert out.shape == masks.shape and out.dtype == bool
    assert not out[7].any() and out[np.arange(30) != 7].any(axis=(1, 2)).all()

    def cropped(m: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(m)
        return m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]

    known_shapes = {(k.shape, k.tobytes()) for k in map(cropped, known)}
    for i in np.flatnonzero(out.any(axis=(1, 2))):
        assert (cropped(out[i]).shape, cropped(out[i]).tobytes()) in known_shapes
        gap = np.subtract(ndimage.center_of_mass(out[i]), ndimage.center_of_mass(masks[i]))
        assert np.abs(gap).max() <= 0.5 + 1e-9  # a shift by whole pixels
    assert len({o.tobytes() for o in out}) > 20  # many shapes, not one
    assert np.array_equal(out, borrowed_shapes(store, masks, seed=0))


def test_the_inpaint_arm_draws_under_borrowed_shapes(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 4, {}, seed=1, inpaint_shapes="train")
    _, masks, _ = inpainted_examples(joint_runs["diffusion"], store, plan)
    _, own, _ = inpainted_examples(joint_runs["diffusion"], store, replace(plan,
                                   inpaint_shapes="slice"))  # fmt: skip
    assert masks.any(axis=(1, 2)).all() and not np.array_equal(masks, own)
    ids = slice_train_ids(store, plan.slice)
    slice_masks = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    slice_centres = np.array([ndimage.center_of_mass(m) for m in slice_masks])
    for m in masks:  # near one of the slice's tumours (the affine moves a few pixels)
        assert np.linalg.norm(slice_centres - ndimage.center_of_mass(m), axis=1).min() < 8
    with pytest.raises(ValueError, match="inpaint_shapes"):
        replace(plan, inpaint_shapes="blobs")


def _drawn_lesions(n: int, depth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy bases, disc masks, and the bases with a soft dark lesion of `depth` drawn under
    each mask and 2 px around it (what inpainting changes), the rest untouched."""
    rng = np.random.default_rng(0)
    rows, cols = np.indices((32, 32))
    bases = np.clip(0.5 + 0.05 * rng.standard_normal((n, 32, 32)), 0, 1).astype(np.float32)
    distance = np.hypot(rows - 16, cols - 15)
    masks = np.broadcast_to(distance <= 3, (n, 32, 32)).copy()
    lesion = depth * np.exp(-((distance / 3.5) ** 2)) * (distance <= 5)
    return bases, masks, np.clip(bases - lesion, 0, 1).astype(np.float32)


def test_at_contrast_brings_each_lesion_to_its_target_and_keeps_the_rest() -> None:
    bases, masks, drawn = _drawn_lesions(3, 0.1)
    depth = ring_contrasts(drawn, masks) - ring_contrasts(bases, masks)
    assert (depth < -0.02).all()  # a dark lesion to scale
    targets = ring_contrasts(bases, masks) + np.array([0.3, 1.7, 10.0]) * depth
    out = at_contrast(drawn, bases, masks, targets)
    np.testing.assert_allclose(ring_contrasts(out, masks)[:2], targets[:2], atol=1e-5)
    capped = ring_contrasts(bases, masks)[2] + 4.0 * depth[2]  # at most 4 times as deep
    assert abs(ring_contrasts(out, masks)[2] - capped) < 1e-5
    for x, base, d, gain in zip(out, bases, drawn, (0.3, 1.7, 4.0), strict=True):
        np.testing.assert_allclose(x - base, gain * (d - base), atol=1e-5)  # the lesion, scaled
    assert out.dtype == np.float32 and np.array_equal(drawn, _drawn_lesions(3, 0.1)[2])


def test_at_contrast_leaves_lesions_it_cannot_scale_as_drawn() -> None:
    bases, masks, drawn = _drawn_lesions(4, 0.1)
    masks[3] = False  # no tumour
    around = ring_contrasts(bases, masks)
    targets = np.array([around[0] + 0.05, np.nan, around[2] - 0.05, -0.05])  # bright, none
    out = at_contrast(drawn, bases, masks, targets)
    assert np.array_equal(out[[0, 1, 3]], drawn[[0, 1, 3]])  # wrong sign, no target, no mask
    assert not np.array_equal(out[2], drawn[2])
    flat = at_contrast(bases, bases, masks, targets)  # nothing drawn: nothing to scale
    assert np.array_equal(flat, bases)


def test_lesion_depth_is_the_lesion_against_the_tissue_past_its_margin() -> None:
    rows, cols = np.indices((32, 32))
    distance = np.hypot(rows - 16, cols - 15)
    mask = distance <= 3
    image = np.full((32, 32), 0.6, np.float32)
    image[(distance > 3) & (distance <= 6)] = 0.45  # a dark margin and oedema around it
    image[mask] = 0.3
    images, masks = np.stack([image, image, image]), np.stack([mask, mask, np.zeros_like(mask)])
    images[1][distance > 7] = 0.0  # no tissue where the reference should lie
    depths = lesion_depths(images, masks)
    assert depths[0] == pytest.approx(-0.3)  # against the tissue, not the darkened ring
    assert ring_contrasts(images[:1], masks[:1])[0] == pytest.approx(-0.15)
    assert np.isnan(depths[1]) and np.isnan(depths[2])


def test_at_contrast_can_bring_each_lesion_to_a_target_depth() -> None:
    bases, masks, drawn = _drawn_lesions(2, 0.1)
    gained = lesion_depths(drawn, masks) - lesion_depths(bases, masks)
    targets = lesion_depths(bases, masks) + np.array([0.4, 2.5]) * gained
    out = at_contrast(drawn, bases, masks, targets, gauge=lesion_depths)
    np.testing.assert_allclose(lesion_depths(out, masks), targets, atol=1e-5)
    np.testing.assert_allclose(out[1] - bases[1], 2.5 * (drawn[1] - bases[1]), atol=1e-5)


@pytest.mark.parametrize(("contrast", "gauge"),
                         [("slice", ring_contrasts), ("depth", lesion_depths)])  # fmt: skip
def test_the_inpaint_arm_can_draw_at_the_slices_own_contrasts(
    monkeypatch: pytest.MonkeyPatch,
    builtin_dataset: Path,
    contrast: str,
    gauge: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    seen = []

    def bright_lesions(run, bases, masks, conditions, **options):  # a known drawing
        around = np.stack([ndimage.binary_dilation(m, iterations=2) for m in masks])
        seen.append(bases)
        return np.clip(bases + 0.02 * around + 0.1 * masks, 0, 1).astype(np.float32)

    monkeypatch.setattr(remedy, "inpaint_with_masks", bright_lesions)
    monkeypatch.setattr(remedy, "joint_condition_names", lambda run: ("location",))
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 12, {}, seed=1)
    drawn, masks, _ = inpainted_examples(Path("run"), store, plan)
    images, own, _ = inpainted_examples(Path("run"), store,
                                        replace(plan, inpaint_contrast=contrast))  # fmt: skip
    assert np.array_equal(own, masks)  # the same masks and bases; only the depth moves
    reference = gauge(*slice_tumours(store, plan.slice)[:2])
    picks = np.random.default_rng(plan.seed).integers(0, len(reference), plan.n)  # each mask's
    wanted, got = reference[picks], gauge(images, masks)
    bright = wanted > gauge(seen[0], masks)  # brighter than the base: scaled
    clipped = [(x[ndimage.binary_dilation(m, iterations=2)] >= 1).any()
               for x, m in zip(images, masks, strict=True)]  # fmt: skip
    base, made = gauge(seen[0], masks), gauge(drawn, masks)
    capped = wanted - base > remedy.MAX_CONTRAST_GAIN * (made - base)  # deepened at most so far
    exact = bright & ~np.array(clipped) & ~capped  # (a lesion scaled past white stops there)
    assert exact.sum() >= 5 and bright.sum() < plan.n
    np.testing.assert_allclose(got[exact], wanted[exact], atol=1e-4)
    assert np.array_equal(images[~bright], drawn[~bright])  # dark targets: left as drawn
    with pytest.raises(ValueError, match="inpaint_contrast"):
        replace(plan, inpaint_contrast="bright")


def test_generated_tumours_take_their_attributes_from_the_slices_own(
    builtin_dataset: Path, joint_runs: dict[str, Path]
) -> None:
    store = open_dataset(builtin_dataset)
    names = ("location", "tumour_type", "enhancing")
    assert joint_condition_names(joint_runs["diffusion"]) == names  # the data record enhancing
    values = {"location": "cerebellum"}
    drawn = generation_conditions(store, values, names, 50, seed=0)
    rows = store.meta.loc[slice_train_ids(store, values), ["tumour_type", "enhancing"]]
    seen = {(r.tumour_type, str(r.enhancing)) for r in rows.itertuples()}
    assert {(c["tumour_type"], c["enhancing"]) for c in drawn} <= seen  # joint, not crossed
    assert all(c["location"] == "cerebellum" and set(c) == set(names) for c in drawn)
    without = generation_conditions(store, {"location": "none"}, names, 5, seed=0)
    assert all(c["tumour_type"] in ("benign", "malignant") for c in without)  # any tumour's


def test_oversampled_candidates_are_kept_by_likeness_to_the_slice() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, (20, 3))  # the slice's own tumours
    near = rng.normal(0.0, 0.5, (5, 3))
    far = rng.normal(8.0, 0.5, (5, 3))
    no_tumour = np.full((2, 3), np.nan)
    candidates = np.concatenate([far[:3], near[:2], no_tumour, far[3:], near[2:]])
    near_rows = {3, 4, 9, 10, 11}
    kept = closest_to_reference(candidates, reference, 5, seed=1)
    assert set(kept) == near_rows  # every near candidate, no far one
    kept = closest_to_reference(candidates, reference, 10, seed=1)
    assert len(set(kept)) == 10 and not {5, 6} & set(kept)  # a far tumour before no tumour
    assert np.array_equal(kept, closest_to_reference(candidates, reference, 10, seed=1))
    with pytest.raises(ValueError, match="12 candidates"):
        closest_to_reference(candidates, reference, 13, seed=1)


def test_generator_arms_keep_n_of_their_oversampled_candidates(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan({"location": "cerebellum"}, 3, {}, seed=0, oversample=3, guidance=2.0)
    for arm in (generated_examples, inpainted_examples):
        images, masks, kinds = arm(joint_runs["diffusion"], store, plan)
        assert images.shape == masks.shape == (3, 64, 64) and len(kinds) == 3
    images, masks, _ = inpainted_examples(joint_runs["diffusion"], store, plan)
    assert masks.any(axis=(1, 2)).all()


def noisy_tissue(rng: np.random.Generator, n: int, noise: float) -> np.ndarray:
    """(n, 64, 64) flat tissue at 0.5 under Gaussian noise of std `noise`."""
    return (0.5 + rng.normal(0.0, noise, (n, 64, 64))).astype(np.float32)


def test_grain_compares_the_lesions_fine_detail_with_the_rest_of_its_slice() -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), bool)
    mask[26:38, 26:38] = True  # the lesion: as bright as its tissue, only its grain differs
    plain = noisy_tissue(rng, 1, 0.02)[0]
    assert lesion_grain(plain, mask) == pytest.approx(1.0, abs=0.15)  # the slice's own noise
    speckled = plain.copy()
    speckled[mask] = 0.5 + rng.normal(0.0, 0.06, mask.sum())
    assert lesion_grain(speckled, mask) == pytest.approx(3.0, abs=0.45)
    flat = plain.copy()
    flat[mask] = 0.5
    assert lesion_grain(flat, mask) < 0.5  # only what the blur brings in from its edge
    assert np.isnan(lesion_grain(np.zeros((64, 64), np.float32), mask))  # no tissue to compare


def test_drawn_lesions_keep_the_base_slices_grain() -> None:
    rng = np.random.default_rng(0)
    bases = noisy_tissue(rng, 2, 0.02)
    mask = np.zeros((64, 64), bool)
    mask[24:40, 24:40] = True
    lesion = -0.2 * ndimage.gaussian_filter(mask.astype(np.float32), 1.5)  # soft and dark
    drawn = bases + lesion + np.where(mask, rng.normal(0.0, 0.06, bases.shape), 0.0)
    out = with_base_grain(drawn, bases)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    for k in range(2):
        assert lesion_grain(drawn[k], mask) > 2.5  # the drawing's speckle ...
        assert lesion_grain(out[k], mask) == pytest.approx(1.0, abs=0.2)  # ... gone: the base's
        # the lesion's own darkening (0.17 on average inside) kept but for its margin's softening
        assert out[k][mask].mean() == pytest.approx(drawn[k][mask].mean(), abs=0.01)
    np.testing.assert_allclose(with_base_grain(bases, bases), bases, atol=1e-6)


def test_classic_augmentation_moves_the_mask_with_the_image() -> None:
    image = np.zeros((1, 32, 32), dtype=np.float32)
    mask = np.zeros((1, 32, 32), dtype=bool)
    image[0, 10:16, 8:14], mask[0, 10:16, 8:14] = 1.0, True  # the lesion is the bright square
    images, masks = classic_augment(image, mask, 12, seed=3)
    assert images.shape == (12, 32, 32) and masks.any(axis=(1, 2)).all()
    for im, m in zip(images, masks, strict=True):
        assert im[m].mean() > 3 * max(im[~m].mean(), 1e-3)  # still the bright part
    again, _ = classic_augment(image, mask, 12, seed=3)
    assert np.array_equal(images, again)


def test_the_real_data_oracle_makes_tumours_of_the_slice(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    images, masks, kinds = real_examples(store, {"location": "brainstem"}, 6, seed=0)
    assert images.shape == (6, 64, 64) and masks.any(axis=(1, 2)).all()
    assert set(kinds) <= {"benign", "malignant"}
    with pytest.raises(InputError, match="location only"):
        real_examples(store, {"tumour_type": "benign"}, 2, seed=0)


def test_slices_are_checked(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    assert parse_slice("location=brainstem", store) == {"location": "brainstem"}
    with pytest.raises(InputError, match="location=liver"):
        parse_slice("location=liver", store)
    with pytest.raises(InputError, match="colour"):
        parse_slice("colour=red", store)


def test_intervals_and_the_recovered_share() -> None:
    e = error_with_interval(np.array([True] * 20 + [False] * 80))
    assert e["error"] == 0.2 and e["low"] < 0.2 < e["high"] and e["n"] == 100
    assert e["low"] == pytest.approx(0.133, abs=0.002)  # Wilson, 95%
    table = pd.DataFrame({
        "arm": ["baseline", "real", "diffusion", "augment"], "set": "test", "scope": "slice",
        "error": [0.8, 0.4, 0.6, 0.7],
    })  # fmt: skip
    assert recovered(table) == pytest.approx({"real": 1.0, "diffusion": 0.5, "augment": 0.25})
    assert recovered(table.assign(error=[0.4, 0.5, 0.6, 0.7])) == {}


def test_errors_over_detector_seeds_are_their_mean_with_its_interval_and_spread() -> None:
    per_seed = pd.DataFrame({
        "arm": ["baseline"] * 3 + ["real"], "added": [0, 0, 0, 4], "set": "test",
        "scope": "slice", "seed": [0, 1, 2, 0], "error": [0.5, 0.6, 0.7, 0.3], "n": 10,
    })  # fmt: skip
    table = over_seeds(per_seed).set_index("arm")
    assert table.loc["baseline", "error"] == pytest.approx(0.6)
    assert table.loc["baseline", "seeds"] == 3
    assert table.loc["baseline", "seed_std"] == pytest.approx(0.1)  # sample std of .5, .6, .7
    six = error_with_interval(np.array([True] * 6 + [False] * 4))  # the mean's interval on n
    assert (table.loc["baseline", "low"], table.loc["baseline", "high"]) == pytest.approx(
        (six["low"], six["high"])
    )
    assert table.loc["real", "seeds"] == 1 and np.isnan(table.loc["real", "seed_std"])
    assert recovered(table.reset_index()) == pytest.approx({"real": 1.0})


def test_seeded_moves_every_parts_seed() -> None:
    config = DetectorConfig(seed=3)
    assert seeded(config, 0) == config
    moved = seeded(config, 2)
    assert (moved.seed, moved.extract.seed, moved.classify.seed) == (
        5,
        config.extract.seed + 2,
        config.classify.seed + 2,
    )


def test_every_arm_trains_one_detector_per_seed(builtin_dataset: Path, tmp_path: Path) -> None:
    store = open_dataset(builtin_dataset)
    measure = {"test": store.split("test").index.to_numpy()[:40]}
    plan = RemedyPlan({"location": "cerebellum"}, 3, measure, seed=0, detector_seeds=2)
    config = DetectorConfig()
    config.extract = replace(config.extract, steps=2)
    out = tmp_path / "remedy"
    table = remedy_experiment(builtin_dataset, out, plan, config, arms=("baseline", "augment"),
                              log=lambda _: None)  # fmt: skip
    per_seed = pd.read_csv(out / "remedy_seeds.csv")
    assert len(per_seed) == 2 * 2 * 2 and set(per_seed["seed"]) == {0, 1}  # arms x seeds x scopes
    mean = per_seed.groupby(["arm", "scope"])["error"].mean()
    for row in table.itertuples():
        assert row.seeds == 2 and row.error == pytest.approx(mean[(row.arm, row.scope)])
    for arm in ("baseline", "augment"):  # each seed's detector kept, trained with its own seed
        seeds = [json.loads((out / d / "detector.json").read_text())["config"]["seed"]
                 for d in (arm, f"{arm}-seed1")]  # fmt: skip
        assert seeds == [0, 1]
    record = json.loads((out / "remedy.json").read_text())
    assert record["detector_seeds"] == 2 and len(record["rows_per_seed"]) == 8
    found = pd.read_csv(out / "found.csv")  # one row per arm, its detectors' mean
    assert list(found["arm"]) == ["baseline", "augment"] and record["found"][0]["arm"] == "baseline"
    assert np.isnan(found["found_added"][0]) and 0 <= found["found_added"][1] <= 1
    assert list(found.columns) == ["arm", "found_added", "found_test"]


def test_detectors_trained_at_once_come_out_as_when_trained_in_turn(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    store = open_dataset(builtin_dataset)
    measure = {"test": store.split("test").index.to_numpy()[:40]}
    plan = RemedyPlan({"location": "cerebellum"}, 3, measure, seed=0, detector_seeds=2)
    config = DetectorConfig()
    config.extract = replace(config.extract, steps=3)
    for jobs in (1, 2):
        remedy_experiment(builtin_dataset, tmp_path / f"jobs{jobs}", plan, config,
                          arms=("baseline", "augment"), jobs=jobs, log=lambda _: None)  # fmt: skip
    in_turn, at_once = (pd.read_csv(tmp_path / f"jobs{j}" / "remedy_seeds.csv") for j in (1, 2))
    pd.testing.assert_frame_equal(in_turn, at_once)
    for run in ("baseline", "baseline-seed1", "augment", "augment-seed1"):
        weights = [(tmp_path / f"jobs{j}" / run / "segmentation.safetensors").read_bytes()
                   for j in (1, 2)]  # fmt: skip
        assert weights[0] == weights[1], run
    seeds = {json.loads((tmp_path / "jobs2" / r / "detector.json").read_text())["config"]["seed"]
             for r in ("augment", "augment-seed1")}  # fmt: skip
    assert seeds == {0, 1}


def test_a_detector_that_fails_in_a_worker_fails_the_experiment(tmp_path: Path) -> None:
    missing = tmp_path / "no-data"
    with pytest.raises(InputError, match="no-data"), DetectorTrainer(missing, jobs=2) as trainer:
        trainer.submit(tmp_path / "run", DetectorConfig(), None)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="jobs"):
        DetectorTrainer(missing, jobs=0)


class RegionsAbove:
    """A stand-in detector whose extracted region is every pixel brighter than `level`."""

    def __init__(self, level: float) -> None:
        self.level = level

    def regions(self, images: np.ndarray) -> np.ndarray:
        return images > self.level


def test_found_share_counts_tumours_whose_region_touches_the_mask() -> None:
    images = np.zeros((5, 8, 8), np.float32)
    masks = np.zeros((5, 8, 8), bool)
    masks[:4, 2:4, 2:4] = True  # four tumours and a healthy slice
    images[0, 3, 3] = 1.0  # found: one pixel of the region on the tumour
    images[1, 6, 6] = 1.0  # a region, beside the tumour
    images[2, 2:4, 2:4] = 0.4  # too faint for the detector
    images[3, 2:5, 2:5] = 0.9  # found
    images[4, 0, 0] = 1.0  # the healthy slice's region counts for nothing
    assert found_share(RegionsAbove(0.5), images, masks) == pytest.approx(2 / 4)
    assert found_share(RegionsAbove(0.3), images, masks) == pytest.approx(3 / 4)
    assert np.isnan(found_share(RegionsAbove(0.5), images[4:], masks[4:]))


def test_added_examples_are_described_against_known_answers() -> None:
    images = np.zeros((2, 64, 64), np.float32)
    masks = np.zeros((2, 64, 64), bool)
    images[0, 10:13, 20:23], masks[0, 10:13, 20:23] = 0.8, True  # a flat 3x3 tumour
    images[0] += 0.1  # on a flat background 0.7 darker
    row = describe_examples("made by hand", images, masks)
    assert row["n"] == 2 and row["with_mask"] == 0.5
    assert row["area_px"] == pytest.approx(9) and row["contrast"] == pytest.approx(0.8)
    assert row["rim_minus_core"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(row["grain"])  # a flat slice has no grain to compare the lesion's with
    assert (row["centroid_row"], row["centroid_col"]) == pytest.approx((11 / 64, 21 / 64))
    empty = describe_examples("none", images[1:], masks[1:])
    assert empty["with_mask"] == 0 and np.isnan(empty["area_px"])
    nothing = describe_examples("a slice without training tumours", images[:0], masks[:0])
    assert nothing["n"] == 0 and np.isnan(nothing["with_mask"])


def test_remedy_command_end_to_end(
    joint_runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "remedy"
    result = run_cli("errors", "remedy", "--data", builtin_dataset, "--out", out, "--n", "4",
                     "--steps", "3", "--diffusion", joint_runs["diffusion"],
                     "--gan", joint_runs["gan"], "--jobs", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "remedy.csv")
    arms = ["baseline", "real", "diffusion", "inpaint", "gan", "augment"]
    assert list(table["arm"].unique()) == arms
    assert len(table) == 6 * 2 * 2 and set(table["set"]) == {"test", "dev"}
    assert (table.loc[table.arm != "baseline", "added"] == 4).all()
    record = json.loads((out / "remedy.json").read_text())
    assert record["slice"] == {"location": "brainstem"} and record["n"] == 4
    for arm in ("baseline", "real", "augment"):
        assert (out / arm / "detector.json").is_file()
    added = pd.read_csv(out / "added.csv")  # every arm's added data beside the real slice's
    assert list(added["examples"]) == ["the slice's training tumours", "real arm",
                                       "diffusion arm", "inpaint arm", "gan arm",
                                       "augment arm"]  # fmt: skip
    assert (added["n"].iloc[1:] == 4).all() and len(record["added"]) == 6
    assert added.loc[3, "with_mask"] == 1.0  # every drawn tumour has its mask
    assert added["told_apart"].isna().all()  # 4 tumours per arm: too few to tell apart
    assert "told_apart" in record["added"][1]
    with Image.open(out / "added.png") as picture:  # a row per set of examples, SHOWN of each
        assert picture.size == (SHOWN * 256, 6 * 256)
    assert added.loc[1, "with_mask"] == 1.0  # the oracle's slices all hold a tumour
    for option, value, said in (
        ("--slice", "location=liver", "liver"),
        ("--arms", "baseline,prayer", "prayer"),
        ("--oversample", "0", "at least 1"),
        ("--detector-seeds", "0", "at least 1"),
        ("--jobs", "0", "at least 1"),
        ("--balance", "2", "[0, 1]"),
        ("--inpaint-shapes", "blobs", "blobs"),
        ("--inpaint-contrast", "bright", "bright"),
        ("--inpaint-margin", "-1", "at least 0"),
        ("--inpaint-placement", "anywhere", "anywhere"),
    ):
        bad = run_cli("errors", "remedy", "--data", builtin_dataset, "--out", tmp_path / "x",
                      option, value)  # fmt: skip
        assert_one_line_error(bad, option, said)
    assert not (tmp_path / "x").exists()
