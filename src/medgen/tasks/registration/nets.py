"""The VoxelMorph-style network (Balakrishnan et al. 2019; diffeomorphic variant, Dalca et al.
2019): a U-Net maps (moving, fixed) to a stationary velocity field, integrated by scaling and
squaring (MONAI `DVF2DDF`) into a dense displacement, applied by MONAI `Warp`."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch
from monai.networks.blocks import DVF2DDF, Warp
from monai.networks.nets import UNet
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass(frozen=True)
class NetConfig:
    """Size of the registration U-Net and of its integration."""

    # features per level, each level halving H and W; the narrower (16, 32, 32, 32) shrank
    # displacements over 5 px to about 0.64 of their size (experiments/registration)
    channels: tuple[int, ...] = (32, 64, 64, 64)
    integration_steps: int = 7  # scaling and squaring: the velocity is split into 2^7 steps
    integration_downsize: int = 2  # integrate at 1/2 resolution (VoxelMorph's int_downsize)


class RegistrationNet(nn.Module):
    """(fixed, moving) (B, 1, H, W) in [0, 1] -> displacement (B, 2, H, W) in pixels, (row, col)."""

    def __init__(self, cfg: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = UNet(
            spatial_dims=2,
            in_channels=2,
            out_channels=2,
            channels=cfg.channels,
            strides=(2,) * (len(cfg.channels) - 1),
        )
        # a zero field at the start: the first steps learn from the identity, not a random warp
        last = [m for m in self.unet.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
        nn.init.zeros_(last[-1].weight)
        if last[-1].bias is not None:
            nn.init.zeros_(last[-1].bias)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "monai.networks.blocks.Warp: Using PyTorch native")
            self.integrate = DVF2DDF(num_steps=cfg.integration_steps, mode="bilinear")

    def forward(self, fixed: Tensor, moving: Tensor) -> Tensor:
        return self.displacement(self.velocity(fixed, moving))

    def velocity(self, fixed: Tensor, moving: Tensor) -> Tensor:
        """The stationary velocity field (B, 2, H, W) the U-Net predicts, pixels."""
        return self.unet(torch.cat([moving, fixed], dim=1))

    def displacement(self, velocity: Tensor) -> Tensor:
        """The displacement (B, 2, H, W) of a velocity field, by scaling and squaring."""
        k = self.cfg.integration_downsize
        if k == 1:
            return self.integrate(velocity)
        # a smooth field loses little at half resolution, and integrating there is 4x cheaper;
        # displacements are in pixels, so they scale with the grid
        coarse = F.avg_pool2d(velocity, k) / k  # (B, 2, H/k, W/k)
        ddf = self.integrate(coarse)
        return F.interpolate(ddf, scale_factor=k, mode="bilinear", align_corners=False) * k


@functools.cache
def _warper() -> Warp:
    with warnings.catch_warnings():  # the notice that torch's grid_sample does the sampling
        warnings.filterwarnings("ignore", "monai.networks.blocks.Warp: Using PyTorch native")
        return Warp(mode="bilinear", padding_mode="zeros")


def warp(image: Tensor, ddf: Tensor) -> Tensor:
    """`image` (B, C, H, W) sampled at p + ddf(p), bilinear, zero outside."""
    return _warper()(image, ddf)
