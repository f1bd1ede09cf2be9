"""Where the default's error comes from on one problem: the start's 512-example sample, or draw
noise. Each check prints SW1 against exact samples (means over 3 reference sets of n samples).

    python experiments/samplers_suite/imprint.py shares SEED     # mode shares: data, default, peer
    python experiments/samplers_suite/imprint.py examples SEED   # 512 / 4,096 / 65,536 examples
    python experiments/samplers_suite/imprint.py noise SEED      # four draws of the noise z
    python experiments/samplers_suite/imprint.py grid            # 25-mode grid, four samples
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import Tensor

from medgen.analytic import GaussianMixture, grid_mixture_2d
from medgen.analytic.suite import make_problem
from medgen.diffusion import SAMPLERS, karras_sigmas
from medgen.diffusion.defaults import data_stats, sample_default, steps_for_nfe
from medgen.evaluate.sliced import sliced_wasserstein_1

F64 = torch.float64


def draw(mix: GaussianMixture, n: int, seed: int) -> Tensor:
    return mix.sample(n, generator=torch.Generator().manual_seed(seed))


def noise(mix: GaussianMixture, n: int, seed: int) -> Tensor:
    return torch.randn(n, mix.dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


def scorer(mix: GaussianMixture, n: int):
    refs = [draw(mix, n, 1 + i) for i in range(3)]
    return lambda x: float(np.mean([sliced_wasserstein_1(x, r) for r in refs]))


def peer(mix: GaussianMixture, z: Tensor, nfe: int) -> Tensor:
    """k-diffusion's DPM++2M on its recommended levels from 80 z."""
    sigmas = karras_sigmas(steps_for_nfe("dpmpp_2m", nfe), 0.002, 80.0, 7.0)
    return SAMPLERS["dpmpp_2m"](mix.denoiser, 80.0 * z, sigmas)


def shares(mix: GaussianMixture, n: int = 20_000) -> None:
    """Each sample's nearest mean: the shares of the data, the default and the peer."""

    def share(x: Tensor) -> np.ndarray:
        nearest = torch.cdist(x, mix.means).argmin(1)
        return (torch.bincount(nearest, minlength=mix.n_components).double() / len(x)).numpy()

    data = draw(mix, 512, 100)
    stats, z, sw = data_stats(data), noise(mix, n, 4), scorer(mix, n)
    print("true", mix.weights.numpy().round(4), "data", share(data).round(4))
    ours, theirs = sample_default(mix.denoiser, z, 50, data=stats), peer(mix, z, 50)
    print("default", share(ours).round(4), "peer", share(theirs).round(4))
    floor = np.mean([sw(draw(mix, n, 10 + i)) for i in range(3)])
    print(f"SW1 at 50 NFE: floor {floor:.4g} default {sw(ours):.4g} peer {sw(theirs):.4g}")


def examples(mix: GaussianMixture, n: int = 10_000) -> None:
    """The default run to convergence from stats of more examples, and at higher sigma_max."""
    sw, z = scorer(mix, n), noise(mix, n, 4)
    print(f"floor {np.mean([sw(draw(mix, n, 10 + i)) for i in range(3)]):.4g}")
    for size in (512, 4096, 65_536):
        stats = data_stats(draw(mix, size, 100))
        for factor in (1.0, 1.5, 3.0):
            x = sample_default(mix.denoiser, z, 50, data=stats, sigma_max=factor * stats.diameter)
            print(f"{size} examples, {factor} x diameter: {sw(x):.4g}")


def noise_draws(mix: GaussianMixture, n: int = 10_000) -> None:
    """Fresh exact sets, then the default from four noise draws with 512 / 65,536 examples."""
    sw = scorer(mix, n)
    print("fresh exact sets", [round(sw(draw(mix, n, 10 + i)), 4) for i in range(6)])
    small, large = data_stats(draw(mix, 512, 100)), data_stats(draw(mix, 65_536, 100))
    for seed in (4, 5, 6, 7):
        z = noise(mix, n, seed)
        a = sw(sample_default(mix.denoiser, z, 50, data=small))
        b = sw(sample_default(mix.denoiser, z, 50, data=large))
        print(f"z seed {seed}: 512 examples {a:.4g}, 65,536 examples {b:.4g}")


def grid(n: int = 20_000) -> None:
    """The 25-mode grid's default at convergence for four 512-example samples and three factors."""
    mix = grid_mixture_2d(std=0.1, dtype=F64)
    sw, z = scorer(mix, n), noise(mix, n, 0)
    print(f"floor {sw(draw(mix, n, 101)):.4g}")
    for seed in (7, 8, 9, 3):
        stats = data_stats(draw(mix, 512, seed))
        row = []
        for factor in (0.75, 1.0, 1.5):
            x = sample_default(mix.denoiser, z, 50, data=stats, sigma_max=factor * stats.diameter)
            row.append(f"{factor}: {sw(x):.4f}")
        print(f"sample {seed} (mean {stats.mean.numpy().round(3)}):", ", ".join(row))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=["shares", "examples", "noise", "grid"])
    ap.add_argument("seed", nargs="?", type=int)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check == "grid":
        grid()
        return
    mix = make_problem(args.seed).mixture.to(F64)
    {"shares": shares, "examples": examples, "noise": noise_draws}[args.check](mix)


if __name__ == "__main__":
    main()
