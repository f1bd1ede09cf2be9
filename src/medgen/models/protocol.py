"""The one protocol every generative family follows, so the trainer knows nothing about families.

A training step runs the model's `phases` in order; each phase has its own optimizer over
`phase_parameters(phase)`, and `loss(batch, phase, generator)["loss"]` is what that phase
minimises. A diffusion model or a VAE has one phase ("main"); a GAN has two ("d" then "g"), so
its alternating updates live in the model while the trainer stays a plain loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

Batch = dict[str, Any]  # a collated SliceDataset batch: "image" (B, C, H, W) in [0, 1], "cond"


class GenerativeModel(nn.Module):
    """Base class of DiffusionModel, GAN and VAE (`medgen.models`).

    Subclasses set `family`, may set `phases` and `uses_ema`, and implement `loss`, `sample`,
    `config_dict` and `from_config`. Images enter and leave in the data's range [0, 1].
    """

    family: ClassVar[str] = ""  # "diffusion" | "gan" | "vae": the name `medgen train` takes
    phases: ClassVar[tuple[str, ...]] = ("main",)  # optimizer steps per training step, in order
    uses_ema: ClassVar[bool] = False  # sample with an exponential moving average of the weights

    def phase_parameters(self, phase: str) -> list[nn.Parameter]:
        """Trainable parameters that `phase`'s optimizer updates (all of them by default)."""
        return [p for p in self.parameters() if p.requires_grad]

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """{"loss": scalar to minimise in `phase`, other names: scalars logged as metrics}."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, cond: Tensor | None = None
    ) -> Tensor:
        """n images (n, C, H, W) in [0, 1]; cond (n, A) int64 labels, 0 = no condition."""
        raise NotImplementedError

    def monitor(self, generator: torch.Generator | None = None) -> dict[str, float]:
        """Extra metrics the trainer logs every few steps (e.g. a GAN's sample diversity)."""
        return {}

    def config_dict(self) -> dict[str, Any]:
        """The JSON-serialisable config that `from_config` rebuilds this model from."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerativeModel:
        """A freshly initialised model with this config."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> None:
        """Weights as safetensors + config as JSON in `directory` (see `medgen.models.io`)."""
        from medgen.models.io import save_model

        save_model(self, directory)
