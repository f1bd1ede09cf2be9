"""An exponential moving average of a model's floating-point weights and buffers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies `ema <- decay * ema + (1 - decay) * weight`, updated after each step.

    With `warmup`, the decay at update t is min(decay, (1 + t) / (10 + t)), so the average is
    not dominated by the random initialisation in short runs.
    """

    def __init__(self, model: nn.Module, decay: float, *, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup
        self.shadow: dict[str, Tensor] = {
            name: t.detach().clone()
            for name, t in model.state_dict().items()
            if torch.is_floating_point(t)
        }

    def decay_at(self, updates: int) -> float:
        """The decay used for the update that follows `updates` earlier ones."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + updates) / (10 + updates))

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int) -> None:
        """Move the average toward `model`'s current weights."""
        weight = 1.0 - self.decay_at(updates)
        state = model.state_dict()
        for name, avg in self.shadow.items():
            avg.lerp_(state[name].detach().to(avg.dtype), weight)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged tensors, keyed like the model's state dict."""
        return dict(self.shadow)

    @torch.no_grad()
    def load_state_dict(self, tensors: Mapping[str, Tensor]) -> None:
        """Replace the averages (keys and shapes already checked by the loader)."""
        for name, avg in self.shadow.items():
            avg.copy_(tensors[name])

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Swap the averaged weights into `model` for a block, then put the trained ones back."""
        state = model.state_dict()
        backup = {name: state[name].detach().clone() for name in self.shadow}
        with torch.no_grad():
            for name, avg in self.shadow.items():
                state[name].copy_(avg)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, saved in backup.items():
                    state[name].copy_(saved)


__all__ = ["EMA"]
