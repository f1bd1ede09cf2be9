"""Benchmark `medgen data make`: slices/second at sizes 64 and 128, 1 worker vs all cores, peak
memory, and the full default 15,000-slice build at 64x64 against its 3-minute target.

Each case runs in a fresh process (template loading included, as a user sees it).
Run: python benchmarks/bench_data_make.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASE = """
import json, resource, sys, time
from medgen.data.synth import DataConfig, make_dataset
size, n, workers, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cfg = DataConfig(size=size, n_train=n * 8 // 15, n_dev=n // 3, n_test=n - n * 8 // 15 - n // 3)
t0 = time.perf_counter()
make_dataset(out, cfg, workers=workers)
wall = time.perf_counter() - t0
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"wall": wall, "peak_mib": rss / 1024}))
"""


def run_case(size: int, n: int, workers: int) -> dict[str, float]:
    """Build n slices at `size` with `workers` in a fresh process; wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CASE, str(size), str(n), str(workers), f"{tmp}/data"],
            check=True,
            capture_output=True,
            text=True,
        )
        total = time.perf_counter() - t0
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return {"total_s": total, "build_s": stats["wall"], "peak_mib": stats["peak_mib"]}


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_parallelism(workers: int, n: int = 5_000_000) -> float:
    """Speed-up of `workers` processes over one on pure CPU work: the most this VM can give."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    for _ in range(workers):
        _spin(n)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_spin, [n] * workers)
    return serial / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller cases (a smoke run)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    n = 1500 if args.quick else 3000
    print(f"medgen data make benchmark: {cores} cores, {n} slices per case")
    control = machine_parallelism(cores)
    print(f"control: {cores} processes of pure CPU work run {control:.2f}x faster than one\n")
    header = f"{'size':>5} {'workers':>8} {'slices/s':>9} {'vs 1 worker':>12} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for size in (64, 128):
        base = None
        for workers in (1, cores):
            r = run_case(size, n, workers)
            rate = n / r["build_s"]
            base = base or rate
            print(
                f"{size:>5} {workers:>8} {rate:>9.0f} {rate / base:>11.2f}x {r['peak_mib']:>9.0f}"
            )
    if not args.quick:
        full = run_case(64, 15000, cores)
        verdict = "meets" if full["total_s"] < 180 else "MISSES"
        print(
            f"\nfull default set (15,000 slices, 64x64, {cores} workers): "
            f"{full['total_s']:.0f} s including start-up = {full['total_s'] / 180:.2f} of the "
            f"3-minute target ({verdict} it); peak {full['peak_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
