"""Does a higher sigma_max at 50 NFE remove the default's excess over the floor?

Per problem (suite seed), at the benchmark's samples per set (`samples_for`, budget 2,000,000):
the floor (mean SW1 of FLOOR fresh exact sets to 3 reference sets) and the default's mean SW1
over DRAWS noise draws at 50 NFE, given n exact examples, for sigma_max = f x the diameter.
Prints one JSON line per problem: {"seed", "name", "n", "floor", "f": {f: [draws]}}.

    python experiments/samplers_suite/sigma_max_at_50.py --seeds 0-47 --factors 1,1.5,2,3 \
        [--shard I/K] >> OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch

sys.path.insert(0, "benchmarks")
from medgen.analytic.mixture import GaussianMixture
from medgen.analytic.suite import make_problem
from medgen.diffusion.defaults import data_stats, sample_default, sigma_max_of
from samplers_suite import samples_for, sw1

F64 = torch.float64


def seeds_of(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", required=True)
    p.add_argument("--factors", default="1,1.5,2,3")
    p.add_argument("--draws", type=int, default=6)
    p.add_argument("--floor", type=int, default=8)
    p.add_argument("--nfe", type=int, default=50)
    p.add_argument("--scale", type=float, default=1.0, help="samples per set x this")
    p.add_argument("--shard", default="0/1")
    a = p.parse_args()
    index, count = (int(v) for v in a.shard.split("/"))
    factors = [float(f) for f in a.factors.split(",")]
    for seed in seeds_of(a.seeds)[index::count]:
        problem = make_problem(seed)
        mix = problem.mixture.to(F64)
        n = int(samples_for(problem, 1000, 2_000_000) * a.scale)

        def draw(s: int, mix: GaussianMixture = mix, n: int = n) -> torch.Tensor:
            return mix.sample(n, generator=torch.Generator().manual_seed(s))

        refs = [draw(1 + i) for i in range(3)]
        stats = data_stats(draw(100))
        floor = [sw1(draw(10 + i), refs) for i in range(a.floor)]
        out: dict[str, list[float]] = {}
        for f in factors:
            sm = f * sigma_max_of(stats)
            out[str(f)] = []
            for i in range(a.draws):
                z = torch.randn(
                    n, mix.dim, generator=torch.Generator().manual_seed(4 + i), dtype=F64
                )
                x = sample_default(mix.denoiser, z, a.nfe, data=stats, sigma_max=sm)
                out[str(f)].append(sw1(torch.nan_to_num(x, nan=1e6), refs))
        print(
            json.dumps(
                {
                    "seed": seed,
                    "name": problem.name,
                    "n": n,
                    "nfe": a.nfe,
                    "floor": statistics.fmean(floor),
                    "floor_sets": floor,
                    "f": out,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
