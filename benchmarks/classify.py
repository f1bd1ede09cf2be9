"""The diffusion classifier against a supervised CNN and the detector, in and out of
distribution, in one run.

Trains what it needs (or reuses runs given): a pixel-space diffusion model conditioned on
tumour_type (--diffusion, or --diffusion-minutes of training), the supervised CNN on the same
labels (--cnn-minutes), the detector (--detector, or --detector-steps). Chooses the diffusion
classifier's range of noise levels on the first --n-dev dev slices, then scores every method on
the first --n-test test slices: in distribution and re-rendered by the data generator under each
shift (`medgen.tasks.classification.shifts`). Prints the table and the target's claims, and
writes them to --out with the command at the top.

Run (~30 min on one CPU thread with runs given):

    python benchmarks/classify.py --data DIR --diffusion RUN --detector RUN --n-test 200 \
        --out benchmarks/results/classify.txt
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.detect.classify import CLASSES
from medgen.detect.pipeline import detector_config, load_detector, train_detector
from medgen.tasks.classification.bayes import log_uniform_draws
from medgen.tasks.classification.conditional import open_class_denoiser
from medgen.tasks.classification.methods import (
    choose_levels,
    class_log_prior,
    cnn_method,
    detector_method,
    diffusion_errors,
    diffusion_method,
)
from medgen.tasks.classification.peers import CNNConfig, train_cnn
from medgen.tasks.classification.table import claim_lines, classify_table
from medgen.train.recipe import read_run_config, train_on_data

LABEL = "tumour_type"
DEV_DRAWS = 16  # draws over the model's whole range on dev, from which the range is chosen
# candidate ranges of levels, [-1, 1] units; listed widest first (it wins ties)
RANGES = ((0.002, 80.0), (0.02, 20.0), (0.05, 10.0), (0.1, 10.0), (0.1, 5.0), (0.2, 5.0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="built-in dataset (medgen data make)")
    p.add_argument("--diffusion", help="a diffusion run conditioned on tumour_type [train one]")
    p.add_argument("--diffusion-minutes", type=float, default=20.0)
    p.add_argument("--detector", help="a detector run [train one]")
    p.add_argument("--detector-steps", type=int, default=1500)
    p.add_argument("--cnn-minutes", type=float, default=5.0)
    p.add_argument("--n-dev", type=int, default=100)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--draws", type=int, default=8, help="test draws per slice (NFE = 3 x draws)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default="/tmp/cls_bench", help="where trained runs go")
    p.add_argument("--out", default="benchmarks/results/classify.txt")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    command = "python " + shlex.join(sys.argv)
    store = open_dataset(a.data)
    work = Path(a.work)
    header = [f"# command: {command}"]

    diffusion = a.diffusion
    if diffusion is None:
        diffusion = str(work / "diffusion")
        config = read_run_config(None, "diffusion", budget=f"{a.diffusion_minutes}m")
        train_on_data("diffusion", a.data, diffusion, config, cond=LABEL, progress=False)
    header.append(f"# diffusion: {diffusion}: {_trained(diffusion)}")
    detector_run = a.detector
    if detector_run is None:
        detector_run = str(work / "detector")
        train_detector(a.data, detector_run, detector_config(a.detector_steps, a.seed))
    info = json.loads((Path(detector_run) / "detector.json").read_text())
    header.append(f"# detector: {detector_run}: trained in {info.get('seconds')} s")

    meta = store.meta
    train_ids = store.split("train").index.to_numpy()
    labels = meta.loc[train_ids, LABEL].astype(str).to_numpy()
    start = time.perf_counter()
    cnn = train_cnn(
        np.asarray(store.array("images")[train_ids], np.float32),
        np.array([CLASSES.index(v) for v in labels]),
        len(CLASSES),
        CNNConfig(seconds=60 * a.cnn_minutes, seed=a.seed),
    )
    header.append(
        f"# cnn: MONAI Classifier trained {time.perf_counter() - start:.0f} s on the "
        f"{len(train_ids)} train slices"
    )

    cd = open_class_denoiser(diffusion, LABEL)
    log_prior = class_log_prior(labels.tolist(), cd.classes)  # the model's class order
    dev_ids = store.split("dev").index.to_numpy()[: a.n_dev]
    dev_truth = np.array([cd.classes.index(v) for v in meta.loc[dev_ids, LABEL].astype(str)])
    g = torch.Generator().manual_seed(a.seed)
    shape = (1, store.size, store.size)
    wide = log_uniform_draws(DEV_DRAWS, cd.sigma_min, cd.sigma_max, shape, g)
    dev_images = np.asarray(store.array("images")[dev_ids], np.float32)
    errors = diffusion_errors(cd, dev_images, wide)
    lo, hi = choose_levels(errors, dev_truth, wide, log_prior, RANGES)
    header.append(
        f"# levels chosen on {len(dev_ids)} dev slices ({DEV_DRAWS} draws over the model's "
        f"[{cd.sigma_min:g}, {cd.sigma_max:g}]) among {list(RANGES)}: [{lo:g}, {hi:g}]"
    )
    draws = log_uniform_draws(a.draws, lo, hi, shape, g)
    ours = f"diffusion ({a.draws} draws)"
    methods = [
        diffusion_method(ours, cd, draws, log_prior, CLASSES),
        cnn_method("cnn", cnn),
        detector_method("detector", load_detector(detector_run), CLASSES),
    ]
    test_ids = store.split("test").index.to_numpy()[: a.n_test]
    truth = np.array([CLASSES.index(v) for v in meta.loc[test_ids, LABEL].astype(str)])
    note = (
        f"{len(test_ids)} test slices; shifts re-render the same slices with a changed "
        "DataConfig (bias: bias_strength (0.35, 0.7); noise: sigma (0.04, 0.06); contrast: "
        "contrast (0.6, 0.75))"
    )
    result = classify_table(
        methods, store, test_ids, truth, CLASSES, ours=ours, baseline="cnn", note=note, seed=a.seed
    )
    header.append(
        f"# {note}; torch threads {a.threads}, cpu, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        table = result.table.to_string(float_format=lambda v: f"{v:.3f}")
    text = (
        "\n".join(
            [*header, "", table, "", *("target: " + line for line in claim_lines(result.claims))]
        )
        + "\n"
    )
    print(text)
    Path(a.out).write_text(text, encoding="utf-8")


def _trained(run: str) -> str:
    """ "N steps, S s" from a run's last metrics line."""
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1]) if lines else {}
    return f"{last.get('step')} steps, {last.get('images')} images, {last.get('seconds')} s"


if __name__ == "__main__":
    main()
