"""Dev accuracy of the diffusion classifier of one conditional run, by range of noise levels.

Usage: python dev_accuracy.py RUN [DRAWS] [FIRST:LAST dev slices]. Every class is scored on the
same paired draws over [0.002, 80]; narrower ranges re-weight the same errors (no extra NFE).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.tasks.classification.bayes import log_posterior, log_uniform_draws, within
from medgen.tasks.classification.conditional import open_class_denoiser
from medgen.tasks.classification.methods import class_log_prior, diffusion_errors

RANGES = [
    (0.002, 80.0),
    (0.02, 20.0),
    (0.05, 10.0),
    (0.1, 10.0),
    (0.1, 5.0),
    (0.2, 5.0),
    (0.5, 5.0),
]


def advantage_by_level(err: torch.Tensor, truth: np.ndarray, sigmas: torch.Tensor) -> None:
    """Mean and sd over slices of (best other class's error - true class's error) per level."""
    order = torch.argsort(sigmas)
    e = err[:, :, order]
    rows = torch.arange(len(truth))
    true_e = e[rows, torch.from_numpy(truth)]
    other = e.clone()
    other[rows, torch.from_numpy(truth)] = float("inf")
    gap = other.min(1).values - true_e
    for j in range(0, len(order), max(1, len(order) // 12)):
        print(
            f"  sigma {float(sigmas[order[j]]):7.3f}: true-class advantage "
            f"{float(gap[:, j].mean()):+8.2f} (sd {float(gap[:, j].std()):7.2f}), "
            f"error {float(true_e[:, j].mean()):9.1f}"
        )


def main() -> None:
    run = sys.argv[1]
    n_draws = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    first, last = (int(v) for v in (sys.argv[3] if len(sys.argv) > 3 else "100:200").split(":"))
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    store = open_dataset("/tmp/std_data")
    meta = store.meta
    cd = open_class_denoiser(run, "tumour_type")
    train = meta.loc[meta.split == "train", "tumour_type"].astype(str).tolist()
    prior = class_log_prior(train, cd.classes)
    ids = store.split("dev").index.to_numpy()[first:last]
    truth = np.array([cd.classes.index(v) for v in meta.loc[ids, "tumour_type"].astype(str)])
    draws = log_uniform_draws(n_draws, 0.002, 80.0, (1, 64, 64), torch.Generator().manual_seed(1))
    start = time.time()
    err = diffusion_errors(cd, np.asarray(store.array("images")[ids], np.float32), draws)
    print(f"{run}: {time.time() - start:.0f} s for {len(ids)} slices x {3 * n_draws} NFE")
    torch.save({"errors": err, "sigmas": draws.sigmas, "truth": truth}, f"{run}/dev_errors.pt")
    print(f"classes {cd.classes}; dev counts {np.bincount(truth, minlength=3).tolist()}")
    for lo, hi in RANGES:
        post = log_posterior(err, within(draws, lo, hi), prior).argmax(1).numpy()
        conf = np.zeros((3, 3), int)
        np.add.at(conf, (truth, post), 1)
        print(f"[{lo}, {hi}]: accuracy {np.mean(post == truth):.3f}; confusion {conf.tolist()}")
    advantage_by_level(err, truth, draws.sigmas)


if __name__ == "__main__":
    main()
