"""DCGAN generator and (projection, spectral-norm) discriminator."""

from __future__ import annotations

import pytest
import torch
from test_unet import one_thread  # noqa: F401 (autouse fixture)

from medgen.nets import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 2])
def test_generator_and_discriminator_shapes(size: int, channels: int) -> None:
    G = DCGANGenerator(latent_dim=16, image_size=size, channels=channels, width=8)
    D = DCGANDiscriminator(image_size=size, channels=channels, width=8)
    x = G(torch.randn(3, G.latent_dim))
    assert x.shape == (3, channels, size, size)
    assert x.dtype == torch.float32
    assert x.abs().max() <= 1
    assert D(x).shape == (3,)


def test_spectral_norm_variant() -> None:
    D = DCGANDiscriminator(image_size=32, width=8, spectral_norm=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert any("parametrizations" in name for name, _ in D.named_parameters())
    logits = D(torch.randn(4, 1, 32, 32))
    logits.sum().backward()
    assert logits.shape == (4,)


def test_conditional_gan() -> None:
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=16, image_size=16, width=8, cond_classes=(2, 3)).eval()
    D = DCGANDiscriminator(image_size=16, width=8, spectral_norm=True, cond_classes=(2, 3))
    D.eval()  # in training mode every call takes a power-iteration step
    z, cond = torch.randn(2, 16), torch.tensor([[1, 3], [2, 1]])
    null = torch.zeros(2, 2, dtype=torch.long)
    assert torch.equal(G(z), G(z, null))
    assert not torch.allclose(G(z), G(z, cond))
    x = G(z, cond)
    assert torch.equal(D(x), D(x, null))
    assert not torch.allclose(D(x), D(x, cond))


def test_bad_sizes_raise() -> None:
    for size in (8, 48):
        with pytest.raises(ValueError, match="power of two"):
            DCGANGenerator(image_size=size)
    D = DCGANDiscriminator(image_size=32, width=8)
    with pytest.raises(ValueError, match="expected"):
        D(torch.randn(2, 1, 64, 64))
    with pytest.raises(ValueError, match="shape"):
        DCGANGenerator(latent_dim=8, image_size=16, width=8)(torch.randn(2, 9))
