"""Any MONAI `DiffusionModelUNet`-like network behind medgen's F(x, noise_level, cond) signature.

MONAI's nets take `net(x, timesteps, context=None, class_labels=None)` with DDPM-style timesteps
0..999 and one class index per sample; medgen's take a continuous noise_level (B,) and A
categorical attributes (B, A) with 0 = null. The adapter scales the noise level and folds the
attributes into one mixed-radix class index.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from medgen.nets.embedding import check_cond

EDM_TIMESTEP_SCALE = 250.0  # c_noise = ln(sigma)/4 spans ~2.7 for sigma in [0.002, 80]: x250 ~ 660


def joint_class_count(cond_classes: tuple[int, ...]) -> int:
    """Number of joint labels prod_a (K_a + 1): every attribute's classes plus its null."""
    return math.prod(k + 1 for k in cond_classes)


def joint_class_index(cond: Tensor, cond_classes: tuple[int, ...]) -> Tensor:
    """(B, A) labels -> (B,) index sum_a cond_a prod_{b<a} (K_b + 1); all-null maps to 0."""
    check_cond(cond, cond_classes)
    radix = [math.prod(k + 1 for k in cond_classes[:a]) for a in range(len(cond_classes))]
    radix_t = torch.tensor(radix, dtype=torch.long, device=cond.device)  # (A,)
    return (cond.long() * radix_t).sum(dim=1)


class MonaiUNet(nn.Module):
    """Adapter: MONAI net(x, timesteps, class_labels=...) as F(x, noise_level (B,), cond (B, A)).

    MONAI's `get_timestep_embedding` casts timesteps to float and takes sinusoids of them, so
    continuous values are fine; it was designed for DDPM's 0..999, whose lowest frequencies
    (down to 1/10000) only separate values hundreds apart. EDM's c_noise = ln(sigma)/4 is a few
    units wide, so it is multiplied by `timestep_scale` (250: ~660 units over sigma in
    [0.002, 80], like DDPM's range). Pass timestep_scale=1 when noise_level is already a DDPM
    timestep (VP preconditioning).
    """

    def __init__(
        self,
        net: nn.Module,
        cond_classes: tuple[int, ...] = (),
        timestep_scale: float = EDM_TIMESTEP_SCALE,
    ) -> None:
        super().__init__()
        self.net = net
        self.cond_classes = tuple(cond_classes)
        self.timestep_scale = timestep_scale  # noise_level -> MONAI timesteps multiplier

    def forward(self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, C, *S), noise_level (B,), cond (B, A) or None (all null) -> (B, C_out, *S)."""
        if noise_level.shape != (x.shape[0],):
            raise ValueError(
                f"noise_level must have shape ({x.shape[0]},), got {noise_level.shape}"
            )
        timesteps = noise_level.float() * self.timestep_scale  # (B,)
        if not self.cond_classes:
            if cond is not None:
                raise ValueError("cond given to an unconditional MonaiUNet (cond_classes is empty)")
            return self.net(x, timesteps)
        if cond is None:
            labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)  # all null
        else:
            labels = joint_class_index(cond, self.cond_classes)  # (B,)
        return self.net(x, timesteps, class_labels=labels)


def monai_tutorial_unet(in_channels: int = 1, cond_classes: tuple[int, ...] = ()) -> MonaiUNet:
    """MONAI's 2-D DDPM tutorial DiffusionModelUNet (~1.1 M parameters), adapted."""
    from monai.networks.nets import DiffusionModelUNet  # here: importing MONAI takes seconds

    net = DiffusionModelUNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=in_channels,
        channels=(32, 64, 64),
        attention_levels=(False, False, True),
        num_res_blocks=1,
        num_head_channels=64,
        num_class_embeds=joint_class_count(tuple(cond_classes)) if cond_classes else None,
    )
    return MonaiUNet(net, cond_classes)
