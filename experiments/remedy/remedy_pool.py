"""Pool the detectors of several remedy calls: each arm's brainstem error over all its seeds,
the share of the real arm's gain each arm recovers, and how far that share moves by seed.

Why: a call trains every arm at its detector seeds; more seeds come from a second call with
`--seed K` (same added data, other detectors). This script reads each call's
remedy_seeds.csv, refuses an arm and seed that two calls measured differently, and prints:
the slice error per arm and set (mean over seeds, each seed beside it), the share of the real
arm's gain per set and pooled over dev and test (weighted by their tumours), and a bootstrap
interval of the pooled share (each arm's detectors resampled with replacement).

    python benchmarks/remedy_pool.py W1/remedy W2/remedy:baseline,real [--bootstrap 4000]

A folder may end in ":arm,arm": only those arms of that call are read (e.g. an arm whose code
has changed since that call).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from medgen.errors.remedy import over_seeds, recovered

POOLED = "dev+test"
KEYS = ["arm", "set", "scope", "seed"]


def read_call(spec: str) -> pd.DataFrame:
    """The per-seed rows of one call: "FOLDER" or "FOLDER:arm,arm" (only those arms)."""
    folder, _, arms = spec.rpartition(":") if ":" in spec else (spec, "", "")
    path = Path(folder) / "remedy_seeds.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (give the remedy folder of a call)")
    rows = pd.read_csv(path)
    if arms:
        wanted = arms.split(",")
        missing = sorted(set(wanted) - set(rows["arm"]))
        if missing:
            raise SystemExit(f"{path}: holds no arm {missing[0]!r}")
        rows = rows[rows["arm"].isin(wanted)]
    return rows


def read_calls(specs: list[str]) -> pd.DataFrame:
    """Every call's per-seed rows; a row two calls both hold must agree (else SystemExit)."""
    tables = [read_call(spec) for spec in specs]
    rows = pd.concat(tables, ignore_index=True)
    clash = rows.groupby(KEYS)["error"].nunique()
    if (clash > 1).any():
        arm, set_name, scope, seed = clash[clash > 1].index[0]
        raise SystemExit(f"arm {arm} seed {seed} ({set_name}, {scope}): two calls measured "
                         "different errors; pool calls trained alike")  # fmt: skip
    return rows.drop_duplicates(KEYS).reset_index(drop=True)


def with_pooled(per_seed: pd.DataFrame) -> pd.DataFrame:
    """per_seed with a POOLED set: dev and test slice errors weighted by their examples."""
    both = per_seed[per_seed["set"].isin(["dev", "test"]) & (per_seed["scope"] == "slice")]
    weighted = both.assign(wrong=both["error"] * both["n"])
    pooled = weighted.groupby(["arm", "added", "seed"], as_index=False)[["wrong", "n"]].sum()
    pooled = pooled.assign(set=POOLED, scope="slice", error=pooled["wrong"] / pooled["n"])
    return pd.concat([per_seed, pooled.drop(columns="wrong")], ignore_index=True)


def bootstrap_share(
    per_seed: pd.DataFrame, arm: str, rounds: int, seed: int
) -> tuple[float, float]:
    """5% and 95% quantiles of `arm`'s pooled share when each arm's detectors are resampled."""
    pooled = per_seed[(per_seed["set"] == POOLED)]
    errors = {a: g["error"].to_numpy() for a, g in pooled.groupby("arm")}
    rng = np.random.default_rng(seed)
    shares = []
    for _ in range(rounds):
        mean = {a: float(e[rng.integers(0, len(e), len(e))].mean()) for a, e in errors.items()}
        gap = mean["baseline"] - mean["real"]
        if gap > 0:
            shares.append((mean["baseline"] - mean[arm]) / gap)
    if not shares:
        return float("nan"), float("nan")
    low, high = np.quantile(shares, [0.05, 0.95])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folders", nargs="+", help="remedy folders of the calls (FOLDER or FOLDER:arm,arm)"
    )
    parser.add_argument("--bootstrap", type=int, default=4000, help="bootstrap rounds")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args()
    per_seed = with_pooled(read_calls(args.folders))
    arms = list(dict.fromkeys(per_seed["arm"]))
    if not {"baseline", "real"} <= set(arms):
        raise SystemExit("the calls hold no baseline or no real arm: no gain to share")
    slices = per_seed[per_seed["scope"] == "slice"]
    by_seed = slices.pivot_table(index="arm", columns=["set", "seed"], values="error")
    print("brainstem error per detector seed:")
    print(by_seed.reindex(arms).round(3).to_string())
    table = over_seeds(per_seed)
    shown = table[["arm", "set", "scope", "error", "low", "high", "n", "seeds", "seed_std"]]
    print("\nmean over seeds (Wilson 95% on the mean):")
    print(shown.round(3).to_string(index=False))
    print("\nshare of the real arm's gain on the slice:")
    shares = {s: recovered(table, s) for s in ("dev", "test", POOLED)}
    for arm in arms:
        if arm in ("baseline", "real"):
            continue
        low, high = bootstrap_share(per_seed, arm, args.bootstrap, args.seed)
        cells = "  ".join(f"{s} {100 * shares[s].get(arm, float('nan')):.0f}%" for s in shares)
        print(
            f"{arm:>10}  {cells}  ({POOLED}: 90% of detector resamples in "
            f"{100 * low:.0f}% .. {100 * high:.0f}%)"
        )


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(f"remedy_pool: {stop.code}", file=sys.stderr)
            sys.exit(2)
        raise
