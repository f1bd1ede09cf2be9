"""The diffusion family: a preconditioned U-Net denoiser trained by denoising score matching.

Karras et al. 2022 (EDM): D(x, sigma) = c_skip x + c_out F(c_in x, c_noise, cond), trained on
lambda(sigma) |D(x_0 + sigma n, sigma) - x_0|^2 with ln sigma ~ N(p_mean, p_std^2), sampled with
any sampler of `medgen.diffusion.SAMPLERS` (default: the sampler benchmark's choice). Labels are
dropped to null with probability `conditioning.drop_prob` during training, so one network gives
both D(x, sigma, c) and D(x, sigma, null), as classifier-free guidance needs (Ho & Salimans 2022).

Latent mode (Rombach et al. 2022; MONAI's LatentDiffusionInferer; Medfusion): the same denoiser
on the scaled posterior means of a trained, frozen VAE, whose weights are saved with the model,
so x is (4, 16, 16) instead of (1, 64, 64) and a CPU trains and samples it in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from medgen.config import from_dict, to_dict
from medgen.diffusion import (
    SAMPLERS,
    WEIGHTINGS,
    EDMPrecond,
    cfg_denoiser,
    dsm_loss,
    expected_nfe,
    karras_sigmas,
    sample_sigma_lognormal,
)
from medgen.diffusion.defaults import (
    DEFAULT_SAMPLER,
    DataStats,
    data_stats,
    default_sigmas,
    gaussian_fit_start,
    prior_std,
)
from medgen.draws import randn
from medgen.exceptions import SettingError
from medgen.models.common import Conditioning, batch_cond, drop_labels, to_signed
from medgen.models.protocol import Batch, GenerativeModel
from medgen.models.vae import VAE, VAEConfig
from medgen.nets import UNet, UNetConfig, default_unet_config, monai_tutorial_unet
from medgen.validate import at_least, finite, one_of, positive, whole

BACKBONES = ("medgen", "monai")
MASK_MARGIN = 2  # pixels around a joint model's mask that weigh like the mask (its ring)


@dataclass
class DiffusionConfig:
    """A diffusion model's backbone, noise levels and sampler; recorded with the trained model."""

    image_size: int = 64  # height = width of the images, pixels
    channels: int = 1  # image channels
    backbone: str = "medgen"  # "medgen": medgen.nets.UNet | "monai": MONAI DiffusionModelUNet
    unet: UNetConfig | None = None  # medgen backbone; None = default_unet_config(size)
    conditioning: Conditioning = field(default_factory=Conditioning)
    sigma_data: float = 0.5  # std of the training data (in [-1, 1] or latent units)
    sigma_min: float = 0.002  # smallest sampling level
    sigma_max: float = 80.0  # largest sampling level (>= the largest distance between images)
    p_mean: float = -1.2  # training levels: ln sigma ~ N(p_mean, p_std^2) (EDM)
    p_std: float = 1.2
    weighting: str = "edm"  # lambda(sigma), a key of medgen.diffusion.WEIGHTINGS
    sampler: str = DEFAULT_SAMPLER  # a key of medgen.diffusion.SAMPLERS
    steps: int = 20  # sampling steps
    # Karras et al.'s spacing exponent of the sampling levels. 7, not `sample_default`'s 2: a
    # trained network needs the steps at low sigma (at 20 NFE rho 2 raises the pixel prior's FD
    # from 36 to 58; experiments/samplers_suite/NOTES.md, "The image models")
    rho: float = 7.0
    guidance: float = 1.0  # default classifier-free guidance scale (1 = plain conditional)
    latent_vae: dict[str, Any] | None = None  # the VAE's config in latent mode, else None
    latent_scale: float = 1.0  # latents are multiplied by this (1 / their std) before diffusion
    mask_weight: float = 0.0  # joint (image, mask) data: extra loss weight near the last
    # channel's mask (`mask_loss_weights`); 0 = every pixel alike
    # leading covariance axes of the training data's Gaussian fit kept with the model (buffers
    # set by `DiffusionModel.fit_data`); sampling starts from that fit. 0 = no fit: sampling
    # starts from 0 and ends at 0, as models saved before the fit do
    fit_axes: int = 0

    def __post_init__(self) -> None:
        whole("image_size", self.image_size, 1)
        whole("channels", self.channels, 1)
        one_of("backbone", self.backbone, BACKBONES)
        one_of("weighting", self.weighting, WEIGHTINGS)
        one_of("sampler", self.sampler, SAMPLERS)
        positive("sigma_data", self.sigma_data)
        positive("sigma_min", self.sigma_min)
        if positive("sigma_max", self.sigma_max) <= self.sigma_min:
            raise SettingError(
                "sigma_max", f"must be above sigma_min ({self.sigma_min:g}), got {self.sigma_max:g}"
            )
        finite("p_mean", self.p_mean)
        at_least("p_std", self.p_std)
        whole("steps", self.steps, 1)
        positive("rho", self.rho)
        at_least("guidance", self.guidance)
        positive("latent_scale", self.latent_scale)
        whole("fit_axes", self.fit_axes, 0)
        if self.latent_vae is not None:  # the recorded VAE's config must build one
            from_dict(VAEConfig, self.latent_vae, "latent_vae")
        if at_least("mask_weight", self.mask_weight) > 0 and (
            self.channels < 2 or self.latent_vae is not None
        ):
            raise SettingError(
                "mask_weight",
                "needs pixel-space (image, mask) data: channels >= 2, the mask last, "
                "and no latent_vae",
            )


def mask_loss_weights(mask: Tensor, weight: float, margin: int = MASK_MARGIN) -> Tensor:
    """Per-pixel loss weights (B, 1, H, W) of mean 1 over the batch: 1 + weight within `margin`
    pixels of the mask (B, 1, H, W) bool, 1 elsewhere, all divided by their mean.

    Why: a lesion covers ~0.3% of a slice, so under a plain mean its look (bright and enhancing,
    or dark and not) barely moves the loss, and a joint model learns only the majority look, the
    conditions that should set it notwithstanding (on the built-in data, brainstem tumours drawn
    bright where the real ones are dark; `experiments/remedy/remedy_generators.txt`). The margin
    takes in the lesion's ring, which is what its contrast is measured against."""
    near = nn.functional.max_pool2d(mask.float(), 2 * margin + 1, 1, margin)
    weights = 1.0 + weight * near
    return weights / weights.mean()


class NoiseScales(NamedTuple):
    """The data's scales that set a diffusion model's noise levels."""

    sigma_data: float  # per-coordinate std of the data
    sigma_max: float  # largest distance between two training examples (Song & Ermon 2020)


def noise_scales(x: Tensor, max_examples: int = 512) -> NoiseScales:
    """sigma_data and sigma_max of training data x (N, ...) in the model's units.

    sigma_max follows technique 1 of Song & Ermon 2020: the largest level should be about the
    largest Euclidean distance between training examples, so that p(x; sigma_max) mixes them all.
    For 2-D toy data that is a few sigma_data; for 64x64 images it is tens. It is the default
    sampler's sigma_max (`medgen.diffusion.defaults`, 1 x the diameter); the models keep their
    rho 7 levels, which a trained network needs, and start from the data's Gaussian fit where they
    record one (`DiffusionModel.fit_data`; experiments/samplers_suite/NOTES.md).
    """
    flat = x.flatten(1).double()[:max_examples]
    distances = torch.cdist(flat, flat)
    return NoiseScales(float(flat.std()), float(distances.max()))


class DiffusionModel(GenerativeModel):
    """EDM-preconditioned U-Net denoiser in pixel or VAE-latent space."""

    family: ClassVar[str] = "diffusion"
    uses_ema: ClassVar[bool] = True
    # buffers of the data's Gaussian fit, present when config.fit_axes > 0 (`fit_data`)
    fit_mean: Tensor  # (*data_shape())
    fit_axes: Tensor  # (fit_axes, d) leading axes of the covariance, orthonormal rows
    fit_scales: Tensor  # (fit_axes,) the std along each
    fit_diameter: Tensor  # () the largest distance between two of the examples

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        super().__init__()
        self.config = config or DiffusionConfig()
        c = self.config
        self.vae: VAE | None = None  # the frozen autoencoder of latent mode
        if c.latent_vae is not None:
            self.vae = VAE.from_config(c.latent_vae).requires_grad_(False)
        channels, size = self.data_shape()[:2]
        classes = c.conditioning.classes
        net: nn.Module
        if c.backbone == "monai":
            net = monai_tutorial_unet(channels, classes)
        else:
            unet = c.unet or default_unet_config(size, channels, classes)
            # the data and the conditioning fix the U-Net's channels and label classes
            net = UNet(replace(unet, in_channels=channels, cond_classes=classes))
        self.denoiser = EDMPrecond(net, sigma_data=c.sigma_data)
        if c.fit_axes > 0:  # the data's Gaussian fit, saved and resumed with the weights
            dims = channels * size * size
            self.register_buffer("fit_mean", torch.zeros(self.data_shape()))
            self.register_buffer("fit_axes", torch.zeros(c.fit_axes, dims))
            self.register_buffer("fit_scales", torch.zeros(c.fit_axes))
            self.register_buffer("fit_diameter", torch.zeros(()))

    def fit_data(self, x: Tensor) -> None:
        """Record the Gaussian fit of training examples x (N, *data_shape()) in the model's units:
        their mean and the config's `fit_axes` leading axes of their covariance (`data_stats`).

        Sampling starts from that fit diffused to sigma_max, x = m + (C + sigma_max^2 I)^(1/2) z,
        instead of sqrt(sigma_max^2 + sigma_data^2) z: on the shipped pixel prior and latent model
        it lowers FD at 20 NFE (benchmarks/results/samplers_images.txt). Axes past the leading
        ones hold little variance next to sigma_max^2, where the start hardly differs."""
        r = self.config.fit_axes
        if r == 0:
            raise ValueError("this model keeps no data fit (fit_axes = 0)")
        stats = data_stats(x.detach())
        k = min(r, stats.scales.shape[0])
        self.fit_mean.copy_(stats.mean)
        self.fit_axes.zero_()
        self.fit_axes[:k] = stats.axes[:k]
        self.fit_scales.zero_()
        self.fit_scales[:k] = stats.scales[:k]
        self.fit_diameter.fill_(stats.diameter)

    @property
    def data_fit(self) -> DataStats | None:
        """The training data's Gaussian fit (`fit_data`), or None where the model keeps none."""
        if self.config.fit_axes == 0:
            return None
        return DataStats(
            self.fit_mean,
            self.config.sigma_data,
            float(self.fit_diameter),
            self.fit_axes,
            self.fit_scales,
        )

    @classmethod
    def on_latents(cls, config: DiffusionConfig, vae: VAE, latent_scale: float) -> DiffusionModel:
        """A latent diffusion model on the frozen `vae` (its weights copied in)."""
        config.latent_vae, config.latent_scale = vae.config_dict(), latent_scale
        model = cls(config)
        model.adopt_vae(vae)
        return model

    def adopt_vae(self, vae: VAE) -> None:
        """Copy a trained VAE's weights into this latent model's frozen autoencoder."""
        if self.vae is None:
            raise ValueError("this diffusion model works in pixel space; it has no VAE")
        self.vae.load_state_dict(vae.state_dict())

    def data_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of what the denoiser sees: the image or the VAE latent."""
        if self.vae is not None:
            return self.vae.spatial_shape  # a latent model refuses a dense VAE
        return (self.config.channels, self.config.image_size, self.config.image_size)

    def encode(self, images: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1] -> the denoiser's space ([-1, 1] or scaled latents)."""
        if self.vae is None:
            return to_signed(images)
        with torch.no_grad():
            mu, _ = self.vae.encode(images)
        return mu * self.config.latent_scale

    def decode(self, x: Tensor) -> Tensor:
        """The denoiser's space -> images in [0, 1]."""
        if self.vae is None:
            return ((x + 1) / 2).clamp(0, 1)
        return self.vae.decode(x / self.config.latent_scale)

    def train(self, mode: bool = True) -> DiffusionModel:
        """Train mode for the denoiser; the frozen VAE always stays in eval mode."""
        super().train(mode)
        if self.vae is not None:
            self.vae.eval()
        return self

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Mean EDM-weighted DSM loss over the batch at lognormal noise levels."""
        c = self.config
        param = next(self.denoiser.parameters())
        x0 = self.encode(batch["image"].to(device=param.device, dtype=param.dtype))
        cond = batch_cond(batch, c.conditioning, self.denoiser)
        if cond is not None:
            cond = drop_labels(cond, c.conditioning.drop_prob, generator)
        sigma = sample_sigma_lognormal(
            x0.shape[0], c.p_mean, c.p_std, generator=generator, device=x0.device
        ).to(x0.dtype)
        per_pixel = dsm_loss(
            self.denoiser,
            x0,
            sigma,
            weighting=c.weighting,
            sigma_data=c.sigma_data,
            generator=generator,
            cond=cond,
        )
        if c.mask_weight > 0:
            per_pixel = per_pixel * mask_loss_weights(x0[:, -1:] > 0, c.mask_weight)
        return {"loss": per_pixel.mean()}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        cond: Tensor | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        steps: int | None = None,
    ) -> Tensor:
        """n images in [0, 1] by `sampler` over `steps` Karras levels; cond (n, A), 0 = null."""
        device = next(self.denoiser.parameters()).device
        noise = randn((n, *self.data_shape()), generator, device=device)
        x = self.sample_from(
            noise, generator=generator, cond=cond, guidance=guidance, sampler=sampler, steps=steps
        )
        return self.decode(x)

    @torch.no_grad()
    def sample_from(
        self,
        noise: Tensor,
        *,
        generator: torch.Generator | None = None,
        cond: Tensor | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        steps: int | None = None,
    ) -> Tensor:
        """Samples in the denoiser's space from unit Gaussian `noise` (B, *data_shape()).

        With a data fit (`fit_data`) the levels run from sigma_max down to sigma_min and start
        from the fit diffused to sigma_max (`medgen.diffusion.defaults`' start, on the model's
        own rho); without one they run down to 0 from sqrt(sigma_max^2 + sigma_data^2) z."""
        c = self.config
        name = sampler or c.sampler
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r} (known: {', '.join(SAMPLERS)})")
        fit = self.data_fit
        if fit is None:
            sigmas = karras_sigmas(steps or c.steps, c.sigma_min, c.sigma_max, c.rho)
            x = prior_std(c.sigma_max, c.sigma_data) * noise
        else:
            sigmas = default_sigmas(steps or c.steps, c.sigma_min, c.sigma_max, rho=c.rho)
            x = gaussian_fit_start(fit, c.sigma_max, noise)
        sigmas = sigmas.to(device=noise.device, dtype=torch.float32)
        n = noise.shape[0]
        denoiser = self.guided_denoiser(n, cond, c.guidance if guidance is None else guidance)
        return SAMPLERS[name](denoiser, x, sigmas, generator=generator)

    def nfe(self, steps: int | None = None, sampler: str | None = None) -> int:
        """Network evaluations per sample of `sample` (with a data fit the levels stop at
        sigma_min, so no last step to 0: Heun then spends 2 per step instead of 2n - 1)."""
        name = sampler or self.config.sampler
        to_zero = self.data_fit is None
        return expected_nfe(name, steps or self.config.steps, to_zero=to_zero)

    def guided_denoiser(self, n: int, cond: Tensor | None, guidance: float) -> Any:
        """D(x, sigma): unconditional, conditional, or classifier-free guided."""
        if not self.config.conditioning.names:
            if cond is not None:
                raise ValueError("the model is unconditional; drop the condition")
            return self.denoiser
        device = next(self.denoiser.parameters()).device
        null = torch.zeros(n, len(self.config.conditioning.names), dtype=torch.long, device=device)
        if cond is None:
            return lambda x, sigma: self.denoiser(x, sigma, null)
        cond = cond.to(device=device, dtype=torch.long)
        if guidance == 1.0:
            return lambda x, sigma: self.denoiser(x, sigma, cond)
        return cfg_denoiser(self.denoiser, cond, guidance, null_cond=0)

    def config_dict(self) -> dict[str, Any]:
        """The config as JSON-able data."""
        return to_dict(self.config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DiffusionModel:
        """A new diffusion model with this config."""
        return cls(from_dict(DiffusionConfig, config, "diffusion config"))
