"""A method's anomaly maps over many slices: the look-alike, the unsmoothed residual
|x - recon| and the spread of each slice, collected batch by batch and smoothed on demand (the
residual is kept raw so that dev can choose the smoothing without recomputing it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from medgen.data.store import StoredDataset
from medgen.models import VAE
from medgen.tasks.anomaly import gaussian_blur
from medgen.tasks.outputs import Advance, batches, no_progress
from medgen.tasks.run import load_slices

# (scans (B, 1, H, W), brain (B, 1, H, W)) -> (recon, |x - recon| unsmoothed, std, NFE per slice)
MapFunction = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor, int]]


def vae_maps(vae: VAE) -> MapFunction:
    """The VAE baseline: the residual |x - decoder(encoder mean)|, smoothed as medgen's is."""

    def maps(x: Tensor, brain: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        recon = vae.reconstruct(x)
        return recon, (x - recon).abs(), torch.zeros_like(x), 0

    return maps


class Residuals(NamedTuple):
    """A method's unsmoothed residuals |x - recon| and the brain masks of its slices, (N, H, W)
    each: its anomaly maps at any smoothing."""

    residual: NDArray[np.float32]
    brain: NDArray[Any]

    def maps(self, blur: float) -> NDArray[np.float64]:
        """The residuals blurred by `blur` pixels, then zeroed outside the brain (anomaly_map)."""
        smooth = gaussian_blur(torch.from_numpy(self.residual)[:, None], blur)[:, 0].numpy()
        return (smooth * self.brain.astype(smooth.dtype)).astype(np.float64)


class SliceMaps:
    """Look-alikes, residuals, spreads and brain masks of the slices a method has seen."""

    def __init__(self) -> None:
        self.recon: list[NDArray[Any]] = []
        self.residual: list[NDArray[Any]] = []
        self.brain: list[NDArray[Any]] = []
        self.std: list[NDArray[Any]] = []
        self.seconds = 0.0
        self.nfe = 0

    def add(self, fn: MapFunction, x: Tensor, brain: Tensor) -> None:
        start = time.perf_counter()
        recon, residual, std, self.nfe = fn(x, brain)
        self.seconds += time.perf_counter() - start
        self.recon.append(recon[:, 0].numpy())
        self.residual.append(residual[:, 0].numpy())
        self.brain.append(brain[:, 0].numpy())
        self.std.append(std[:, 0].numpy())

    def residuals(self) -> Residuals:
        residual = np.concatenate(self.residual).astype(np.float32)
        return Residuals(residual, np.concatenate(self.brain))


def map_slices(
    fn: MapFunction,
    store: StoredDataset,
    ids: NDArray[np.int64],
    batch: int,
    progress: Advance = no_progress,
) -> SliceMaps:
    """A method's look-alikes, residuals and spreads of slices `ids`, `batch` at a time."""
    out = SliceMaps()
    done = 0
    for chunk in batches(ids, batch):
        out.add(fn, load_slices(store, "images", chunk), load_slices(store, "brain_mask", chunk))
        done += len(chunk)
        progress(done, len(ids))
    return out
