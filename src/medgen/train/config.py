"""The trainer's typed config and its learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from medgen.exceptions import SettingError
from medgen.train.budget import Budget, parse_budget
from medgen.validate import (
    at_least,
    flag,
    in_range,
    one_of,
    positive,
    random_seed,
    shown,
    whole,
    worker_count,
)

# Keys that may differ when a run is resumed: they change when it stops, what it writes or how
# it loads data, never the weights it ends with.
RESUMABLE_CHANGES = frozenset(
    {
        "budget",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "sample_every",
        "sample_count",
        "monitor_every",
        "num_workers",
    }
)


def _constant(progress: float) -> float:
    return 1.0


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))  # Loshchilov & Hutter 2017


LR_SCHEDULES: dict[str, Callable[[float], float]] = {"constant": _constant, "cosine": _cosine}


@dataclass
class TrainConfig:
    """Optimisation, budget and bookkeeping of one run (batch size is per process)."""

    batch_size: int = 32  # images per process per step
    lr: float = 2e-4  # AdamW peak learning rate, every phase
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW moment decay rates
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 0  # linear LR warm-up from lr / warmup_steps to lr
    lr_schedule: str = "constant"  # after warm-up: "constant" or "cosine" (to 0 at the budget)
    grad_clip: float = 1.0  # max global gradient norm per phase; 0 = off
    ema_decay: float = 0.999  # EMA of the weights, for models that sample with one
    ema_warmup: bool = True  # decay min(ema_decay, (1 + t) / (10 + t)) so early EMA tracks
    budget: str = "500steps"  # "500steps", "20000img", "90s", "10m", "1.5h"
    checkpoint_every: int = 100  # steps between checkpoints (one is also written at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    log_every: int = 10  # steps between metrics.jsonl lines
    sample_every: int = 0  # steps between sample grids; 0 = only at the end
    sample_count: int = 16  # images per sample grid
    monitor_every: int = 50  # steps between `model.monitor()` calls; 0 = never
    seed: int = 0  # data order, model randomness (offset per process) and sample grids
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self) -> None:
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        if not isinstance(self.betas, tuple | list) or len(self.betas) != 2:
            raise SettingError("betas", f"expected two numbers, got {shown(self.betas)}")
        beta1, beta2 = (in_range("betas", b, 0.0, 1.0, open_high=True) for b in self.betas)
        self.betas = (beta1, beta2)
        at_least("weight_decay", self.weight_decay)
        whole("warmup_steps", self.warmup_steps, 0)
        one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        at_least("grad_clip", self.grad_clip)  # 0 = off
        in_range("ema_decay", self.ema_decay, 0.0, 1.0, open_high=True)
        flag("ema_warmup", self.ema_warmup)
        if not isinstance(self.budget, str):
            raise SettingError(
                "budget", f"expected text such as '500steps', got {shown(self.budget)}"
            )
        budget = parse_budget(self.budget)
        if self.lr_schedule == "cosine" and budget.steps is None and budget.images is None:
            raise SettingError("lr_schedule", "'cosine' needs a budget in steps or images")
        whole("checkpoint_every", self.checkpoint_every, 1)
        whole("keep_checkpoints", self.keep_checkpoints, 1)
        whole("log_every", self.log_every, 1)
        whole("sample_every", self.sample_every, 0)
        whole("sample_count", self.sample_count, 1)
        whole("monitor_every", self.monitor_every, 0)
        random_seed("seed", self.seed)
        worker_count("num_workers", self.num_workers)

    @property
    def budget_(self) -> Budget:
        """The parsed budget."""
        return parse_budget(self.budget)


def total_steps(config: TrainConfig, world_size: int) -> int | None:
    """Steps the budget allows, when it is counted in steps or images (else None)."""
    budget = config.budget_
    limits = []
    if budget.steps is not None:
        limits.append(budget.steps)
    if budget.images is not None:
        limits.append(math.ceil(budget.images / (config.batch_size * world_size)))
    return min(limits) if limits else None


def learning_rate(config: TrainConfig, step: int, total: int | None) -> float:
    """LR of the optimizer update at 0-based `step`: linear warm-up, then the schedule."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, (total or 0) - config.warmup_steps)
    progress = (step - config.warmup_steps) / span if total else 0.0
    return config.lr * LR_SCHEDULES[config.lr_schedule](progress)


__all__ = ["LR_SCHEDULES", "RESUMABLE_CHANGES", "TrainConfig", "learning_rate", "total_steps"]
