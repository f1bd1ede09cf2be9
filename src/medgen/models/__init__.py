"""The three generative families behind one protocol: diffusion, GAN, VAE."""

from __future__ import annotations

from medgen.models.common import Conditioning
from medgen.models.diffusion import DiffusionConfig, DiffusionModel, NoiseScales, noise_scales
from medgen.models.gan import GAN, GANConfig
from medgen.models.io import load_model, save_model
from medgen.models.protocol import Batch, GenerativeModel
from medgen.models.registry import MODELS
from medgen.models.vae import VAE, VAEConfig

__all__ = [
    "GAN",
    "MODELS",
    "VAE",
    "Batch",
    "Conditioning",
    "DiffusionConfig",
    "DiffusionModel",
    "GANConfig",
    "GenerativeModel",
    "NoiseScales",
    "VAEConfig",
    "load_model",
    "noise_scales",
    "save_model",
]
