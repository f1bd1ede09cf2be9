"""Issues 6 and 7 at GPU scale, in one call on a lent CUDA machine: every stage a subprocess,
the independent ones at once, all stopped at --deadline so that what finished is reported.

    python benchmarks/gpu_issues.py --out DIR [--deadline 540] [--tiny]

Stages:
  data       the built-in dataset (standard config), made by --workers processes
  tasks      benchmarks/tasks.py: issue 7's three peer tables, its runs trained on the GPU
  diffusion  a joint (image, mask) conditional diffusion model for the remedy loop
  gan        the same as a GAN
  (--no-tasks skips the tasks stage, leaving the GPU to the remedy)
  detector   benchmarks/detector.py: a larger segmentation net, accuracy by location, by parts
  remedy     one benchmarks/detector.py --remedy per arm against that baseline (real and augment
             at once, diffusion, inpaint and gan as soon as their generator is done), merged
             into one table with each arm's share of the real-data arm's gain, on dev and test;
             with --detector-seeds K each arm trains K detectors, in turn or, with
             --parallel-seeds, in K processes at once (the GPU has room for many small nets)

--tiny runs the same stages on a small dataset with tiny budgets: the dry run on a CPU.
Writes DIR/summary.txt (every table: errors, found and added), DIR/log.txt (every stage's
output) and DIR/remedy.csv.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from detector import add_inpaint_look_options  # this folder's detector.py

HERE = Path(__file__).resolve().parent
ARMS = ("baseline", "real", "augment", "diffusion", "inpaint", "gan")
GENERATOR_OF = {"diffusion": "diffusion", "inpaint": "diffusion", "gan": "gan"}  # arm -> stage


@dataclass(frozen=True)
class Scale:
    """Every size and budget of one call."""

    data: dict[str, Any]  # DataConfig overrides (empty: the standard dataset)
    tasks: list[str]  # benchmarks/tasks.py options
    generator_seconds: int
    detector: list[str]  # benchmarks/detector.py options shared by baseline and arms
    remedy_n: int
    workers: int = field(default_factory=lambda: min(16, os.cpu_count() or 1))


FULL = Scale(
    data={},
    tasks=["--minutes", "3.5", "--n", "64", "--tune", "8", "--batch", "64", "--threads", "4"],
    generator_seconds=150,
    detector=["--steps", "6000", "--channels", "32,64,128", "--batch-size", "64"],
    remedy_n=400,
)
TINY = Scale(
    data={"n_train": 400, "n_dev": 200, "n_test": 100},
    tasks=[
        "--minutes",
        "0.3",
        "--n",
        "4",
        "--tune",
        "2",
        "--n-train",
        "200",
        "--n-dev",
        "60",
        "--n-test",
        "40",
        "--batch",
        "8",
    ],
    generator_seconds=12,
    detector=["--steps", "20", "--channels", "8,16,32", "--batch-size", "8"],
    remedy_n=16,
)


class Stages:
    """Subprocesses with their logs and a shared deadline."""

    def __init__(self, work: Path, deadline: float) -> None:
        self.work, self.deadline = work, deadline
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, tuple[int | None, float]] = {}
        (work / "logs").mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def start(self, name: str, args: list[str]) -> None:
        log = (self.work / "logs" / f"{name}.txt").open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.running[name] = subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        self.started[name] = time.monotonic()
        print(f"[{self.elapsed():5.0f} s] start {name}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - START

    def poll(self) -> list[str]:
        """Names of the stages that ended since the last poll."""
        done = []
        for name, proc in list(self.running.items()):
            if proc.poll() is not None:
                self._end(name, proc.returncode)
                done.append(name)
        return done

    def _end(self, name: str, code: int | None) -> None:
        del self.running[name]
        self.ended[name] = (code, time.monotonic() - self.started[name])
        print(f"[{self.elapsed():5.0f} s] {name} ended: exit {code}", flush=True)

    def wait(self, name: str) -> bool:
        """Wait for one stage (at most until the deadline); True if it succeeded."""
        while name in self.running and self.left() > 0:
            self.poll()
            time.sleep(1)
        if name in self.running:
            return False
        return self.ended.get(name, (1, 0))[0] == 0

    def stop_all(self) -> None:
        for name, proc in list(self.running.items()):
            proc.kill()
            proc.wait()
            self._end(name, None)


START = time.monotonic()


def make_data(out: Path, overrides: dict[str, Any], workers: int) -> None:
    from medgen.data.synth import DataConfig, make_dataset

    if not (out / "manifest.json").exists():
        make_dataset(out, DataConfig(**overrides), workers=workers)


def train_generator(
    family: str, data: Path, out: Path, seconds: int, balance: float | None
) -> None:
    from medgen.tasks.augment import DEFAULT_BALANCE, train_joint_generator
    from medgen.train.recipe import read_run_config

    config = read_run_config(None, family, budget=f"{seconds}s", seed=0, log_every=200,
                             checkpoint_every=1_000_000)  # fmt: skip
    repeats = DEFAULT_BALANCE if balance is None else balance
    summary = train_joint_generator(family, data, out, config, balance=repeats, progress=False)
    print({k: summary[k] for k in ("steps", "images", "seconds") if k in summary})


def arm_outputs(work: Path, arms: list[str], name: str) -> list[pd.DataFrame]:
    """One file of every finished remedy process, in ARMS order: remedy_ARM/ holds the arm's
    first detector seed (or all of them), remedy_ARM_seedK/ the seed K run on its own."""
    tables = []
    for arm in arms:
        for folder in sorted(work.glob(f"remedy_{arm}*")):
            if folder.name == f"remedy_{arm}" or folder.name.startswith(f"remedy_{arm}_seed"):
                path = folder / "remedy" / name
                if path.exists():
                    tables.append(pd.read_csv(path))
    return tables


def merged_remedy(work: Path, arms: list[str]) -> pd.DataFrame | None:
    """Every finished arm's errors, averaged over its detectors (whichever process trained
    them), from each process's remedy_seeds.csv; the baseline's once."""
    from medgen.errors.remedy import over_seeds

    tables = arm_outputs(work, arms, "remedy_seeds.csv")
    if not tables:
        return None
    per_seed = pd.concat(tables, ignore_index=True)  # every arm's file may measure the baseline
    return over_seeds(per_seed.drop_duplicates(["arm", "set", "scope", "seed"]))


def merged_found(work: Path, arms: list[str]) -> pd.DataFrame | None:
    """found.csv of every process, averaged per arm over its detectors."""
    tables = arm_outputs(work, arms, "found.csv")
    if not tables:
        return None
    return pd.concat(tables).groupby("arm", sort=False).mean().reset_index()


def merged_added(work: Path, arms: list[str]) -> pd.DataFrame | None:
    """added.csv of every arm once (its seeds add the same examples)."""
    tables = arm_outputs(work, arms, "added.csv")
    if not tables:
        return None
    return pd.concat(tables).drop_duplicates("examples").reset_index(drop=True)


def device_line() -> str:
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__}, no GPU (CPU dry run)"
    return f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}"


def seed_runs(arm: str, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(stage name, detector.py seed options) of the arm's processes: one training all
    --detector-seeds detectors in turn, or with --parallel-seeds one per detector, at once."""
    if not args.parallel_seeds:
        return [(f"remedy_{arm}", ["--detector-seeds", str(args.detector_seeds)])]
    return [(f"remedy_{arm}" + (f"_seed{k}" if k else ""), ["--seed", str(k)])
            for k in range(args.detector_seeds)]  # fmt: skip


def orchestrate(args: argparse.Namespace) -> None:
    scale = TINY if args.tiny else FULL
    if args.generator_seconds:
        scale = replace(scale, generator_seconds=args.generator_seconds)
    work, out = args.work, args.out
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(work, START + args.deadline)
    me = str(Path(__file__).resolve())
    data = work / "data"
    summary = [f"# {device_line()}; {scale.workers} CPU workers; deadline {args.deadline} s"]
    stages.start("data", [me, "--stage", "data", "--work", str(work), *(["--tiny"] * args.tiny)])
    tasks_out = ["--work", str(work / "tasks"), "--out", str(work / "tasks.txt")]
    workers = ["--workers", str(scale.workers), "--jobs", str(max(1, scale.workers - 6))]
    if args.tasks:
        stages.start("tasks", [str(HERE / "tasks.py"), *scale.tasks, *workers, *tasks_out])
    data_ok = stages.wait("data")
    summary.append(f"# data: {'made' if data_ok else 'FAILED'} in {stages.ended['data'][1]:.0f} s")
    if data_ok:
        chosen = [a for a in ARMS if a in args.arms.split(",")]
        for family in sorted({GENERATOR_OF[a] for a in chosen if a in GENERATOR_OF}):
            stages.start(family, [me, "--stage", family, "--work", str(work),
                                  "--seconds", str(scale.generator_seconds),
                                  *(["--balance", str(args.balance)] if args.balance is not None
                                    else [])])  # fmt: skip
        detector = [str(HERE / "detector.py"), "--data", str(data), *scale.detector]
        remedy = [*detector, "--remedy", "--n", str(scale.remedy_n),
                  "--oversample", str(args.oversample),
                  "--inpaint-contrast", args.inpaint_contrast,
                  "--inpaint-margin", str(args.inpaint_margin),
                  "--inpaint-placement", args.inpaint_placement]  # fmt: skip
        if args.guidance is not None:
            remedy += ["--guidance", str(args.guidance)]
        if args.analysis:
            stages.start("detector", [*detector, "--work", str(work / "detector")])
            remedy += ["--baseline", str(work / "detector" / "detector")]
            waiting = [a for a in chosen if a != "baseline"]
        else:  # the baseline is one more arm, trained like the others
            remedy += ["--remedy-only"]
            waiting = chosen
        if not args.analysis or stages.wait("detector"):
            while waiting and stages.left() > 0:
                for arm in list(waiting):
                    generator = GENERATOR_OF.get(arm)
                    ready = generator is None or stages.ended.get(generator, (None,))[0] == 0
                    failed = generator in stages.ended and stages.ended[generator][0] != 0
                    if ready:
                        runs = [f"--{generator}", str(work / generator)] if generator else []
                        arms = arm if arm == "baseline" or not args.analysis else f"baseline,{arm}"
                        for name, seed in seed_runs(arm, args):
                            stages.start(name, [*remedy, *seed, "--arms", arms, *runs,
                                                "--work", str(work / name)])  # fmt: skip
                    if ready or failed:
                        waiting.remove(arm)
                stages.poll()
                time.sleep(1)
    while stages.running and stages.left() > 0:
        stages.poll()
        time.sleep(1)
    stages.stop_all()
    write_outputs(work, out, stages, summary)


def write_outputs(work: Path, out: Path, stages: Stages, summary: list[str]) -> None:
    from medgen.errors.remedy import recovered

    for name, (code, seconds) in stages.ended.items():
        state = "killed at the deadline" if code is None else f"exit {code}"
        summary.append(f"# stage {name}: {state}, {seconds:.0f} s")
    for name in ("diffusion", "gan"):
        log = work / "logs" / f"{name}.txt"
        if log.exists():
            summary += [
                f"# {name} generator: " + line for line in log.read_text().splitlines()[-2:]
            ]
    for name in ("detector", "tasks"):
        log = work / "logs" / f"{name}.txt"
        if log.exists():
            summary += ["", f"## {name}", log.read_text()]
    table = merged_remedy(work, list(ARMS))
    if table is not None:
        table.to_csv(out / "remedy.csv", index=False)
        summary += ["", "## remedy (dev and test; mean over each arm's detectors, Wilson 95%)",
                    table.to_string(index=False, float_format="{:.3f}".format)]  # fmt: skip
        for name in ("dev", "test"):
            shares = ", ".join(f"{a} {100 * v:.0f}%" for a, v in recovered(table, name).items())
            summary.append(f"share of the real arm's gain on brainstem tumours ({name}): {shares}")
    for title, merged in (("tumours each arm's detectors find", merged_found),
                          ("what each arm added", merged_added)):  # fmt: skip
        extra = merged(work, list(ARMS))
        if extra is not None:
            summary += ["", f"## {title}", extra.to_string(index=False,
                        float_format="{:.3f}".format)]  # fmt: skip
    logs = sorted((work / "logs").glob("*.txt"))
    (out / "log.txt").write_text(
        "\n".join(f"===== {p.stem}\n{p.read_text(errors='replace')}" for p in logs)
    )
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/medgen_gpu"))
    parser.add_argument("--deadline", type=float, default=540.0, help="seconds for everything")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a dry run on a CPU")
    parser.add_argument(
        "--no-analysis",
        dest="analysis",
        action="store_false",
        help="skip the baseline's accuracy and by-parts tables: remedy arms only",
    )
    parser.add_argument("--generator-seconds", type=int, help="override the generators' budget")
    parser.add_argument("--arms", default=",".join(ARMS), help="remedy arms (comma-separated)")
    parser.add_argument(
        "--oversample", type=int, default=1, help="generator candidates per example kept"
    )
    parser.add_argument("--guidance", type=float, help="diffusion arms' guidance scale")
    add_inpaint_look_options(parser)
    parser.add_argument(
        "--balance",
        type=float,
        help="generators' condition-cell repeat exponent, 0 the data as they are "
        "(default: medgen.tasks.augment.DEFAULT_BALANCE)",
    )
    parser.add_argument(
        "--detector-seeds", type=int, default=1, help="detectors per remedy arm, errors averaged"
    )
    parser.add_argument(
        "--parallel-seeds",
        action="store_true",
        help="one process per detector seed, all at once (else one process per arm)",
    )
    parser.add_argument(
        "--no-tasks", dest="tasks", action="store_false", help="skip issue 7's tasks stage"
    )
    parser.add_argument("--stage", choices=("data", "diffusion", "gan"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=150, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "data":
        scale = TINY if args.tiny else FULL
        make_data(args.work / "data", scale.data, scale.workers)
    elif args.stage in ("diffusion", "gan"):
        train_generator(args.stage, args.work / "data", args.work / args.stage, args.seconds,
                        args.balance)  # fmt: skip
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
