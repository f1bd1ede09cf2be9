"""The default sampler against its peers on the held-out part of `medgen.analytic.suite`.

Run as `python benchmarks/samplers.py --suite [--problems 48] [--samples 1000] [--out PATH]
[--checkpoint PATH.jsonl]`: with a checkpoint, each finished problem is appended to it as one JSON
line (every row's scores), and a rerun with the same samples skips the problems found there, or
draws on where a problem's convergence test stopped under a lower MAX_DRAWS.
Per problem: the exact denoiser in float64 (float32 moves anisotropic modes' weights); every
score is a mean over REFERENCES sets of n exact samples; the floor is the same score for
FLOOR_DRAWS fresh sets of n exact samples; the default (`sample_default` given n other exact
samples as its data, so that it knows the data as well as one reference set does, and again given
only the first 512 of them) and every peer from the same noise z at each NFE budget. The 50-NFE
convergence test reads the ratio of the default's mean SW1 over noise draws to the floor's mean
over fresh sets, with its 95% interval (`medgen.evaluate.ratios`), and draws more of both, BATCH
at a time up to MAX_DRAWS, while the interval holds the 15% bound: where one mode's share decides
SW1, one draw's SW1 varies by 10-40% of its mean, and means of 6 draws and 8 sets read a problem
at 1.20 x its floor that 30 and 30 put at 1.01 [0.88, 1.15] (experiments/samplers_suite/NOTES.md,
"Convergence read with its interval"); the 512-example row keeps its 3 draws, as its plateau is
the imprint it is there to show. Peers, each at its recommended levels (Karras 0.002-80, rho 7,
x = 80 z): diffusers' Euler, Heun, LMS and DPM++2M schedulers, and k-diffusion-style DPM++2M
(medgen's `dpmpp_2m`, k-diffusion's algorithm, on its get_sigmas_karras levels; its Euler, Heun
and LMS equal diffusers' rows to float rounding on these levels, benchmarks/results/samplers.txt,
so they are left out).
Scores: SW1 over 256 random directions; mode TV (the total-variation distance between the
histograms of each sample's most likely component, against the reference's) where the modes are
apart (K > 1 and nearest means >= MODES_APART component stds).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from medgen.analytic.mixture import GaussianMixture
from medgen.analytic.suite import Problem, make_problem, suite
from medgen.diffusion import SAMPLERS, Denoiser, karras_sigmas
from medgen.diffusion.defaults import DataStats, data_stats, sample_default, steps_for_nfe
from medgen.evaluate.ratios import ratio_of_means
from medgen.evaluate.sliced import sliced_wasserstein_1

NFES = (5, 10, 20, 50)
FLOOR_DRAWS = 8  # fresh exact sets the floor starts with (cheap: exact samples)
FEW_EXAMPLES = 512  # the second default row sees only this many examples (the imprint)
# noise draws each default row's 50-NFE SW1 starts with for the convergence test; while the ratio's
# interval holds CONVERGED, BATCH more draws and BATCH more floor sets, up to MAX_DRAWS draws
DEFAULT_DRAWS = {"medgen default": 6, "medgen default, 512 examples": 3}
# 192: where one set's SW1 spreads by a third of its mean (six overlapping modes in one dimension),
# 48 draws and sets leave +-0.14 on the log ratio, wider than the 15% it must decide
BATCH, MAX_DRAWS = 6, 192
# rows whose draws grow so: the default as a user gets it; the 512-example row shows the imprint of
# a small sample (a plateau by design), which more draws would only measure more finely
SEQUENTIAL = ("medgen default",)
CONVERGED = 1.15  # the bound: SW1 at 50 NFE within 15% of the floor
MODES_APART = 3.0  # mode TV where the median nearest-mean distance is >= this many stds
F64 = torch.float64
KDIFF = {"k-diffusion DPM++2M": "dpmpp_2m"}  # its Euler, Heun, LMS equal diffusers' rows
REFERENCES = 3  # reference sets: every SW1 and mode TV is a mean over them
DEFAULT = "medgen default"
DEFAULT_FEW = f"medgen default, {FEW_EXAMPLES} examples"
OURS = (DEFAULT, DEFAULT_FEW)
MAX_SAMPLES = 10_000  # --sample-budget never asks for more samples per set than this


def samples_for(problem: Problem, n: int, budget: int = 0) -> int:
    """Samples per set for `problem`: n, or more where the exact denoiser is cheap.

    With budget B > 0: max(n, B / (K d)) up to MAX_SAMPLES, so that every problem costs about
    the same. Why: where a rare mode lies far away (weights 0.08 / 0.69 / 0.24, modes 23-34
    apart), one set of 1,000 samples moves that mode's share by ~0.008, which moves SW1 by as much
    as a sampler's error; at 1,000 samples a peer that scored 0.33 at 20,000 (floor 0.05) read
    better than the default that scored 0.10 (experiments/samplers_suite/NOTES.md).
    """
    if budget <= 0:
        return n
    cost = problem.mixture.n_components * problem.mixture.dim
    return max(n, min(MAX_SAMPLES, budget // cost))


Run = Callable[[Denoiser, Tensor, int], Tensor]  # (denoiser, z, nfe) -> samples


class ProblemResult(NamedTuple):
    """One problem's scores: SW1 and mode TV per (row, NFE), the floor, the row labels."""

    problem: Problem
    sw1: dict[tuple[str, int], float]
    mode_tv: dict[tuple[str, int], float]  # empty where the modes are not apart
    floor_sw1: float
    floor_tv: float | None
    seconds: float
    samples: int  # samples per set this problem was scored with
    # per default row, its 50-NFE SW1 for each noise draw (the first is sw1's)
    draws: dict[str, list[float]]
    floor_sets: list[float]  # SW1 of each fresh exact set (floor_sw1 is their mean)


def default_runner(stats: DataStats) -> Run:
    """`sample_default` given the stats of the examples the user passes."""

    def run(denoiser: Denoiser, z: Tensor, nfe: int) -> Tensor:
        return sample_default(denoiser, z, nfe, data=stats)

    return run


def kdiff_runner(name: str) -> Run:
    """medgen's `name` on k-diffusion's recommended levels get_sigmas_karras(n, 0.002, 80, 7)."""

    def run(denoiser: Denoiser, z: Tensor, nfe: int) -> Tensor:
        from samplers import PEER_RHO, PEER_SIGMA_MAX, PEER_SIGMA_MIN

        n = steps_for_nfe(name, nfe)
        sigmas = karras_sigmas(n, PEER_SIGMA_MIN, PEER_SIGMA_MAX, PEER_RHO)
        return SAMPLERS[name](denoiser, PEER_SIGMA_MAX * z, sigmas)

    return run


def diffusers_runner(peer: str) -> Run:
    """diffusers' scheduler `peer` on its own Karras levels (benchmarks/samplers.py's runner)."""

    def run(denoiser: Denoiser, z: Tensor, nfe: int) -> Tensor:
        from samplers import PEER_SIGMA_MAX, Schedule, peer_runner

        schedule = Schedule("karras80", lambda n: torch.empty(0), PEER_SIGMA_MAX)
        x, _ = peer_runner(denoiser, peer, own_levels=True)(schedule, nfe, z, 0)
        return x

    return run


def peers() -> dict[str, Run]:
    """Every peer row at its recommended settings, by label."""
    from samplers import PEERS

    rows = {f"diffusers {peer}": diffusers_runner(peer) for peer in PEERS}
    return rows | {label: kdiff_runner(name) for label, name in KDIFF.items()}


def mode_tv(problem: Problem, x: Tensor, references: list[Tensor]) -> float:
    """Mean TV between the most-likely-component histograms of x and of each reference."""
    k = problem.mixture.n_components

    def hist(y: Tensor) -> Tensor:
        labels = problem.mixture.responsibilities(y.double()).argmax(dim=1)
        return torch.bincount(labels, minlength=k).double() / y.shape[0]

    return statistics.fmean(float(0.5 * (hist(x) - hist(r)).abs().sum()) for r in references)


def sw1(x: Tensor, references: list[Tensor]) -> float:
    """Mean SW1 (256 fixed directions) of x to each reference set."""
    return statistics.fmean(sliced_wasserstein_1(x, r) for r in references)


def has_modes(problem: Problem) -> bool:
    return problem.mixture.n_components > 1 and problem.separation >= MODES_APART


class Setting(NamedTuple):
    """What every row of one problem is scored with, rebuilt the same from the problem's seed."""

    mixture: GaussianMixture  # float64
    references: list[Tensor]  # REFERENCES exact sets, seeds 1, 2, ...
    data: Tensor  # the examples the default is given, seed 100

    def draw(self, seed: int) -> Tensor:
        n = self.references[0].shape[0]
        return self.mixture.sample(n, generator=torch.Generator().manual_seed(seed))

    def noise(self, seed: int) -> Tensor:
        n, d = self.references[0].shape
        return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)

    def floor_set(self, i: int) -> float:
        """SW1 of fresh exact set i (seed 10 + i, below the data's 100)."""
        return sw1(self.draw(10 + i), self.references)


def setting(problem: Problem, n: int) -> Setting:
    mix64 = problem.mixture.to(F64)

    def draw(seed: int) -> Tensor:
        return mix64.sample(n, generator=torch.Generator().manual_seed(seed))

    return Setting(mix64, [draw(1 + i) for i in range(REFERENCES)], draw(100))


def default_rows(data: Tensor) -> dict[str, Run]:
    """The two default rows: given every example, and given only the first FEW_EXAMPLES."""
    stats = {DEFAULT: data_stats(data), DEFAULT_FEW: data_stats(data[:FEW_EXAMPLES])}
    return {label: default_runner(s) for label, s in stats.items()}


def draw_on(
    s: Setting, run: Run, draws: list[float], floor_sets: list[float], max_draws: int
) -> tuple[list[float], list[float]]:
    """The convergence test's sequential draws: while the interval of the ratio of means holds
    CONVERGED, BATCH more 50-NFE draws of `run` (noise seeds 4, 5, ...; noise 4 is the table's z)
    and, as needed, BATCH more floor sets, up to max_draws draws. The seeds follow the counts, so
    drawing on from a checkpoint gives what one longer run would."""
    draws, floor_sets = list(draws), list(floor_sets)
    while undecided(draws, floor_sets) and len(draws) < max_draws:
        count = min(BATCH, max_draws - len(draws))
        seeds = range(4 + len(draws), 4 + len(draws) + count)
        draws += [sw1(run(s.mixture.denoiser, s.noise(seed), 50), s.references) for seed in seeds]
        if len(floor_sets) < len(draws) + FLOOR_DRAWS:
            first = len(floor_sets)
            floor_sets += [s.floor_set(i) for i in range(first, first + BATCH)]
    return draws, floor_sets


def run_problem(
    problem: Problem, n: int, nfes: tuple[int, ...] = NFES, max_draws: int = MAX_DRAWS
) -> ProblemResult:
    """The default and every peer at every budget on one problem, from one noise draw."""
    start = time.perf_counter()
    s = setting(problem, n)
    floor_sets = [s.floor_set(i) for i in range(FLOOR_DRAWS)]
    z, denoiser = s.noise(4), s.mixture.denoiser
    rows = default_rows(s.data) | peers()
    modes = has_modes(problem)
    scores, tv = {}, {}
    for label, run in rows.items():
        for nfe in nfes:
            x = torch.nan_to_num(run(denoiser, z, nfe), nan=1e6, posinf=1e6, neginf=-1e6)
            scores[label, nfe] = sw1(x, s.references)
            if modes:
                tv[label, nfe] = mode_tv(problem, x, s.references)

    draws: dict[str, list[float]] = {}
    if 50 in nfes:
        for label in OURS:
            seeds = range(5, 4 + DEFAULT_DRAWS[label])  # after the table's z
            more = [sw1(rows[label](denoiser, s.noise(i), 50), s.references) for i in seeds]
            draws[label] = [scores[label, 50], *more]
        for label in SEQUENTIAL:
            draws[label], floor_sets = draw_on(s, rows[label], draws[label], floor_sets, max_draws)
    floor_sw1 = statistics.fmean(floor_sets)
    fresh = [s.draw(10 + i) for i in range(FLOOR_DRAWS)] if modes else []
    floor_tv = statistics.fmean(mode_tv(problem, f, s.references) for f in fresh) if modes else None
    seconds = time.perf_counter() - start
    return ProblemResult(problem, scores, tv, floor_sw1, floor_tv, seconds, n, draws, floor_sets)


def draw_on_from(result: ProblemResult, max_draws: int = MAX_DRAWS) -> ProblemResult:
    """A checkpointed result whose convergence test stopped at a lower cap, drawn on to
    max_draws: the same numbers one run with that cap gives."""
    start = time.perf_counter()
    s = setting(result.problem, result.samples)
    rows = default_rows(s.data)
    draws, floor_sets = dict(result.draws), result.floor_sets
    for label in SEQUENTIAL:
        draws[label], floor_sets = draw_on(s, rows[label], draws[label], floor_sets, max_draws)
    return result._replace(
        draws=draws,
        floor_sets=floor_sets,
        floor_sw1=statistics.fmean(floor_sets),
        seconds=result.seconds + time.perf_counter() - start,
    )


def needs_more_draws(result: ProblemResult, max_draws: int = MAX_DRAWS) -> bool:
    """Whether a result's convergence test is still undecided below max_draws."""
    return any(
        undecided(result.draws[label], result.floor_sets) and len(result.draws[label]) < max_draws
        for label in SEQUENTIAL
        if label in result.draws
    )


def undecided(draws: list[float], floor_sets: list[float]) -> bool:
    """Whether the interval of mean(draws) / mean(floor_sets) holds the CONVERGED bound."""
    r = ratio_of_means(draws, floor_sets)
    return r.low <= CONVERGED <= r.high


def to_json(result: ProblemResult, n: int) -> str:
    """One checkpoint line: the seed, the samples per set and every score."""
    return json.dumps(
        {
            "seed": result.problem.seed,
            "name": result.problem.name,
            "n": n,
            "samples": result.samples,
            "sw1": [[label, nfe, v] for (label, nfe), v in result.sw1.items()],
            "mode_tv": [[label, nfe, v] for (label, nfe), v in result.mode_tv.items()],
            "floor_sw1": result.floor_sw1,
            "floor_tv": result.floor_tv,
            "seconds": result.seconds,
            "draws": result.draws,
            "floor_sets": result.floor_sets,
        }
    )


def from_json(line: str) -> tuple[int, ProblemResult] | None:
    """(samples per set, result) of one checkpoint line; the problem is rebuilt from its seed.
    None when the seed now draws another problem than the line names (the suite changed)."""
    d = json.loads(line)
    problem = make_problem(d["seed"])
    if d.get("name") != problem.name or not isinstance(d.get("floor_sets"), list):
        return None  # another problem, or scored before the floor kept each set's SW1
    return d["n"], ProblemResult(
        problem,
        {(label, nfe): v for label, nfe, v in d["sw1"]},
        {(label, nfe): v for label, nfe, v in d["mode_tv"]},
        d["floor_sw1"],
        d["floor_tv"],
        d["seconds"],
        d.get("samples", d["n"]),
        d["draws"],
        d["floor_sets"],
    )


def load_checkpoint(path: str, n: int, budget: int = 0) -> dict[int, ProblemResult]:
    """The results already in `path` scored as `samples_for(problem, n, budget)` asks, by seed
    (none if it is missing)."""
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
    except FileNotFoundError:
        return {}
    done = {}
    for line in lines:
        try:
            read = from_json(line)
        except (json.JSONDecodeError, KeyError):  # a line cut by a kill mid-write
            continue
        if read is not None and read[0] == n:
            result = read[1]
            if result.samples == samples_for(result.problem, n, budget):
                done[result.problem.seed] = result
    return done


def run_suite(
    n_problems: int,
    n: int,
    part: str = "held_out",
    checkpoint: str | None = None,
    shard: tuple[int, int] = (0, 1),
    budget: int = 0,
    skip: int = 0,
) -> list[ProblemResult]:
    """run_problem on the first n_problems of `part`, printing one line per problem; with a
    checkpoint, problems already in it are read back and new ones appended as they finish.
    shard (i, k): only every k-th problem from the i-th, so that k processes can share a
    checkpoint; a run without a shard then reads them all back. A checkpointed problem whose
    convergence test is still undecided below MAX_DRAWS is drawn on (`draw_on_from`) and appended
    again; the later line wins. budget: `samples_for`. skip: start after the part's first `skip`
    problems (a fresh draw of the part for a changed rule)."""
    done = load_checkpoint(checkpoint, n, budget) if checkpoint else {}
    index, count = shard
    results = []
    for problem in suite(part, skip + n_problems)[skip:][index::count]:
        if problem.seed in done and not needs_more_draws(done[problem.seed]):
            results.append(done[problem.seed])
            continue
        if problem.seed in done:  # scored under a lower cap on the convergence test's draws
            results.append(draw_on_from(done[problem.seed]))
        else:
            results.append(run_problem(problem, samples_for(problem, n, budget)))
        if checkpoint:
            with open(checkpoint, "a") as f:
                f.write(to_json(results[-1], n) + "\n")
        print(
            f"  {problem.seed}: {problem.name} {results[-1].samples} samples "
            f"{results[-1].seconds:.0f} s",
            flush=True,
        )
    return results
