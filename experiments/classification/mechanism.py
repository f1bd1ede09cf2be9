"""Does the conditional denoiser obey a label its input contradicts?

For dev tumour slices x0 (malignant, benign) and healthy ones, and noise levels sigma,
it compares D(x_sigma, sigma, c) across labels c on the same x_sigma = x0 + sigma eps:
- "removed": the share of the tumour's contrast (x0 - healthy x0 inside the tumour mask) that
  D(., none) takes away relative to D(., true type): 1 = the label "none" erases the tumour,
  0 = the denoiser keeps what it sees;
- the classifier's evidence at that level, |eps - eps_other|^2 - |eps - eps_true|^2 summed over
  pixels (positive: the true label denoises better), mean and sd over slices and 8 noise draws.
Usage: python mechanism.py RUN
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.tasks.classification.conditional import open_class_denoiser, signed

SIGMAS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def main() -> None:
    torch.set_num_threads(1)
    run = sys.argv[1]
    store = open_dataset("/tmp/std_data")
    meta = store.meta
    cd = open_class_denoiser(run, "tumour_type")
    dev = meta.loc[store.split("dev").index]
    images = store.array("images")
    clean = store.array("clean")  # the same slice without its tumour
    masks = store.array("tumour_mask")
    gen = torch.Generator().manual_seed(3)
    for kind in ("malignant", "benign", "none"):
        ids = dev.index[dev["tumour_type"].astype(str) == kind].to_numpy()[:12]
        x0 = signed(torch.from_numpy(np.asarray(images[ids], np.float32)))
        healthy = signed(torch.from_numpy(np.asarray(clean[ids], np.float32)))
        inside = torch.from_numpy(np.asarray(masks[ids], bool))[:, None]
        true_c = cd.classes.index(kind)
        print(f"{kind}: {len(ids)} dev slices")
        for sigma in SIGMAS:
            removed, evidence = [], []
            for _ in range(8):
                eps = torch.randn(x0.shape, generator=gen)
                xs = x0 + sigma * eps
                s = torch.full((len(ids),), sigma)
                outs = [cd.denoiser(xs, s, torch.full((len(ids),), c)) for c in range(3)]
                errs = torch.stack([((d - x0) / sigma).flatten(1).square().sum(1) for d in outs], 1)
                others = [c for c in range(3) if c != true_c]
                evidence.append(errs[:, others].min(1).values - errs[:, true_c])
                if kind != "none":
                    none_c = cd.classes.index("none")
                    contrast = ((x0 - healthy) * inside).flatten(1).abs().sum(1)
                    taken = (outs[true_c] - outs[none_c]) * torch.sign(x0 - healthy) * inside
                    removed.append(taken.flatten(1).sum(1) / contrast.clamp_min(1e-6))
            ev = torch.cat(evidence)
            line = f"  sigma {sigma:5.2f}: evidence {float(ev.mean()):+9.2f} (sd {float(ev.std()):8.2f})"
            if removed:
                line += (
                    f", share of the tumour D(none) removes {float(torch.cat(removed).mean()):+.3f}"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
