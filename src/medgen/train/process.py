"""One training process: its accelerator, model, optimizers, EMA and random states, built fresh,
restored from a checkpoint, saved to one and exported at the end.

Everything a step depends on lives in `TrainProcess`, and `save` writes all of it (every
process's RNG states included), so `restore` puts a resumed process exactly where the saved one
stood.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs
from torch import Tensor, nn

from medgen.exceptions import InputError
from medgen.models.protocol import Batch, GenerativeModel
from medgen.train.checkpoint import (
    TrainState,
    checkpoint_dir,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from medgen.train.config import TrainConfig, total_steps
from medgen.train.ema import EMA
from medgen.train.rng import capture_rng, preserved_global_rng, process_seed, restore_rng, seed_all
from medgen.train.rundir import MODEL
from medgen.train.tracking import Trackers


@dataclass
class TrainProcess:
    """Everything one training process holds."""

    accelerator: Accelerator
    model: GenerativeModel
    loss_module: nn.Module  # the model's loss as `forward`, prepared (DDP-wrapped when many)
    optimizers: dict[str, Any]  # phase -> optimizer prepared by accelerate
    raw_optimizers: dict[str, torch.optim.Optimizer]
    ema: EMA | None
    generator: torch.Generator  # the model's noise in this process
    config: TrainConfig
    out: Path
    settings: dict[str, Any]  # config.json
    total: int | None  # steps the budget allows, for the cosine schedule
    trackers: Trackers  # accelerate's experiment trackers: an extra sink beside metrics.jsonl
    state: TrainState = field(default_factory=TrainState)
    saved_step: int = -1  # step of the newest checkpoint on disk
    record: dict[str, Any] = field(default_factory=dict)  # the last metrics line
    window: tuple[int, float] = (0, 0.0)  # images and seconds at the last metrics line

    @property
    def main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    @property
    def world(self) -> int:
        return int(self.accelerator.num_processes)


class LossModule(nn.Module):
    """`model.loss` as `forward`, so DDP's gradient hooks fire through the protocol's method."""

    def __init__(self, model: GenerativeModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, batch: Batch, phase: str, generator: torch.Generator | None
    ) -> dict[str, Tensor]:
        return self.model.loss(batch, phase, generator)


def make_accelerator(
    cpu: bool, log_with: Sequence[str] = (), logging_dir: Path | None = None
) -> Accelerator:
    """An Accelerator whose processes are all those `accelerate launch` started, with the
    trackers `log_with` writing their local files under `logging_dir`."""
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)]  # GAN phases
    accelerator = Accelerator(
        cpu=cpu,
        kwargs_handlers=handlers,
        log_with=list(log_with) or None,
        project_dir=None if logging_dir is None else str(logging_dir),
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise InputError(
            "accelerate launch",
            f"started {launched} processes that did not join one run; "
            "on a machine without GPUs pass --cpu",
        )
    return accelerator


def new_process(
    accelerator: Accelerator,
    model: GenerativeModel,
    config: TrainConfig,
    out: Path,
    settings: dict[str, Any],
) -> TrainProcess:
    """Prepare the model (then its optimizers, as FSDP needs) and a fresh state."""
    model.train()
    loss_module = accelerator.prepare(LossModule(model))
    raw: dict[str, torch.optim.Optimizer] = {
        phase: torch.optim.AdamW(
            model.phase_parameters(phase),
            lr=config.lr,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        for phase in model.phases
    }
    prepared = accelerator.prepare(*raw.values())
    prepared = prepared if isinstance(prepared, tuple | list) else (prepared,)
    generator = torch.Generator(device=accelerator.device)
    seed_all(generator, process_seed(config.seed, accelerator.process_index))
    return TrainProcess(
        accelerator=accelerator,
        model=model,
        loss_module=loss_module,
        optimizers=dict(zip(model.phases, prepared, strict=True)),
        raw_optimizers=raw,
        ema=EMA(model, config.ema_decay, warmup=config.ema_warmup) if model.uses_ema else None,
        generator=generator,
        config=config,
        out=out,
        settings=settings,
        total=total_steps(config, accelerator.num_processes),
        trackers=Trackers(accelerator, out),
        state=TrainState(world_size=accelerator.num_processes),
    )


def restore(run: TrainProcess, start: Path) -> None:
    """Load checkpoint `start` into every part of `run`, random states last."""
    checkpoint = load_checkpoint(
        start,
        model=run.model,
        optimizers=run.raw_optimizers,
        ema=run.ema,
        rng_like=capture_rng(run.generator),
        world_size=run.world,
    )
    run.state = checkpoint.state
    run.saved_step = run.state.step
    run.window = (run.state.images, run.state.seconds)
    rank = run.accelerator.process_index
    fallback = process_seed(run.config.seed, rank) + run.state.step
    restore_rng({k: v[rank] for k, v in checkpoint.rng.items()}, run.generator, fallback)


def save(run: TrainProcess) -> None:
    """Write a checkpoint of this step boundary (every process contributes its RNG states)."""
    rng = capture_rng(run.generator)
    if run.world == 1:
        stacked = {k: v.unsqueeze(0) for k, v in rng.items()}
    else:
        device = run.accelerator.device
        stacked = {
            k: run.accelerator.gather(v.to(device)).reshape(run.world, -1).cpu()
            for k, v in rng.items()
        }
    if run.main:
        save_checkpoint(
            checkpoint_dir(run.out, run.state.step),
            model=run.model,
            optimizers=run.raw_optimizers,
            ema=run.ema,
            rng=stacked,
            state=run.state,
            config=run.settings,
        )
        prune_checkpoints(run.out, run.config.keep_checkpoints)
    run.saved_step = run.state.step


def export(run: TrainProcess) -> None:
    """The final model in out/model, with its EMA weights when it samples with them."""
    swap = run.ema.applied(run.model) if run.ema is not None else contextlib.nullcontext()
    with swap:
        run.model.save(run.out / MODEL)  # medgen.models.io replaces the folder atomically


@contextlib.contextmanager
def inference(run: TrainProcess) -> Iterator[GenerativeModel]:
    """The model in eval mode (with its EMA weights, if any) for a block that must leave every
    random state and the trained weights as they were."""
    model = run.model
    swap = run.ema.applied(model) if run.ema is not None else contextlib.nullcontext()
    with preserved_global_rng(), torch.no_grad(), swap:
        model.eval()
        try:
            yield model
        finally:
            model.train()


def fixed_generator(run: TrainProcess) -> torch.Generator:
    """A generator seeded with the run's seed, so grids and monitors of different steps compare."""
    generator = torch.Generator(device=run.accelerator.device)
    generator.manual_seed(run.config.seed)
    return generator


__all__ = [
    "LossModule",
    "TrainProcess",
    "export",
    "fixed_generator",
    "inference",
    "make_accelerator",
    "new_process",
    "restore",
    "save",
]
