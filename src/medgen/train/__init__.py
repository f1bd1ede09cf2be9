"""One generic trainer for every family: accelerate, EMA, budget, checkpoints, exact resume."""

from __future__ import annotations

from medgen.train.budget import Budget, parse_budget
from medgen.train.checkpoint import (
    Checkpoint,
    TrainState,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from medgen.train.config import TrainConfig
from medgen.train.ema import EMA
from medgen.train.loop import TrainSummary, train
from medgen.train.step import NonFiniteLoss

__all__ = [
    "EMA",
    "Budget",
    "Checkpoint",
    "NonFiniteLoss",
    "TrainConfig",
    "TrainState",
    "TrainSummary",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "parse_budget",
    "save_checkpoint",
    "train",
]
