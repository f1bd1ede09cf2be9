"""The adapters: a pixel-space DiffusionModel's denoiser in [0, 1] units is exactly the algebra
(D_signed(2x - 1, 2 sigma) + 1) / 2; latent models and other families are refused; a vector
denoiser works on images."""

from __future__ import annotations

import pytest
import torch

from medgen.analytic.mixture import GaussianMixture
from medgen.diffusion import karras_sigmas
from medgen.models import GAN, VAE, Conditioning, DiffusionConfig, DiffusionModel, GANConfig
from medgen.nets import UNetConfig
from medgen.tasks import (
    cartesian_mask,
    denoise,
    detect_anomalies,
    image_denoiser,
    kspace_residual,
    pixel_denoiser,
    posterior_mean,
    reconstruct,
    undersample,
)

SIZE = 8
TINY_UNET = UNetConfig(channels=(8, 16), attention_levels=(False, False), num_head_channels=8)


def _tiny_diffusion(**overrides: object) -> DiffusionModel:
    torch.manual_seed(0)
    config = DiffusionConfig(image_size=SIZE, unet=TINY_UNET, sigma_max=10.0, **overrides)  # type: ignore[arg-type]
    return DiffusionModel(config).eval()


def test_pixel_denoiser_is_the_unit_range_algebra() -> None:
    model = _tiny_diffusion()
    adapted = pixel_denoiser(model)
    assert adapted.scale == 2.0
    assert adapted.sigma_min == pytest.approx(0.001) and adapted.sigma_max == pytest.approx(5.0)
    x = torch.rand(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([0.01, 0.1, 0.5])
    out = adapted.denoiser(x, sigma)
    with torch.no_grad():
        expected = (model.denoiser(2 * x - 1, 2 * sigma) + 1) / 2
    assert out.shape == x.shape and out.dtype == x.dtype and not out.requires_grad
    torch.testing.assert_close(out, expected)
    one_step = posterior_mean(adapted.denoiser, x, 0.1)
    torch.testing.assert_close(one_step, adapted.denoiser(x, torch.full((3,), 0.1)))


def test_conditional_model_is_called_with_the_null_label() -> None:
    model = _tiny_diffusion(conditioning=Conditioning(names=("tumour",), vocab=(("no", "yes"),)))
    adapted = pixel_denoiser(model)
    x = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.2, 0.2])
    null = torch.zeros(2, 1, dtype=torch.long)
    with torch.no_grad():
        expected = (model.denoiser(2 * x - 1, 2 * sigma, null) + 1) / 2
    torch.testing.assert_close(adapted.denoiser(x, sigma), expected)


def test_latent_models_and_other_families_are_refused() -> None:
    vae = VAE.from_config({"image_size": SIZE, "hidden": [8, 16], "latent_channels": 2})
    latent = DiffusionModel.on_latents(
        DiffusionConfig(image_size=SIZE, unet=TINY_UNET, sigma_max=10.0), vae, 1.0
    )
    with pytest.raises(ValueError, match="need a pixel-space diffusion model"):
        pixel_denoiser(latent)
    with pytest.raises(ValueError, match="family 'gan'"):
        pixel_denoiser(GAN(GANConfig(image_size=16, latent_dim=8, width=8)))


def test_image_denoiser_reshapes_a_vector_denoiser() -> None:
    mixture = GaussianMixture(torch.ones(1), torch.zeros(1, 4 * 4), torch.full((1,), 0.5))
    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    out = image_denoiser(mixture.denoiser)(x, torch.tensor([1.0, 2.0]))
    expected = mixture.denoiser(x.flatten(1), torch.tensor([1.0, 2.0])).reshape(x.shape)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out[0], 0.5 / 1.5 * x[0])  # s^2 / (s^2 + sigma^2) x


def test_every_task_runs_on_a_pixel_model_in_float32() -> None:
    """Shapes, dtypes and data consistency through the adapter (an untrained net: no quality)."""
    adapted = pixel_denoiser(_tiny_diffusion())
    g = torch.Generator().manual_seed(4)
    images = torch.rand(2, 1, SIZE, SIZE, generator=g)
    denoised = denoise(adapted.denoiser, images, 0.05, k=2, steps=2, generator=g)
    assert denoised.mean.shape == images.shape and denoised.mean.dtype == torch.float32
    mask = cartesian_mask(SIZE, 4, generator=g)
    kspace = undersample(images, mask)
    sigmas = karras_sigmas(3, adapted.sigma_min, adapted.sigma_max, dtype=torch.float32)
    recon = reconstruct(adapted.denoiser, kspace, mask, sigmas, k=2, generator=g)
    assert recon.mean.dtype == torch.float32 and recon.nfe == 3
    assert float(kspace_residual(recon.samples[0], kspace, mask)) < 1e-5
    found = detect_anomalies(adapted.denoiser, images, 0.2, method="partial", steps=2, generator=g)
    assert found.map.shape == images.shape and found.nfe == 3
    found = detect_anomalies(adapted.denoiser, images, 0.2, levels=2, draws=2, generator=g)
    assert found.map.shape == images.shape and found.map.dtype == torch.float32
    assert found.nfe == 4
