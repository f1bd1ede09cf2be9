"""Test-time refinement: the network's velocity field as the start of a few optimiser steps on
the pair's own objective (instance-specific optimisation, Balakrishnan et al. 2019, sec. 4.5).

The network amortises registration over the training pairs; a few steps on one pair's LNCC and
bending energy then fit what the amortised guess misses. Each pair's velocity is its own
parameter and Adam's update is elementwise, so a batch of pairs refines as each would alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.losses import BendingEnergyLoss
from torch import Tensor

from medgen.tasks.registration.nets import RegistrationNet, warp
from medgen.validate import at_least, positive, whole


@dataclass(frozen=True)
class RefineSettings:
    """Steps and step size of the refinement; its objective weighs as training's does."""

    # chosen on dev pairs (experiments/registration/NOTES.md): 2 steps of 0.3 take dev EPE
    # from 1.13 to 0.94 px, without folding, at a cost that keeps 20x SyN's speed
    steps: int = 2  # Adam steps per pair (0: the network's field as it is)
    lr: float = 0.3  # Adam's step size on the velocity, pixels
    bending: float = 0.1  # weight of the bending energy, as in training
    lncc_kernel: int = 7  # LNCC window, pixels, as in training

    def __post_init__(self) -> None:
        whole("refine_steps", self.steps, 0)
        positive("lr", self.lr)
        at_least("bending", self.bending)
        whole("lncc_kernel", self.lncc_kernel, 1)


def lncc_loss(pred: Tensor, target: Tensor, kernel: int) -> Tensor:
    """Minus the mean squared local normalised cross-correlation of (B, 1, H, W) images over
    `kernel`-wide windows (MONAI's LocalNormalizedCrossCorrelationLoss, with the five local
    sums taken in one separable pooling pass, since it is the refinement's inner loop)."""
    maps = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
    half = kernel // 2  # the box mean is separable: rows, then columns (zero padded)
    mean = F.avg_pool2d(maps, (kernel, 1), stride=1, padding=(half, 0), count_include_pad=True)
    mean = F.avg_pool2d(mean, (1, kernel), stride=1, padding=(0, half), count_include_pad=True)
    p, t, pp, tt, pt = mean.unbind(1)
    cross = pt - p * t
    p_var = (pp - p * p).clamp_min(1e-5)
    t_var = (tt - t * t).clamp_min(1e-5)
    return -(cross * cross / (p_var * t_var)).mean()


def refined_field(net: RegistrationNet, fixed: Tensor, moving: Tensor, s: RefineSettings) -> Tensor:
    """(B, 2, H, W) displacement of (B, 1, H, W) pairs after `s.steps` steps from the network's."""
    with torch.no_grad():
        velocity = net.velocity(fixed, moving)
    if s.steps == 0:
        with torch.no_grad():
            return net.displacement(velocity)
    v = velocity.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([v], lr=s.lr)
    bending = BendingEnergyLoss()
    for _ in range(s.steps):
        ddf = net.displacement(v)
        with warnings.catch_warnings():  # MONAI indexes with lists, which torch deprecates
            warnings.filterwarnings("ignore", "Using a non-tuple sequence for multidimensional")
            loss = lncc_loss(warp(moving, ddf), fixed, s.lncc_kernel) + s.bending * bending(ddf)
        optimiser.zero_grad(set_to_none=True)
        # the sum over elements, not the mean: each element's gradient is then what it is for
        # its pair alone, whatever the batch, and stays far above Adam's epsilon
        (loss * v.numel()).backward()
        optimiser.step()
    with torch.no_grad():
        return net.displacement(v)
