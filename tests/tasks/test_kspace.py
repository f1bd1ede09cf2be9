"""k-space: the centred FFT against numpy, round trip and Parseval, Hermitian symmetry of real
images, masks hitting their acceleration, and exact hard data consistency."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medgen.tasks import (
    MASKS,
    acceleration,
    cartesian_mask,
    data_consistency,
    equispaced_mask,
    fft2c,
    ifft2c,
    kspace_residual,
    mirror,
    undersample,
    zero_filled,
)

SHAPES = [(8, 8), (9, 7), (16, 12)]


def _image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", SHAPES)
def test_fft2c_matches_numpy_and_round_trips(shape: tuple[int, int]) -> None:
    x = _image(2, 1, *shape)
    k = fft2c(x)
    ref = np.fft.fftshift(
        np.fft.fft2(np.fft.ifftshift(x.numpy(), axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
    )
    np.testing.assert_allclose(k.numpy(), ref, atol=1e-12)
    torch.testing.assert_close(ifft2c(k).real, x)
    assert float(ifft2c(k).imag.abs().max()) < 1e-12
    # Parseval: the orthonormal transform keeps the energy
    assert float(k.abs().square().sum()) == pytest.approx(float(x.square().sum()), rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_dc_at_the_centre_and_hermitian_symmetry(shape: tuple[int, int]) -> None:
    h, w = shape
    x = _image(h, w)
    k = fft2c(x)
    assert float(k[h // 2, w // 2].real) == pytest.approx(float(x.sum()) / (h * w) ** 0.5)
    torch.testing.assert_close(k, torch.conj(mirror(k)))


@pytest.mark.parametrize("name", list(MASKS))
@pytest.mark.parametrize("accel", [2, 4, 8])
def test_masks_hit_the_acceleration(name: str, accel: int) -> None:
    size = (64, 48)
    mask = MASKS[name](size, accel, generator=torch.Generator().manual_seed(accel))
    assert mask.shape == size and mask.dtype == torch.bool
    lines = name in ("cartesian", "equispaced")  # whole columns, else single points
    n, per_sample = (size[1], size[0]) if lines else (size[0] * size[1], 1)
    assert int(mask.sum()) == round(n / accel) * per_sample  # the exact count, every draw
    assert acceleration(mask) == pytest.approx(accel, rel=0.05)
    assert bool(mask[size[0] // 2, size[1] // 2])  # the DC sample is always measured


@pytest.mark.parametrize("accel, fraction", [(4, 0.08), (8, 0.04)])
def test_cartesian_centre_is_fully_sampled_like_fastmri(accel: int, fraction: float) -> None:
    w = 320  # a fastMRI knee width
    mask = cartesian_mask((4, w), accel, generator=torch.Generator().manual_seed(0))
    assert bool(mask.all(0).eq(mask.any(0)).all())  # whole phase-encode lines
    centre = round(w * fraction)
    start = w // 2 - centre // 2
    assert bool(mask[0, start : start + centre].all())
    other = cartesian_mask((4, w), accel, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(mask, other)  # the outer lines are random


def test_equispaced_lines_are_evenly_spread() -> None:
    mask = equispaced_mask((8, 128), 4, center_fraction=0.0625)
    gaps = torch.diff(mask[0].nonzero().flatten())
    assert int(gaps.max()) <= 2 * round(float(gaps.float().median()))


def test_variable_density_samples_low_frequencies_more() -> None:
    mask = MASKS["variable_density"](64, 4, generator=torch.Generator().manual_seed(0))
    inner, outer = mask[16:48, 16:48], mask.clone()
    outer[16:48, 16:48] = False
    assert inner.float().mean() > 2 * outer.sum() / (64 * 64 - 32 * 32)


@pytest.mark.parametrize("accel", [1.5, 9, 16])
def test_accel_outside_2_to_8_is_refused(accel: float) -> None:
    for fn in MASKS.values():
        with pytest.raises(ValueError, match=rf"accel = {accel}.*\[2, 8\]"):
            fn(32, accel)


def test_too_large_centre_is_refused() -> None:
    with pytest.raises(ValueError, match="center_fraction"):
        cartesian_mask(32, 8, center_fraction=0.5)


@pytest.mark.parametrize("real", [False, True])
def test_data_consistency_is_exact_on_the_mask_and_keeps_the_rest(real: bool) -> None:
    truth = _image(3, 1, 16, 16, seed=1)
    mask = cartesian_mask(16, 4, generator=torch.Generator().manual_seed(2))
    measured = undersample(truth, mask)
    x = _image(3, 1, 16, 16, seed=3)  # an estimate that ignores the data
    out = data_consistency(x, measured, mask, real=real)
    assert out.is_complex() != real
    assert float(kspace_residual(out, measured, mask)) < 1e-12
    kept = ~mask if not real else ~(mask | mirror(mask))
    torch.testing.assert_close(fft2c(out)[..., kept], fft2c(x)[..., kept])
    # a projection: applying it twice changes nothing
    torch.testing.assert_close(data_consistency(out, measured, mask, real=real), out)


def test_real_projection_stays_real_where_taking_the_real_part_would_not() -> None:
    truth = _image(1, 1, 16, 16, seed=4)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:, [3, 8, 11]] = True  # column 3's mirror (13) is not measured
    measured = undersample(truth, mask)
    x = _image(1, 1, 16, 16, seed=5)
    naive = data_consistency(x, measured, mask).real
    assert float(kspace_residual(naive, measured, mask)) > 1e-3
    real = data_consistency(x, measured, mask, real=True)
    assert float(kspace_residual(real, measured, mask)) < 1e-12


def test_zero_filled_is_the_image_when_fully_sampled() -> None:
    truth = _image(1, 1, 8, 8)
    full = torch.ones(8, 8, dtype=torch.bool)
    torch.testing.assert_close(zero_filled(undersample(truth, full), full).real, truth)
