"""Networks: diffusion U-Net, MONAI adapter, DCGAN generator/discriminator, VAE encoder/decoder."""

from __future__ import annotations

from medgen.nets.embedding import LabelEmbedding, NoiseEmbedding
from medgen.nets.gan import DCGANDiscriminator, DCGANGenerator
from medgen.nets.monai_adapter import MonaiUNet, joint_class_index, monai_tutorial_unet
from medgen.nets.unet import UNet, UNetConfig, count_parameters, default_unet_config
from medgen.nets.vae import Posterior, VAEDecoder, VAEEncoder, downsampling_factor

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "LabelEmbedding",
    "MonaiUNet",
    "NoiseEmbedding",
    "Posterior",
    "UNet",
    "UNetConfig",
    "VAEDecoder",
    "VAEEncoder",
    "count_parameters",
    "default_unet_config",
    "downsampling_factor",
    "joint_class_index",
    "monai_tutorial_unet",
]
