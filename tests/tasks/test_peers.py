"""The classical peers run, beat their input on tiny images, and tune to the best grid value;
the task metrics agree with scikit-image where they overlap."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from medgen.tasks import cartesian_mask, undersample
from medgen.tasks.metrics import best_threshold, dice, image_scores, masked_psnr, mean_dice
from medgen.tasks.peers import DENOISE_PEERS, RECONSTRUCT_PEERS, Peer, run_calls, tune

SIZE = 32


def phantom() -> np.ndarray:
    """A piecewise-smooth disc with an inner ellipse, in [0, 1], (SIZE, SIZE)."""
    r, c = np.mgrid[:SIZE, :SIZE] - SIZE / 2
    image = 0.6 * (r**2 + c**2 < 12**2) + 0.3 * ((r / 6) ** 2 + (c / 3) ** 2 < 1)
    return image.astype(np.float64)


@pytest.mark.parametrize("name", list(DENOISE_PEERS))
def test_denoise_peers_beat_the_noisy_input(name: str) -> None:
    clean = phantom()
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape)
    peer = DENOISE_PEERS[name]
    out = peer.fn(noisy, 0.1, peer.grid[len(peer.grid) // 2])
    assert out.shape == clean.shape
    mask = clean > 0
    assert masked_psnr(clean, np.clip(out, 0, 1), mask) > masked_psnr(clean, noisy, mask) + 2


@pytest.mark.parametrize("name", ["cs_tv", "cs_wavelet"])
def test_compressed_sensing_beats_zero_filling(name: str) -> None:
    clean = phantom()
    mask = cartesian_mask(SIZE, 4, generator=torch.Generator().manual_seed(0))
    kspace = undersample(torch.from_numpy(clean), mask).numpy()
    zf = RECONSTRUCT_PEERS["zero_filled"].fn(kspace, mask.numpy(), 0.0)
    cs = RECONSTRUCT_PEERS[name].fn(kspace, mask.numpy(), 1e-3)
    full = np.ones_like(clean, bool)
    assert masked_psnr(clean, np.clip(cs, 0, 1), full) > masked_psnr(clean, zf, full)


def test_zero_filled_is_exact_with_full_sampling() -> None:
    clean = phantom()
    kspace = undersample(torch.from_numpy(clean), torch.ones(SIZE, SIZE, dtype=torch.bool))
    out = RECONSTRUCT_PEERS["zero_filled"].fn(kspace.numpy(), None, 0.0)
    np.testing.assert_allclose(out, clean, atol=1e-10)


def test_tune_keeps_the_grid_value_with_the_best_dev_psnr() -> None:
    clean = [phantom(), phantom()[::-1].copy()]
    rng = np.random.default_rng(1)
    noisy = [c + 0.1 * rng.standard_normal(c.shape) for c in clean]
    masks = [c > 0 for c in clean]
    peer = DENOISE_PEERS["tv_chambolle"]
    tuned = tune(peer, noisy, clean, masks, 0.1)
    assert set(tuned.dev_psnr) == set(peer.grid)
    assert tuned.dev_psnr[tuned.strength] == max(tuned.dev_psnr.values())
    # a knob that only hurts beyond 0 is tuned to 0
    scaled = Peer(lambda x, level, s: x * (1 - s), (0.0, 0.5), "shrink")
    assert tune(scaled, noisy, clean, masks, 0.1).strength == 0.0


def test_metrics_match_scikit_image_and_definitions() -> None:
    clean = phantom()
    noisy = np.clip(clean + 0.05 * np.random.default_rng(2).standard_normal(clean.shape), 0, 1)
    full = np.ones_like(clean, bool)
    scores = image_scores(clean, noisy, full)
    assert scores.psnr == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1.0))
    assert scores.psnr_brain == pytest.approx(scores.psnr)
    assert scores.ssim_brain == pytest.approx(scores.ssim)
    assert image_scores(clean, clean, clean > 0).ssim_brain == pytest.approx(1.0)
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert dice(a, b) == pytest.approx(0.5) and dice(a, a) == 1.0 and dice(~full, ~full) == 1.0


def test_best_threshold_recovers_a_planted_anomaly() -> None:
    truth = np.zeros((3, 16, 16), bool)
    truth[:, 4:8, 4:8] = True
    rng = np.random.default_rng(3)
    maps = 0.1 * rng.random(truth.shape) + 0.5 * truth
    threshold = best_threshold(maps, truth)
    assert 0.05 < threshold < 0.5
    assert mean_dice(maps, truth, threshold) > 0.95


def test_best_threshold_finds_a_small_lesion_to_the_pixel() -> None:
    # 16 lesion pixels in each 64 x 64 map (0.4%), all above every background value: the one
    # right threshold sits at the 99.6th percentile, between two candidates of an even grid
    truth = np.zeros((10, 64, 64), bool)
    truth[:, 30:34, 30:34] = True
    rng = np.random.default_rng(5)
    maps = np.where(truth, 1.0 + 0.1 * rng.random(truth.shape), rng.random(truth.shape))
    threshold = best_threshold(maps, truth)
    assert mean_dice(maps, truth, threshold) > 0.9


def test_peers_in_several_processes_give_the_same_outputs_and_per_call_seconds() -> None:
    rng = np.random.default_rng(2)
    noisy = [phantom() + 0.1 * rng.standard_normal((SIZE, SIZE)) for _ in range(3)]
    peer = DENOISE_PEERS["wavelet"]
    calls = [(peer.fn, x, 0.1, 1.0) for x in noisy]
    alone, together = run_calls(calls, jobs=1), run_calls(calls, jobs=2)
    for (a, sa), (b, sb) in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
        assert sa > 0 and sb > 0  # each call's own time, not the run's
    clean = [phantom()] * 3
    masks = [c > 0 for c in clean]
    assert tune(peer, noisy, clean, masks, 0.1, jobs=2) == tune(peer, noisy, clean, masks, 0.1)
