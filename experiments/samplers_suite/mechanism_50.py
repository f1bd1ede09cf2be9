"""Where the default's excess over the floor at 50 NFE comes from, on problems where sigma_max does
not move it: the start's sample (imprint), the start's law, or the solver.

Per problem (suite seed), at the benchmark's samples per set and with its reference sets, floor
sets and 512-example sample, each variant's SW1 over DRAWS noise draws (seeds 4, 5, ...):

- default: the start fitted to the 512 examples, LMS at 50 NFE (the benchmark's row);
- exact_fit: the start fitted to the exact mean and covariance, same sigma_max (no imprint);
- full_cov: the start's covariance from all n examples, not the first 512 (`data_stats`' cap);
- default_1000 / exact_fit_1000: the same starts, LMS at 1,000 NFE (no solver error);
- exact_start: x = a fresh exact sample + sigma_max z, the true p(x; sigma_max), LMS at 50 NFE
  (the solver's error alone); exact_start_1000: the same at 1,000 NFE (should read the floor).

Besides SW1, each set's mode-share error: half the L1 distance of its shares (each sample's most
responsible component) from the weights. Prints one JSON line per problem.

    python experiments/samplers_suite/mechanism_50.py --seeds 13,33,36 --draws 24 >> OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys

import torch
from torch import Tensor

sys.path.insert(0, "benchmarks")
sys.path.insert(0, "experiments/samplers_suite")
from sigma_max_at_50 import seeds_of

from medgen.analytic.mixture import GaussianMixture
from medgen.analytic.suite import make_problem
from medgen.diffusion import SAMPLERS
from medgen.diffusion.defaults import (
    DEFAULT_SAMPLER,
    DEFAULT_SIGMA_MIN,
    DEFAULT_TO_ZERO,
    DataStats,
    data_stats,
    default_sigmas,
    gaussian_fit_start,
    sigma_max_of,
    steps_for_nfe,
)
from medgen.evaluate.ratios import ratio_of_means
from samplers_suite import samples_for, sw1

F64 = torch.float64


def exact_stats(mix: GaussianMixture, diameter: float) -> DataStats:
    """The mixture's own mean and covariance as DataStats, with a given diameter."""
    cov = mix.covariance()
    eigenvalues, vectors = torch.linalg.eigh(cov)
    scales = eigenvalues.clamp(min=0).sqrt().flip(0)
    axes = vectors.T.flip(0)
    sigma_data = float((eigenvalues.sum() / mix.dim).sqrt())
    return DataStats(mix.mean, sigma_data, diameter, axes, scales)


def full_cov_stats(x: Tensor, sample: DataStats) -> DataStats:
    """The sample's stats with the covariance taken from every example of x, not its first 512."""
    centred = (x - x.mean(dim=0)) / math.sqrt(x.shape[0] - 1)
    _, scales, axes = torch.linalg.svd(centred, full_matrices=False)
    return sample._replace(axes=axes, scales=scales)


def lms(mix: GaussianMixture, x: Tensor, sigma_max: float, nfe: int) -> Tensor:
    n = steps_for_nfe(DEFAULT_SAMPLER, nfe, to_zero=DEFAULT_TO_ZERO)
    sigmas = default_sigmas(n, DEFAULT_SIGMA_MIN, sigma_max)
    return SAMPLERS[DEFAULT_SAMPLER](mix.denoiser, x, sigmas)


def shares_of(mix: GaussianMixture, x: Tensor) -> Tensor:
    """Each component's share of x, a sample counted where it is most responsible."""
    label = mix.responsibilities(x).argmax(dim=1)
    return torch.bincount(label, minlength=mix.n_components).double() / len(x)


def share_error(mix: GaussianMixture, x: Tensor) -> float:
    return float((shares_of(mix, x) - mix.weights).abs().sum() / 2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", required=True)
    p.add_argument("--draws", type=int, default=24)
    p.add_argument("--floor", type=int, default=24)
    p.add_argument("--slow-draws", type=int, default=8, help="draws of the 1,000-NFE variants")
    p.add_argument(
        "--variants",
        default="default,exact_fit,exact_start,default_1000,exact_fit_1000,exact_start_1000",
    )
    a = p.parse_args()
    torch.set_num_threads(1)
    for seed in seeds_of(a.seeds):
        problem = make_problem(seed)
        mix = problem.mixture.to(F64)
        n = samples_for(problem, 1000, 2_000_000)

        def draw(s: int, mix: GaussianMixture = mix, n: int = n) -> Tensor:
            return mix.sample(n, generator=torch.Generator().manual_seed(s))

        refs = [draw(1 + i) for i in range(3)]
        examples = draw(100)
        sample = data_stats(examples)
        sigma_max = sigma_max_of(sample)
        fits = {
            "default": sample,
            "exact_fit": exact_stats(mix, sample.diameter),
            "full_cov": full_cov_stats(examples, sample),
        }
        floor_sets = [draw(10 + i) for i in range(a.floor)]
        floor = [sw1(x, refs) for x in floor_sets]
        record: dict = {
            "seed": seed,
            "name": problem.name,
            "n": n,
            "floor": floor,
            "floor_share": [share_error(mix, x) for x in floor_sets],
            "weights": mix.weights.tolist(),
            "variants": {},
        }
        for variant in a.variants.split(","):
            base = variant.removesuffix("_1000")
            nfe = 1000 if variant.endswith("_1000") else 50
            draws = a.slow_draws if nfe == 1000 else a.draws
            sws, shares, mean_shares = [], [], torch.zeros(mix.n_components, dtype=F64)
            for i in range(draws):
                z = torch.randn(
                    n, mix.dim, generator=torch.Generator().manual_seed(4 + i), dtype=F64
                )
                if base == "exact_start":
                    x0 = draw(1000 + i) + sigma_max * z
                else:
                    x0 = gaussian_fit_start(fits[base], sigma_max, z)
                x = lms(mix, x0, sigma_max, nfe)
                sws.append(sw1(torch.nan_to_num(x, nan=1e6), refs))
                shares.append(share_error(mix, x))
                mean_shares += shares_of(mix, x) / draws
            r = ratio_of_means(sws, floor)
            record["variants"][variant] = {
                "sw1": sws,
                "share": shares,
                "mean_shares": mean_shares.tolist(),
            }
            print(
                f"# {seed} {variant:17s} {r.ratio:.3f} [{r.low:.3f}, {r.high:.3f}] "
                f"share err {statistics.fmean(shares):.4f} "
                f"(floor {statistics.fmean(record['floor_share']):.4f})",
                file=sys.stderr,
                flush=True,
            )
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
