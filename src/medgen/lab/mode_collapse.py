"""`lab mode-collapse`: the 2-D mode-collapse benchmark (VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018) for medgen's three families, trained with equal budgets.

Data: 8 Gaussians on the unit circle (std 0.01) and 25 on {-4, -2, 0, 2, 4}^2 (std 0.05), fresh
exact samples every batch. Each family gets the same optimiser steps and batch size and MLPs of
similar size; each seed draws `n_samples` samples, scored by `medgen.evaluate.modes`: modes
captured, % high-quality samples (within 3 std of the nearest mode) and the reverse KL of the mode
histogram. Exact samples themselves score ~98.9% high quality in 2-D (P(|z| < 3) for a 2-D
standard normal is 1 - e^{-4.5}), which `reference_rows` measures.

- diffusion: an MLP denoiser D(x, sigma) with EDM preconditioning (Karras et al. 2022), trained
  by denoising score matching; row "diffusion" samples it with medgen's default ODE sampler
  (`sample_default`, NFE 40), row "diffusion-sde" with Euler ancestral steps (the reverse SDE's
  DDPM-style discretisation, NFE 50) on the same levels: one trained model, two samplers.
- GAN: MLP generator and discriminator, non-saturating loss, Adam(2e-4, betas (0.5, 0.999))
  (Goodfellow et al. 2014; Radford et al. 2016); one step = one D update then one G update.
- VAE: MLP encoder and Gaussian decoder with a learned per-coordinate variance (Kingma & Welling
  2014); samples are the decoder mean at z ~ N(0, I), the VAE's sharpest output (see `Vae`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from medgen.analytic import GaussianMixture
from medgen.analytic.examples import grid_mixture_2d, ring_mixture_2d
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
from medgen.evaluate.modes import GRID_STD, RING_STD, grid_modes, mode_metrics, ring_modes
from medgen.lab.common import LabResult, save

STEPS = 4000  # optimiser steps per family at scale 1 (one GAN step = one D + one G update)
MIN_STEPS = 50  # floor of round(STEPS * scale)
BATCH = 256  # training batch, every family
N_SAMPLES = 2500  # samples per evaluation (VEEGAN / PacGAN protocol)
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
FAMILIES = ("diffusion", "gan", "vae")  # what is trained
VARIANTS = ("diffusion", "diffusion-sde", "gan", "vae")  # the rows: the diffusion sampled 2 ways
MIXTURES = ("ring", "grid")
COLUMNS = [
    "mixture", "family", "seed", "modes", "of", "high_quality", "reverse_kl",
    "parameters", "steps", "batch_size", "train_s", "nfe",
]  # fmt: skip


class Benchmark(NamedTuple):
    """One mixture of the benchmark: the exact distribution, its modes and their std."""

    mixture: GaussianMixture
    means: Tensor  # (K, 2)
    std: float


def benchmark(name: str) -> Benchmark:
    """The `ring` (8 modes, std 0.01) or `grid` (25 modes, std 0.05) mixture of VEEGAN."""
    if name == "ring":
        mixture = ring_mixture_2d(std=RING_STD, dtype=torch.float32)
        return Benchmark(mixture, ring_modes(), RING_STD)
    if name == "grid":
        return Benchmark(grid_mixture_2d(std=GRID_STD, dtype=torch.float32), grid_modes(), GRID_STD)
    raise ValueError(f"unknown mixture {name!r} (known: {', '.join(MIXTURES)})")


def mlp(d_in: int, d_out: int, width: int, act: Callable[[], nn.Module] = nn.SiLU) -> nn.Sequential:
    """d_in -> width -> width -> width -> d_out with activation `act` between the layers."""
    return nn.Sequential(
        nn.Linear(d_in, width), act(), nn.Linear(width, width), act(),
        nn.Linear(width, width), act(), nn.Linear(width, d_out),
    )  # fmt: skip


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


# ---- the benchmark --------------------------------------------------------------------------


def train_family(
    family: str, mixture_name: str, seed: int, steps: int, batch_size: int = BATCH
) -> Trained:
    """Train `family` on fresh exact batches of `mixture_name`; `seed` fixes init and batches."""
    if family not in TRAINERS:
        raise ValueError(f"unknown family {family!r} (known: {', '.join(TRAINERS)})")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"need steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    mixture = benchmark(mixture_name).mixture
    torch.manual_seed(seed)  # network initialisation
    data_gen = torch.Generator().manual_seed(seed)
    train_gen = torch.Generator().manual_seed(seed + 1)  # noise levels, latents, GAN noise
    return TRAINERS[family](
        lambda: mixture.sample(batch_size, generator=data_gen), steps, train_gen
    )


def scaled_steps(scale: float) -> int:
    """Optimiser steps at `scale` (1: the benchmark's budget), at least MIN_STEPS."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max(MIN_STEPS, round(STEPS * scale))


def evaluate_seed(
    seed: int,
    *,
    steps: int,
    batch_size: int = BATCH,
    n_samples: int = N_SAMPLES,
    samples: dict[tuple[str, str], Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Train every family on every mixture with `seed`; one row each. When `samples` is given,
    each run's evaluation samples are stored in it under (mixture, family)."""
    rows = []
    for mixture_name in MIXTURES:
        bench = benchmark(mixture_name)
        for family in FAMILIES:
            start = time.perf_counter()
            trained = train_family(family, mixture_name, seed, steps, batch_size)
            train_s = time.perf_counter() - start
            for name, variant in trained.variants.items():
                draw = variant.sample(n_samples, torch.Generator().manual_seed(10_000 + seed))
                metrics = mode_metrics(draw, bench.means, bench.std)
                if samples is not None:
                    samples[(mixture_name, name)] = draw
                rows.append({
                    "mixture": mixture_name, "family": name, "seed": seed,
                    "modes": metrics.modes_captured, "of": len(bench.means),
                    "high_quality": metrics.high_quality, "reverse_kl": metrics.reverse_kl,
                    "parameters": trained.parameters, "steps": steps, "batch_size": batch_size,
                    "train_s": train_s, "nfe": variant.nfe,
                })  # fmt: skip
    return rows


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("mode-collapse benchmark needs at least one seed, got none")
    return seeds


def mode_collapse_rows(
    seeds: Sequence[int], scale: float = 1.0, n_samples: int = N_SAMPLES
) -> pd.DataFrame:
    """One row per mixture x family x seed: modes (of), high_quality %, reverse_kl, parameters,
    steps, batch_size, train_s, nfe; `scale` multiplies the training steps."""
    seeds = _check_seeds(seeds)
    steps = scaled_steps(scale)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    rows = [r for seed in seeds for r in evaluate_seed(seed, steps=steps, n_samples=n_samples)]
    return pd.DataFrame(rows, columns=COLUMNS)


def reference_rows(seeds: Sequence[int], n_samples: int = N_SAMPLES) -> pd.DataFrame:
    """The same metrics for exact samples of each mixture (family "data"): the ceiling a perfect
    model reaches, ~98.9% high quality and a reverse KL of ~(K - 1) / (2 n) from sampling noise."""
    rows = []
    for seed in _check_seeds(seeds):
        for mixture_name in MIXTURES:
            bench = benchmark(mixture_name)
            draw = bench.mixture.sample(n_samples, generator=torch.Generator().manual_seed(seed))
            m = mode_metrics(draw, bench.means, bench.std)
            rows.append({
                "mixture": mixture_name, "family": "data", "seed": seed,
                "modes": m.modes_captured, "of": len(bench.means), "high_quality": m.high_quality,
                "reverse_kl": m.reverse_kl, "parameters": 0, "steps": 0, "batch_size": 0,
                "train_s": 0.0, "nfe": None,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per mixture x family (modes, high_quality, reverse_kl, train_s), the
    fewest modes any seed captured, and the budget (parameters, steps, nfe), in the rows' order."""
    groups = rows.groupby(["mixture", "family"], sort=False)
    stats = groups[["modes", "high_quality", "reverse_kl", "train_s"]].agg(["mean", "std"])
    stats.columns = [f"{name}_{stat}" for name, stat in stats.columns]
    stats = stats.fillna({c: 0.0 for c in stats.columns if c.endswith("_std")})  # one seed
    extra = groups.agg(
        modes_min=("modes", "min"), of=("of", "first"), seeds=("seed", "nunique"),
        parameters=("parameters", "first"), steps=("steps", "first"), nfe=("nfe", "first"),
    )  # fmt: skip
    return stats.join(extra).reset_index()


# ---- the lab experiment ---------------------------------------------------------------------


def samples_figure(samples: dict[tuple[str, str], Tensor], seed: int) -> Figure:
    """Samples of each family (columns) on each mixture (rows), the modes marked by red crosses."""
    fig = Figure(figsize=(16, 8), layout="constrained")
    for i, mixture_name in enumerate(MIXTURES):
        means = benchmark(mixture_name).means
        lim = float(means.abs().max()) * 1.4
        for j, family in enumerate(VARIANTS):
            ax = fig.add_subplot(len(MIXTURES), len(VARIANTS), i * len(VARIANTS) + j + 1)
            x = samples[(mixture_name, family)].numpy()
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4)
            ax.scatter(means[:, 0], means[:, 1], marker="x", color="red", s=30)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
                   title=f"{family}, {mixture_name} (seed {seed})")  # fmt: skip
    return fig


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: numpy scalars -> Python; NaN (no nfe) and inf (a reverse KL with no
    high-quality sample) -> None, which strict JSON readers accept."""
    out = []
    for record in frame.to_dict(orient="records"):
        out.append({
            k: (None if isinstance(v, float) and not math.isfinite(v) else
                v.item() if isinstance(v, np.generic) else v)
            for k, v in record.items()
        })  # fmt: skip
    return out


def _kl(value: float | None) -> str:
    return "inf (no high-quality sample)" if value is None else f"{value:.3f}"


def run_mode_collapse_lab(
    out: Path, *, seed: int = 0, scale: float = 1.0, seeds: int = 5
) -> LabResult:
    """Diffusion, GAN and VAE on the ring and grid over `seeds` seeds from `seed`, equal budgets;
    a scatter of the first seed's samples and the mean +- std table."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    steps = scaled_steps(scale)
    samples: dict[tuple[str, str], Tensor] = {}
    rows = []
    for s in range(seed, seed + seeds):
        rows += evaluate_seed(s, steps=steps, samples=samples if s == seed else None)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    table = summarise(pd.concat([frame, reference_rows(range(seed, seed + seeds))]))
    caption = "Samples of each family on the 8-mode ring and the 25-mode grid; red: the modes."
    figures = [save(samples_figure(samples, seed), out, "mode_collapse.png", caption)]
    by = {(r["mixture"], r["family"]): r for r in _records(table)}
    parts = [
        f"{mixture} {family}: {r['modes_mean']:.1f}/{r['of']} modes (min {r['modes_min']}), "
        f"{r['high_quality_mean']:.1f}% high quality, reverse KL {_kl(r['reverse_kl_mean'])}"
        for (mixture, family), r in by.items()
    ]
    summary = (
        f"Over {seeds} seed(s), {steps} steps of batch {BATCH} for every family, "
        f"{N_SAMPLES} samples each: " + "; ".join(parts) + "."
    )
    numbers = {
        "rows": _records(frame),
        "summary_table": list(by.values()),
        "seeds": list(range(seed, seed + seeds)),
        "steps": steps,
        "batch_size": BATCH,
        "n_samples": N_SAMPLES,
        "nfe": NFE,
    }
    return LabResult("mode-collapse", "Mode collapse on 2-D mixtures", summary, numbers, figures)
