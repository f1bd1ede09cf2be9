"""The GAN family: a DCGAN generator and discriminator playing the min-max game.

Goodfellow et al. 2014. Each training step has two phases, "d" then "g": the discriminator
takes a step on real vs. generated images, then the generator takes a step against the updated
discriminator. Losses: non-saturating ("ns", Goodfellow's -log D(G(z)) for G) or hinge (Lim & Ye
2017; Miyato et al. 2018); optional R1 penalty on real images (Mescheder et al. 2018) or the
WGAN-GP gradient penalty (Gulrajani et al. 2017). `monitor` tracks the diversity of a fixed
batch of samples, whose fall is the signature of mode collapse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.config import from_dict, to_dict
from medgen.draws import rand, randn
from medgen.exceptions import SettingError
from medgen.models.common import Conditioning, batch_cond, batch_images, to_unit
from medgen.models.protocol import Batch, GenerativeModel
from medgen.nets import DCGANDiscriminator, DCGANGenerator
from medgen.nets.gan import num_stages
from medgen.validate import at_least, flag, one_of, whole

LOSSES = ("ns", "hinge")
PENALTIES = ("none", "r1", "gp")
MONITOR_SEED = 1234  # the fixed latents whose samples `monitor` compares over training


@dataclass
class GANConfig:
    """A GAN's architecture and losses; every field is recorded with the trained model."""

    image_size: int = 64  # height = width of the images, pixels (a power of two >= 16)
    channels: int = 1  # image channels
    latent_dim: int = 128  # dimension of the generator's input z ~ N(0, I)
    width: int = 64  # base number of feature maps in G and D
    loss: str = "ns"  # "ns" non-saturating | "hinge"
    penalty: str = "none"  # "none" | "r1" (on real images) | "gp" (WGAN-GP, on interpolates)
    penalty_weight: float = 10.0  # gamma of R1 (applied as gamma / 2 |grad|^2) or lambda of GP
    spectral_norm: bool = False  # spectral normalisation in D (Miyato et al. 2018)
    conditioning: Conditioning = field(default_factory=Conditioning)
    monitor_samples: int = 64  # size of the fixed batch whose diversity is logged

    def __post_init__(self) -> None:
        size = whole("image_size", self.image_size, 1)
        try:
            num_stages(size)
        except ValueError:
            raise SettingError("image_size", f"must be a power of two >= 16, got {size}") from None
        whole("channels", self.channels, 1)
        whole("latent_dim", self.latent_dim, 1)
        whole("width", self.width, 1)
        one_of("loss", self.loss, LOSSES)
        one_of("penalty", self.penalty, PENALTIES)
        at_least("penalty_weight", self.penalty_weight)
        flag("spectral_norm", self.spectral_norm)
        whole("monitor_samples", self.monitor_samples, 2)


class GAN(GenerativeModel):
    """DCGAN generator + discriminator; phases "d" then "g" each training step."""

    family: ClassVar[str] = "gan"
    phases: ClassVar[tuple[str, ...]] = ("d", "g")

    def __init__(self, config: GANConfig | None = None) -> None:
        super().__init__()
        self.config = config or GANConfig()
        c = self.config
        classes = c.conditioning.classes
        self.generator = DCGANGenerator(c.latent_dim, c.image_size, c.channels, c.width, classes)
        self.discriminator = DCGANDiscriminator(
            c.image_size, c.channels, c.width, c.spectral_norm, classes
        )

    def phase_parameters(self, phase: str) -> list[nn.Parameter]:
        """ "d": the discriminator's parameters; "g": the generator's."""
        nets = {"d": self.discriminator, "g": self.generator}
        if phase not in nets:
            raise ValueError(f"unknown GAN phase {phase!r} (phases: d, g)")
        return list(nets[phase].parameters())

    def latents(self, n: int, generator: torch.Generator | None) -> Tensor:
        """z ~ N(0, I), (n, latent_dim), on the model's device."""
        param = next(self.parameters())
        return randn((n, self.config.latent_dim), generator, device=param.device, dtype=param.dtype)

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """The discriminator's loss in phase "d", the generator's in phase "g"."""
        real = batch_images(batch, self)  # (B, C, H, W) in [-1, 1]
        cond = batch_cond(batch, self.config.conditioning, self)
        fake = self.generator(self.latents(real.shape[0], generator), cond)
        if phase == "d":
            return self.discriminator_loss(real, fake.detach(), cond, generator)
        if phase == "g":
            logits = self.discriminator(fake, cond)
            g_loss = -logits.mean() if self.config.loss == "hinge" else F.softplus(-logits).mean()
            return {"loss": g_loss, "g_loss": g_loss.detach()}
        raise ValueError(f"unknown GAN phase {phase!r} (phases: d, g)")

    def discriminator_loss(
        self, real: Tensor, fake: Tensor, cond: Tensor | None, generator: torch.Generator | None
    ) -> dict[str, Tensor]:
        """D's loss on real vs. fake logits, plus the configured gradient penalty."""
        c = self.config
        if c.penalty == "r1":
            real = real.detach().requires_grad_(True)
        real_logits = self.discriminator(real, cond)
        fake_logits = self.discriminator(fake, cond)
        if c.loss == "hinge":
            d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        else:  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))
            d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        out = {"d_loss": d_loss.detach(), "d_real": real_logits.mean().detach()}
        penalty = torch.zeros((), device=real.device)
        if c.penalty == "r1":
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = 0.5 * c.penalty_weight * grad.square().flatten(1).sum(1).mean()
        elif c.penalty == "gp":
            penalty = c.penalty_weight * self.gradient_penalty(real, fake, cond, generator)
        out["penalty"] = penalty.detach()
        out["loss"] = d_loss + penalty
        return out

    def gradient_penalty(
        self, real: Tensor, fake: Tensor, cond: Tensor | None, generator: torch.Generator | None
    ) -> Tensor:
        """E (|grad D(x_hat)| - 1)^2 on random interpolates x_hat of real and fake (WGAN-GP)."""
        u = rand((real.shape[0], 1, 1, 1), generator, device=real.device, dtype=real.dtype)
        x_hat = u * real.detach() + (1 - u) * fake.detach()
        x_hat.requires_grad_(True)
        (grad,) = torch.autograd.grad(
            self.discriminator(x_hat, cond).sum(), x_hat, create_graph=True
        )
        return (grad.flatten(1).norm(dim=1) - 1).square().mean()

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, cond: Tensor | None = None
    ) -> Tensor:
        """n images G(z) in [0, 1]; cond (n, A) labels, 0 = null."""
        if cond is not None:
            cond = cond.to(next(self.parameters()).device)
        return to_unit(self.generator(self.latents(n, generator), cond))

    @torch.no_grad()
    def monitor(self, generator: torch.Generator | None = None) -> dict[str, float]:
        """Diversity of a fixed batch: mean pairwise L2 distance between samples, per pixel.

        The latents are the same at every call, so a falling value means G maps different z
        to ever more similar images: mode collapse.
        """
        was_training = self.generator.training
        self.generator.eval()
        fixed = torch.Generator().manual_seed(MONITOR_SEED)
        x = self.sample(self.config.monitor_samples, generator=fixed).flatten(1)  # (n, P)
        self.generator.train(was_training)
        distances = torch.cdist(x, x)  # (n, n)
        n = x.shape[0]
        mean_distance = distances.sum() / (n * (n - 1))
        return {"diversity": float(mean_distance / x.shape[1] ** 0.5)}

    def config_dict(self) -> dict[str, Any]:
        """The config as JSON-able data."""
        return to_dict(self.config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GAN:
        """A new GAN with this config."""
        return cls(from_dict(GANConfig, config, "gan config"))
