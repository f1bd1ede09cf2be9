"""Does the covariance from every example (`data_stats` with `covariance_examples`) help or hurt
the default at small budgets, against the covariance from the first 512 examples?

Per problem (suite seed), at the benchmark's samples per set and with its reference sets and
n-example sample: the default's SW1 at each NFE from the same noise draws (seeds 4, 5, ...), once
with the start's covariance from the first 512 examples and once from `data_stats` as it is, and
the paired ratio new / old per draw. Prints one JSON line per problem.

    python experiments/samplers_suite/full_cov_budgets.py --seeds 0-47 --nfe 5,10,20 --draws 4
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
from torch import Tensor

sys.path.insert(0, "benchmarks")
sys.path.insert(0, "experiments/samplers_suite")
from sigma_max_at_50 import seeds_of

from medgen.analytic.suite import make_problem
from medgen.diffusion.defaults import STATS_EXAMPLES, DataStats, data_stats, sample_default
from samplers_suite import samples_for, setting, sw1


def head_cov_stats(x: Tensor, stats: DataStats) -> DataStats:
    """stats with the covariance from the first STATS_EXAMPLES examples only (the earlier rule)."""
    head = x[:STATS_EXAMPLES]
    centred = (head - head.mean(dim=0)) / math.sqrt(head.shape[0] - 1)
    _, scales, axes = torch.linalg.svd(centred, full_matrices=False)
    return stats._replace(axes=axes, scales=scales)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", required=True)
    p.add_argument("--nfe", default="5,10,20")
    p.add_argument("--draws", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(1)
    nfes = [int(v) for v in a.nfe.split(",")]
    for seed in seeds_of(a.seeds):
        problem = make_problem(seed)
        n = samples_for(problem, 1000, 2_000_000)
        s = setting(problem, n)  # the benchmark's reference sets, examples and noise
        new = data_stats(s.data)
        fits = {"old": head_cov_stats(s.data, new), "new": new}
        out: dict[str, dict[str, list[float]]] = {}
        for nfe in nfes:
            for label, stats in fits.items():
                scores = []
                for i in range(a.draws):
                    x = sample_default(s.mixture.denoiser, s.noise(4 + i), nfe, data=stats)
                    scores.append(sw1(torch.nan_to_num(x, nan=1e6), s.references))
                out.setdefault(str(nfe), {})[label] = scores
        print(json.dumps({"seed": seed, "name": problem.name, "n": n, "sw1": out}), flush=True)


if __name__ == "__main__":
    main()
