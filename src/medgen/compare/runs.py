"""Trained runs as contestants: what each one is, what it cost, and its samples, timed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medgen.exceptions import InputError
from medgen.fileio import read_json_object
from medgen.models import DiffusionModel, GenerativeModel
from medgen.reference.build import PROVENANCE
from medgen.train.generate import open_run
from medgen.train.recipe import conditioning_of
from medgen.train.rundir import SUMMARY


@dataclass
class Contestant:
    """One trained run: its model and what its summary says it cost."""

    name: str  # the label in tables and figures
    path: Path
    model: GenerativeModel
    parameters: int
    images_seen: int
    train_seconds: float

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def kind(self) -> str:
        """ "latent diffusion" for a diffusion model on a VAE's latents, else the family."""
        if isinstance(self.model, DiffusionModel) and self.model.vae is not None:
            return "latent diffusion"
        return self.model.family

    @property
    def condition_names(self) -> tuple[str, ...]:
        """The metadata columns the model is conditioned on (empty: unconditional)."""
        conditioning = conditioning_of(self.model)
        return tuple(conditioning.names) if conditioning is not None else ()


def open_contestant(path: str | Path, name: str | None = None) -> Contestant:
    """A finished run folder (model/ and summary.json, or a reference model's provenance.json
    with the same steps, images and seconds) as a contestant."""
    path = Path(path)
    model = open_run(path).eval()
    summary: dict[str, Any] = {}
    for record in (SUMMARY, PROVENANCE):
        if (path / record).is_file():
            summary = read_json_object(path / record)
            break
    parameters = summary.get("parameters")
    if parameters is None:
        parameters = sum(p.numel() for p in model.parameters())
    return Contestant(
        name=name or path.name,
        path=path,
        model=model,
        parameters=int(parameters),
        images_seen=int(summary.get("images", -1)),
        train_seconds=float(summary.get("seconds", float("nan"))),
    )


def unique_names(paths: list[Path]) -> list[str]:
    """Labels for runs: folder names, made unique with their parents' names where they repeat."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{p.parent.name}/{p.name}" for p in paths]


def open_contestants(paths: list[str | Path]) -> list[Contestant]:
    """Each run folder as a contestant; InputError if none is given or one repeats."""
    if not paths:
        raise InputError("RUN", "name at least one trained run folder")
    resolved = [Path(p) for p in paths]
    if len({p.resolve() for p in resolved}) != len(resolved):
        raise InputError("RUN", "a run folder is named twice")
    return [open_contestant(p, n) for p, n in zip(resolved, unique_names(resolved), strict=True)]


@dataclass
class Samples:
    """Images drawn from a contestant, and what drawing them cost."""

    images: np.ndarray  # (n, H, W) in [0, 1]
    seconds_per_image: float
    nfe: int  # network evaluations per image (1 for a GAN generator or a VAE decoder)


def nfe_of(model: GenerativeModel, steps: int | None) -> int:
    """Network evaluations per image of one sample call (steps None: the run's own setting)."""
    if isinstance(model, DiffusionModel):
        return model.nfe(steps)
    return 1


@torch.no_grad()
def draw(
    contestant: Contestant,
    n: int,
    *,
    seed: int,
    cond: torch.Tensor | None = None,
    steps: int | None = None,
    batch_size: int = 250,
) -> Samples:
    """n images from the contestant in batches, timed; cond (n, A) labels for a conditional run.

    Diffusion runs sample with their own sampler and steps unless `steps` is given."""
    model = contestant.model
    options: dict[str, Any] = {}
    if isinstance(model, DiffusionModel) and steps is not None:
        options["steps"] = steps
    generator = torch.Generator().manual_seed(seed)
    parts = []
    start = time.perf_counter()
    for first in range(0, n, batch_size):
        size = min(batch_size, n - first)
        labels = None if cond is None else cond[first : first + size]
        parts.append(model.sample(size, generator=generator, cond=labels, **options))
    seconds = time.perf_counter() - start
    images = torch.cat(parts)
    if images.shape[1] != 1:
        raise InputError(contestant.path, "compare handles single-channel images only")
    return Samples(images[:, 0].float().numpy(), seconds / n, nfe_of(model, steps))
