"""The three tasks over a split of a dataset: medgen's diffusion method beside its peers.

Each `*_split` function streams the split in batches (with a progress callback), tunes the peers
on a few dev slices, scores every method on every slice and returns a `TaskOutcome`;
`run_task` opens the run and the data, checks they fit, and writes the outcome atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

from medgen.data.store import ALLOWED_SIZES, StoredDataset
from medgen.devices import default_device
from medgen.exceptions import InputError, SettingError
from medgen.tasks.adapter import PixelDenoiser, pixel_denoiser
from medgen.tasks.denoise import denoise, posterior_mean, tune_strength
from medgen.tasks.metrics import image_scores
from medgen.tasks.noise import add_rician, mad_sigma, moment_correction, rayleigh_sigma
from medgen.tasks.outputs import (
    PANEL_COLUMNS,
    Advance,
    TaskOutcome,
    batches,
    no_progress,
    stack_arrays,
)
from medgen.tasks.peers import DENOISE_PEERS, Peer, run_calls, tune
from medgen.validate import (
    fits_in_memory,
    flag,
    in_range,
    one_of,
    optional_whole,
    positive,
    random_seed,
    shown,
    texts,
    whole,
)

SPLITS = ("train", "dev", "test")
NOISE_RANGE = (0.005, 0.5)  # simulated Rician noise std, [0, 1] units
MIN_BACKGROUND = 64  # background pixels needed for the Rayleigh noise estimate
SLICE_BYTES = 4 * max(ALLOWED_SIZES) ** 2  # one float32 slice at the largest size


@dataclass(frozen=True)
class TaskSettings:
    """What every task shares: which slices, how many at a time, seeds, peers and tuning."""

    split: str = "test"
    limit: int | None = None  # first N slices of the split (None: all)
    batch_size: int = 16
    seed: int = 0
    peers: tuple[str, ...] = ()  # peer names to run beside medgen
    tune_slices: int = 8  # dev slices each peer (and medgen's anomaly level) is tuned on
    jobs: int = 1  # processes the classical peers run in (their seconds stay per core)

    def __post_init__(self) -> None:
        check_split(self.split)
        optional_whole("limit", self.limit, 1)
        whole("batch_size", self.batch_size, 1)
        random_seed("seed", self.seed)
        texts("peers", self.peers)
        whole("tune_slices", self.tune_slices, 1)
        whole("jobs", self.jobs, 1)


# ---- opening ---------------------------------------------------------------------------------


def run_folder(run: str | Path, store: StoredDataset) -> Path:
    """`run`, or the folder of the shipped reference model it names, which is handed out only
    for its own data (InputError otherwise)."""
    from medgen.reference.zoo import MODELS_DIR, require

    if not Path(run).exists() and Path(run).name == str(run) and (MODELS_DIR / str(run)).is_dir():
        return require(str(run), store).folder
    return Path(run)


def open_pixel_model(run: str | Path, store: StoredDataset) -> PixelDenoiser:
    """A run's pixel-space diffusion model as a [0, 1] denoiser, checked against the data size."""
    from medgen.train.generate import open_run

    model = open_run(run).eval().to(default_device())
    try:
        adapted = pixel_denoiser(model)
    except ValueError as err:
        raise InputError(run, str(err)) from None
    size = getattr(model.config, "image_size", None)
    if size != store.size:
        raise InputError(run, f"models {size}-pixel images; {store.root} has {store.size}-pixel")
    return adapted


def check_split(split: object) -> str:
    """`split` if it names a split of the data (SettingError naming "split" otherwise)."""
    if not isinstance(split, str) or split not in SPLITS:
        known = ", ".join(SPLITS)
        raise SettingError("split", f"unknown split {shown(split)} (choose one of {known})")
    return split


def split_ids(store: StoredDataset, split: str, limit: int | None = None) -> NDArray[np.int64]:
    """Row ids of `split` (the first `limit`), InputError if it has none."""
    check_split(split)
    ids = store.split(split).index.to_numpy().astype(np.int64)
    if limit is not None:
        if limit < 1:
            raise SettingError("limit", f"must be at least 1, got {limit}")
        ids = ids[:limit]
    if len(ids) == 0:
        raise InputError(store.root, f"has no slices in its {split} split")
    return ids


def check_peers(names: Sequence[str], known: dict[str, Peer]) -> tuple[str, ...]:
    """The peer names, checked (SettingError naming "peers" on an unknown one)."""
    for name in names:
        if name not in known:
            raise SettingError("peers", f"unknown peer {name!r} (choose from {', '.join(known)})")
    return tuple(names)


def load_slices(store: StoredDataset, name: str, ids: NDArray[np.int64]) -> Tensor:
    """Array `name` at rows ids as (B, 1, H, W) float32."""
    return torch.from_numpy(np.asarray(store.array(name)[ids], np.float32)).unsqueeze(1)


def estimate_sigma(y: Tensor, brain: Tensor) -> Tensor:
    """Per-slice noise std (B,): Rayleigh fit to the air 2 pixels beyond the brain, else MAD."""
    near = F.max_pool2d(brain.float(), kernel_size=5, stride=1, padding=2) > 0
    background = ~near
    if int(background.flatten(1).sum(1).min()) >= MIN_BACKGROUND:
        return rayleigh_sigma(y, background, robust=True)
    return mad_sigma(y)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """fn(*args, **kwargs) and the seconds it took."""
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def peer_on(
    peer: Peer, observed: Tensor, levels: Sequence[object], strength: float, jobs: int
) -> tuple[Tensor, float]:
    """A numpy peer applied slice by slice to (B, 1, H, W) images or k-space, clipped to [0, 1],
    and the seconds its calls took in all (one core's time, in however many processes)."""
    calls = [
        (peer.fn, o[0].numpy(), level, strength) for o, level in zip(observed, levels, strict=True)
    ]
    results = run_calls(calls, jobs)
    out = np.clip(np.stack([r[0] for r in results]), 0, 1)
    return torch.from_numpy(out).float().unsqueeze(1), sum(r[1] for r in results)


def tune_peers(
    peers: Sequence[str],
    table: dict[str, Peer],
    observed: Tensor,
    truth: Tensor,
    brain: Tensor,
    level: object,
    jobs: int,
) -> dict[str, float]:
    """Each peer's dev-tuned strength at one noise level / mask."""
    obs = [o[0].numpy() for o in observed]
    return {
        name: tune(
            table[name],
            obs,
            [t[0].numpy() for t in truth],
            [b[0].numpy().astype(bool) for b in brain],
            level,
            jobs,
        ).strength
        for name in peers
    }


def score_rows(
    method: str, ids: NDArray[np.int64], out: Tensor, truth: Tensor, brain: Tensor, seconds: float
) -> list[dict[str, Any]]:
    rows = []
    for i, o, t, b in zip(ids, out, truth, brain, strict=True):
        scores = image_scores(t[0].numpy(), o[0].numpy(), b[0].numpy().astype(bool))
        rows.append(
            {"id": int(i), "method": method, **scores._asdict(), "seconds": seconds / len(ids)}
        )
    return rows


def new_parts() -> dict[str, list[NDArray[Any]]]:
    """Empty per-batch lists for the panel columns, in the order `keep_panels` fills them."""
    return {k: [] for k in PANEL_COLUMNS}


def keep_panels(parts: dict[str, list[NDArray[Any]]], *values: Tensor) -> None:
    """Append a batch's input, output, truth, error and uncertainty (B, 1, H, W) to `parts`."""
    for key, value in zip(parts, values, strict=True):
        parts[key].append(value[:, 0].numpy())


def task_outcome(
    task: str,
    ids: NDArray[np.int64],
    rows: list[dict[str, Any]],
    parts: dict[str, list[NDArray[Any]]],
    s: TaskSettings,
    settings: dict[str, Any],
    nfe: int,
    strengths: dict[str, float],
) -> TaskOutcome:
    """The TaskOutcome of an image-to-image task: arrays, per-slice scores and their means."""
    per_slice = pd.DataFrame(rows)
    metrics = {
        "task": task,
        "split": s.split,
        "n": len(ids),
        "settings": settings,
        "nfe_per_slice": nfe,
        "strengths": strengths,
        "methods": method_summary(per_slice),
    }
    return TaskOutcome(stack_arrays(ids, parts), per_slice, metrics)


def method_summary(per_slice: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Mean of every score per method, and seconds per slice."""
    means = per_slice.drop(columns=["id"]).groupby("method", sort=False).mean(numeric_only=True)
    return {m: {k: float(v) for k, v in row.items()} for m, row in means.iterrows()}


# ---- denoising -------------------------------------------------------------------------------


def check_sampling(k: object, steps: object) -> None:
    """k posterior samples per slice and `steps` reverse steps: whole numbers >= 1 whose
    samples (at the largest slice size) and noise levels fit in memory."""
    fits_in_memory("k", k, whole("k", k, 1) * SLICE_BYTES)
    fits_in_memory("steps", steps, 8 * (whole("steps", steps, 1) + 1))  # float64 levels


@dataclass(frozen=True)
class DenoiseSettings:
    """medgen denoise: simulated Rician noise, its estimate, and the diffusion method."""

    noise: float = 0.10  # std of the simulated Rician noise, [0, 1] units
    sigma: float | None = None  # the noise std the methods are told; None: estimated per slice
    method: str = "sample"  # "mean": one-step posterior mean; "sample": k posterior samples
    k: int = 4  # posterior samples averaged (method "sample")
    steps: int = 10  # reverse steps per sample (method "sample"): NFE = steps
    strength: float | None = None  # denoiser's level / noise std; None: tuned on dev
    mirrored: bool = True  # method "mean": average with the mirrored slice's estimate (2 NFE)

    def __post_init__(self) -> None:
        in_range("noise", self.noise, *NOISE_RANGE)
        if self.sigma is not None:
            positive("sigma", self.sigma)
        one_of("method", self.method, DENOISE_METHODS)
        check_sampling(self.k, self.steps)
        if self.strength is not None:
            positive("strength", self.strength)
        flag("mirrored", self.mirrored)


DENOISE_METHODS = ("mean", "sample")


def _noisy(store: StoredDataset, ids: NDArray[np.int64], noise: float, seed: int) -> Tensor:
    """Clean slices with Rician noise, reproducible per slice id."""
    clean = load_slices(store, "clean", ids)
    g = torch.Generator().manual_seed(seed * 1_000_003 + int(ids[0]))
    return add_rician(clean, noise, generator=g)


def medgen_denoise(
    model: PixelDenoiser,
    y: Tensor,
    sigma: Tensor,
    strength: float,
    d: DenoiseSettings,
    g: torch.Generator,
) -> tuple[Tensor, Tensor, int]:
    """(estimate, uncertainty, NFE per slice): the Rician moment correction at the estimated
    noise std, then the denoiser told `strength` times it."""
    corrected = moment_correction(y, sigma)
    if d.method == "mean":
        est = posterior_mean(model.denoiser, corrected, strength * sigma, d.mirrored)
        return est.clamp(0, 1), torch.zeros_like(est), 2 if d.mirrored else 1
    means, stds, nfe = [], [], 0
    for yi, si in zip(corrected, sigma, strict=True):  # each slice at its own estimated level
        out = denoise(
            model.denoiser, yi[None], strength * float(si), d.k, steps=d.steps, generator=g
        )
        means.append(out.mean)
        stds.append(out.std)
        nfe = out.nfe
    return torch.cat(means).clamp(0, 1), torch.cat(stds), nfe


def denoise_split(
    model: PixelDenoiser,
    store: StoredDataset,
    s: TaskSettings,
    d: DenoiseSettings,
    progress: Advance = no_progress,
) -> TaskOutcome:
    """Rician-noisy clean slices denoised by medgen and the peers; PSNR/SSIM and time per slice."""
    ids = split_ids(store, s.split, s.limit)
    peers = check_peers(s.peers, DENOISE_PEERS)
    dev = split_ids(store, "dev", s.tune_slices)
    y_dev, brain_dev = (
        _noisy(store, dev, d.noise, s.seed + 1),
        load_slices(store, "brain_mask", dev),
    )
    sigma_dev = float(estimate_sigma(y_dev, brain_dev).mean()) if d.sigma is None else d.sigma
    corrected_dev, clean_dev = moment_correction(y_dev, sigma_dev), load_slices(store, "clean", dev)
    strengths = tune_peers(
        peers, DENOISE_PEERS, corrected_dev, clean_dev, brain_dev, sigma_dev, s.jobs
    )
    strength = d.strength
    if strength is None:  # medgen's one knob, tuned like the peers' (1-2 NFE a value and slice)
        levels = torch.full((len(dev),), sigma_dev)
        mirrored = d.mirrored and d.method == "mean"
        strength, _ = tune_strength(
            model.denoiser, corrected_dev, levels, clean_dev, brain_dev.bool(), mirrored=mirrored
        )
    strengths["medgen"] = strength
    g = torch.Generator().manual_seed(s.seed)
    rows: list[dict[str, Any]] = []
    parts = new_parts()
    nfe, done = 0, 0
    for chunk in batches(ids, s.batch_size):
        y, clean = _noisy(store, chunk, d.noise, s.seed), load_slices(store, "clean", chunk)
        brain = load_slices(store, "brain_mask", chunk)
        sigma = estimate_sigma(y, brain) if d.sigma is None else torch.full((len(chunk),), d.sigma)
        (est, std, nfe), sec = timed(medgen_denoise, model, y, sigma, strength, d, g)
        rows += score_rows("medgen", chunk, est, clean, brain, sec)
        for name in peers:
            corrected = moment_correction(y, sigma)  # the same Rician correction as medgen's
            out, sec = peer_on(
                DENOISE_PEERS[name], corrected, sigma.tolist(), strengths[name], s.jobs
            )
            rows += score_rows(name, chunk, out, clean, brain, sec)
        keep_panels(parts, y, est, clean, (est - clean).abs(), std)
        done += len(chunk)
        progress(done, len(ids))
    return task_outcome("denoise", ids, rows, parts, s, asdict(d), nfe, strengths)
