"""The lesion masks' smoothing: maps at any smoothing from the stored residuals, chosen on dev;
the healthy prior's training levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from medgen.exceptions import SettingError
from medgen.models.diffusion import DiffusionConfig
from medgen.tasks.adapter import SIGNED_PER_UNIT
from medgen.tasks.anomaly import anomaly_map
from medgen.tasks.anomaly_maps import Residuals
from medgen.tasks.anomaly_split import (
    LEVELS,
    PRIOR_LEVELS,
    SEGMENT_BLURS,
    AnomalySettings,
    choose_masks,
)

SIZE = 24


def _square(n: int, side: int) -> NDArray[np.bool_]:
    """n slices, each with a side x side lesion at its own place."""
    truth = np.zeros((n, SIZE, SIZE), bool)
    for i in range(n):
        corner = 3 + 2 * i
        truth[i, corner : corner + side, corner : corner + side] = True
    return truth


def _brains(n: int) -> NDArray[np.float32]:
    return np.ones((n, SIZE, SIZE), np.float32)


def test_residual_maps_are_the_anomaly_maps_at_every_smoothing() -> None:
    g = torch.Generator().manual_seed(0)
    x, recon = (
        torch.rand((3, 1, SIZE, SIZE), generator=g),
        torch.rand((3, 1, SIZE, SIZE), generator=g),
    )
    brain = (torch.rand((3, 1, SIZE, SIZE), generator=g) > 0.3).float()
    found = Residuals((x - recon).abs()[:, 0].numpy(), brain[:, 0].numpy())
    for blur in (0.0, *SEGMENT_BLURS, 3.0):
        expected = anomaly_map(x, recon, blur, brain)[:, 0].numpy()
        np.testing.assert_allclose(found.maps(blur), expected, rtol=1e-6, atol=1e-7)


def test_a_clean_lesion_keeps_the_least_smoothing() -> None:
    truth = _square(4, 4)
    residuals = Residuals(truth.astype(np.float32), _brains(4))
    blur, chosen = choose_masks(residuals, truth, AnomalySettings(cleanup="none"))
    assert blur == min(SEGMENT_BLURS) and chosen.dev_dice == pytest.approx(1.0)


def test_a_speckled_lesion_is_cut_from_a_smoother_map() -> None:
    """One lesion pixel in nine carries its residual: from a map smoothed a little, no threshold
    tells the gaps inside the lesion from the pixels just outside it; more smoothing fills them."""
    truth = _square(4, 12)
    rows, cols = np.indices((SIZE, SIZE))
    specks = truth & ((rows - 1) % 3 == 0)[None] & ((cols - 1) % 3 == 0)[None]
    residuals = Residuals(specks.astype(np.float32), _brains(4))
    blur, chosen = choose_masks(residuals, truth, AnomalySettings(cleanup="none"))
    sharp = choose_masks(residuals, truth, AnomalySettings(cleanup="none", segment_blur=0.5))[1]
    assert sharp.dev_dice < 0.86
    assert blur == max(SEGMENT_BLURS) and chosen.dev_dice > sharp.dev_dice + 0.05


def test_a_given_smoothing_is_used_and_a_negative_one_is_refused() -> None:
    truth = _square(2, 4)
    residuals = Residuals(truth.astype(np.float32), _brains(2))
    blur, _ = choose_masks(residuals, truth, AnomalySettings(segment_blur=2.5))
    assert blur == 2.5
    with pytest.raises(SettingError, match="segment_blur"):
        AnomalySettings(segment_blur=-0.5)


def _share_in_queried_levels(p_mean: float, p_std: float) -> float:
    """Share of training levels ln sigma ~ N(p_mean, p_std^2) (model units) that fall where the
    anomaly methods query the prior: [min(LEVELS) / levels, max(LEVELS)] in [0, 1] units (the
    ensemble's lowest rung at the lowest top level, to the highest top level)."""
    lowest = min(LEVELS) / AnomalySettings().levels
    low, high = (math.log(SIGNED_PER_UNIT * s) for s in (lowest, max(LEVELS)))
    normal = torch.distributions.Normal(p_mean, p_std)
    return float(normal.cdf(torch.tensor(high)) - normal.cdf(torch.tensor(low)))


def test_the_healthy_prior_trains_where_anomaly_detection_queries_it() -> None:
    edm = DiffusionConfig()
    ours = _share_in_queried_levels(**PRIOR_LEVELS)
    assert ours == pytest.approx(0.88, abs=0.01)  # the figures PRIOR_LEVELS' comment gives
    assert _share_in_queried_levels(edm.p_mean, edm.p_std) == pytest.approx(0.65, abs=0.01)
    assert DiffusionConfig(**PRIOR_LEVELS).p_std == PRIOR_LEVELS["p_std"]  # valid fields
