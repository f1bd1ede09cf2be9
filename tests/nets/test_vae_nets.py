"""VAE encoder and decoder."""

from __future__ import annotations

import pytest
import torch
from test_unet import one_thread  # noqa: F401 (autouse fixture)

from medgen.nets import VAEDecoder, VAEEncoder, downsampling_factor


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_shapes(size: int, channels: int) -> None:
    enc = VAEEncoder(in_channels=channels, channels=(8, 16, 16), latent_channels=4)
    dec = VAEDecoder(out_channels=channels, channels=(8, 16, 16), latent_channels=4)
    mean, logvar = enc(torch.randn(2, channels, size, size))
    assert mean.shape == logvar.shape == (2, 4, size // 4, size // 4)
    out = dec(mean)
    assert out.shape == (2, channels, size, size)
    assert out.dtype == torch.float32


def test_default_vae_64_to_16x16x4() -> None:
    enc, dec = VAEEncoder(), VAEDecoder()
    posterior = enc(torch.randn(2, 1, 64, 64))
    assert posterior.mean.shape == (2, 4, 16, 16)
    assert dec(posterior.mean).shape == (2, 1, 64, 64)
    assert downsampling_factor((32, 64, 128)) == 4


def test_three_dimensional_vae() -> None:
    enc = VAEEncoder(channels=(8, 16), latent_channels=2, spatial_dims=3)
    dec = VAEDecoder(channels=(8, 16), latent_channels=2, spatial_dims=3)
    mean, _ = enc(torch.randn(1, 1, 8, 8, 8))
    assert mean.shape == (1, 2, 4, 4, 4)
    assert dec(mean).shape == (1, 1, 8, 8, 8)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="divisible"):
        VAEEncoder()(torch.randn(1, 1, 30, 30))
    with pytest.raises(ValueError, match="channels"):
        VAEDecoder()(torch.randn(1, 3, 8, 8))
