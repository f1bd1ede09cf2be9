"""Reconstruction over a split: undersampled k-space of clean slices, reconstructed by medgen's
posterior sampling with data consistency and by the peers, scored like the other tasks
(`medgen.tasks.run`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from medgen.data.store import StoredDataset
from medgen.diffusion import karras_sigmas
from medgen.exceptions import SettingError
from medgen.tasks.adapter import PixelDenoiser
from medgen.tasks.kspace import ACCEL_RANGE, MASKS, undersample, zero_filled
from medgen.tasks.outputs import Advance, TaskOutcome, batches, no_progress
from medgen.tasks.peers import RECONSTRUCT_PEERS
from medgen.tasks.run import (
    TaskSettings,
    check_peers,
    check_sampling,
    keep_panels,
    load_slices,
    new_parts,
    peer_on,
    score_rows,
    split_ids,
    task_outcome,
    timed,
    tune_peers,
)
from medgen.validate import at_least, in_range, positive, shown


@dataclass(frozen=True)
class ReconstructSettings:
    """medgen reconstruct: the mask, and diffusion posterior sampling with data consistency."""

    accel: float = 4.0  # acceleration: samples in full k-space over samples measured
    mask: str = "cartesian"  # a key of medgen.tasks.MASKS
    k: int = 4  # posterior samples (their spread is the uncertainty map)
    steps: int = 50  # reverse steps: NFE = steps
    sigma_start: float = 1.0  # first level of the reverse process, [0, 1] units (warm start)
    eta: float = 1.0  # ancestral noise: 1 DDPM, 0 DDIM

    def __post_init__(self) -> None:
        in_range("accel", self.accel, *ACCEL_RANGE)
        if not isinstance(self.mask, str) or self.mask not in MASKS:
            known = ", ".join(MASKS)
            raise SettingError("mask", f"unknown mask {shown(self.mask)} (choose one of {known})")
        check_sampling(self.k, self.steps)
        positive("sigma_start", self.sigma_start)
        at_least("eta", self.eta)


def _mask(r: ReconstructSettings, size: int, seed: int) -> Tensor:
    return MASKS[r.mask](size, r.accel, generator=torch.Generator().manual_seed(seed))


def reconstruct_split(
    model: PixelDenoiser,
    store: StoredDataset,
    s: TaskSettings,
    r: ReconstructSettings,
    progress: Advance = no_progress,
) -> TaskOutcome:
    """Undersampled k-space of clean slices reconstructed by medgen and the peers."""
    from medgen.tasks.reconstruct import reconstruct

    mask = _mask(r, store.size, s.seed)
    ids = split_ids(store, s.split, s.limit)
    peers = check_peers(s.peers, RECONSTRUCT_PEERS)
    strengths: dict[str, float] = {}
    if peers:
        dev = split_ids(store, "dev", s.tune_slices)
        clean_dev = load_slices(store, "clean", dev)
        strengths = tune_peers(
            peers,
            RECONSTRUCT_PEERS,
            undersample(clean_dev, mask),
            clean_dev,
            load_slices(store, "brain_mask", dev),
            mask.numpy(),
            s.jobs,
        )
    start = min(r.sigma_start, model.sigma_max)
    sigmas = karras_sigmas(r.steps, model.sigma_min, start, dtype=torch.float32)
    g = torch.Generator().manual_seed(s.seed)
    rows: list[dict[str, Any]] = []
    parts = new_parts()
    nfe, done = 0, 0
    for chunk in batches(ids, s.batch_size):
        clean, brain = load_slices(store, "clean", chunk), load_slices(store, "brain_mask", chunk)
        kspace = undersample(clean, mask)
        result, sec = timed(
            reconstruct, model.denoiser, kspace, mask, sigmas, r.k, generator=g, eta=r.eta
        )
        est, nfe = result.mean.clamp(0, 1), result.nfe
        rows += score_rows("medgen", chunk, est, clean, brain, sec)
        for name in peers:
            levels = [mask.numpy()] * len(chunk)
            out, sec = peer_on(RECONSTRUCT_PEERS[name], kspace, levels, strengths[name], s.jobs)
            rows += score_rows(name, chunk, out, clean, brain, sec)
        zf = zero_filled(kspace, mask).abs()
        keep_panels(parts, zf, est, clean, (est - clean).abs(), result.std)
        done += len(chunk)
        progress(done, len(ids))
    outcome = task_outcome("reconstruct", ids, rows, parts, s, asdict(r), nfe, strengths)
    outcome.metrics["measured_fraction"] = float(mask.float().mean())
    return outcome
