"""Diffusion at work: denoising, anomaly detection and undersampled-MRI reconstruction
by medgen's pixel-space diffusion models against their classical peers, all in one run.

Trains, within --minutes of CPU time in all: a pixel-space diffusion model on every training
slice (denoise, reconstruct; half the budget), one on the healthy training slices only (anomaly;
0.3; at the noise levels anomaly detection queries, PRIOR_LEVELS) and a VAE on the healthy slices
(the anomaly baseline; 0.2). Then, on the first --n test slices (peers tuned on --tune dev slices
per noise level / acceleration):

  (1) denoising of Rician noise at std 0.05 / 0.10 / 0.15: PSNR and SSIM in the brain mask and on
      the whole image, seconds per slice; medgen's one-step posterior mean and the mean of k
      posterior samples against NL-means, TV, wavelet (scikit-image) and BM3D.
  (2) anomaly detection: slice AUROC/AUPRC, pixel AUPRC and Dice at the dev-chosen threshold per
      tumour type and location; the healthy model's posterior-mean ensemble against the VAE's
      reconstruction error.
  (3) reconstruction of Cartesian-undersampled k-space at 4x and 8x: PSNR/SSIM and seconds per
      slice; DC posterior sampling against zero filling and sigpy's TV and L1-wavelet CS.

Run (a real run; ~35 min on one CPU thread at --minutes 10 --n 100):

    python benchmarks/tasks.py --minutes 10 --out benchmarks/results/tasks.txt

The anomaly verdict is read at the 140-minute plan on 4800 training slices (2,400 healthy):
--minutes 140 --n-train 4800 --n-dev 200 --n-test 400 --tables anomaly; with 600 healthy
slices the healthy prior overfits before it is good enough (experiments/anomaly/NOTES.md).

Registration, classification and few-label segmentation have benchmarks of their own
(benchmarks/register.py, classify.py, segment.py); --tables register,classify,segment runs them,
passing on the options this script does not know, among them the standard data they need:

    python benchmarks/tasks.py --tables register,classify,segment --data DIR
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import torch

from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.devices import default_device
from medgen.models import VAE, load_model
from medgen.study.chapters.tasks import VERDICT_WORDS, claims_table, read_claim, task_verdict
from medgen.tasks.anomaly_split import PRIOR_LEVELS
from medgen.tasks.run import PixelDenoiser, TaskSettings, open_pixel_model
from medgen.tasks.tables import Table, anomaly_table, denoise_table, reconstruct_table
from medgen.train.recipe import read_run_config, train_on_data

TABLES = ("denoise", "anomaly", "reconstruct")
# tables with a benchmark of their own: --tables register runs benchmarks/register.py with the
# options this script does not know (e.g. --tables register --pairs 80 --steps 6000)
OWN_SCRIPTS = {"register": "register.py", "classify": "classify.py", "segment": "segment.py"}


class PlannedRun(NamedTuple):
    """One run the tables need and how it is trained."""

    family: str
    name: str
    share: float  # of --minutes
    where: str | None  # the training slices, as `medgen train --where`
    used_by: tuple[str, ...]  # the tables that use it
    model: dict[str, float] | None = None  # [model] fields beside the family's defaults


PLAN = (
    PlannedRun("diffusion", "diffusion_all", 0.5, None, ("denoise", "reconstruct")),
    PlannedRun("diffusion", "diffusion_healthy", 0.3, "label=0", ("anomaly",), PRIOR_LEVELS),
    PlannedRun("vae", "vae_healthy", 0.2, "label=0", ("anomaly",)),
)


def train_runs(
    data: Path, work: Path, minutes: float, tables: list[str], log: list[str]
) -> dict[str, Path]:
    """The runs of PLAN that `tables` use, trained (or reused if their model/ exists)."""
    runs = {}
    for family, name, share, where, used_by, model in PLAN:
        if not set(used_by) & set(tables):
            continue
        run = work / name
        reused = (run / "model" / "model.json").exists()
        if reused:
            summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        else:
            config = read_run_config(
                None,
                family,
                model=model,
                budget=f"{share * minutes * 60:.0f}s",
                checkpoint_every=100_000,
                log_every=50,
                seed=0,
            )
            summary = train_on_data(family, data, run, config, where=where, progress=False)
        log.append(
            f"# {name}: {family} on {where or 'all'} train slices{training_levels(run)}, "
            f"{summary['steps']} steps, {summary['images']} images, "
            f"{summary['seconds']:.0f} s{f' (trained earlier in {run})' if reused else ''}"
        )
        runs[name] = run
    return runs


def training_levels(run: Path) -> str:
    """ " at ln sigma ~ N(-1.7, 0.8^2)" for a diffusion run (from its config.json), else ""."""
    model = json.loads((run / "config.json").read_text(encoding="utf-8")).get("model", {})
    if "p_mean" not in model:
        return ""
    return f" at ln sigma ~ N({model['p_mean']:g}, {model['p_std']:g}^2)"


def gpu_name() -> str:
    """ " (NVIDIA H200)" on a GPU machine, "" on a CPU one: timings are only compared per card."""
    return f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""


def print_table(title: str, result: Table, lines: list[str]) -> str:
    """A table under its title, then its target's claims, each read from its interval; the
    target's verdict (clear, unclear or contradicted)."""
    text = result.table.to_string(float_format=lambda v: f"{v:.3f}")
    claims = claims_table(result.claims).to_string(index=False, float_format=lambda v: f"{v:.3f}")
    findings = [read_claim(c) for c in result.claims]
    new = ["", title, text, "", claims, *(f"target: {f.sentence}" for f in findings)]
    new += [f"note: {result.note}"] if result.note else []
    print("\n".join(new), flush=True)  # as it comes: a run stopped later keeps this table
    lines += new
    return task_verdict(findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget in all")
    parser.add_argument("--n", type=int, default=100, help="test slices per denoise/recon row")
    parser.add_argument("--tune", type=int, default=8, help="dev slices to tune peers on")
    parser.add_argument(
        "--anomaly-tune",
        type=int,
        default=32,
        help="dev tumour slices the anomaly level and map thresholds are chosen on",
    )
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-dev", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/medgen_tasks_bench"))
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    parser.add_argument("--batch", type=int, default=8, help="slices per network batch")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=1, help="processes making the data")
    parser.add_argument("--jobs", type=int, default=1, help="processes the classical peers use")
    parser.add_argument("--train-only", action="store_true", help="stop once the runs exist")
    parser.add_argument(
        "--tables", default=",".join(TABLES), help="tables to measure (comma-separated)"
    )
    args, rest = parser.parse_known_args()
    asked = args.tables.split(",")
    tables = [t for t in TABLES if t in asked]
    own = [t for t in OWN_SCRIPTS if t in asked]
    if not tables and not own:
        parser.error(
            f"--tables {args.tables!r}: choose from {', '.join(TABLES + tuple(OWN_SCRIPTS))}"
        )
    if rest and not own:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    for name in own:
        script = Path(__file__).parent / OWN_SCRIPTS[name]
        code = subprocess.run([sys.executable, str(script), *rest], check=False).returncode
        if code:  # the script has said what is wrong
            sys.exit(code)
    if not tables:
        return
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = args.work / "data"
    if not (data / "manifest.json").exists():
        make_dataset(
            data,
            DataConfig(n_train=args.n_train, n_dev=args.n_dev, n_test=args.n_test, seed=0),
            workers=args.workers,
        )
    store = open_dataset(data)
    lines = [
        f"# command: python {' '.join(map(shlex.quote, sys.argv))}",
        f"# scale: {args.minutes:g} training minutes in all; data {args.n_train}/"
        f"{args.n_dev}/{args.n_test} slices at {store.size} px; {args.n} test slices "
        f"(denoise, reconstruct), all test slices (anomaly); peers tuned on {args.tune} "
        f"dev slices ({args.jobs} peer processes; seconds per slice are per core); "
        f"torch threads {args.threads}; networks on {default_device()}"
        f"{gpu_name()}; {datetime.now():%Y-%m-%d %H:%M}",
    ]
    runs = train_runs(data, args.work / "runs", args.minutes, tables, lines)
    print("\n".join(lines), flush=True)
    if args.train_only:
        return
    s = TaskSettings(
        split="test",
        limit=args.n,
        batch_size=args.batch,
        seed=0,
        tune_slices=args.tune,
        jobs=args.jobs,
    )

    def vae() -> VAE:
        model = load_model(runs["vae_healthy"] / "model").eval()
        assert isinstance(model, VAE)
        return model

    def model(name: str) -> PixelDenoiser:
        return open_pixel_model(runs[name], store)

    measures = {
        "denoise": (
            "(1) denoising Rician noise (sigma estimated per slice; every method gets "
            "the moment-corrected image; each method's dev-tuned strength in brackets, "
            "medgen's = the level it is told / the noise std; medgen's posterior mean is "
            "averaged with the mirrored slice's)",
            lambda: denoise_table(model("diffusion_all"), store, s),
        ),
        "anomaly": (
            "(2) anomaly detection on every test slice (healthy-only models; medgen: "
            "posterior means over 4 noise levels x 10 draws; top level and each method's "
            f"masks (threshold, clean-up, smoothing) chosen on {args.anomaly_tune} dev tumour "
            "slices; maps smoothed 1.5 px for the ranks; pixel scores "
            "against the tumour mask, '+oedema' columns against tumour and oedema)",
            lambda: anomaly_table(
                model("diffusion_healthy"),
                vae(),
                store,
                replace(s, limit=None, tune_slices=args.anomaly_tune),
            ),
        ),
        "reconstruct": (
            "(3) reconstruction of Cartesian-undersampled k-space (medgen: mean of "
            "4 DC posterior samples, 50 steps)",
            lambda: reconstruct_table(model("diffusion_all"), store, s),
        ),
    }
    verdicts = {}
    for key in tables:
        title, measure = measures[key]
        verdicts[key] = print_table(title, measure(), lines)
    lines += [
        "",
        "targets: " + ", ".join(f"{k} {VERDICT_WORDS[v]}" for k, v in verdicts.items()),
        f"# total {time.perf_counter() - start:.0f} s",
    ]
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-2:]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
