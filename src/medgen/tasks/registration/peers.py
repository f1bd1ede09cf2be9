"""Classical peers, each returning a dense displacement in pixels, channels (row, col), in
MONAI `Warp`'s convention (moving sampled at p + u(p) matches fixed at p), on one thread."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

Register = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (fixed, moving) (H, W) -> (2, H, W)
DEMONS_ITERATIONS = 100  # demons updates per pair
DEMONS_SMOOTHING_PX = 1.5  # std of the Gaussian that regularises the demons field, pixels


def one_thread() -> None:
    """Pin ITK (ANTs and SimpleITK) to one thread, as the networks run on one."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
    os.environ["ANTS_RANDOM_SEED"] = "1"  # ANTs' metric sampling, fixed for repeatable fields
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def ants_syn(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """ANTs SyN (affine then symmetric normalisation, Avants et al. 2008), its composed
    transform read back as a displacement field."""
    import ants

    f = ants.from_numpy(fixed.astype(np.float64))
    m = ants.from_numpy(moving.astype(np.float64))
    with tempfile.TemporaryDirectory(prefix="medgen_syn_") as tmp:
        found = ants.registration(f, m, type_of_transform="SyN", outprefix=f"{tmp}/r")
        path = ants.apply_transforms(f, m, found["fwdtransforms"], compose=f"{tmp}/c")
        field = ants.image_read(str(Path(path))).numpy()  # (H, W, 2) in physical = index units
    return np.moveaxis(field, -1, 0).astype(np.float64)


def sitk_demons(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """SimpleITK's fast symmetric-forces demons (Vercauteren et al. 2007) after histogram
    matching (demons assumes equal intensities)."""
    import SimpleITK as sitk

    f = sitk.GetImageFromArray(fixed.astype(np.float32))
    m = sitk.GetImageFromArray(moving.astype(np.float32))
    m = sitk.HistogramMatching(m, f, numberOfHistogramLevels=64, numberOfMatchPoints=7)
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(DEMONS_ITERATIONS)
    demons.SetStandardDeviations(DEMONS_SMOOTHING_PX)
    field = sitk.GetArrayFromImage(demons.Execute(f, m))  # (H, W, 2), components (x, y)
    return np.stack([field[..., 1], field[..., 0]]).astype(np.float64)


PEERS: dict[str, Register] = {"ants_syn": ants_syn, "sitk_demons": sitk_demons}


class PeerResult(NamedTuple):
    """A peer's fields on a set of pairs and the wall-clock seconds of each pair."""

    ddf: np.ndarray  # (N, 2, H, W) pixels
    seconds: np.ndarray  # (N,)


def run_peer(name: str, fixed: np.ndarray, moving: np.ndarray) -> PeerResult:
    """Register each pair (N, H, W) with peer `name`, timing each pair on one thread."""
    one_thread()
    register = PEERS[name]
    if len(fixed):
        register(fixed[0], moving[0])  # untimed: the first call pays for imports and set-up
    fields, seconds = [], []
    for f, m in zip(fixed, moving, strict=True):
        start = time.perf_counter()
        fields.append(register(f, m))
        seconds.append(time.perf_counter() - start)
    return PeerResult(np.stack(fields), np.array(seconds))
