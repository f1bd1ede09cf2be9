"""The classical tools each task is measured against, and their tuning on the dev split.

Denoising: scikit-image's non-local means (Buades et al. 2005), total variation (Chambolle
2004), wavelet shrinkage (BayesShrink, Chang et al. 2000) and BM3D (Dabov et al. 2007; the
`bm3d` package of Makinen et al. 2020). Reconstruction: the zero-filled inverse FFT, and
compressed sensing (Lustig et al. 2007) with sigpy's total-variation and L1-wavelet solvers.

Tuning: every peer has one strength knob, a multiple of the noise std for the denoisers (h,
the TV weight, the wavelet threshold's sigma, BM3D's sigma_psd) and the regularisation weight
lambda for compressed sensing. `tune` tries each value of the peer's grid on a few dev slices and
keeps the one with the best mean PSNR inside the brain, separately per noise level or
acceleration, so each peer is scored at its own best setting, as its user would run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from medgen.tasks.metrics import masked_psnr

Image = NDArray[np.float64]
# fn(observed (H, W), level, strength) -> estimate (H, W); level = noise std or a k-space mask
PeerFunction = Callable[[Image, object, float], Image]


class Peer(NamedTuple):
    """A classical method: its function, its strength grid and what the strength means."""

    fn: PeerFunction
    grid: tuple[float, ...]
    knob: str


def nl_means(noisy: Image, sigma: object, strength: float) -> Image:
    """Non-local means (Buades et al. 2005): h = strength sigma, 5x5 patches, 13x13 search."""
    from skimage.restoration import denoise_nl_means

    s = float(sigma)  # type: ignore[arg-type]
    return np.asarray(
        denoise_nl_means(
            noisy, h=strength * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True
        ),
        np.float64,
    )


def tv_chambolle(noisy: Image, sigma: object, strength: float) -> Image:
    """Total-variation denoising (Chambolle 2004) with weight = strength sigma."""
    from skimage.restoration import denoise_tv_chambolle

    return np.asarray(denoise_tv_chambolle(noisy, weight=strength * float(sigma)), np.float64)  # type: ignore[arg-type]


def wavelet(noisy: Image, sigma: object, strength: float) -> Image:
    """BayesShrink soft wavelet thresholding (Chang et al. 2000), noise std strength sigma."""
    from skimage.restoration import denoise_wavelet

    s = strength * float(sigma)  # type: ignore[arg-type]
    return np.asarray(
        denoise_wavelet(noisy, sigma=s, method="BayesShrink", mode="soft", rescale_sigma=True),
        np.float64,
    )


def bm3d_denoise(noisy: Image, sigma: object, strength: float) -> Image:
    """BM3D (Dabov et al. 2007), sigma_psd = strength sigma, the package's default profile."""
    import bm3d

    return np.asarray(bm3d.bm3d(noisy, sigma_psd=strength * float(sigma)), np.float64)  # type: ignore[arg-type]


DENOISE_PEERS: dict[str, Peer] = {
    "nl_means": Peer(nl_means, (0.4, 0.6, 0.8, 1.0, 1.2), "h / sigma"),
    "tv_chambolle": Peer(tv_chambolle, (0.5, 1.0, 2.0, 3.0, 4.0), "weight / sigma"),
    "wavelet": Peer(wavelet, (0.5, 0.75, 1.0, 1.25, 1.5), "threshold sigma / sigma"),
    "bm3d": Peer(bm3d_denoise, (0.75, 1.0, 1.25), "sigma_psd / sigma"),
}


def zero_filled_peer(kspace: Image, mask: object, strength: float) -> Image:
    """|ifft2c(kspace)|: the zero-filled reconstruction (no knob)."""
    import torch

    from medgen.tasks.kspace import ifft2c

    return ifft2c(torch.from_numpy(np.asarray(kspace))).abs().numpy().astype(np.float64)


def _sigpy_app(name: str, kspace: Image, mask: object, lamda: float) -> Image:
    import sigpy.mri.app as mr

    weights = np.asarray(mask, np.float32)
    y = np.asarray(kspace, np.complex64)[None] * weights  # (1, H, W): one coil
    maps = np.ones_like(y)  # single coil, uniform sensitivity
    app = mr.TotalVariationRecon if name == "tv" else mr.L1WaveletRecon
    out = app(y, maps, lamda, weights=weights, max_iter=CS_ITERATIONS, show_pbar=False).run()
    return np.abs(np.asarray(out)).astype(np.float64)


CS_ITERATIONS = 100  # sigpy iterations (primal-dual for TV, FISTA for L1-wavelet)


def cs_tv(kspace: Image, mask: object, strength: float) -> Image:
    """Compressed sensing with a total-variation penalty (Lustig et al. 2007), lambda = strength."""
    return _sigpy_app("tv", kspace, mask, strength)


def cs_wavelet(kspace: Image, mask: object, strength: float) -> Image:
    """Compressed sensing with an L1 Daubechies-4 wavelet penalty (Lustig et al. 2007)."""
    return _sigpy_app("wavelet", kspace, mask, strength)


RECONSTRUCT_PEERS: dict[str, Peer] = {
    "zero_filled": Peer(zero_filled_peer, (0.0,), "none"),
    "cs_tv": Peer(cs_tv, (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "lambda"),
    "cs_wavelet": Peer(cs_wavelet, (1e-4, 1e-3, 3e-3, 1e-2, 3e-2), "lambda"),
}


def _timed_call(
    fn: PeerFunction, observed: Image, level: object, strength: float
) -> tuple[Image, float]:
    start = time.perf_counter()
    out = fn(observed, level, strength)
    return out, time.perf_counter() - start


def run_calls(
    calls: Sequence[tuple[PeerFunction, Image, object, float]], jobs: int = 1
) -> list[tuple[Image, float]]:
    """Each call fn(observed, level, strength) with the seconds it took, in `jobs` processes.

    The seconds are each call's own, so "seconds per slice" is one core's time whatever
    `jobs` is: more processes shorten the run, not the figure a peer is compared by.
    """
    if jobs <= 1 or len(calls) < 2:
        return [_timed_call(*call) for call in calls]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=jobs)(delayed(_timed_call)(*call) for call in calls))


class Tuned(NamedTuple):
    """A peer's chosen strength and the dev PSNR (brain) of every value tried."""

    strength: float
    dev_psnr: dict[float, float]


def tune(
    peer: Peer,
    observed: Sequence[Image],
    truths: Sequence[Image],
    masks: Sequence[NDArray[np.bool_]],
    level: object,
    jobs: int = 1,
) -> Tuned:
    """The grid value with the best mean brain PSNR of `peer` on dev slices at one level."""
    calls = [(peer.fn, o, level, strength) for strength in peer.grid for o in observed]
    outs = iter(run_calls(calls, jobs))
    scores: dict[float, float] = {}
    for strength in peer.grid:
        psnrs = [
            masked_psnr(t, np.clip(next(outs)[0], 0, 1), m)
            for t, m in zip(truths, masks, strict=True)
        ]
        scores[strength] = float(np.mean(psnrs))
    best = max(scores, key=lambda s: scores[s])
    return Tuned(best, scores)
