"""The inpaint arm's variants (variants.py, placement.py) and their runner (run_variants.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import variants
from placement import SEARCH_PX, anatomical_shift, placed_on_bases, shifted
from scipy import ndimage
from variants import (
    CONTRASTS,
    MAX_CONTRAST_GAIN,
    VARIANTS,
    Gauge,
    at_contrast,
    borrowed_shapes,
    inpainted_variant,
    lesion_depths,
    ring_contrasts,
)

from medgen.data.store import open_dataset
from medgen.errors.remedy.arms import inpainted_examples
from medgen.errors.remedy.experiment import chosen_arms
from medgen.errors.remedy.plan import RemedyPlan
from medgen.errors.remedy.slices import slice_train_ids, slice_tumours
from medgen.exceptions import SettingError

RUNNER = Path(__file__).resolve().parent / "run_variants.py"
CEREBELLUM = {"location": "cerebellum"}  # a slice with training tumours in the small dataset


def test_with_every_default_the_variant_is_the_library_arm(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    for plan in (RemedyPlan(CEREBELLUM, 4, seed=1), RemedyPlan(CEREBELLUM, 3, 2, oversample=3)):
        ours = inpainted_variant(store, plan, joint_runs["diffusion"])
        theirs = inpainted_examples(store, plan, joint_runs["diffusion"])
        for part, a, b in zip(ours._fields, ours, theirs, strict=True):
            assert np.array_equal(a, b), part


def test_every_variant_is_a_diffusion_arm_from_the_slice_that_adds_n(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    chosen = chosen_arms(["inpaint-matched-placement", "baseline", "inpaint"], VARIANTS)
    assert list(chosen) == ["baseline", "inpaint", "inpaint-matched-placement"]
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 3, seed=1)
    for name, arm in VARIANTS.items():
        assert arm.generator == "diffusion" and arm.from_slice, name
        added = arm.make(store, plan, joint_runs["diffusion"])
        assert added is not None and added.images.shape == added.masks.shape == (3, 64, 64)
        assert added.masks.any(axis=(1, 2)).all() and len(added.kinds) == len(added.sources) == 3


@pytest.mark.parametrize(
    ("option", "value"),
    [("shapes", "blobs"), ("contrast", "bright"), ("margin", -1), ("placement", "anywhere")],
)
def test_the_variant_refuses_unknown_options_naming_them(
    builtin_dataset: Path, option: str, value: Any
) -> None:
    store = open_dataset(builtin_dataset)
    with pytest.raises(SettingError, match=str(value)) as caught:
        inpainted_variant(store, RemedyPlan(CEREBELLUM, 2), Path("run"), **{option: value})
    assert caught.value.setting == option


def test_the_variant_redraws_as_far_around_each_mask_as_its_margin(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 4, seed=1)
    narrow, masks, _, _ = inpainted_variant(store, plan, joint_runs["diffusion"], margin=2)
    wide, same, _, _ = inpainted_variant(store, plan, joint_runs["diffusion"], margin=5)
    assert np.array_equal(same, masks)  # the same masks and bases: only the margin moves
    square = np.ones((3, 3), bool)  # inpainting's dilation is a square one
    for a, b, m in zip(narrow, wide, masks, strict=True):
        within2 = ndimage.binary_dilation(m, square, iterations=2)
        within5 = ndimage.binary_dilation(m, square, iterations=5)
        assert np.array_equal(a[~within5], b[~within5])  # both the base's own out there
        ring = within5 & ~within2  # the base's in the narrow one, the model's in the wide one
        assert (a[ring] != b[ring]).mean() > 0.9


def test_the_variant_matched_places_its_masks_on_their_anatomy_in_each_base(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 4, seed=1)
    copied = inpainted_variant(store, plan, joint_runs["diffusion"]).masks
    matched = inpainted_variant(store, plan, joint_runs["diffusion"], placement="matched").masks
    assert matched.any(axis=(1, 2)).all()
    shifts = np.array(
        [
            np.subtract(ndimage.center_of_mass(b), ndimage.center_of_mass(a))
            for a, b in zip(copied, matched, strict=True)
        ]
    )
    assert (np.abs(shifts) <= SEARCH_PX + 1).all()  # a local move (+1: the brain's edge clips)
    assert (np.abs(shifts) > 0.5).any()  # real brains differ: some masks move to their anatomy


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
    for k in np.flatnonzero(out.any(axis=(1, 2))):
        assert (cropped(out[k]).shape, cropped(out[k]).tobytes()) in known_shapes
        gap = np.subtract(ndimage.center_of_mass(out[k]), ndimage.center_of_mass(masks[k]))
        assert np.abs(gap).max() <= 0.5 + 1e-9  # a shift by whole pixels
    assert len({o.tobytes() for o in out}) > 20  # many shapes, not one
    assert np.array_equal(out, borrowed_shapes(store, masks, seed=0))


def test_the_variant_draws_under_borrowed_shapes(
    joint_runs: dict[str, Path], builtin_dataset: Path
) -> None:
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 4, seed=1)
    masks = inpainted_variant(store, plan, joint_runs["diffusion"], shapes="train").masks
    own = inpainted_variant(store, plan, joint_runs["diffusion"]).masks
    assert masks.any(axis=(1, 2)).all() and not np.array_equal(masks, own)
    ids = slice_train_ids(store, plan.slice)
    slice_masks = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    slice_centres = np.array([ndimage.center_of_mass(m) for m in slice_masks])
    for m in masks:  # near one of the slice's tumours (the affine moves a few pixels)
        assert np.linalg.norm(slice_centres - ndimage.center_of_mass(m), axis=1).min() < 8


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


@pytest.mark.parametrize("contrast", ["slice", "depth"])
def test_the_variant_can_draw_at_the_slices_own_contrasts(
    monkeypatch: pytest.MonkeyPatch, builtin_dataset: Path, contrast: str
) -> None:
    seen = []

    def bright_lesions(run, bases, masks, conditions, **options):  # a known drawing
        around = np.stack([ndimage.binary_dilation(m, iterations=2) for m in masks])
        seen.append(bases)
        return np.clip(bases + 0.02 * around + 0.1 * masks, 0, 1).astype(np.float32)

    monkeypatch.setattr(variants, "inpaint_with_masks", bright_lesions)
    monkeypatch.setattr(variants, "joint_condition_names", lambda run: ("location",))
    gauge: Gauge | None = CONTRASTS[contrast]
    assert gauge is not None
    store = open_dataset(builtin_dataset)
    plan = RemedyPlan(CEREBELLUM, 12, seed=1)
    drawn, masks, _, _ = inpainted_variant(store, plan, Path("run"))
    images, own, _, _ = inpainted_variant(store, plan, Path("run"), contrast=contrast)
    assert np.array_equal(own, masks)  # the same masks and bases; only the depth moves
    reference = gauge(*slice_tumours(store, plan.slice)[:2])
    picks = np.random.default_rng(plan.seed).integers(0, len(reference), plan.n)  # as augmented
    wanted, got = reference[picks], gauge(images, masks)
    base, made = gauge(seen[0], masks), gauge(drawn, masks)
    bright = wanted > base  # brighter than the base: scaled
    clipped = np.array(
        [
            (x[ndimage.binary_dilation(m, iterations=2)] >= 1).any()
            for x, m in zip(images, masks, strict=True)
        ]
    )
    capped = wanted - base > MAX_CONTRAST_GAIN * (made - base)  # deepened at most so far
    exact = bright & ~clipped & ~capped  # (a lesion scaled past white stops there)
    assert exact.sum() >= 5 and bright.sum() < plan.n
    np.testing.assert_allclose(got[exact], wanted[exact], atol=1e-4)
    assert np.array_equal(images[~bright], drawn[~bright])  # dark targets: left as drawn


# placement.py: a mask carried onto the same anatomy in another slice


def a_tumour_slice(builtin_dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real slice of the built-in data with a tumour, and its mask."""
    store = open_dataset(builtin_dataset)
    train = store.split("train")
    row = int(train.index[(train["label"] == 1).to_numpy()][0])
    image = np.asarray(store.array("images")[row], dtype=np.float32)
    return image, np.asarray(store.array("tumour_mask")[row]).astype(bool)


@pytest.mark.parametrize("shift", [(2, -3), (0, 0), (-4, 1)])
def test_the_shift_found_is_the_one_that_moved_the_anatomy(
    builtin_dataset: Path, shift: tuple[int, int]
) -> None:
    image, mask = a_tumour_slice(builtin_dataset)
    clean = image.copy()
    clean[mask] = np.median(image[image > 0.05])  # the base has no tumour where the mask was
    base = np.roll(clean, shift, axis=(0, 1))
    found, score = anatomical_shift(image, mask, base)
    assert found == shift
    assert score > 0.95  # the same anatomy: near-perfect correlation once the lesion is left out


def test_a_shift_past_the_search_is_not_reached_and_scores_lower(builtin_dataset: Path) -> None:
    image, mask = a_tumour_slice(builtin_dataset)
    base = np.roll(image, (SEARCH_PX + 3, 0), axis=(0, 1))
    (rows, cols), score = anatomical_shift(image, mask, base)
    assert abs(rows) <= SEARCH_PX and abs(cols) <= SEARCH_PX
    assert score < anatomical_shift(image, mask, np.roll(image, (1, 0), axis=(0, 1)))[1]


def test_an_empty_mask_or_a_flat_slice_stays_put() -> None:
    flat, mask = np.full((32, 32), 0.5, np.float32), np.zeros((32, 32), bool)
    assert anatomical_shift(flat, mask, flat)[0] == (0, 0)
    mask[10:13, 10:13] = True
    (shift, score) = anatomical_shift(flat, mask, flat)
    assert shift == (0, 0) and np.isnan(score)


def test_shifted_moves_by_whole_pixels_and_drops_what_leaves() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[3, 4] = True
    moved = shifted(mask, (1, 1))
    assert moved[1, 1] and moved[4, 5] and moved.sum() == 2
    gone = shifted(mask, (-1, 1))  # (0, 0) leaves the image, (3, 4) goes to (2, 5)
    assert gone[2, 5] and gone.sum() == 1


def test_placed_masks_sit_at_least_as_well_as_copied_ones(builtin_dataset: Path) -> None:
    image, mask = a_tumour_slice(builtin_dataset)
    bases = np.stack([np.roll(image, s, axis=(0, 1)) for s in ((1, 2), (0, 0), (-3, -1))])
    placed, scores = placed_on_bases(np.stack([image] * 3), np.stack([mask] * 3), bases)
    for moved, s in zip(placed, ((1, 2), (0, 0), (-3, -1)), strict=True):
        assert np.array_equal(moved, shifted(mask, s))
    assert (scores[:, 1] >= scores[:, 0] - 1e-9).all()  # the search includes no shift
    assert scores[1, 0] == pytest.approx(scores[1, 1]) and scores[0, 1] > scores[0, 0]


# run_variants.py: the remedy with the variants, end to end


def run_variants(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(RUNNER), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def test_the_runner_runs_variants_beside_the_librarys_arms(
    joint_runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "remedy"
    done = run_variants(
        "--data", builtin_dataset, "--out", out, "--diffusion", joint_runs["diffusion"],
        "--arms", "inpaint-depth-contrast,baseline", "--slice", "location=cerebellum",
        "--n", "3", "--steps", "2", "--threads", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "remedy.csv")
    assert list(table["arm"].unique()) == ["baseline", "inpaint-depth-contrast"]
    assert set(table["set"]) == {"test", "dev"}
    assert (table.loc[table["arm"] != "baseline", "added"] == 3).all()
    with np.load(out / "added" / "inpaint-depth-contrast.npz") as added:
        assert added["images"].shape == (3, 64, 64)


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--arms", "baseline,prayer", "--arms: unknown arm 'prayer'"),
        ("--arms", "inpaint-margin-6", "--diffusion"),
        ("--slice", "location=liver", "--slice: no slice has location=liver"),
        ("--n", "0", "--n: must be at least 1"),
        ("--jobs", "0", "--jobs: must be at least 1"),
        ("--steps", "many", "--steps"),
    ],
)
def test_the_runner_refuses_bad_input_in_one_line(
    builtin_dataset: Path, tmp_path: Path, option: str, value: str, said: str
) -> None:
    done = run_variants("--data", builtin_dataset, "--out", tmp_path / "x", option, value)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("run_variants: error: ") and said in lines[0], lines[0]
    assert not (tmp_path / "x").exists()
