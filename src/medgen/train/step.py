"""One training step: every phase of the model in order, each with its own optimizer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from accelerate import Accelerator
from torch import Tensor, nn

from medgen.models.protocol import Batch, GenerativeModel


class NonFiniteLoss(RuntimeError):
    """Training met a NaN or infinite loss (or gradient norm) and stopped before stepping.

    summary.json says why and the last good checkpoint is kept; the message is one line for the
    command line to print.
    """


class NonFiniteValue(Exception):
    """Raised inside a step; the loop turns it into `NonFiniteLoss` once summary.json is out."""

    def __init__(self, phase: str, what: str, value: float) -> None:
        super().__init__(f"non-finite {what} in phase {phase!r}: {value}")
        self.phase, self.what, self.value = phase, what, value


def train_step(
    accelerator: Accelerator,
    model: GenerativeModel,
    loss_module: nn.Module,
    optimizers: Mapping[str, Any],
    batch: Batch,
    *,
    generator: torch.Generator,
    lr: float,
    grad_clip: float,
) -> dict[str, float]:
    """Run each phase once and return its metrics, averaged across processes.

    A one-phase model's metrics keep their names; a many-phase model's are "<phase>.<name>".
    """
    metrics: dict[str, float] = {}
    for phase in model.phases:
        optimizer = optimizers[phase]
        for group in optimizer.param_groups:
            group["lr"] = lr
        # All of the model, not just this phase's parameters: a GAN's generator phase leaves
        # gradients on the discriminator that its own phase must not add to.
        model.zero_grad(set_to_none=True)
        out = loss_module(batch, phase, generator)
        values = reduced_metrics(accelerator, out, phase)
        if not math.isfinite(values["loss"]):
            raise NonFiniteValue(phase, "loss", values["loss"])
        accelerator.backward(out["loss"])
        if grad_clip > 0:
            accelerator.unscale_gradients(optimizer=optimizer)
            params = model.phase_parameters(phase)
            norm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip))
            # With fp16 loss scaling an infinite norm is routine: the scaler skips that step.
            if not math.isfinite(norm) and accelerator.scaler is None:
                raise NonFiniteValue(phase, "gradient norm", norm)
            values["grad_norm"] = norm
        optimizer.step()
        prefix = "" if len(model.phases) == 1 else f"{phase}."
        metrics |= {prefix + name: value for name, value in values.items()}
    return metrics


def reduced_metrics(
    accelerator: Accelerator, out: Mapping[str, Tensor], phase: str
) -> dict[str, float]:
    """The scalars of a `loss` result as floats, averaged over processes (NaN anywhere stays)."""
    if "loss" not in out:
        raise TypeError(f"model.loss(batch, {phase!r}) must return a dict with a 'loss' tensor")
    names = sorted(out)
    values = torch.stack([torch.as_tensor(out[k]).detach().float().mean() for k in names])
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values, "mean")
    return dict(zip(names, values.tolist(), strict=True))


__all__ = ["NonFiniteLoss", "NonFiniteValue", "reduced_metrics", "train_step"]
