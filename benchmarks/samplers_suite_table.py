"""The held-out suite's table: per problem the default against the best peer, mode TV, and the
summary rows with the 50-NFE convergence verdicts (`samplers_suite.py` runs the problems)."""

from __future__ import annotations

import statistics

from medgen.evaluate.ratios import Ratio, ratio_of_means
from samplers_suite import (
    BATCH,
    CONVERGED,
    DEFAULT,
    DEFAULT_DRAWS,
    FLOOR_DRAWS,
    MAX_DRAWS,
    NFES,
    OURS,
    REFERENCES,
    SEQUENTIAL,
    ProblemResult,
)


def best_peer(result: ProblemResult, nfe: int) -> tuple[str, float]:
    """The peer with the lowest SW1 at this budget, and that SW1."""
    peer_sw1 = {label: v for (label, b), v in result.sw1.items() if b == nfe and label not in OURS}
    label = min(peer_sw1, key=peer_sw1.__getitem__)
    return label, peer_sw1[label]


def ratio(result: ProblemResult, nfe: int, row: str = DEFAULT) -> float:
    """A default row's SW1 over the best peer's."""
    return result.sw1[row, nfe] / best_peer(result, nfe)[1]


def draws_of(result: ProblemResult, row: str) -> list[float]:
    """The row's 50-NFE draws the verdict reads: every draw of a SEQUENTIAL row, the first
    DEFAULT_DRAWS of another (a checkpoint line may hold more)."""
    draws = result.draws[row]
    return draws if row in SEQUENTIAL else draws[: DEFAULT_DRAWS[row]]


def convergence(result: ProblemResult, row: str = DEFAULT, nfe: int = 50) -> tuple[str, Ratio]:
    """A default row's 50-NFE verdict and its ratio to the floor (mean over its noise draws over
    the mean of the fresh sets, with the 95% interval):

    - "shown": the whole interval within 15% of the floor;
    - "within": the ratio within 15%, its interval still reaching past it after MAX_DRAWS draws;
    - "near the best peer": no row gets within 15% of the floor, and the default is within 10%
      of the best peer (or better);
    - "not shown": the ratio over 15%, its interval still holding 15% after MAX_DRAWS draws;
    - "plateau": the whole interval over 15%.
    """
    r = ratio_of_means(draws_of(result, row), result.floor_sets)
    if r.ratio <= CONVERGED:
        return ("shown" if r.high <= CONVERGED else "within"), r
    nearest = min(v for (_, b), v in result.sw1.items() if b == nfe)
    ours = statistics.fmean(draws_of(result, row))
    if nearest > CONVERGED * result.floor_sw1 and ours <= 1.1 * best_peer(result, nfe)[1]:
        return "near the best peer", r
    return ("plateau" if r.low > CONVERGED else "not shown"), r


def converged(result: ProblemResult, row: str = DEFAULT, nfe: int = 50) -> bool:
    """Whether the issue's convergence bound holds: the ratio to the floor within 15%, or the
    default within 10% of the best peer where no row gets near the floor."""
    return convergence(result, row, nfe)[0] in ("shown", "within", "near the best peer")


def problem_lines(results: list[ProblemResult], nfes: tuple[int, ...] = NFES) -> list[str]:
    """One line per problem: floor, then per NFE the default's SW1 / best peer's SW1 (ratio)."""
    head = f"{'seed':>6s} {'problem':44s} {'n':>6s} {'floor':>7s}" + "".join(
        f" | {nfe:>3d} NFE: default / best peer (ratio)" for nfe in nfes
    )
    lines = [head]
    for r in results:
        cells = []
        for nfe in nfes:
            label, peer = best_peer(r, nfe)
            short = label.replace("diffusers ", "d:").replace("k-diffusion ", "k:")
            cells.append(
                f" | {r.sw1[DEFAULT, nfe]:8.4g} / {peer:8.4g} {short:10s} ({ratio(r, nfe):5.2f})"
            )
        lines.append(
            f"{r.problem.seed:6d} {r.problem.name:44s} {r.samples:6d} {r.floor_sw1:7.4g}"
            + "".join(cells)
        )
    return lines


def mode_lines(results: list[ProblemResult], nfes: tuple[int, ...] = NFES) -> list[str]:
    """Mode TV where the modes are apart: floor, then per NFE the default's and the best peer's."""
    lines = [
        f"{'seed':>6s} {'floor':>6s}" + "".join(f" | {n:>3d}: default best-peer" for n in nfes)
    ]
    for r in results:
        if r.floor_tv is None:
            continue
        cells = []
        for nfe in nfes:
            peers = [v for (label, b), v in r.mode_tv.items() if b == nfe and label not in OURS]
            cells.append(f" | {r.mode_tv[DEFAULT, nfe]:12.4f} {min(peers):9.4f}")
        lines.append(f"{r.problem.seed:6d} {r.floor_tv:6.4f}" + "".join(cells))
    return lines


def summary_lines(results: list[ProblemResult], nfes: tuple[int, ...] = NFES) -> list[str]:
    """Per default row: median and worst ratio to the best peer, share within 10%, and the 50-NFE
    convergence; then the worst five problems of the default at 10 and 20 NFE."""
    lines = []
    for row in OURS:
        lines += [
            f"{row}",
            f"{'NFE':>4s} {'median ratio':>13s} {'worst ratio':>12s} {'share <= 1.1':>13s}",
        ]
        for nfe in nfes:
            ratios = [ratio(r, nfe, row) for r in results]
            share = sum(v <= 1.1 for v in ratios) / len(ratios)
            lines.append(
                f"{nfe:4d} {statistics.median(ratios):13.3f} {max(ratios):12.3f} {share:13.2f}"
            )
        if 50 in nfes:
            lines += convergence_lines(results, row)
        lines.append("")
    for nfe in (10, 20):
        if nfe not in nfes:
            continue
        worst = sorted(results, key=lambda r: -ratio(r, nfe))[:5]
        lines.append(
            f"worst five at {nfe} NFE: "
            + ", ".join(f"{r.problem.seed} {r.problem.name} ({ratio(r, nfe):.2f})" for r in worst)
        )
    return lines


def convergence_lines(results: list[ProblemResult], row: str) -> list[str]:
    """The 50-NFE verdicts of one default row: counts, the problems that fail, the five highest
    ratios to the floor with their intervals and draws."""
    verdicts = [convergence(r, row) for r in results]
    count = {
        v: sum(k == v for k, _ in verdicts)
        for v in ("shown", "within", "near the best peer", "not shown", "plateau")
    }
    ok = count["shown"] + count["within"] + count["near the best peer"]
    drawn = (
        f"{BATCH} more of each while the interval holds {CONVERGED} (from {DEFAULT_DRAWS[row]} "
        f"draws and {FLOOR_DRAWS} sets, up to {MAX_DRAWS} draws)"
        if row in SEQUENTIAL
        else f"{DEFAULT_DRAWS[row]} draws"
    )
    lines = [
        f"50 NFE, ratio of the mean SW1 over noise draws to the floor's mean over fresh sets, 95% "
        f"interval; {drawn}: within 15% of the floor (or within 10% of the best peer where no "
        f"row gets there) on {ok}/{len(results)} problems; within 15% by the whole interval on "
        f"{count['shown']}, by the ratio on {count['within']}, near the best peer on "
        f"{count['near the best peer']}; not shown on {count['not shown']}; a plateau on "
        f"{count['plateau']}"
    ]
    lines += [
        f"  {r.problem.seed}: {verdict}, {to_floor.ratio:.2f} [{to_floor.low:.2f}, "
        f"{to_floor.high:.2f}] x floor, {len(draws_of(r, row))} draws, {len(r.floor_sets)} sets"
        for r, (verdict, to_floor) in zip(results, verdicts, strict=True)
        if verdict in ("not shown", "plateau")
    ]
    highest = sorted(zip(results, verdicts, strict=True), key=lambda p: -p[1][1].ratio)[:5]
    lines.append(
        "highest five ratios to the floor: "
        + ", ".join(
            f"{r.problem.seed} {to_floor.ratio:.2f} [{to_floor.low:.2f}, {to_floor.high:.2f}] "
            f"({len(draws_of(r, row))} draws)"
            for r, (_, to_floor) in highest
        )
    )
    return lines


def report(results: list[ProblemResult], command: str, n: int) -> str:
    """The whole table as text, the command on top."""
    apart = sum(best_peer(r, 10)[1] > 1.1 * r.floor_sw1 for r in results)
    minutes = sum(r.seconds for r in results) / 60
    parts = [
        command,
        f"held-out part of medgen.analytic.suite: {len(results)} problems, "
        f"{min(r.samples for r in results)} to {max(r.samples for r in results)} samples per set "
        f"(column n), "
        f"means over {REFERENCES} reference sets; floor: the mean over fresh exact sets (from "
        f"{FLOOR_DRAWS}; more where the convergence test needs them)",
        f"the floor is more than 10% below the best peer's 10-NFE SW1 on {apart} of "
        f"{len(results)} problems (the rows stand out of sampling noise); "
        f"{minutes:.0f} minutes on one thread of a shared 2-core machine",
        "",
        "SW1 per problem (ratio = default / best peer)",
        *problem_lines(results),
        "",
        "mode TV where the modes are apart (K > 1, nearest means >= 3 stds)",
        *mode_lines(results),
        "",
        "summary",
        *summary_lines(results),
    ]
    return "\n".join(parts) + "\n"
