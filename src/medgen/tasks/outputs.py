"""What a task command writes: arrays, PNG panels (input | output | truth | error | uncertainty),
per-slice scores and `metrics.json`, all into one folder that appears whole or not at all."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from medgen.fileio import atomic_directory, check_overwrite, write_json_atomic

Advance = Callable[[int, int], None]  # advance(done, total), e.g. a progress bar
PANEL_COLUMNS = ("input", "output", "truth", "error", "uncertainty")


class TaskArrays(NamedTuple):
    """The kept outputs of a task's own method on N slices, each (N, H, W) float32."""

    ids: NDArray[np.int64]  # dataset row of each slice
    input: NDArray[np.float32]  # what the method saw (noisy image, zero-filled recon, scan)
    output: NDArray[np.float32]  # its estimate (denoised image, reconstruction, healthy recon)
    truth: NDArray[np.float32]  # the clean image, or the tumour mask for anomaly detection
    error: NDArray[np.float32]  # |output - truth|, or the anomaly map
    uncertainty: NDArray[np.float32]  # per-pixel posterior std (0 for a one-step estimate)


class TaskOutcome(NamedTuple):
    """A finished task: its arrays, one row of scores per slice and method, and the summary."""

    arrays: TaskArrays
    per_slice: pd.DataFrame
    metrics: dict[str, Any]


def no_progress(done: int, total: int) -> None:
    """An `Advance` that shows nothing."""


def batches(ids: NDArray[np.int64], size: int) -> Iterator[NDArray[np.int64]]:
    """Consecutive chunks of `size` ids (the last one shorter)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def check_out(out: Path, overwrite: bool, task: str) -> None:
    """Refuse an existing `out` unless `overwrite` is set and it is an output folder of this
    `task` (its metrics.json names it) or empty: --overwrite never replaces anything else."""
    check_overwrite(out, overwrite, "metrics.json", task, key="task")


def _npy(array: NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_panel(path: Path, columns: Mapping[str, NDArray[Any]], title: str) -> None:
    """One PNG row: input | output | truth on a fixed [0, 1] scale, error and uncertainty
    each on its own scale (with a colour bar), so small errors stay visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(2.2 * len(columns), 2.5))
    for ax, (name, image) in zip(np.atleast_1d(axes), columns.items(), strict=True):
        fixed = name in ("input", "output", "truth")
        top = 1.0 if fixed else max(float(np.max(image)), 1e-6)
        shown = ax.imshow(image, cmap="gray" if fixed else "magma", vmin=0, vmax=top)
        if not fixed:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: write them as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outcome(out: Path, outcome: TaskOutcome, panels: int, overwrite: bool) -> None:
    """arrays/*.npy, panels/slice_<id>.png (the first `panels` slices), per_slice.csv and
    metrics.json into `out`, atomically: on any error nothing is left and an old `out` stays."""
    check_out(out, overwrite, str(outcome.metrics["task"]))
    with atomic_directory(out, overwrite=overwrite) as tmp:
        (tmp / "arrays").mkdir()
        for name, array in outcome.arrays._asdict().items():
            (tmp / "arrays" / f"{name}.npy").write_bytes(_npy(np.asarray(array)))
        (tmp / "panels").mkdir()
        a = outcome.arrays
        for i in range(min(panels, len(a.ids))):
            columns = {name: getattr(a, name)[i] for name in PANEL_COLUMNS}
            title = f"slice {int(a.ids[i])}"
            write_panel(tmp / "panels" / f"slice_{int(a.ids[i]):05d}.png", columns, title)
        outcome.per_slice.to_csv(tmp / "per_slice.csv", index=False, float_format="%.6g")
        write_json_atomic(tmp / "metrics.json", _finite(outcome.metrics))


def stack_arrays(ids: NDArray[np.int64], parts: Mapping[str, Sequence[NDArray[Any]]]) -> TaskArrays:
    """TaskArrays from per-batch lists of (B, H, W) arrays."""
    joined = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
    return TaskArrays(ids=np.asarray(ids, np.int64), **joined)
