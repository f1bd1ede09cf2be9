"""Train the reference models one after another, niced, each with its catalog command.

Usage: python experiments/reference/train_queue.py DATA RUNS [NAME ...]
A model whose run already has a model/ folder is skipped, so the queue can be restarted.
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
]


def main() -> None:
    data, runs = Path(sys.argv[1]), Path(sys.argv[2])
    names = sys.argv[3:] or ORDER
    medgen = str(Path(sys.executable).parent / "medgen")
    for name in names:
        recipe = RECIPES[name]
        out = runs / name
        done = (out / "model").is_dir() or (out / "extractor.json").is_file()
        if done:
            print(f"{name}: done already", flush=True)
            continue
        latent = runs / recipe.latent if recipe.latent else None
        argv = train_argv(recipe, data, out, latent_run=latent)
        start = time.time()
        print(f"{name}: {' '.join(argv)}", flush=True)
        with open(runs / f"{name}.log", "w") as log:
            rc = subprocess.call(["nice", "-n", "19", medgen, *argv], stdout=log, stderr=log)
        print(f"{name}: rc {rc} in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
