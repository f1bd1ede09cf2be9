"""The data-aware default on the 25-mode grid at 10 and 20 NFE, for six samples of 512 examples
and two of 4,096 (means over 3 noise draws and 3 reference sets of 20,000 exact samples).

    OMP_NUM_THREADS=2 python experiments/samplers_suite/grid_rule.py
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from medgen.analytic import grid_mixture_2d
from medgen.diffusion.defaults import DataStats, data_stats, sample_default
from medgen.evaluate.sliced import sliced_wasserstein_1

GRID = grid_mixture_2d(std=0.1, dtype=torch.float64)
N = 20_000


def draw(n: int, seed: int) -> Tensor:
    return GRID.sample(n, generator=torch.Generator().manual_seed(seed))


REFERENCES = [draw(N, 1 + i) for i in range(3)]


def sw1(x: Tensor) -> float:
    return float(np.mean([sliced_wasserstein_1(x, r) for r in REFERENCES]))


def default_sw1(stats: DataStats, nfe: int) -> float:
    """Mean SW1 of the default over three noise draws."""
    scores = []
    for seed in range(3):
        z = torch.randn(N, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        scores.append(sw1(sample_default(GRID.denoiser, z, nfe, data=stats)))
    return float(np.mean(scores))


def main() -> None:
    print(f"floor {np.mean([sw1(draw(N, 10 + i)) for i in range(3)]):.4f}")
    for size, seeds in ((512, (7, 8, 9, 3, 11, 12)), (4096, (11, 8))):
        for seed in seeds:
            stats = data_stats(draw(size, seed))
            scores = [default_sw1(stats, nfe) for nfe in (10, 20)]
            print(f"{size} examples, seed {seed}: 10 NFE {scores[0]:.4f}, 20 NFE {scores[1]:.4f}")


if __name__ == "__main__":
    main()
