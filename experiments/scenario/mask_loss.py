"""Share of tumours the preprocessing brain mask drops (under half the tumour inside), by location.

python experiments/scenario/mask_loss.py DATA [--n 3000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from medgen.data.store import open_dataset
from medgen.detect.preprocess import PreprocessConfig, preprocess


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("--n", type=int, default=3000)
    args = p.parse_args()
    store = open_dataset(args.data)
    meta = store.split("dev")
    ids = meta.index[(meta.label == 1).to_numpy()].to_numpy()[: args.n]
    _, brain = preprocess(np.asarray(store.array("images")[ids], np.float32), PreprocessConfig())
    masks = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    true_brain = np.asarray(store.array("brain_mask")[ids]).astype(bool)
    inside = (brain & masks).sum((1, 2)) / masks.sum((1, 2))
    dropped = inside < 0.5
    loc = store.meta.loc[ids, "location"].to_numpy()
    for name in sorted(set(loc)):
        k = loc == name
        print(f"{name:10s} n {k.sum():4d}  dropped {dropped[k].mean():.3f}")
    print(
        f"all        dropped {dropped.mean():.3f}; brain pixels kept "
        f"{(brain & true_brain).sum() / true_brain.sum():.3f}"
    )


if __name__ == "__main__":
    main()
