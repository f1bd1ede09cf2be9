"""The model families by the name `medgen train` takes."""

from __future__ import annotations

from medgen.models.diffusion import DiffusionModel
from medgen.models.gan import GAN
from medgen.models.protocol import GenerativeModel
from medgen.models.vae import VAE

MODELS: dict[str, type[GenerativeModel]] = {
    "diffusion": DiffusionModel,
    "gan": GAN,
    "vae": VAE,
}
