"""Candidate sigma_max rules, levels and solvers on the TUNING part of `medgen.analytic.suite`.

    OMP_NUM_THREADS=1 python experiments/samplers_suite/explore.py --variants all --n 1500

Each variant is (sampler, rho, rule, c, centred start): sigma_max = c * statistic of a 512-sample
draw of the data, started from x = m + sqrt(sigma_max^2 + sigma_data^2) z (m = the sample mean when
centred, else 0). Prints SW1 per problem and the ratio to the best peer (medgen's k-diffusion-
style samplers on Karras 0.002-80 rho 7, x = 80 z) and to the floor.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from medgen.analytic.suite import Problem, make_problem, suite
from medgen.diffusion import SAMPLERS, karras_sigmas
from medgen.diffusion.defaults import steps_for_nfe
from medgen.evaluate.sliced import sliced_wasserstein_1

F32 = torch.float32


class Variant(NamedTuple):
    sampler: str
    rho: float
    rule: str  # "max": largest pairwise distance; "q99": its 99th percentile; "sd": sigma_data
    c: float
    centred: int  # 0: x = s z; 1: x = m + s z; 2: x = m + sqrt(C + sigma_max^2 I) z (Gaussian fit)
    sigma_min: float = 0.002


def stats(x: Tensor) -> dict[str, float | Tensor]:
    flat = x.double()[:512]
    dist = torch.cdist(flat, flat)
    upper = dist[torch.triu(torch.ones_like(dist, dtype=torch.bool), diagonal=1)]
    centred = (flat - flat.mean(0)) / math.sqrt(flat.shape[0] - 1)
    _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
    sq = upper.square()
    nearest = (dist + torch.diag(torch.full((dist.shape[0],), math.inf))).min(dim=1).values
    return {
        "mean": flat.mean(0),
        "sd": float(flat.var(0).mean().sqrt()),
        "max": float(upper.max()),
        "q99": float(torch.quantile(upper, 0.99)),
        "q90": float(torch.quantile(upper, 0.9)),
        "excess": float((sq.max() - sq.median()).clamp_min(0).sqrt()),
        "lam": float(sv[0]),
        "nn": float((sq.max() - nearest.median().square()).clamp_min(0).sqrt()),
        "sv": sv,
        "vh": vh,
    }


def gaussian_fit_start(s: dict, sigma_max: float, z: Tensor) -> Tensor:
    """m + sqrt(C + sigma_max^2 I) z with C the sample covariance (its SVD: C = V S^2 V^T)."""
    sv, vh = s["sv"].to(z.dtype), s["vh"].to(z.dtype)
    gain = (sv.square() + sigma_max**2).sqrt() - sigma_max
    return s["mean"].to(z.dtype) + sigma_max * z + ((z @ vh.T) * gain) @ vh


def run_variant(v: Variant, p: Problem, s: dict, z: Tensor, nfe: int) -> Tensor:
    sigma_max = v.c * float(s[v.rule])
    n = steps_for_nfe(v.sampler, nfe, to_zero=False)
    sigmas = karras_sigmas(n + 1, v.sigma_min, sigma_max, v.rho)[:-1]
    if v.centred == 2:
        x = gaussian_fit_start(s, sigma_max, z)
    else:
        start = math.hypot(sigma_max, float(s["sd"]))
        x = start * z + (s["mean"].to(z.dtype) if v.centred else 0.0)
    den = p.mixture.denoiser
    return SAMPLERS[v.sampler](den, x, sigmas, generator=torch.Generator().manual_seed(0))


def run_peer(name: str, p: Problem, z: Tensor, nfe: int) -> Tensor:
    n = steps_for_nfe(name, nfe)
    sigmas = karras_sigmas(n, 0.002, 80.0, 7.0)
    return SAMPLERS[name](p.mixture.denoiser, 80.0 * z, sigmas)


PEERS = ("euler", "heun", "lms", "dpmpp_2m")


def parse(text: str) -> Variant:
    sampler, rho, rule, c, centred = text.split(":")
    return Variant(sampler, float(rho), rule, float(c), int(centred))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", default=["lms:2:sd:3:0", "lms:2:max:1:1"])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--problems", type=int, default=48)
    ap.add_argument("--nfe", default="10,20,50")
    ap.add_argument("--part", default="tuning")
    ap.add_argument("--seeds", help="comma-separated seeds of the tuning part instead")
    ap.add_argument("--shard", default="0/1", help="i/k: every k-th problem from the i-th")
    ap.add_argument("--f64", action="store_true", help="run the exact denoiser in float64")
    ap.add_argument(
        "--data-draws", type=int, default=1, help="mean over this many 512-example data draws"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    nfes = [int(v) for v in args.nfe.split(",")]
    variants = [parse(t) for t in args.variants]
    ratios: dict[tuple[int, int], list[float]] = {}
    floors: dict[tuple[int, int], list[float]] = {}
    problems = suite(args.part, args.problems, dtype=torch.float64)
    if args.seeds:
        problems = [make_problem(int(v)) for v in args.seeds.split(",")]
    shard, shards = (int(v) for v in args.shard.split("/"))
    problems = problems[shard::shards]
    dt = torch.float64 if args.f64 else F32
    for p in problems:
        t0 = time.perf_counter()
        mix = p.mixture
        exact = mix.sample(args.n, generator=torch.Generator().manual_seed(1)).to(dt)
        fresh = mix.sample(args.n, generator=torch.Generator().manual_seed(2)).to(dt)
        draws = [
            mix.sample(512, generator=torch.Generator().manual_seed(3 + 1000 * i)).to(dt)
            for i in range(args.data_draws)
        ]
        z = torch.randn(args.n, mix.dim, generator=torch.Generator().manual_seed(4), dtype=dt)
        p = p._replace(mixture=mix.to(dt))
        all_stats = [stats(data) for data in draws]
        floor = sliced_wasserstein_1(fresh, exact)
        line = [f"{p.seed:3d} {p.name:42s} floor {floor:.3g}"]
        for nfe in nfes:
            peer = min(sliced_wasserstein_1(run_peer(q, p, z, nfe), exact) for q in PEERS)
            cells = []
            for i, v in enumerate(variants):
                sw = float(
                    np.mean(
                        [
                            sliced_wasserstein_1(run_variant(v, p, s, z, nfe), exact)
                            for s in all_stats
                        ]
                    )
                )
                ratios.setdefault((i, nfe), []).append(sw / peer)
                floors.setdefault((i, nfe), []).append(sw / floor)
                cells.append(f"{sw / peer:.2f}/{sw / floor:.2f}")
            line.append(f"| {nfe}: peer {peer:.3g} " + " ".join(cells))
        print(" ".join(line), f"({time.perf_counter() - t0:.0f}s)", flush=True)
    print("\nvariant: per NFE median/max ratio to best peer, share <= 1.1, max ratio to floor")
    for i, v in enumerate(variants):
        cells = []
        for nfe in nfes:
            r, f = np.array(ratios[i, nfe]), np.array(floors[i, nfe])
            cells.append(
                f"{nfe}: {np.median(r):.2f}/{r.max():.2f}/{(r <= 1.1).mean():.2f}/{f.max():.2f}"
            )
        print(f"{':'.join(map(str, v))}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
