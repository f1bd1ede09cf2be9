"""Placing a tumour's mask on the same anatomy in another slice (medgen.errors.placement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medgen.data.store import open_dataset
from medgen.errors.placement import SEARCH_PX, anatomical_shift, placed_on_bases, shifted


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
