"""Unsupervised training of the registration network on same-level pairs: local normalised
cross-correlation of the warped moving image with the fixed one plus a bending-energy penalty
(VoxelMorph's objective, Balakrishnan et al. 2019, with MONAI's losses)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss
from torch import Tensor

from medgen.tasks.registration.nets import NetConfig, RegistrationNet, warp
from medgen.tasks.registration.pairs import training_pairs
from medgen.tasks.registration.refine import RefineSettings, refined_field
from medgen.validate import at_least, positive, random_seed, whole

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainSettings:
    """The training recipe; `seconds` caps the wall clock as well as `steps`."""

    steps: int = 3000  # optimiser steps at most
    seconds: float | None = None  # wall-clock cap, None: none
    batch_size: int = 16  # pairs per step
    lr: float = 3e-3  # Adam learning rate
    bending: float = 0.1  # weight of the bending energy against the LNCC (pixel units)
    lncc_kernel: int = 7  # LNCC window, pixels
    seed: int = 0
    net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self) -> None:
        whole("steps", self.steps, 1)
        if self.seconds is not None:
            positive("seconds", self.seconds)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        at_least("bending", self.bending)
        whole("lncc_kernel", self.lncc_kernel, 1)
        random_seed("seed", self.seed)


def registration_loss(
    net: RegistrationNet, inputs: Tensor, targets: Tensor, s: TrainSettings
) -> Tensor:
    """Loss of one batch: `inputs` (B, 2, H, W) fixed/moving as the network sees them,
    `targets` the same pairs as the similarity compares them."""
    lncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=s.lncc_kernel)
    ddf = net(inputs[:, :1], inputs[:, 1:])
    similarity = lncc(warp(targets[:, 1:], ddf), targets[:, :1])
    with warnings.catch_warnings():  # MONAI indexes with lists, which torch deprecates
        warnings.filterwarnings("ignore", "Using a non-tuple sequence for multidimensional")
        bending = BendingEnergyLoss()(ddf)
    return similarity + s.bending * bending


def train_registration(
    inputs: np.ndarray,
    targets: np.ndarray,
    levels: np.ndarray,
    s: TrainSettings,
    progress: Progress | None = None,
) -> RegistrationNet:
    """Train a RegistrationNet on random same-level pairs of the (N, H, W) images: the network
    sees `inputs`, the similarity compares `targets` (the same slices, e.g. denoised)."""
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    net = RegistrationNet(s.net)
    optimiser = torch.optim.Adam(net.parameters(), lr=s.lr)
    x = torch.as_tensor(np.array(inputs, np.float32))
    y = torch.as_tensor(np.array(targets, np.float32))
    start = time.perf_counter()
    for step in range(s.steps):
        if s.seconds is not None and time.perf_counter() - start > s.seconds:
            break
        pick = torch.as_tensor(training_pairs(levels, s.batch_size, rng))  # (B, 2)
        loss = registration_loss(net, x[pick], y[pick], s)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress:
            progress(step + 1, s.steps)
    return net.eval()


def predict(
    net: RegistrationNet,
    fixed: np.ndarray,
    moving: np.ndarray,
    refine: RefineSettings | None = None,
    batch: int = 64,
) -> np.ndarray:
    """(N, 2, H, W) float64 displacement in pixels for the (N, H, W) pairs: the network's, or
    with `refine` its refinement on each pair."""
    s = refine if refine is not None else RefineSettings(steps=0)
    out = []
    for i in range(0, len(fixed), batch):
        f = torch.as_tensor(np.array(fixed[i : i + batch], np.float32))[:, None]
        m = torch.as_tensor(np.array(moving[i : i + batch], np.float32))[:, None]
        out.append(refined_field(net, f, m, s).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2, *fixed.shape[1:]))
