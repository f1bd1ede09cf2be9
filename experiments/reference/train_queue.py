"""Train the reference models one after another, niced, each with its catalog command.

Usage: python experiments/reference/train_queue.py DATA RUNS [NAME ...]
A model whose run already has a model/ folder is skipped, and a model run stopped part way
continues from its last checkpoint (`--resume`), so the queue can be restarted at any time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from medgen.reference.catalog import RECIPES, train_argv

ORDER = [
    "pixel_prior",
    "healthy_prior",
    "healthy_vae",
    "autoencoder",
    "latent_diffusion",
    "vae",
    "gan",
    "features",
    "joint_diffusion",
    "registration",  # after pixel_prior, which it trains with
]


def main() -> None:
    data, runs = Path(sys.argv[1]), Path(sys.argv[2])
    names = sys.argv[3:] or ORDER
    medgen = str(Path(sys.executable).parent / "medgen")
    for name in names:
        recipe = RECIPES[name]
        out = runs / name
        done = any((out / f).exists() for f in ("model", "extractor.json", "nets.json"))
        if done:
            print(f"{name}: done already", flush=True)
            continue
        latent = runs / recipe.latent if recipe.latent else None
        prior = runs / recipe.prior if recipe.prior else None
        argv = train_argv(recipe, data, out, latent_run=latent, prior_run=prior)
        if (out / "checkpoints").is_dir():
            argv.append("--resume")
        elif out.exists():  # a step-budget run (features, registration) has no checkpoints
            argv.append("--overwrite")
        start = time.time()
        print(f"{name}: {' '.join(argv)}", flush=True)
        with open(runs / f"{name}.log", "w") as log:
            rc = subprocess.call(["nice", "-n", "19", medgen, *argv], stdout=log, stderr=log)
        print(f"{name}: rc {rc} in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
