"""Where medgen runs its own networks outside the trainer (accelerate places the trainer's).

The detector's segmentation net, the tasks' denoisers and the joint generators run on the first
CUDA GPU when there is one, else on the CPU; $MEDGEN_DEVICE (e.g. "cpu", "cuda:1") overrides.
Their inputs and outputs stay on the CPU: each network call moves its batch there and back, so
the numpy code around the networks is the same on every machine.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from medgen.exceptions import InputError

ENV = "MEDGEN_DEVICE"


def default_device() -> torch.device:
    """$MEDGEN_DEVICE if set, else "cuda" when a GPU is visible, else "cpu"."""
    name = os.environ.get(ENV, "").strip()
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(ENV, f"{name!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(ENV, f"{name!r}: no CUDA GPU is visible on this machine")
    return device


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU for a module without parameters)."""
    first = next(module.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def in_layout(module: nn.Module, layout: torch.memory_format) -> nn.Module:
    """The module with its 4-D parameters in `layout` (torch.channels_last or
    torch.contiguous_format), in place: what Module.to(memory_format=...) does at run time,
    which torch's type overloads do not list."""
    return module.to(memory_format=layout)  # type: ignore[call-overload]
