"""`medgen sample` as a library call: images from a trained run, as a PNG grid or a .npy array."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from medgen.data.conditions import condition_values
from medgen.exceptions import InputError, SettingError
from medgen.fileio import make_folder, write_bytes_atomic
from medgen.models import DiffusionModel, GenerativeModel, load_model
from medgen.train.recipe import conditioning_of
from medgen.train.rundir import MODEL, write_grid
from medgen.validate import fits_in_memory, random_seed

FORMATS = (".png", ".npy")


class SampleResult(NamedTuple):
    """What `sample_run` wrote."""

    path: Path
    shape: tuple[int, ...]
    seconds: float
    nfe: int | None  # network evaluations per image (diffusion only)


def open_run(run: str | Path) -> GenerativeModel:
    """The final model of run folder `run` (its model/ export), or a saved model folder."""
    run = Path(run)
    folder = run / MODEL if (run / MODEL).is_dir() else run
    if not folder.is_dir():
        raise InputError(run, "is not a run folder (no such folder)")
    if not (folder / "model.json").exists():
        if folder != run:  # model/ is there, its record is not
            raise InputError(folder / "model.json", "no such file: the run's model/ is incomplete")
        raise InputError(run, "has no trained model yet (no model/ folder: did the run finish?)")
    return load_model(folder)


def image_bytes(model: GenerativeModel) -> int:
    """Bytes of one float32 image the model makes (channels x size x size)."""
    config = getattr(model, "config", None)
    size = int(getattr(config, "image_size", 64))
    return 4 * int(getattr(config, "channels", 1)) * size * size


def parse_condition(model: GenerativeModel, text: str | None, n: int) -> torch.Tensor | None:
    """Labels (n, A) for "location=brainstem,type=malignant", or None."""
    if not text:
        return None
    conditioning = conditioning_of(model)
    if conditioning is None or not conditioning.names:
        raise SettingError("cond", f"the {model.family} model of this run is unconditional")
    try:
        labels = conditioning.encode(condition_values(text))
    except ValueError as err:
        raise SettingError("cond", str(err)) from None
    return torch.tensor(labels, dtype=torch.long).expand(n, -1)


def sample_run(
    run: str | Path,
    out: str | Path,
    n: int = 64,
    *,
    sampler: str | None = None,
    steps: int | None = None,
    cond: str | None = None,
    guidance: float | None = None,
    seed: int = 0,
) -> SampleResult:
    """Draw n images from run `run` and write them to `out` (.png grid or .npy (n, H, W))."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise InputError(out, f"unknown output format {out.suffix!r} (use {' or '.join(FORMATS)})")
    if n < 1:
        raise SettingError("n", f"must be at least 1, got {n}")
    if steps is not None and steps < 1:
        raise SettingError("steps", f"must be at least 1, got {steps}")
    random_seed("seed", seed)
    if steps is not None:
        fits_in_memory("steps", steps, 8 * (steps + 1))  # a float64 noise level per step
    model = open_run(run).eval()
    fits_in_memory("n", n, n * image_bytes(model))
    labels = parse_condition(model, cond, n)
    options: dict[str, Any] = {}
    if isinstance(model, DiffusionModel):
        options = {"sampler": sampler, "steps": steps, "guidance": guidance}
    elif sampler or steps or guidance is not None:
        raise SettingError(
            "sampler/steps/guidance", f"apply to diffusion runs, not a {model.family}"
        )
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    try:
        images = model.sample(n, generator=generator, cond=labels, **options)
    except ValueError as err:
        raise InputError(run, str(err)) from None
    seconds = time.perf_counter() - start
    make_folder(out.parent)
    if out.suffix == ".png":
        write_grid(out, images)
    else:
        buffer = io.BytesIO()
        array = images[:, 0] if images.shape[1] == 1 else images  # (n, H, W) or (n, C, H, W)
        np.save(buffer, array.numpy().astype(np.float32))
        write_bytes_atomic(out, buffer.getvalue())
    nfe = None
    if isinstance(model, DiffusionModel):
        nfe = model.nfe(steps, sampler)
    return SampleResult(out, tuple(images.shape), seconds, nfe)
