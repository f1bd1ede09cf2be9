"""Sharpness relative to real slices: blur lowers it, equal sets sit at 1, intervals cover."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medgen.compare.summary import sharpness_claim, sharpness_gap
from medgen.data.store import open_dataset
from medgen.evaluate.sharpness import image_sharpness, relative_sharpness


def blurred(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (N, H, W) images."""
    radius = int(3 * sigma) + 1
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    t = torch.from_numpy(np.array(images))[:, None]
    t = F.conv2d(F.pad(t, (radius, radius, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    t = F.conv2d(F.pad(t, (0, 0, radius, radius), mode="replicate"), g.view(1, 1, -1, 1))
    return t[:, 0].numpy()


def test_blur_lowers_sharpness_and_equal_sets_sit_at_one(builtin_dataset: Path) -> None:
    images = np.asarray(open_dataset(builtin_dataset).array("images")[:200], dtype=np.float32)
    real, other = images[:100], images[100:]
    same = relative_sharpness(image_sharpness(other), image_sharpness(real))
    assert same.low <= 1.0 <= same.high
    soft = relative_sharpness(image_sharpness(blurred(other, 1.5)), image_sharpness(real))
    assert soft.high < 0.8 and soft.low <= soft.value <= soft.high
    softer = relative_sharpness(image_sharpness(blurred(other, 3.0)), image_sharpness(real))
    assert softer.value < soft.value


def test_the_interval_covers_the_true_ratio_on_a_simulation() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    trials = 200
    for i in range(trials):  # both sets from one distribution: the true ratio is 1
        real = rng.lognormal(0.0, 0.4, 150)
        fake = rng.lognormal(0.0, 0.4, 150)
        found = relative_sharpness(fake, real, n_boot=400, seed=i)
        covered += found.low <= 1.0 <= found.high
        assert found.low <= found.value <= found.high
    assert covered / trials >= 0.9


def test_an_image_without_a_head_is_left_out() -> None:
    images = np.zeros((3, 16, 16), dtype=np.float32)
    images[1:, 4:12, 4:12] = 0.8
    values = image_sharpness(images)
    assert np.isnan(values[0]) and np.all(np.isfinite(values[1:]))
    assert relative_sharpness(values, values).value == pytest.approx(1.0)


def row(run: str, family: str, value: float, se: float) -> dict[str, object]:
    return {"run": run, "family": family, "sharpness": value, "sharpness_se": se}


def test_the_vae_blur_claim_reads_the_interval_of_each_difference() -> None:
    diffusion = row("ldm", "diffusion", 0.95, 0.02)
    clear = sharpness_claim([row("vae", "vae", 0.5, 0.02), diffusion])
    assert clear is not None and "confirm it" in clear
    close = sharpness_claim([row("vae", "vae", 0.9, 0.02), diffusion])
    assert close is not None and "unclear" in close  # 0.05 apart, se of the gap 0.028
    above = sharpness_claim([row("vae", "vae", 1.2, 0.02), diffusion])
    assert above is not None and "contradict" in above
    assert sharpness_claim([diffusion]) is None
    # 0.06 apart with se 0.02 each: the separate 95% intervals (+-0.039) overlap, the
    # interval of the difference (+-0.055) does not: a two-sample comparison calls it clear
    apart = sharpness_claim([row("vae", "vae", 0.89, 0.02), diffusion])
    assert apart is not None and "confirm it" in apart
    assert math.isnan(sharpness_gap(row("vae", "vae", 0.5, math.nan), diffusion).high)


def test_the_standard_error_of_relative_sharpness_matches_its_spread() -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(1.0, 0.2, 400)
    draws = [relative_sharpness(rng.normal(0.8, 0.2, 400), real).value for _ in range(300)]
    se = relative_sharpness(rng.normal(0.8, 0.2, 400), real).se
    assert se == pytest.approx(0.2 / 20 / real.mean(), rel=0.1)
    assert np.std(draws) == pytest.approx(se, rel=0.2)  # the real set is fixed, as in a table


def test_noise_raises_sharpness_above_one(builtin_dataset: Path) -> None:
    images = np.asarray(open_dataset(builtin_dataset).array("images")[:200], dtype=np.float32)
    real, other = images[:100], images[100:]
    noise = np.random.default_rng(0).normal(0.0, 0.08, other.shape).astype(np.float32)
    noisy = relative_sharpness(image_sharpness(np.clip(other + noise, 0, 1)), image_sharpness(real))
    assert noisy.low > 1.0  # a head mask read from the noisy pixels put this below 1
