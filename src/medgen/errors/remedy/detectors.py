"""The remedy's detectors: trained per arm and seed (in turn or at once), then measured."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from medgen.data.store import StoredDataset
from medgen.data.synth.workers import die_with_parent
from medgen.detect import DetectorConfig, load_detector, train_detector
from medgen.errors.remedy.plan import Added, RemedyPlan
from medgen.errors.remedy.slices import in_slice, tumours_in
from medgen.evaluate.proportions import error_with_interval

Extra = tuple[np.ndarray, np.ndarray, np.ndarray]  # what train_detector adds: images, masks, kinds


class FindsRegions(Protocol):
    def regions(self, images: np.ndarray) -> np.ndarray: ...


def seeded(config: DetectorConfig, k: int) -> DetectorConfig:
    """The detector config with every part's seed moved on by k (k = 0: the same config)."""
    return replace(
        config,
        seed=config.seed + k,
        extract=replace(config.extract, seed=config.extract.seed + k),
        classify=replace(config.classify, seed=config.classify.seed + k),
    )


def detector_folder(out: Path, arm: str, k: int) -> Path:
    """Where the arm's detector of seed k (0, 1, ...) lives: ARM/, then ARM-seed1/, ..."""
    return out / (arm if k == 0 else f"{arm}-seed{k}")


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to `threads` inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(
    data: Path, run: Path, config: DetectorConfig, extra: Extra | None, threads: int | None
) -> None:
    """One remedy detector (in a worker process: with the parent's torch threads)."""
    if threads is not None:
        torch.set_num_threads(threads)
    made = None if extra is None else (lambda: extra)
    train_detector(data, run, config, extra=made, overwrite=True, log=lambda _: None)


class DetectorTrainer:
    """Trains the remedy's detectors in turn (`jobs` 1) or `jobs` at once in fresh processes.

    Every worker uses `threads` torch threads (None: the parent's count), the one thing besides
    the seed that moves a trained detector on a CPU, so a detector comes out as it would alone
    at that count and arms trained at once stay comparable. Submitting returns at once: the
    caller makes the next arm's examples while the workers train. Leaving the `with` block
    waits for every detector and raises the first failure; leaving it on an error drops the
    detectors not yet started (each detector is written whole or not at all)."""

    def __init__(self, data: str | Path, jobs: int = 1, threads: int | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, not {jobs}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        self.data, self.jobs = Path(data), jobs
        self.threads = threads or torch.get_num_threads()
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[Future[None]] = []

    def __enter__(self) -> DetectorTrainer:
        if self.jobs > 1:  # spawn: torch's threads do not survive a fork
            self.pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=mp.get_context("spawn"),
                initializer=die_with_parent,  # a killed study leaves no detector training
                initargs=(os.getpid(),),
            )
        return self

    def submit(self, run: Path, config: DetectorConfig, added: Added | None) -> None:
        extra = None if added is None else (added.images, added.masks, added.kinds)
        if self.pool is None:
            with torch_threads(self.threads):
                _train(self.data, run, config, extra, threads=None)
            return
        args = (self.data, run, config, extra, self.threads)
        self.pending.append(self.pool.submit(_train, *args))

    def __exit__(self, failure: type[BaseException] | None, *_: object) -> None:
        if self.pool is None:
            return
        try:  # after a failure here, only the detectors already in training are finished
            for future in self.pending if failure is None else ():
                future.result()
        finally:
            self.pool.shutdown(cancel_futures=True)


def measure(
    run: Path,
    store: StoredDataset,
    plan: RemedyPlan,
    sets: dict[str, np.ndarray],
    arm: str,
    added: int,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The slice's and the overall error of the detector in `run` on each set of row ids, and
    per set which of the slice's tumours it gets wrong (in the set's order)."""
    detector = load_detector(run)
    rows = []
    wrong_in_slice = {}
    for name, ids in sets.items():
        outputs = detector.run(store, ids)
        meta = store.meta.loc[ids]
        wrong = outputs.prediction != meta["tumour_type"].astype(str).to_numpy()
        tumour_slice = in_slice(meta, plan.slice) & (meta["label"].to_numpy() == 1)
        for scope, keep in (("slice", tumour_slice), ("overall", np.ones(len(ids), dtype=bool))):
            where = {"arm": arm, "added": added, "set": name, "scope": scope, "seed": seed}
            rows.append({**where, **error_with_interval(wrong[keep])})
        wrong_in_slice[name] = wrong[tumour_slice]
    return rows, wrong_in_slice


def found_share(detector: FindsRegions, images: np.ndarray, masks: np.ndarray) -> float:
    """Share of the tumours (slices with a mask) whose region the detector's extract part finds:
    its region touches the mask. NaN without a tumour."""
    with_mask = masks.any(axis=(1, 2))
    if not with_mask.any():
        return float("nan")
    regions = detector.regions(images[with_mask])
    return float((regions & masks[with_mask]).any(axis=(1, 2)).mean())


def found_row(
    run: Path,
    store: StoredDataset,
    plan: RemedyPlan,
    sets: dict[str, np.ndarray],
    arm: str,
    added: Added | None,
) -> dict[str, Any]:
    """How often the arm's detector finds the tumours it was given (the added examples, most of
    them seen in training) and the slice's tumours in each measured set. The real arm is the
    yardstick: its detectors also find their own examples more often than held-out ones. An
    arm whose detectors find their own as often or more, and the held-out ones far less, added
    tumours that are easy to learn and teach little about real ones: a cue the real tumours
    lack (*Machine Learning Yearning* ch. 43: synthesised data that look real to a person may
    still be told apart by the learning algorithm)."""
    detector = load_detector(run)
    row: dict[str, Any] = {"arm": arm, "found_added": float("nan")}
    if added is not None:
        row["found_added"] = found_share(detector, added.images, added.masks)
    for name, ids in sets.items():
        row[f"found_{name}"] = found_share(detector, *tumours_in(store, plan.slice, ids))
    return row
