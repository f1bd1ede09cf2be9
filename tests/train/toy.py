"""A toy denoiser behind the GenerativeModel protocol, and a tiny dataset, for trainer tests.

Its loss draws noise from the trainer's generator, applies dropout (torch's global RNG) and
jitters the noise level with numpy and Python `random`, so an inexact resume of any of them
shows up as different weights.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from medgen.fileio import write_json_atomic
from medgen.models.protocol import Batch, GenerativeModel
from medgen.tensorio import load_tensors, save_tensors, state_shapes

SIZE = 8  # images are (1, SIZE, SIZE)


class ToyImages(Dataset[dict[str, Any]]):
    """n smooth 8x8 images in [0, 1] (random tilted ramps), as SliceDataset items."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        ramp = torch.linspace(-1, 1, SIZE)
        a, b = torch.rand(n, 1, 1, generator=g) * 2 - 1, torch.rand(n, 1, 1, generator=g) * 2 - 1
        self.images = (0.5 + 0.25 * (a * ramp[None, :, None] + b * ramp[None, None, :])).float()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i].unsqueeze(0), "label": 0, "index": i}  # (1, H, W)


class ToyModel(GenerativeModel):
    """x + sigma n -> MLP -> x, with sigma jittered; one phase, no EMA."""

    family: ClassVar[str] = "toy"

    def __init__(
        self, hidden: int = 32, dropout: float = 0.1, *, nan_after: int = 0, sleep: float = 0.0
    ) -> None:
        super().__init__()
        self.hidden, self.dropout = hidden, dropout
        self.first = nn.Linear(SIZE * SIZE, hidden)
        self.second = nn.Linear(hidden, SIZE * SIZE)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("calls", torch.zeros((), dtype=torch.float32))
        self.nan_after = nan_after  # loss is NaN from this call of `loss` on (0 = never)
        self.sleep = sleep  # seconds per loss call, so a subprocess can be killed mid-run

    def hidden_of(self, x: Tensor) -> Tensor:
        return self.drop(torch.relu(self.first(x.flatten(1))))  # (B, hidden)

    def noisy(self, batch: Batch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        x = batch["image"].float()  # (B, 1, H, W)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        sigma = 0.2 + 0.05 * float(np.random.rand()) + 0.05 * random.random()
        return x, x + sigma * noise

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        if self.sleep:
            time.sleep(self.sleep)
        self.calls += 1
        x, noisy = self.noisy(batch, generator)
        out = self.second(self.hidden_of(noisy)).view_as(x)
        loss = (out - x).pow(2).mean()
        if self.nan_after and int(self.calls) >= self.nan_after:
            loss = loss * float("nan")
        return {"loss": loss, "noisy_mse": (noisy - x).pow(2).mean()}

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, cond: Tensor | None = None
    ) -> Tensor:
        z = torch.rand(n, SIZE * SIZE, generator=generator, device=self.first.weight.device)
        return self.second(torch.relu(self.first(z))).clamp(0, 1).view(n, 1, SIZE, SIZE)

    def monitor(self, generator: torch.Generator | None = None) -> dict[str, float]:
        return {"sample_std": float(self.sample(8, generator=generator).std())}

    def config_dict(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "dropout": self.dropout}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerativeModel:
        return cls(**config)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_tensors(directory / "model.safetensors", self.state_dict())
        write_json_atomic(directory / "model.json", {"family": self.family, **self.config_dict()})


class ToyTwoPhase(ToyModel):
    """Two phases: "a" steps the first layer, "b" the second (with the first detached, so DDP
    sees parameters without gradients)."""

    phases: ClassVar[tuple[str, ...]] = ("a", "b")

    def phase_parameters(self, phase: str) -> list[nn.Parameter]:
        layer = self.first if phase == "a" else self.second
        return list(layer.parameters())

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        if phase == "a":
            return super().loss(batch, phase, generator)
        x, noisy = self.noisy(batch, generator)
        out = self.second(self.hidden_of(noisy).detach()).view_as(x)
        return {"loss": (out - x).pow(2).mean()}


class ToyEMA(ToyModel):
    """The one-phase toy, sampled with an EMA of its weights."""

    uses_ema: ClassVar[bool] = True


TOYS: dict[str, type[ToyModel]] = {"plain": ToyModel, "two": ToyTwoPhase, "ema": ToyEMA}


def make_toy(kind: str = "plain", seed: int = 0, **knobs: Any) -> ToyModel:
    """A toy model of `kind` with weights from `seed`."""
    torch.manual_seed(seed)
    return TOYS[kind](**knobs)


def load_weights(path: str | Path, like: nn.Module | None = None) -> dict[str, Tensor]:
    """The tensors of a safetensors file (checked against `like`'s state dict when given)."""
    expected = None if like is None else state_shapes(like.state_dict())
    return load_tensors(path, expected)


def run_tensors(run: Path) -> dict[str, Tensor]:
    """Every tensor a finished run wrote: the exported model's and each checkpoint's files."""
    files = [run / "model" / "model.safetensors", *sorted(run.glob("checkpoints/*/*.safetensors"))]
    return {
        f"{path.relative_to(run)}:{name}": tensor
        for path in files
        for name, tensor in load_tensors(path).items()
    }


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a .jsonl file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
