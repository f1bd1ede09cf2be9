"""What twice the diameter does at 50 NFE on the tuning part, paired by noise draw.

Reads the sweep `sigma_max_at_50.py --factors 1,2,3` wrote (each factor ran on the same noise
draws) and prints, per problem, the ratio to the floor at 1 / 2 / 3 diameters and the geometric
mean over draws of SW1(2 diameters) / SW1(1 diameter) with its standard error on the log.

    python experiments/samplers_suite/factor_pairs.py \
        experiments/samplers_suite/tuning_factors_50nfe.jsonl > factor_pairs.txt
"""

from __future__ import annotations

import json
import math
import statistics
import sys


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    out = []
    for r in rows:
        f, floor = r["f"], r["floor"]
        logs = [math.log(b / a) for a, b in zip(f["1.0"], f["2.0"], strict=True)]
        se = statistics.stdev(logs) / math.sqrt(len(logs))
        ratios = [statistics.fmean(f[k]) / floor for k in ("1.0", "2.0", "3.0")]
        out.append((math.exp(statistics.fmean(logs)), se, r["seed"], r["name"], ratios))
    print(f"{len(rows)} problems; sorted by SW1 at 2 diameters over SW1 at 1, paired by draw")
    for paired, se, seed, name, (a, b, c) in sorted(out, reverse=True):
        print(
            f"{seed:3d} {name:40s} x floor {a:.2f} / {b:.2f} / {c:.2f}  2:1 {paired:.3f} ({se:.3f})"
        )


if __name__ == "__main__":
    main()
