"""Do the default's outputs carry more mode-share noise than fresh exact sets?

On one suite problem: the mean and standard deviation of each component's share over R fresh
exact sets (seeds 10, 11, ...) and over R outputs of LMS at 50 NFE started from the true
p(x; sigma_max) (a fresh exact sample plus sigma_max z), beside the binomial sd sqrt(w (1 - w) / n).

    python experiments/samplers_suite/share_spread.py SEED [R]
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, "experiments/samplers_suite")
from mechanism_50 import lms, shares_of

from medgen.analytic.suite import make_problem
from medgen.diffusion.defaults import data_stats, sigma_max_of

F64 = torch.float64
N = 10_000


def main() -> None:
    seed, repeats = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 60
    torch.set_num_threads(1)
    mix = make_problem(seed).mixture.to(F64)

    def draw(s: int) -> torch.Tensor:
        return mix.sample(N, generator=torch.Generator().manual_seed(s))

    sigma_max = sigma_max_of(data_stats(draw(100)))
    fresh = torch.stack([shares_of(mix, draw(10 + i)) for i in range(repeats)])
    flowed = []
    for i in range(repeats):
        z = torch.randn(N, mix.dim, generator=torch.Generator().manual_seed(4 + i), dtype=F64)
        flowed.append(shares_of(mix, lms(mix, draw(1000 + i) + sigma_max * z, sigma_max, 50)))
    out = torch.stack(flowed)
    w = mix.weights
    print("weights        ", w.numpy().round(4))
    print("binomial sd    ", (w * (1 - w) / N).sqrt().numpy().round(5))
    print("fresh mean / sd", fresh.mean(0).numpy().round(4), fresh.std(0).numpy().round(5))
    print("exact start    ", out.mean(0).numpy().round(4), out.std(0).numpy().round(5))


if __name__ == "__main__":
    main()
