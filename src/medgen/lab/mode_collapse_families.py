"""The three families of the 2-D mode-collapse benchmark (`medgen.lab.mode_collapse`) as small
MLPs, each with its own training loop: `TRAINERS[family](batches, steps, generator) -> Trained`.

- diffusion: an MLP denoiser D(x, sigma) with EDM preconditioning (Karras et al. 2022), trained
  by denoising score matching; row "diffusion" samples it with medgen's default ODE sampler
  (`sample_default`, NFE 40), row "diffusion-sde" with Euler ancestral steps (the reverse SDE's
  DDPM-style discretisation, NFE 50) on the same levels: one trained model, two samplers.
- GAN: MLP generator and discriminator, non-saturating loss, Adam(2e-4, betas (0.5, 0.999))
  (Goodfellow et al. 2014; Radford et al. 2016); one step = one D update then one G update.
- VAE: MLP encoder and Gaussian decoder with a learned per-coordinate variance (Kingma & Welling
  2014); samples are the decoder mean at z ~ N(0, I), the VAE's sharpest output (see `Vae`).

The loops are the benchmark's protocol, which `medgen.models` + `medgen.train` do not express:

- Data: every batch is a fresh exact draw from the mixture (`Batches`); the generic trainer
  streams epochs of a finite map-style `Dataset`, so it would train on a finite pre-drawn sample.
- The GAN step: one fake batch feeds the D update and then the G update; the protocol runs each
  phase's `loss` afresh, so its G phase draws new noise and runs the generator a second time.
- Randomness: `train_family` seeds the initialisation, the data and the training noise from the
  seed; the trainer reseeds torch's, numpy's and Python's global generators from its own
  process seed, so a seed would no longer give the numbers in benchmarks/results/.
- Outputs: the protocol is image-shaped (`sample` gives (n, C, H, W) in [0, 1]) and each run
  writes config, checkpoints, metrics, a PNG sample grid and an exported model; here a family
  samples (n, 2) points, the diffusion two ways, and a run keeps only its numbers.
- Cost: what the trainer adds (accelerate, checkpoints, resume, EMA, logging) serves long runs
  on images; a run here takes seconds at 2-5 ms a step. Through the trainer a step takes 1.09-1.16x
  as long with that bookkeeping turned off and 1.20-1.31x with the trainer's defaults, and each
  run ~0.1 s more to set up and write (experiments/mode_collapse_loop/NOTES.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.diffusion.defaults import (
    DEFAULT_SIGMA_MIN,
    default_sigma_max,
    default_sigmas,
    prior_std,
    sample_default,
)
from medgen.diffusion.loss import dsm_loss, sample_sigma_lognormal
from medgen.diffusion.precond import EDMPrecond
from medgen.diffusion.samplers import SAMPLERS

WIDTH = 128  # hidden width of the GAN's and VAE's two networks (three hidden layers each)
DENOISER_WIDTH = 160  # hidden width of the one diffusion MLP (three hidden layers): ~same size
FOURIER = 32  # random Fourier features of x fed to the denoiser (sin and cos of each)
FOURIER_SCALE = 3.0  # std of their frequencies, per unit of c_in x (the data at unit scale)
LATENT = 2  # GAN noise and VAE latent dimension: the data's own dimension
NFE = 40  # denoiser evaluations per diffusion sample (default ODE sampler)
SDE_NFE = 50  # denoiser evaluations per sample of the stochastic (Euler ancestral) sampler
P_MEAN_OFFSET = -2.0  # mean of ln(sigma / sigma_data) at training (EDM's -1.2 is for images)
P_STD = 1.8  # std of ln sigma at training: reaches the modes' std (~sigma_data / 60) often
DIFFUSION_LR = 5e-3  # Adam, betas (0.9, 0.999), cosine decay to 0 (chosen on seed 100)
GAN_LR = 2e-4  # Adam, betas (0.5, 0.999), both networks (Radford et al. 2016)
VAE_LR = 1e-3  # Adam, betas (0.9, 0.999) (Kingma & Welling 2014)


def mlp(d_in: int, d_out: int, width: int, act: Callable[[], nn.Module] = nn.SiLU) -> nn.Sequential:
    """d_in -> width -> width -> width -> d_out with activation `act` between the layers."""
    return nn.Sequential(
        nn.Linear(d_in, width),
        act(),
        nn.Linear(width, width),
        act(),
        nn.Linear(width, width),
        act(),
        nn.Linear(width, d_out),
    )


def n_parameters(*modules: nn.Module) -> int:
    """Trainable parameters of all `modules` together."""
    return sum(p.numel() for m in modules for p in m.parameters())


class Variant(NamedTuple):
    """One way to sample a trained family, and its cost."""

    sample: Callable[[int, torch.Generator], Tensor]  # (n, generator) -> (n, 2)
    nfe: int | None  # network evaluations per sample (diffusion); None for one-shot families


class Trained(NamedTuple):
    """A trained family: its samplers by row name (the diffusion has two) and its size."""

    variants: dict[str, Variant]
    parameters: int


Batches = Callable[[], Tensor]  # a fresh (B, 2) batch of exact data on each call


# ---- diffusion ------------------------------------------------------------------------------


class DenoiserMLP(nn.Module):
    """F(c_in x, c_noise) of EDM: an MLP on x, random Fourier features of x (Tancik et al. 2020)
    and sinusoidal features of c_noise = ln(sigma) / 4.

    The Fourier features are what let a small MLP learn the sharp, many-mode denoiser: a plain
    MLP on (x, c_noise) stays near the Gaussian solution (DSM loss ~1) for thousands of steps
    (spectral bias). The features are fixed random projections (a buffer, not trained).
    """

    B: Tensor  # (2, n_fourier) frequencies of the Fourier features
    freqs: Tensor  # (n_freqs,) frequencies of the noise-level features

    def __init__(
        self, width: int = DENOISER_WIDTH, n_fourier: int = FOURIER, n_freqs: int = 8
    ) -> None:
        super().__init__()
        self.register_buffer("B", FOURIER_SCALE * torch.randn(2, n_fourier))  # (2, n_fourier)
        self.register_buffer("freqs", math.pi / 2 * torch.arange(1.0, n_freqs + 1))  # (n_freqs,)
        self.net = mlp(2 + 2 * n_fourier + 1 + 2 * n_freqs, 2, width)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Any = None) -> Tensor:
        projected = x @ self.B  # (B, n_fourier)
        angle = c_noise[:, None].to(x.dtype) * self.freqs  # (B, n_freqs)
        features = [x, projected.sin(), projected.cos(), c_noise[:, None].to(x.dtype)]
        features += [angle.sin(), angle.cos()]
        return self.net(torch.cat(features, dim=1))  # (B, 2)


def train_diffusion(batches: Batches, steps: int, gen: torch.Generator) -> Trained:
    """EDM-preconditioned MLP trained by DSM with ln sigma ~ N(ln sigma_data + P_MEAN_OFFSET,
    P_STD^2); sigma_data is measured from the data (Karras et al. 2022, sec. 5)."""
    sigma_data = float(torch.cat([batches() for _ in range(20)]).std(dim=0).mean())
    model = EDMPrecond(DenoiserMLP(), sigma_data=sigma_data)
    opt = torch.optim.Adam(model.parameters(), lr=DIFFUSION_LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    p_mean = math.log(sigma_data) + P_MEAN_OFFSET
    for _ in range(steps):
        x0 = batches()
        sigma = sample_sigma_lognormal(len(x0), p_mean, P_STD, generator=gen)
        loss = dsm_loss(model, x0, sigma, sigma_data=sigma_data, generator=gen).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()

    @torch.no_grad()
    def sample_ode(n: int, generator: torch.Generator) -> Tensor:
        noise = torch.randn(n, 2, generator=generator)
        return sample_default(model, noise, NFE, sigma_data=sigma_data, generator=generator)

    @torch.no_grad()
    def sample_sde(n: int, generator: torch.Generator) -> Tensor:
        # The default's levels and start, stepped by Euler ancestral (DDPM's posterior, eta = 1).
        sigma_max = default_sigma_max(sigma_data)
        sigmas = default_sigmas(SDE_NFE, DEFAULT_SIGMA_MIN, sigma_max)
        x = prior_std(sigma_max, sigma_data) * torch.randn(n, 2, generator=generator)
        return SAMPLERS["euler_ancestral"](model, x, sigmas, generator=generator)

    variants = {
        "diffusion": Variant(sample_ode, NFE),
        "diffusion-sde": Variant(sample_sde, SDE_NFE),
    }
    return Trained(variants, n_parameters(model))


# ---- GAN ------------------------------------------------------------------------------------


def train_gan(batches: Batches, steps: int, gen: torch.Generator) -> Trained:
    """Non-saturating GAN (Goodfellow et al. 2014, sec. 3): D minimises BCE on real/fake, G
    minimises -log D(G(z)); ReLU generator, LeakyReLU(0.2) discriminator."""
    G = mlp(LATENT, 2, WIDTH, nn.ReLU)
    D = mlp(2, 1, WIDTH, lambda: nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(G.parameters(), lr=GAN_LR, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=GAN_LR, betas=(0.5, 0.999))
    for _ in range(steps):
        real = batches()
        fake = G(torch.randn(len(real), LATENT, generator=gen))
        # softplus(-l) = -log sigmoid(l): real -> 1, fake -> 0
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)).mean()  # non-saturating: max log D(G(z))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    G.eval()

    @torch.no_grad()
    def sample(n: int, generator: torch.Generator) -> Tensor:
        return G(torch.randn(n, LATENT, generator=generator))

    return Trained({"gan": Variant(sample, None)}, n_parameters(G, D))


# ---- VAE ------------------------------------------------------------------------------------


class Vae(nn.Module):
    """Gaussian VAE: q(z|x) = N(mu(x), diag exp(logvar(x))), p(x|z) = N(m(z), diag exp(s)) with a
    learned per-coordinate log-variance s, so the decoder noise can shrink to the modes' scale."""

    def __init__(self, width: int = WIDTH, latent: int = LATENT) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = mlp(2, 2 * latent, width)
        self.decoder = mlp(latent, 2, width)
        self.log_var = nn.Parameter(torch.zeros(2))  # decoder log-variance per coordinate

    def loss(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Negative ELBO per sample, averaged (Kingma & Welling 2014, eq. 10)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, latent) each
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen)
        nll = 0.5 * (((x - self.decoder(z)) ** 2) / self.log_var.exp() + self.log_var).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return (nll + kl).mean()


def train_vae(batches: Batches, steps: int, gen: torch.Generator) -> Trained:
    """A Gaussian VAE with learned decoder variance; samples are the decoder mean m(z), z ~ N(0, I):
    with the decoder noise added each sample would spread by the learned std, which the ELBO keeps
    far above the modes' 0.01-0.05 (the decoder must also cover the gaps between modes)."""
    vae = Vae()
    opt = torch.optim.Adam(vae.parameters(), lr=VAE_LR)
    for _ in range(steps):
        loss = vae.loss(batches(), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    vae.eval()

    @torch.no_grad()
    def sample(n: int, generator: torch.Generator) -> Tensor:
        return vae.decoder(torch.randn(n, vae.latent, generator=generator))

    return Trained({"vae": Variant(sample, None)}, n_parameters(vae))


TRAINERS: dict[str, Callable[[Batches, int, torch.Generator], Trained]] = {
    "diffusion": train_diffusion,
    "gan": train_gan,
    "vae": train_vae,
}
