"""The data order: a seeded permutation per epoch, sharded across processes, resumable mid-epoch.

Epoch e's order depends only on (seed, e), and a step consumes the next `world * batch_size`
images of it (process r takes the r-th slice), so a run's position is just (epoch, batch): a
resumed run skips the consumed batches without loading them. The last partial chunk of an epoch
is dropped, so every step sees full batches on every process.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Generator, Iterator
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from medgen.exceptions import InputError
from medgen.train.rng import epoch_seed


class Position(NamedTuple):
    """A batch and where the data stream stands once it is consumed."""

    batch: Any
    epoch: int
    consumed: int  # batches of `epoch` consumed, this one included


class RunBatches(Sampler[list[int]]):
    """Index lists of process `rank`'s batches, epoch after epoch, from batch `index` of
    `epoch` on (one endless sampler, so DataLoader workers live for the whole run)."""

    def __init__(
        self, n: int, batch_size: int, world: int, rank: int, seed: int, epoch: int, index: int
    ) -> None:
        self.n, self.batch_size, self.world, self.rank = n, batch_size, world, rank
        self.seed, self.epoch, self.index = seed, epoch, index

    def __iter__(self) -> Iterator[list[int]]:
        epoch, index = self.epoch, self.index
        while True:
            order = torch.randperm(self.n, generator=_seeded(epoch_seed(self.seed, epoch)))
            for b in range(index, batches_per_epoch(self.n, self.batch_size, self.world)):
                first = (b * self.world + self.rank) * self.batch_size
                yield order[first : first + self.batch_size].tolist()
            epoch, index = epoch + 1, 0


def batches_per_epoch(n: int, batch_size: int, world: int) -> int:
    """Full steps one pass over `n` items allows."""
    return n // (batch_size * world)


def check_batch_size(n: int, batch_size: int, world: int) -> None:
    """Refuse a batch that one pass over the data cannot fill."""
    if batches_per_epoch(n, batch_size, world) == 0:
        per = f" x {world} processes" if world > 1 else ""
        raise InputError("batch_size", f"{batch_size}{per} is more than the {n} training images")


def stream(
    dataset: Dataset[Any],
    *,
    batch_size: int,
    world: int,
    rank: int,
    seed: int,
    epoch: int,
    index: int,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> Generator[Position, None, None]:
    """Batches for process `rank` forever, starting at batch `index` of epoch `epoch`."""
    n = len(dataset)  # type: ignore[arg-type]
    per_epoch = batches_per_epoch(n, batch_size, world)
    loader = DataLoader(
        dataset,
        batch_sampler=RunBatches(n, batch_size, world, rank, seed, epoch, index),
        num_workers=num_workers,
        collate_fn=collate_fn,
        # A generator of its own, so making the loader does not draw from torch's global RNG.
        generator=_seeded(epoch_seed(seed, epoch)),
        worker_init_fn=_ignore_interrupt,
    )
    for batch in loader:
        index += 1
        if index == per_epoch:
            epoch, index = epoch + 1, 0
        yield Position(batch, epoch, index)


def _ignore_interrupt(worker_id: int) -> None:
    # Ctrl-C reaches the whole process group; a worker that died of it would break the main
    # process's next fetch, while the trainer wants to finish the step and checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def to_device(batch: Any, device: torch.device) -> Any:
    """`batch` with every tensor in it moved to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _seeded(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


__all__ = ["Position", "RunBatches", "batches_per_epoch", "check_batch_size", "stream"]
