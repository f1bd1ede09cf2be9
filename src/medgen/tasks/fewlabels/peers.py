"""The peers: a MONAI U-Net trained from scratch on the same labelled slices, without and with
classic augmentation (flips, small rotations and scalings, intensity scale, shift and gamma)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from numpy.typing import NDArray
from torch import Tensor, nn


@dataclass(frozen=True)
class PeerSettings:
    """The U-Net's size and its training: the same for every N, so large N is undertrained."""

    channels: tuple[int, ...] = (16, 32, 64, 128)
    steps: int = 300  # optimiser steps
    batch: int = 8  # slices per step
    lr: float = 1e-3  # Adam's step size
    seed: int = 0


def peer_unet(classes: int, channels: tuple[int, ...]) -> UNet:
    """MONAI's residual U-Net, one image channel in, class logits out."""
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=classes,
        channels=channels,
        strides=(2,) * (len(channels) - 1),
        num_res_units=1,
    )


def augment(x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Images (B, 1, H, W) and label maps (B, H, W), flipped, rotated (up to 15 degrees) and
    scaled (0.9 to 1.1) alike; the images' intensities scaled, shifted and gamma-corrected."""
    b = x.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    flip = torch.rand(b, generator=generator) < 0.5
    x, y = (
        torch.where(flip[:, None, None, None], x.flip(-1), x),
        torch.where(flip[:, None, None], y.flip(-1), y),
    )
    angle, scale = uniform(-math.pi / 12, math.pi / 12), uniform(0.9, 1.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, 0 * cos], 1), torch.stack([sin, cos, 0 * cos], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    x = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
    y = F.grid_sample(y[:, None].float(), grid, mode="nearest", align_corners=False)[:, 0].long()
    gain, shift = uniform(0.9, 1.1), uniform(-0.05, 0.05)
    gamma = uniform(0.8, 1.25)
    x = x.clamp(0, 1) ** gamma[:, None, None, None] * gain[:, None, None, None]
    return x + shift[:, None, None, None], y


def train_peer(
    images: NDArray[np.float32],
    maps: NDArray[np.uint8],
    classes: int,
    s: PeerSettings,
    augmented: bool,
) -> nn.Module:
    """A U-Net trained from scratch on labelled slices (N, H, W) with Dice + cross-entropy."""
    torch.manual_seed(s.seed)
    generator = torch.Generator().manual_seed(s.seed)
    net = peer_unet(classes, s.channels)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    x_all = torch.from_numpy(np.ascontiguousarray(images, np.float32))[:, None]
    y_all = torch.from_numpy(maps.astype(np.int64))
    net.train()
    for _ in range(s.steps):
        rows = torch.randint(len(x_all), (s.batch,), generator=generator)
        x, y = x_all[rows], y_all[rows]
        if augmented:
            x, y = augment(x, y, generator)
        loss = loss_fn(net(x), y[:, None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def predict_peer(net: nn.Module, images: NDArray[np.float32], batch: int = 32) -> NDArray[np.uint8]:
    """Label maps (N, H, W) of images (N, H, W)."""
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch], np.float32))
        out.append(net(x[:, None]).argmax(1).numpy().astype(np.uint8))
    return np.concatenate(out)


Trainer = Callable[[NDArray[np.float32], NDArray[np.uint8], int, PeerSettings], nn.Module]


def _plain(
    images: NDArray[np.float32], maps: NDArray[np.uint8], c: int, s: PeerSettings
) -> nn.Module:
    return train_peer(images, maps, c, s, augmented=False)


def _augmented(
    images: NDArray[np.float32], maps: NDArray[np.uint8], c: int, s: PeerSettings
) -> nn.Module:
    return train_peer(images, maps, c, s, augmented=True)


PEERS: dict[str, Trainer] = {"unet": _plain, "unet+aug": _augmented}
