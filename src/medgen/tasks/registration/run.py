"""Registration on a dataset split: train medgen's network (and its plain twin, the ablation)
on training pairs, register the split's same-level pairs with it and the peers, score each."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medgen.data.store import StoredDataset
from medgen.exceptions import InputError
from medgen.tasks.adapter import PixelDenoiser
from medgen.tasks.registration.diffusion import prior_denoised
from medgen.tasks.registration.nets import RegistrationNet
from medgen.tasks.registration.pairs import same_level_pairs
from medgen.tasks.registration.peers import PEERS, run_peer
from medgen.tasks.registration.refine import RefineSettings
from medgen.tasks.registration.scores import pair_scores, pair_truth
from medgen.tasks.registration.train import (
    Progress,
    TrainSettings,
    predict,
    train_registration,
)
from medgen.validate import one_of, random_seed, whole

Log = Callable[[str], None]
MEDGEN = "medgen (diffusion-prior VoxelMorph)"
PLAIN = "voxelmorph (same net, raw images)"


@dataclass(frozen=True)
class RegisterSettings:
    """Which pairs are registered, what is trained on what, and which peers run."""

    split: str = "test"
    limit: int = 50  # same-level pairs registered and scored
    train_slices: int = 2000  # training slices (the prior denoises each once)
    peers: tuple[str, ...] = tuple(PEERS)
    plain: bool = True  # also train the network on raw images (the ablation)
    seed: int = 0
    train: TrainSettings = field(default_factory=TrainSettings)
    refine: RefineSettings = field(default_factory=RefineSettings)  # for every network

    def __post_init__(self) -> None:
        whole("limit", self.limit, 1)
        whole("train_slices", self.train_slices, 2)
        random_seed("seed", self.seed)
        for name in self.peers:
            one_of("peers", name, PEERS)


Trained = tuple[dict[str, RegistrationNet], dict[str, dict[str, float]]]


def train_methods(
    model: PixelDenoiser, store: StoredDataset, s: RegisterSettings, log: Log = print
) -> Trained:
    """medgen's network (similarity on the prior's denoised images) and, with `s.plain`, the
    same network trained on the raw images, each for `s.train`'s budget; and per network the
    steps and seconds it trained."""
    ids = store.split("train").index.to_numpy()[: s.train_slices]
    levels = store.meta.loc[ids, "source_z"].to_numpy()
    if not (np.unique(levels, return_counts=True)[1] >= 2).any():
        raise InputError(store.root, "no two training slices share a level: nothing to pair")
    images = np.asarray(store.array("images")[ids], np.float32)
    log(f"denoising {len(ids)} training slices with the diffusion prior")
    denoised = prior_denoised(model, images)
    nets, record = {}, {}
    for name, targets in ((MEDGEN, denoised), (PLAIN, images)):
        if name == PLAIN and not s.plain:
            continue
        done: list[int] = []
        start = time.perf_counter()
        nets[name] = train_registration(images, targets, levels, s.train, _count_into(done))
        seconds = time.perf_counter() - start
        record[name] = {"steps": len(done), "seconds": round(seconds, 1)}
        log(f"trained {name}: {len(done)} steps in {seconds:.0f} s")
    return nets, record


def _count_into(done: list[int]) -> Progress:
    """A progress callback that appends each finished step to `done`."""

    def count(step: int, _total: int) -> None:
        done.append(step)

    return count


def register_split(
    nets: dict[str, RegistrationNet], store: StoredDataset, s: RegisterSettings, log: Log = print
) -> pd.DataFrame:
    """Per-pair scores of every network and peer on `s.limit` same-level pairs of `s.split`.

    Networks register the pairs in batches; their seconds per pair are a batch's wall clock
    over its pairs. Peers are timed pair by pair. Everything runs on the threads torch and ITK
    were given (one, in the benchmark)."""
    pairs = same_level_pairs(store, s.split, s.limit, s.seed)
    if len(pairs.fixed) == 0:
        raise InputError(
            store.root, f"split {s.split!r} has no healthy slice with a same-level partner"
        )
    truth = pair_truth(store, pairs)
    fixed = np.asarray(store.array("images")[pairs.fixed], np.float32)
    moving = np.asarray(store.array("images")[pairs.moving], np.float32)
    rows = []
    for name, net in nets.items():
        predict(net, fixed[:1], moving[:1], s.refine)  # untimed warm-up
        start = time.perf_counter()
        ddf = predict(net, fixed, moving, s.refine)
        per_pair = (time.perf_counter() - start) / len(fixed)
        rows.append(pair_scores(name, ddf, np.full(len(fixed), per_pair), truth, pairs))
    for name in s.peers:
        log(f"registering {len(fixed)} pairs with {name}")
        found = run_peer(name, fixed, moving)
        rows.append(pair_scores(name, found.ddf, found.seconds, truth, pairs))
    return pd.concat(rows, ignore_index=True)
