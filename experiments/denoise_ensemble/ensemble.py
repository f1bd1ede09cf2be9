"""Brain PSNR of the one-step posterior mean D(y, g sigma) averaged over symmetries of the slice.

The exact posterior mean commutes with every symmetry of the prior; the network only roughly
does, so averaging the estimates of transformed copies (transformed back) cancels part of its
error. Variants: none (1 NFE), mirror (2, today's recipe), mirror x k circular shifts.
Scored on dev slices FIRST:LAST (the study tunes on dev 0-3 and reports on test), Rician noise
as the tasks chapter simulates it, the noise std estimated per slice, strength g given.
Usage: python ensemble.py RUN FIRST:LAST NOISE G
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.tasks.metrics import masked_psnr
from medgen.tasks.noise import add_rician, moment_correction
from medgen.tasks.run import estimate_sigma, load_slices, open_pixel_model

SHIFTS = {
    "none": [(0, 0, False)],
    "mirror": [(0, 0, False), (0, 0, True)],
    "mirror x 4 shifts": [
        (a, b, f) for a, b in ((0, 0), (1, 0), (0, 1), (1, 1)) for f in (False, True)
    ],
    "mirror x 9 shifts": [(a, b, f) for a in (-1, 0, 1) for b in (-1, 0, 1) for f in (False, True)],
    "mirror x 4 shifts of 2": [
        (a, b, f) for a, b in ((0, 0), (2, 0), (0, 2), (2, 2)) for f in (False, True)
    ],
}


def estimate(denoiser, y: torch.Tensor, levels: torch.Tensor, moves) -> torch.Tensor:
    out = torch.zeros_like(y)
    for a, b, flip in moves:
        t = torch.roll(y, (a, b), (-2, -1))
        t = t.flip(-1) if flip else t
        d = denoiser(t, levels)
        d = d.flip(-1) if flip else d
        out += torch.roll(d, (-a, -b), (-2, -1))
    return (out / len(moves)).clamp(0, 1)


def main() -> None:
    torch.set_num_threads(1)
    run, span, noise, g = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    first, last = (int(v) for v in span.split(":"))
    store = open_dataset("/tmp/std_data")
    model = open_pixel_model(run, store)
    ids = store.split("dev").index.to_numpy()[first:last]
    clean = load_slices(store, "clean", ids)
    brain = load_slices(store, "brain_mask", ids)
    y = add_rician(clean, noise, generator=torch.Generator().manual_seed(7))
    sigma = estimate_sigma(y, brain)
    corrected = moment_correction(y, sigma)
    levels = g * sigma
    base = None
    for name, moves in SHIFTS.items():
        with torch.no_grad():
            est = estimate(model.denoiser, corrected, levels, moves)
        psnr = np.array(
            [masked_psnr(c.numpy(), e.numpy(), m.numpy()) for e, c, m in zip(est, clean, brain)]
        )
        base = psnr if base is None else base
        d = psnr - base
        print(
            f"{name:24s} NFE {len(moves):2d}: brain PSNR {psnr.mean():.3f} dB, vs none {d.mean():+.3f} (se {d.std(ddof=1) / np.sqrt(len(d)):.3f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
