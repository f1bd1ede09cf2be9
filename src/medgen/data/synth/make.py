"""`make_dataset`: plan, render on all cores into memory-mapped arrays, write atomically."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgen.config import to_dict
from medgen.data.store import ARRAY_DTYPES, DatasetWriter, check_out
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.config import BUILTIN_KIND, DataConfig
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice
from medgen.data.synth.workers import worker_pool
from medgen.exceptions import SettingError
from medgen.validate import byte_size, worker_count

ARRAYS = ("images", "clean", "brain_mask", "tumour_mask", "oedema_mask")
CHUNK = 250  # slices per task: large enough to amortise the hand-off, small for smooth progress
Progress = Callable[[int, int], None]


def render_chunk(cfg: DataConfig, root: Path, plan: pd.DataFrame) -> pd.DataFrame:
    """Render the plan rows into the arrays under `root` (opened r+); return measured metadata."""
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    arrays = {name: np.load(root / f"{name}.npy", mmap_mode="r+") for name in ARRAYS}
    measured = []
    for row in plan.itertuples(index=False):
        s = render_slice(
            cfg, anatomy, t1, row.slice_index, row.location, row.tumour_type, int(row.seed)
        )
        for name, value in zip(
            ARRAYS, (s.image, s.clean, s.brain, s.tumour, s.oedema), strict=True
        ):
            arrays[name][row.id] = value
        measured.append(
            {
                "id": row.id,
                "tumour_px": int(s.tumour.sum()),
                "oedema_px": int(s.oedema.sum()),
                "tumour_contrast": s.tumour_contrast if row.label else np.nan,
                "enhancing": s.enhancing,
                "noise_sigma": s.noise_sigma,
                "bias_strength": s.bias_strength,
            }
        )
    for array in arrays.values():
        array.flush()
    return pd.DataFrame(measured)


def check_disk(out: Path, cfg: DataConfig) -> None:
    """Refuse a dataset larger than the free space where `out` goes, before any work."""
    n = cfg.n_train + cfg.n_dev + cfg.n_test
    needed = n * cfg.size**2 * sum(ARRAY_DTYPES[name].itemsize for name in ARRAYS)
    folder = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise SettingError(
            "n_train/n_dev/n_test",
            f"{n} slices of {cfg.size} x {cfg.size} need {byte_size(needed)} on disk; "
            f"{folder} has {byte_size(free)} free",
        )


def make_dataset(
    out: str | Path,
    cfg: DataConfig,
    *,
    workers: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build the brain-MRI tumour dataset described by `cfg` at `out`; returns the manifest.

    The output is byte-identical for the same config whatever `workers` is (0: all cores). It
    appears at `out` only when complete; an existing `out` is replaced only with `overwrite`, and
    only if it is a dataset folder.
    """
    check_out(Path(out), overwrite)  # before the template loads: a refusal comes at once
    check_disk(Path(out), cfg)
    workers = worker_count("workers", workers) or os.cpu_count() or 1
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    plan = plan_slices(cfg, anatomy)
    n = len(plan)
    chunks = [plan.iloc[i : i + CHUNK] for i in range(0, n, CHUNK)]
    done = 0
    with DatasetWriter(out, n, cfg.size, ARRAYS, overwrite=overwrite) as writer:
        assert writer.root is not None
        writer.arrays.clear()  # workers write through their own maps
        parts: list[pd.DataFrame] = []
        if workers == 1:
            for chunk in chunks:
                parts.append(render_chunk(cfg, writer.root, chunk))
                done += len(chunk)
                if progress:
                    progress(done, n)
        else:
            with worker_pool(min(workers, len(chunks))) as pool:
                futures = {pool.submit(render_chunk, cfg, writer.root, c): len(c) for c in chunks}
                for future in as_completed(futures):
                    parts.append(future.result())
                    done += futures[future]
                    if progress:
                        progress(done, n)
        measured = pd.concat(parts).sort_values("id").reset_index(drop=True)
        meta = plan.drop(columns="slice_index").merge(measured, on="id", validate="one_to_one")
        meta["source"] = "mni152"
        return writer.commit(
            meta,
            {
                "kind": BUILTIN_KIND,
                "config": to_dict(cfg),
                "template": "MNI152 T1 1mm (nilearn.datasets.load_mni152_template)",
                "field_of_view_mm": cfg.anatomy.field_of_view_mm,
            },
        )
