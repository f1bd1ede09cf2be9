"""medgen's diffusion U-Net: F(x, c_noise, cond) for EDM preconditioning.

The ADM / DDPM++ layout (Ho et al. 2020; Dhariwal & Nichol 2021; Karras et al. 2022): a stem
conv, residual blocks with scale-shift (FiLM) injection of the noise + label embedding, self-
attention at the flagged levels and in the middle, a skip connection from every encoder block to
the decoder, and a zero-initialised output conv. `spatial_dims` picks 1-, 2- or 3-D layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.exceptions import SettingError
from medgen.nets.embedding import LabelEmbedding, NoiseEmbedding
from medgen.validate import flag, in_range, whole, whole_numbers

CONVS: dict[int, type[nn.Conv1d] | type[nn.Conv2d] | type[nn.Conv3d]] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}


@dataclass
class UNetConfig:
    """Architecture of `UNet`; every field is plain data so the config saves as JSON/TOML."""

    in_channels: int = 1  # image channels
    out_channels: int | None = None  # None: same as in_channels
    channels: tuple[int, ...] = (32, 64, 64)  # width per resolution level, finest first
    num_res_blocks: int = 1  # residual blocks per encoder level
    attention_levels: tuple[bool, ...] = (False, False, True)  # self-attention at each level
    num_head_channels: int = 32  # channels per attention head
    cond_classes: tuple[int, ...] = ()  # classes K_a per categorical attribute; () unconditional
    dropout: float = 0.0  # dropout before each block's second conv
    spatial_dims: int = 2  # 1, 2 or 3
    norm_groups: int = 8  # GroupNorm groups (capped by the channel count)
    emb_dim: int | None = None  # noise/label embedding width; None: 4 * channels[0]
    mid_attention: bool = True  # self-attention in the middle block
    decoder_extra_block: bool = True  # ADM's num_res_blocks + 1 decoder blocks per level
    channels_last: bool = False  # run 2-D convs in NHWC memory layout (mkldnn likes it)

    def __post_init__(self) -> None:
        whole_numbers("channels", self.channels, 1)
        whole_numbers("cond_classes", self.cond_classes, 1, empty=True)
        self.channels = tuple(self.channels)
        self.cond_classes = tuple(self.cond_classes)
        if not isinstance(self.attention_levels, Sequence):
            raise SettingError("attention_levels", "expected a list of true/false, one per level")
        self.attention_levels = tuple(flag("attention_levels", a) for a in self.attention_levels)
        if len(self.attention_levels) != len(self.channels):
            raise SettingError(
                "attention_levels",
                f"has {len(self.attention_levels)} entries; channels has "
                f"{len(self.channels)} levels",
            )
        whole("in_channels", self.in_channels, 1)
        if self.out_channels is not None:
            whole("out_channels", self.out_channels, 1)
        whole("num_res_blocks", self.num_res_blocks, 1)
        whole("num_head_channels", self.num_head_channels, 1)
        in_range("dropout", self.dropout, 0.0, 1.0, open_high=True)
        if whole("spatial_dims", self.spatial_dims, 1) not in CONVS:
            raise SettingError("spatial_dims", f"must be 1, 2 or 3, got {self.spatial_dims}")
        whole("norm_groups", self.norm_groups, 1)
        if self.emb_dim is not None:
            whole("emb_dim", self.emb_dim, 1)
        for name in ("mid_attention", "decoder_extra_block", "channels_last"):
            flag(name, getattr(self, name))

    @property
    def blocks_per_level(self) -> tuple[int, ...]:
        """num_res_blocks as one count per level."""
        return (self.num_res_blocks,) * len(self.channels)

    @property
    def factor(self) -> int:
        """Total downsampling factor 2 ** (levels - 1); image sides must be divisible by it."""
        return 2 ** (len(self.channels) - 1)


def default_unet_config(
    image_size: int, in_channels: int = 1, cond_classes: tuple[int, ...] = ()
) -> UNetConfig:
    """medgen's default diffusion backbone for square images of side image_size (~1.1 M params).

    Narrow at full resolution, wide at low resolution (a parameter there costs 4-64x fewer
    FLOPs), one res-block per level and as many in the decoder (no ADM extra block), attention
    only at the coarsest level and in the middle, channels_last: at MONAI's tutorial net's
    parameter count it trains ~4x faster on CPU (benchmarks/train_throughput.py). Four levels
    (coarsest 1/8 of the side) when image_size allows, more for images above 64 pixels.
    """
    levels = 4
    while levels > 1 and image_size % 2 ** (levels - 1):
        levels -= 1  # sides not divisible by 8: fewer levels
    while levels > 1 and image_size // 2 ** (levels - 1) < 4:
        levels -= 1  # small images: keep the coarsest level at 4 pixels or more
    while image_size // 2 ** (levels - 1) > 8 and image_size % 2**levels == 0:
        levels += 1  # large images: keep the coarsest level at 8 pixels or fewer
    base = (16, 32, 64, 80)
    channels = base[:levels] + (base[-1],) * (levels - len(base))
    return UNetConfig(
        in_channels=in_channels,
        channels=channels,
        num_res_blocks=1,
        attention_levels=(False,) * (levels - 1) + (True,),
        num_head_channels=64,
        cond_classes=tuple(cond_classes),
        decoder_extra_block=False,
        channels_last=True,
    )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= groups that divides channels (Wu & He 2018)."""
    g = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
    return nn.GroupNorm(g, channels, eps=1e-6)


def zero_init(module: nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear) -> nn.Module:
    """Zero the weights and bias, so a residual branch starts as the identity (Goyal 2017)."""
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, FiLM by the embedding, GroupNorm-SiLU-conv, plus skip (ADM)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        emb_dim: int | None,
        dims: int = 2,
        groups: int = 8,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        conv = CONVS[dims]
        self.norm1 = group_norm(cin, groups)
        self.conv1 = conv(cin, cout, 3, padding=1)
        # scale and shift from the embedding (Dhariwal & Nichol 2021); None: no conditioning
        self.emb = nn.Linear(emb_dim, 2 * cout) if emb_dim is not None else None
        self.norm2 = group_norm(cout, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(conv(cout, cout, 3, padding=1))
        self.skip = conv(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """x (B, cin, *S), emb (B, emb_dim) -> (B, cout, *S)."""
        h = self.norm2(self.conv1(F.silu(self.norm1(x))))  # (B, cout, *S)
        if self.emb is not None and emb is not None:
            film = self.emb(emb).view(x.shape[0], -1, *([1] * (x.ndim - 2)))  # (B, 2 cout, 1..)
            scale, shift = film.chunk(2, dim=1)
            h = torch.addcmul(shift, h, scale + 1)
        return self.skip(x) + self.conv2(self.dropout(F.silu(h)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over all positions, residual (Vaswani 2017; Ho et al. 2020)."""

    def __init__(self, channels: int, head_channels: int, groups: int) -> None:
        super().__init__()
        self.heads = max(1, channels // head_channels)
        if channels % self.heads:
            raise ValueError(f"{channels} channels do not split into {self.heads} heads")
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = zero_init(nn.Linear(channels, channels))

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """(B, C, *S) -> (B, C, *S)."""
        B, C = x.shape[:2]
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
        qkv = self.qkv(tokens).view(B, -1, 3, self.heads, C // self.heads)  # (B, N, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, N, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        out = self.proj(out.transpose(1, 2).reshape(B, -1, C))  # (B, N, C)
        return x + out.transpose(1, 2).reshape(x.shape)


class Downsample(nn.Module):
    """Stride-2 3x3 conv (Ho et al. 2020)."""

    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        self.conv = CONVS[dims](channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, *S) -> (B, C, *S/2)."""
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then 3x3 conv (Odena et al. 2016's fix for checkerboards)."""

    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        self.conv = CONVS[dims](channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, *S) -> (B, C, *2S)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution level: residual blocks, each optionally followed by self-attention.

    An encoder level pushes each block's output onto `skips`; a decoder level pops one skip
    and concatenates it to its input before each block.
    """

    def __init__(
        self,
        cins: list[int],
        cout: int,
        attention: bool,
        config: UNetConfig,
        emb_dim: int,
        decoder: bool = False,
    ) -> None:
        super().__init__()
        c, dims = config, config.spatial_dims
        self.decoder = decoder
        self.blocks = nn.ModuleList(
            ResBlock(cin, cout, emb_dim, dims, c.norm_groups, c.dropout) for cin in cins
        )
        self.attns = nn.ModuleList(
            SelfAttention(cout, c.num_head_channels, c.norm_groups) if attention else nn.Identity()
            for _ in cins
        )

    def forward(self, h: Tensor, emb: Tensor, skips: list[Tensor]) -> Tensor:
        """(B, cin, *S) -> (B, cout, *S), pushing (encoder) or popping (decoder) skips."""
        for block, attn in zip(self.blocks, self.attns, strict=True):
            if self.decoder:
                h = torch.cat([h, skips.pop()], dim=1)  # (B, cin, *S)
            h = attn(block(h, emb))
            if not self.decoder:
                skips.append(h)
        return h


class UNet(nn.Module):
    """Diffusion U-Net F(x, noise_level, cond) -> same-sized output (Ho 2020; Karras 2022)."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config if config is not None else UNetConfig()
        chs, dims, blocks = c.channels, c.spatial_dims, c.blocks_per_level
        extra = c.decoder_extra_block  # ADM: the stem and downsample outputs are skips too
        emb_dim = c.emb_dim if c.emb_dim is not None else 4 * chs[0]
        out_channels = c.out_channels if c.out_channels is not None else c.in_channels
        self.noise_emb = NoiseEmbedding(emb_dim)
        self.label_emb = LabelEmbedding(c.cond_classes, emb_dim) if c.cond_classes else None
        self.stem = CONVS[dims](c.in_channels, chs[0], 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, cur = [chs[0]] if extra else [], chs[0]  # channels of the decoder's skip inputs
        for i, (ch, n) in enumerate(zip(chs, blocks, strict=True)):
            self.down.append(Level([cur] + [ch] * (n - 1), ch, c.attention_levels[i], c, emb_dim))
            cur = ch
            skips += [ch] * n
            if i < len(chs) - 1:
                self.downsample.append(Downsample(ch, dims))
                skips += [ch] if extra else []
        self.mid1 = ResBlock(cur, cur, emb_dim, dims, c.norm_groups, c.dropout)
        self.mid_attn = (
            SelfAttention(cur, c.num_head_channels, c.norm_groups)
            if c.mid_attention
            else nn.Identity()
        )
        self.mid2 = ResBlock(cur, cur, emb_dim, dims, c.norm_groups, c.dropout)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(chs))):
            cins = []
            for _ in range(blocks[i] + 1 if extra else blocks[i]):
                cins.append(cur + skips.pop())
                cur = chs[i]
            self.up.append(Level(cins, chs[i], c.attention_levels[i], c, emb_dim, decoder=True))
            if i > 0:
                self.upsample.append(Upsample(cur, dims))
        self.out_norm = group_norm(chs[0], c.norm_groups)
        self.out_conv = zero_init(CONVS[dims](chs[0], out_channels, 3, padding=1))
        if c.channels_last and dims == 2:
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def embed(self, noise_level: Tensor, cond: Tensor | None, batch: int) -> Tensor:
        """SiLU of the noise embedding plus the label embedding, (B, emb_dim)."""
        if noise_level.shape != (batch,):
            raise ValueError(f"noise_level must have shape ({batch},), got {noise_level.shape}")
        emb = self.noise_emb(noise_level)
        if self.label_emb is not None:
            emb = emb + self.label_emb(cond, batch)
        elif cond is not None:
            raise ValueError("cond given to an unconditional UNet (config.cond_classes is empty)")
        return F.silu(emb)

    def check_size(self, x: Tensor) -> None:
        """Raise ValueError unless x is (B, in_channels, *S) with S divisible by the factor."""
        c = self.config
        if x.ndim != c.spatial_dims + 2 or x.shape[1] != c.in_channels:
            raise ValueError(
                f"UNet expects (B, {c.in_channels}, ...) with {c.spatial_dims} spatial dims, "
                f"got {tuple(x.shape)}"
            )
        if any(s % c.factor for s in x.shape[2:]):
            raise ValueError(
                f"UNet with {len(c.channels)} levels needs spatial sizes divisible by "
                f"{c.factor}, got {tuple(x.shape[2:])}"
            )

    def forward(self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, C, H, W), noise_level (B,), cond (B, A) or None -> (B, out_channels, H, W)."""
        self.check_size(x)
        emb = self.embed(noise_level, cond, x.shape[0])  # (B, emb_dim)
        if self.config.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)  # (B, ch0, H, W)
        skips = [h] if self.config.decoder_extra_block else []
        for i, level in enumerate(self.down):
            h = level(h, emb, skips)  # (B, ch_i, H / 2^i, W / 2^i)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, ch_i, H / 2^(i+1), W / 2^(i+1))
                skips += [h] if self.config.decoder_extra_block else []
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for j, level in enumerate(self.up):
            h = level(h, emb, skips)
            if j < len(self.upsample):
                h = self.upsample[j](h)
        out = self.out_conv(F.silu(self.out_norm(h)))  # (B, out_channels, H, W)
        return out.contiguous()
