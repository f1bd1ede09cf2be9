"""What the remedy adds and for which slice, what an arm returns, and its random streams."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medgen.exceptions import SettingError
from medgen.validate import at_least, in_range, random_seed, shown, whole


@dataclass(frozen=True)
class RemedyPlan:
    """What each arm adds and how many detectors judge it; a config that round-trips through
    `medgen.config` (the rows it is measured on are passed beside it)."""

    slice: dict[str, str] = field(default_factory=lambda: {"location": "brainstem"})
    n: int = 400  # examples each arm adds to training
    seed: int = 0  # seed of the added data; detector k trains with the detector seed + k
    oversample: int = 1  # generator arms make this many candidates per example kept
    guidance: float | None = None  # diffusion arms' classifier-free guidance (None: the run's)
    detector_seeds: int = 1  # detectors trained per arm, their errors averaged

    def __post_init__(self) -> None:
        if not isinstance(self.slice, Mapping) or not self.slice:
            raise SettingError("slice", "name the failing slice, e.g. location=brainstem")
        for key, value in self.slice.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SettingError("slice", f"expected name=value text, got {shown(key)}")
        for name in ("n", "oversample", "detector_seeds"):
            whole(name, getattr(self, name), 1)
        random_seed("seed", self.seed)
        if self.guidance is not None:
            at_least("guidance", self.guidance)


@dataclass(frozen=True)
class Generators:
    """The joint (image, mask) generator runs the arms draw with, and how to train a missing
    one (into OUT/generators/FAMILY)."""

    runs: Mapping[str, Path | None]  # family ("diffusion", "gan") -> run, None: train one
    budget: str = "10m"  # training budget of each generator trained here
    balance: float | None = None  # their rows' condition_repeats exponent (None: the default)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.runs, Mapping) or not all(
            isinstance(family, str) and (run is None or isinstance(run, str | Path))
            for family, run in self.runs.items()
        ):
            raise SettingError("runs", f"expected family -> run folder, got {shown(self.runs)}")
        if not isinstance(self.budget, str):
            raise SettingError("budget", f"expected text such as '10m', got {shown(self.budget)}")
        from medgen.train.budget import parse_budget  # medgen.train imports torch: not at CLI start

        parse_budget(self.budget)
        if self.balance is not None:
            in_range("balance", self.balance, 0.0, 1.0)
        random_seed("seed", self.seed)


class Added(NamedTuple):
    """What an arm adds to training: slices, their tumour masks, tumour types and, per example,
    the store row it was made from (-1: a slice the arm made from nothing in the store)."""

    images: np.ndarray  # (N, H, W) float32
    masks: np.ndarray  # (N, H, W) bool
    kinds: np.ndarray  # (N,) tumour type names
    sources: np.ndarray  # (N,) int64 row ids


def references(seed: int) -> np.random.Generator:
    """The stream that draws an arm's reference tumours: which of the slice's training tumours
    each added example follows (its mask, its type, its appearance)."""
    return np.random.default_rng(seed)


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A random generator for one `purpose` of a seeded arm, independent of every other
    purpose's and of `references(seed)`.

    Why not one generator for all: two generators seeded alike give the same stream, and
    bounded integers drawn from it with different bounds follow each other (draw i of
    integers(0, 40) and of integers(0, 10) come from the same 64 bits), so each reference tumour
    would meet the same base slice on every draw."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])
