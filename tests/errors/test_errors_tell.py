"""The classifier two-sample test of an arm's added tumours, on sets with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from medgen.errors.tell import FOLDS, PATCH_PX, patch_features, told_apart, tumour_patches


def lesions(
    n: int, seed: int, *, brighter: float = 0.0, speckle: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """n noisy 48 x 48 tissue slices, each with a faint 4 x 4 lesion at a random place; the
    lesion `brighter` than real ones, or with `speckle` extra noise on it."""
    rng = np.random.default_rng(seed)
    images = 0.5 + rng.normal(0.0, 0.02, (n, 48, 48)).astype(np.float32)
    masks = np.zeros((n, 48, 48), dtype=bool)
    for i, (row, col) in enumerate(rng.integers(4, 40, (n, 2))):
        masks[i, row : row + 4, col : col + 4] = True
        images[i][masks[i]] += -0.03 + brighter + rng.normal(0.0, speckle + 1e-9, 16)
    return images, masks


def test_sets_drawn_alike_cannot_be_told_apart() -> None:
    assert told_apart(lesions(150, 0), lesions(150, 1)) == pytest.approx(0.5, abs=0.1)


def test_chance_stays_one_half_when_one_set_is_much_larger() -> None:
    # Unbalanced, always saying "added" would score 0.91; the larger set is subsampled.
    assert told_apart(lesions(30, 0), lesions(300, 1)) == pytest.approx(0.5, abs=0.15)


@pytest.mark.parametrize("tell", [{"brighter": 0.03}, {"speckle": 0.05}])
def test_a_tell_in_brightness_or_grain_is_found(tell: dict[str, float]) -> None:
    assert told_apart(lesions(150, 0), lesions(150, 1, **tell)) > 0.85


def test_examples_without_a_tumour_are_left_out_and_too_few_give_nan() -> None:
    images, masks = lesions(20, 0)
    masks[FOLDS - 1 :] = False  # only FOLDS - 1 tumours left in the added set
    assert np.isnan(told_apart(lesions(20, 1), (images, masks)))
    assert not np.isnan(told_apart(lesions(20, 1), lesions(FOLDS, 2)))
    none = np.zeros((0, 48, 48), np.float32), np.zeros((0, 48, 48), bool)  # a slice with no tumour
    assert np.isnan(told_apart(none, lesions(20, 1))) and np.isnan(told_apart(lesions(20, 1), none))
    empty = np.zeros((0, PATCH_PX, PATCH_PX), np.float32)
    assert patch_features(empty).shape == (0, 2 * PATCH_PX**2)


def test_patches_are_centred_on_the_tumour_and_zero_past_the_edge() -> None:
    image = np.arange(48 * 48, dtype=np.float32).reshape(48, 48)
    mask = np.zeros((48, 48), dtype=bool)
    mask[0:3, 0:3] = True  # centre of mass (1, 1), in the corner
    patch = tumour_patches(image[None], mask[None])[0]
    half = PATCH_PX // 2
    assert patch[half, half] == image[1, 1]
    assert (patch[: half - 1] == 0).all() and (patch[:, : half - 1] == 0).all()
    assert np.array_equal(patch[half - 1 :, half - 1 :], image[: half + 1, : half + 1])


def test_one_part_alone_says_where_the_tell_lies() -> None:
    real, speckled = lesions(150, 0), lesions(150, 1, speckle=0.05)
    assert told_apart(real, speckled, parts=["detail"]) > 0.85  # grain: in the fine detail
    real, brighter = lesions(150, 0), lesions(150, 1, brighter=0.03)
    assert told_apart(real, brighter, parts=["intensity"]) > 0.85
    assert told_apart(real, brighter, parts=["detail"]) < 0.65  # brightness leaves no grain
    with pytest.raises(ValueError, match="colour"):
        patch_features(np.zeros((2, PATCH_PX, PATCH_PX), np.float32), ["colour"])
