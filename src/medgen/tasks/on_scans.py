"""Denoising and anomaly maps of a researcher's own scan, slice by slice, in its own geometry.

Each plane of the scan (`medgen.tasks.scans`) is mapped to [0, 1] by the scan's head window,
fitted into the model's square, processed as the benchmark processes a slice, cut out and
resized back, and mapped back to the scan's units. Nothing is simulated: the noise level is
measured on the scan itself.

Noise level: scikit-image's `estimate_sigma` (the wavelet MAD estimate of Donoho & Johnstone
1994; per plane, the median over planes) on the [0, 1] scan at its own resolution, times the
per-pixel std that `to_model`'s resampling leaves of unit white noise (interpolation averages
neighbouring pixels, so the model sees less noise than the scan holds).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from medgen.exceptions import InputError
from medgen.tasks.adapter import PixelDenoiser, pixel_denoiser
from medgen.tasks.anomaly import gaussian_blur, slice_score
from medgen.tasks.anomaly_split import AnomalySettings, diffusion_maps
from medgen.tasks.outputs import Advance, no_progress
from medgen.tasks.run import DenoiseSettings, medgen_denoise
from medgen.tasks.scans import Scan, Window, from_model, head_mask, head_window, to_model

NOISE_PROBE_SEED = 0  # seed of the white-noise probe of the resampling's noise gain
DEFAULT_T_SIGMA = 0.2  # anomaly top noise level, [0, 1] units: the middle of the benchmark's
TOP_FRACTION = 0.01  # an anomaly score: the mean of the map's top 1% (as the benchmark's)


def open_prior(run: str | Path) -> tuple[PixelDenoiser, int]:
    """A run's (or a shipped reference's, by name) pixel-space diffusion model as a [0, 1]
    denoiser, and its image size."""
    from medgen.devices import default_device
    from medgen.reference.zoo import MODELS_DIR
    from medgen.train.generate import open_run

    shipped = MODELS_DIR / str(run)
    if not Path(run).exists() and Path(str(run)).name == str(run) and shipped.is_dir():
        run = shipped  # a reference model's name: its folder is a run folder
    model = open_run(run).eval().to(default_device())
    try:
        adapted = pixel_denoiser(model)
    except ValueError as err:
        raise InputError(run, str(err)) from None
    return adapted, int(getattr(model.config, "image_size", 0))


def estimate_noise(unit: NDArray[np.float32]) -> float:
    """The noise std of [0, 1] planes (k, rows, cols): the median over planes of scikit-image's
    2-D wavelet estimate (in-plane only: neighbouring slices may be far apart, or repeats)."""
    from skimage.restoration import estimate_sigma

    planes = np.asarray(unit, np.float64)
    return float(np.median([estimate_sigma(plane) for plane in planes]))


def noise_gain(shape: tuple[int, int], spacing: tuple[float, float], size: int) -> float:
    """Per-pixel std, inside the fitted plane, of unit white noise after `to_model`'s resize."""
    from medgen.data.importers.common import fit_square

    probe = np.random.default_rng(NOISE_PROBE_SEED).standard_normal((4, *shape))
    fitted = fit_square(probe.astype(np.float32), spacing, size, mask=False)
    inside = fit_square(np.ones((1, *shape), np.float32), spacing, size, mask=True)[0] > 0.5
    return float(fitted[:, inside].std())


class ScanDenoised(NamedTuple):
    """A denoised scan in its own units, its uncertainty, and the numbers behind them."""

    output: NDArray[np.float32]  # (k, rows, cols) denoised, scan units
    uncertainty: NDArray[np.float32]  # (k, rows, cols) posterior std, scan units
    window: Window  # the scan's intensity window
    sigma: float  # estimated noise std at the scan's resolution, [0, 1] units
    sigma_model: float  # the noise std the model is told, [0, 1] units at its size
    nfe: int  # denoiser calls per slice


def denoise_scan(
    model: PixelDenoiser,
    size: int,
    scan: Scan,
    d: DenoiseSettings,
    strength: float = 1.0,
    *,
    batch_size: int = 16,
    seed: int = 0,
    progress: Advance = no_progress,
) -> ScanDenoised:
    """Every plane of `scan` denoised by the benchmark's method at the scan's own noise level
    (estimated, or d.sigma where it is set)."""
    window = head_window(scan.planes)
    unit = window.to_unit(scan.planes)
    shape = (int(unit.shape[1]), int(unit.shape[2]))
    sigma = estimate_noise(unit) if d.sigma is None else d.sigma  # d.sigma: known, [0, 1] units
    sigma_model = max(sigma * noise_gain(shape, scan.spacing, size), model.sigma_min)
    images = torch.from_numpy(to_model(unit, scan.spacing, size)).unsqueeze(1)  # (k, 1, S, S)
    g = torch.Generator().manual_seed(seed)
    means, stds, nfe = [], [], 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            y = images[start : start + batch_size]
            levels = torch.full((len(y),), sigma_model)
            est, std, nfe = medgen_denoise(model, y, levels, strength, d, g)
            means.append(est[:, 0].numpy())
            stds.append(std[:, 0].numpy())
            progress(start + len(y), len(images))
    output = window.from_unit(from_model(np.concatenate(means), scan.spacing, shape))
    spread = window.scale(np.abs(from_model(np.concatenate(stds), scan.spacing, shape)))
    return ScanDenoised(output, spread, window, sigma, sigma_model, nfe)


class ScanAnomaly(NamedTuple):
    """Anomaly maps of a scan's planes at the scan's size and the model's, and slice scores."""

    map: NDArray[np.float32]  # (k, rows, cols) smoothed residual in the head, [0, 1] units
    scores: NDArray[np.float32]  # (k,) mean of each plane's top 1% of map values
    images: NDArray[np.float32]  # (k, S, S) the planes as the model saw them
    model_map: NDArray[np.float32]  # (k, S, S) the map at the model's size
    nfe: int  # denoiser calls per slice


def anomaly_scan(
    model: PixelDenoiser,
    size: int,
    scan: Scan,
    a: AnomalySettings,
    *,
    batch_size: int = 16,
    seed: int = 0,
    progress: Advance = no_progress,
) -> ScanAnomaly:
    """Every plane's anomaly map by the benchmark's method, in the head only; a.t_sigma unset
    is DEFAULT_T_SIGMA (the benchmark chooses it on dev tumour slices, which a scan has not)."""
    t_sigma = DEFAULT_T_SIGMA if a.t_sigma is None else a.t_sigma
    unit = head_window(scan.planes).to_unit(scan.planes)
    images = to_model(unit, scan.spacing, size)  # (k, S, S)
    heads = torch.from_numpy(head_mask(images)).unsqueeze(1)
    x = torch.from_numpy(images).unsqueeze(1)
    maps_of = diffusion_maps(model, a, t_sigma, torch.Generator().manual_seed(seed))
    maps, scores, nfe = [], [], 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            part = slice(start, start + batch_size)
            _, residual, _, nfe = maps_of(x[part], heads[part])
            amap = gaussian_blur(residual, a.blur) * heads[part]  # the benchmark's map
            maps.append(amap[:, 0].numpy())
            scores.append(slice_score(amap, TOP_FRACTION).numpy())
            progress(min(start + batch_size, len(x)), len(x))
    model_map = np.concatenate(maps).astype(np.float32)
    shape = (int(unit.shape[1]), int(unit.shape[2]))
    native = np.clip(from_model(model_map, scan.spacing, shape), 0, None)
    return ScanAnomaly(native, np.concatenate(scores), images, model_map, nfe)
