"""The data order: seeded per epoch, sharded without overlap, resumable at any batch."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from toy import ToyImages, load_weights, make_toy

from medgen.train import TrainConfig, train
from medgen.train.batches import RunBatches, stream


def take(sampler: RunBatches, n: int) -> list[list[int]]:
    return list(itertools.islice(iter(sampler), n))


def test_processes_share_each_epoch_without_overlap() -> None:
    n, batch, world = 50, 4, 2  # 6 steps per epoch, 2 images left out
    ranks = [take(RunBatches(n, batch, world, r, seed=3, epoch=0, index=0), 12) for r in (0, 1)]
    for epoch in (0, 1):
        seen = [i for r in ranks for b in r[6 * epoch : 6 * epoch + 6] for i in b]
        assert len(seen) == len(set(seen)) == 48
    assert ranks[0][:6] != ranks[0][6:]  # a new order each epoch


def test_a_sampler_started_mid_run_continues_the_same_order() -> None:
    full = take(RunBatches(40, 4, 1, 0, seed=1, epoch=0, index=0), 25)
    assert take(RunBatches(40, 4, 1, 0, seed=1, epoch=1, index=3), 12) == full[13:25]


def test_the_stream_reports_its_position() -> None:
    positions = list(
        itertools.islice(
            stream(ToyImages(20), batch_size=4, world=1, rank=0, seed=0, epoch=0, index=3), 4
        )
    )
    assert [(p.epoch, p.consumed) for p in positions] == [(0, 4), (1, 0), (1, 1), (1, 2)]
    assert positions[0].batch["image"].shape == (4, 1, 8, 8)


def test_worker_processes_change_nothing(tmp_path: Path) -> None:
    weights = []
    for workers in (0, 2):
        config = TrainConfig(batch_size=8, budget="20steps", num_workers=workers)
        train(make_toy(), ToyImages(), tmp_path / f"w{workers}", config, progress=False)
        weights.append(load_weights(tmp_path / f"w{workers}" / "model" / "model.safetensors"))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
