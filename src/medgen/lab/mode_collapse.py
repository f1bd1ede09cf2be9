"""`lab mode-collapse`: the 2-D mode-collapse benchmark (VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018) for medgen's three families, trained with equal budgets.

Data: 8 Gaussians on the unit circle (std 0.01) and 25 on {-4, -2, 0, 2, 4}^2 (std 0.05), fresh
exact samples every batch. Each family gets the same optimiser steps and batch size and MLPs of
similar size; each seed draws `n_samples` samples, scored by `medgen.evaluate.modes`: modes
captured, % high-quality samples (within 3 std of the nearest mode) and the reverse KL of the mode
histogram. Exact samples themselves score ~98.9% high quality in 2-D (P(|z| < 3) for a 2-D
standard normal is 1 - e^{-4.5}), which `reference_rows` measures.

The families, their networks and their training loops are in `medgen.lab.mode_collapse_families`,
whose docstring says why they have loops of their own rather than `medgen.train`'s trainer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from medgen.analytic import GaussianMixture
from medgen.analytic.examples import grid_mixture_2d, ring_mixture_2d
from medgen.evaluate.modes import GRID_STD, RING_STD, grid_modes, mode_metrics, ring_modes
from medgen.lab.common import LabResult, save
from medgen.lab.mode_collapse_families import NFE, TRAINERS, Trained

STEPS = 4000  # optimiser steps per family at scale 1 (one GAN step = one D + one G update)
MIN_STEPS = 50  # floor of round(STEPS * scale)
BATCH = 256  # training batch, every family
N_SAMPLES = 2500  # samples per evaluation (VEEGAN / PacGAN protocol)
FAMILIES = ("diffusion", "gan", "vae")  # what is trained
VARIANTS = ("diffusion", "diffusion-sde", "gan", "vae")  # the rows: the diffusion sampled 2 ways
MIXTURES = ("ring", "grid")
COLUMNS = [
    "mixture",
    "family",
    "seed",
    "modes",
    "of",
    "high_quality",
    "reverse_kl",
    "parameters",
    "steps",
    "batch_size",
    "train_s",
    "nfe",
]


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
                rows.append(
                    {
                        "mixture": mixture_name,
                        "family": name,
                        "seed": seed,
                        "modes": metrics.modes_captured,
                        "of": len(bench.means),
                        "high_quality": metrics.high_quality,
                        "reverse_kl": metrics.reverse_kl,
                        "parameters": trained.parameters,
                        "steps": steps,
                        "batch_size": batch_size,
                        "train_s": train_s,
                        "nfe": variant.nfe,
                    }
                )
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
            rows.append(
                {
                    "mixture": mixture_name,
                    "family": "data",
                    "seed": seed,
                    "modes": m.modes_captured,
                    "of": len(bench.means),
                    "high_quality": m.high_quality,
                    "reverse_kl": m.reverse_kl,
                    "parameters": 0,
                    "steps": 0,
                    "batch_size": 0,
                    "train_s": 0.0,
                    "nfe": None,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per mixture x family (modes, high_quality, reverse_kl, train_s), the
    fewest modes any seed captured, and the budget (parameters, steps, nfe), in the rows' order."""
    groups = rows.groupby(["mixture", "family"], sort=False)
    stats = groups[["modes", "high_quality", "reverse_kl", "train_s"]].agg(["mean", "std"])
    stats.columns = [f"{name}_{stat}" for name, stat in stats.columns]
    stats = stats.fillna({c: 0.0 for c in stats.columns if c.endswith("_std")})  # one seed
    extra = groups.agg(
        modes_min=("modes", "min"),
        of=("of", "first"),
        seeds=("seed", "nunique"),
        parameters=("parameters", "first"),
        steps=("steps", "first"),
        nfe=("nfe", "first"),
    )
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
            ax.set(
                xlim=(-lim, lim),
                ylim=(-lim, lim),
                aspect="equal",
                title=f"{family}, {mixture_name} (seed {seed})",
            )
    return fig


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: numpy scalars -> Python; NaN (no nfe) and inf (a reverse KL with no
    high-quality sample) -> None, which strict JSON readers accept."""
    out = []
    for record in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    None
                    if isinstance(v, float) and not math.isfinite(v)
                    else v.item()
                    if isinstance(v, np.generic)
                    else v
                )
                for k, v in record.items()
            }
        )
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
