"""What added tumours look like: grain, likeness filter and audit row, against known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medgen.errors.remedy.lesions import closest_to_reference, describe_examples, lesion_grain
from medgen.tasks.augment import with_base_grain


def test_oversampled_candidates_are_kept_by_likeness_to_the_slice() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, (20, 3))  # the slice's own tumours
    near = rng.normal(0.0, 0.5, (5, 3))
    far = rng.normal(8.0, 0.5, (5, 3))
    no_tumour = np.full((2, 3), np.nan)
    candidates = np.concatenate([far[:3], near[:2], no_tumour, far[3:], near[2:]])
    near_rows = {3, 4, 9, 10, 11}
    order = rng.integers(0, 20, 10)
    assert set(closest_to_reference(candidates, reference, order[:5])) == near_rows
    kept = closest_to_reference(candidates, reference, order)
    assert len(set(kept)) == 10 and not {5, 6} & set(kept)  # a far tumour before no tumour
    with pytest.raises(ValueError, match="12 candidates"):
        closest_to_reference(candidates, reference, np.zeros(13, dtype=int))


def test_each_reference_in_turn_takes_its_nearest_free_candidate() -> None:
    reference = np.array([[0.0], [10.0]])
    candidates = np.array([[9.0], [1.0], [2.0], [11.0]])
    assert list(closest_to_reference(candidates, reference, np.array([0, 0, 1]))) == [1, 2, 0]
    assert list(closest_to_reference(candidates, reference, np.array([1, 0, 1]))) == [0, 1, 3]


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
