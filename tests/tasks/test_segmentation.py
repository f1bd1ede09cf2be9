"""From anomaly maps to lesion masks: hole filling, the most anomalous region, the dev choice."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from medgen.exceptions import SettingError
from medgen.tasks.anomaly_split import AnomalySettings
from medgen.tasks.metrics import dice
from medgen.tasks.segmentation import (
    Segmentation,
    choose_segmentation,
    filled,
    most_anomalous_region,
)

SIZE = 32


def _radius(centre: tuple[int, int] = (16, 16)) -> NDArray[np.float64]:
    rows, cols = np.indices((SIZE, SIZE))
    return np.hypot(rows - centre[0], cols - centre[1])


def _ring_lesion_map() -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A ring-enhancing lesion's residual: high on the rim (r 6-8) and the core (r < 3), zero on
    the crossing between them (r 3-6) where the lesion's intensity passes the tissue's."""
    r = _radius()
    truth = r < 8
    amap = np.where((r < 3) | ((r >= 6) & (r < 8)), 1.0, 0.0)
    return amap, truth


def test_filling_makes_a_ring_enhancing_lesion_one_region() -> None:
    amap, truth = _ring_lesion_map()
    assert dice(amap > 0.5, truth) < 0.8  # the crossing between rim and core is missed
    assert dice(filled(amap, 0.5), truth) == 1.0


def test_the_most_anomalous_region_wins_over_a_larger_but_fainter_one() -> None:
    amap = np.zeros((SIZE, SIZE))
    amap[2:6, 2:6] = 5.0  # 16 pixels, mass 80: the lesion
    amap[20:30, 20:30] = 0.6  # 100 pixels, mass 60: a wide faint false alarm
    amap[14, 2] = 9.0  # one bright speck
    kept = most_anomalous_region(amap, 0.5)
    assert kept.sum() == 16 and kept[2:6, 2:6].all()
    # one region (or none) is left as it is
    lone = np.zeros((SIZE, SIZE))
    lone[3:5, 3:5] = 1.0
    assert (most_anomalous_region(lone, 0.5) == (lone > 0.5)).all()
    assert not most_anomalous_region(np.zeros((SIZE, SIZE)), 0.5).any()


def _scattered_alarms(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """n slices: a lesion of 1.0 and, elsewhere, specks of 0.9 to 1.1 that no threshold can
    tell from it pixel by pixel."""
    rng = np.random.default_rng(seed)
    maps, truths = np.zeros((n, SIZE, SIZE)), np.zeros((n, SIZE, SIZE), bool)
    for i in range(n):
        centre = tuple(int(v) for v in rng.integers(8, 24, size=2))
        truths[i] = _radius(centre) < 4
        specks = rng.random((SIZE, SIZE)) < 0.05
        maps[i] = np.where(truths[i], 1.0, np.where(specks, rng.uniform(0.9, 1.1, (SIZE, SIZE)), 0))
    return maps, truths


def test_dev_picks_the_clean_up_that_the_lesions_need() -> None:
    ring, ring_truth = _ring_lesion_map()
    rings = choose_segmentation(np.stack([ring] * 4), np.stack([ring_truth] * 4))
    assert rings.cleanup == "fill" and rings.dev_dice == 1.0
    maps, truths = _scattered_alarms(8, seed=1)
    plain = choose_segmentation(maps, truths, "none")
    scattered = choose_segmentation(maps, truths)
    assert scattered.cleanup == "region" and scattered.dev_dice > plain.dev_dice + 0.15
    assert scattered.dice(maps, truths) == pytest.approx(scattered.dev_dice)
    # a plain blob needs nothing: the tie goes to the simplest clean-up
    blob = np.stack([(_radius() < 5).astype(float)] * 3)
    assert choose_segmentation(blob, blob > 0).cleanup == "none"


def test_a_named_clean_up_is_kept_and_its_masks_are_the_segmenters() -> None:
    amap, truth = _ring_lesion_map()
    chosen = choose_segmentation(amap[None], truth[None], "none")
    assert chosen.cleanup == "none" and chosen.dev_dice < 1.0
    masks = Segmentation("fill", 0.5, 1.0).masks(amap[None])
    assert masks.shape == (1, SIZE, SIZE) and (masks[0] == truth).all()


def test_an_unknown_clean_up_is_one_clear_error() -> None:
    assert AnomalySettings().cleanup == "auto"
    with pytest.raises(SettingError, match="cleanup"):
        AnomalySettings(cleanup="dilate")
