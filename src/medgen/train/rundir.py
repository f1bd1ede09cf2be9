"""The files of a run directory other than checkpoints: config, metrics log, samples, summary.

out/
    config.json        train config, model config and family, medgen version, data path
    metrics.jsonl      one JSON object per log line: step, images, seconds, lr, metrics
    samples/step-XXXXXXXX.png
    checkpoints/       see `medgen.train.checkpoint`
    model/             the final weights (EMA ones for models that sample with an EMA)
    summary.json       how the run ended
    tracker/           experiment trackers' local files (`medgen.train.tracking`), if any
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from medgen import __version__
from medgen.config import to_dict
from medgen.exceptions import InputError
from medgen.fileio import (
    read_json_object,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from medgen.models.protocol import GenerativeModel
from medgen.train.checkpoint import STATE, latest_checkpoint, read_state, resume_checkpoint
from medgen.train.config import RESUMABLE_CHANGES, TrainConfig

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
SAMPLES = "samples"
MODEL = "model"


def run_config(
    config: TrainConfig, model: GenerativeModel, data: str | Path | None = None
) -> dict[str, Any]:
    """What config.json records: everything needed to rebuild and continue the run."""
    return {
        "train": to_dict(config),
        "family": model.family,
        "model": json.loads(json.dumps(model.config_dict())),
        "medgen_version": __version__,
        "data": None if data is None else str(data),
    }


def resume_point(out: Path, resume: bool, current: Mapping[str, Any]) -> Path | None:
    """The checkpoint a run in `out` continues from (None: start afresh), after the checks.

    Without `resume`, a folder that already holds a run is refused; with it, the saved config
    must equal `current` but for the keys in RESUMABLE_CHANGES, and a damaged newest checkpoint
    gives way to the newest intact one (`resume_checkpoint`).
    """
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    checkpoint = latest_checkpoint(out)
    holds_run = checkpoint is not None or (out / CONFIG).exists() or (out / SUMMARY).exists()
    if not resume:
        if holds_run:
            raise InputError(
                out, "already holds a run; pass --resume to continue it or choose another --out"
            )
        return None
    checkpoint = resume_checkpoint(out)
    if checkpoint is not None:
        saved = read_state(checkpoint / STATE)[1]
        check_same_run(saved, current, checkpoint / STATE)
    elif (out / CONFIG).exists():
        check_same_run(read_json_object(out / CONFIG), current, out / CONFIG)
    return checkpoint


def check_same_run(saved: Mapping[str, Any], current: Mapping[str, Any], source: Path) -> None:
    """Refuse to resume with a config that differs from the saved one (budget etc. may)."""
    old, new = _flatten(saved), _flatten(current)
    for key in sorted(set(old) | set(new)):
        if key in ("medgen_version", "data"):  # a new version or a moved dataset may resume
            continue
        if key.startswith("train.") and key.removeprefix("train.") in RESUMABLE_CHANGES:
            continue
        if old.get(key, "<unset>") != new.get(key, "<unset>"):
            was, now = old.get(key, "<unset>"), new.get(key, "<unset>")
            raise InputError(
                source,
                f"cannot resume: {key} was {was!r}, now {now!r} "
                f"(only {', '.join(sorted(RESUMABLE_CHANGES))} may change)",
            )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def append_metrics(out: Path, record: Mapping[str, Any]) -> None:
    """Add one line to metrics.jsonl."""
    with open(out / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()


def truncate_metrics(out: Path, step: int) -> dict[str, Any]:
    """Keep only the metrics.jsonl lines up to `step` (and drop a half-written last line);
    the last line kept ({} if none)."""
    path = out / METRICS
    if not path.exists():
        return {}
    kept, last = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("step"), int)
            and record["step"] <= step
        ):
            kept.append(line + "\n")
            last = record
    write_text_atomic(path, "".join(kept))
    return last


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """Write summary.json."""
    write_json_atomic(out / SUMMARY, dict(summary))


def sample_path(out: Path, step: int) -> Path:
    """Where the sample grid taken after `step` steps goes."""
    return out / SAMPLES / f"step-{step:08d}.png"


def write_grid(path: Path, images: Tensor) -> np.ndarray:
    """Save images (N, C, H, W) in [0, 1] as one PNG grid, as square as N allows; the grid's
    pixels (H, W, C) uint8, as written."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    channels = 3 if c >= 3 else 1
    grid = torch.zeros(channels, rows * (h + 2) + 2, cols * (w + 2) + 2)  # 2-pixel gutters
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = 2 + r * (h + 2), 2 + col * (w + 2)
        grid[:, top : top + h, left : left + w] = images[i, :channels]
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue())
    return pixels


__all__ = [
    "CONFIG",
    "METRICS",
    "MODEL",
    "SAMPLES",
    "SUMMARY",
    "append_metrics",
    "check_same_run",
    "resume_point",
    "run_config",
    "sample_path",
    "truncate_metrics",
    "write_grid",
    "write_summary",
]
