"""UNet, its embeddings and default config: shapes, conditioning, zero init, gradients, learning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from medgen.exceptions import SettingError
from medgen.nets import (
    LabelEmbedding,
    NoiseEmbedding,
    UNet,
    UNetConfig,
    count_parameters,
    default_unet_config,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: tiny nets gain nothing from two, and on a loaded 2-core machine
    OpenMP barriers between two threads stall each small op (measured 100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = dict(channels=(8, 16), attention_levels=(False, True), num_head_channels=8, norm_groups=4)


def perturb_output(net: torch.nn.Module) -> None:
    """Make every all-zero parameter (output conv, residual branches) non-zero."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 2])
def test_unet_shapes_and_dtype(size: int, channels: int) -> None:
    net = UNet(default_unet_config(size, in_channels=channels))
    x = torch.randn(2, channels, size, size)
    out = net(x, torch.randn(2))
    assert out.shape == x.shape
    assert out.dtype == torch.float32


def test_out_channels_and_float64() -> None:
    net = UNet(UNetConfig(in_channels=2, out_channels=3, **TINY)).double()
    out = net(torch.randn(2, 2, 16, 16, dtype=torch.float64), torch.rand(2, dtype=torch.float64))
    assert out.shape == (2, 3, 16, 16)
    assert out.dtype == torch.float64


def test_output_is_zero_at_init() -> None:
    net = UNet(UNetConfig(**TINY))
    out = net(torch.randn(3, 1, 16, 16), torch.randn(3))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradients_reach_every_parameter(channels_last: bool) -> None:
    net = UNet(UNetConfig(cond_classes=(2, 3), channels_last=channels_last, **TINY))
    perturb_output(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, noise, cond = torch.randn(2, 1, 16, 16), torch.randn(2), torch.tensor([[1, 2], [2, 3]])
    for _ in range(2):  # the second step sees non-zero residual branches after the first
        opt.zero_grad()
        net(x, noise, cond).square().mean().backward()
        opt.step()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("size", [30, 17])
def test_bad_size_raises(size: int) -> None:
    net = UNet(
        UNetConfig(**{**TINY, "channels": (8, 16, 16), "attention_levels": (False, False, True)})
    )
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 1, size, 32), torch.zeros(1))


def test_bad_inputs_raise() -> None:
    net = UNet(UNetConfig(**TINY))
    with pytest.raises(ValueError, match="noise_level"):
        net(torch.randn(2, 1, 16, 16), torch.zeros(3))
    with pytest.raises(ValueError, match="unconditional"):
        net(torch.randn(2, 1, 16, 16), torch.zeros(2), torch.ones(2, 1, dtype=torch.long))
    with pytest.raises(SettingError, match="attention_levels"):
        UNetConfig(channels=(8, 16), attention_levels=(False,))


def test_conditioning_changes_output_and_null_equals_none() -> None:
    torch.manual_seed(0)
    net = UNet(UNetConfig(cond_classes=(2, 3), **TINY))
    perturb_output(net)
    x, noise = torch.randn(2, 1, 16, 16), torch.randn(2)
    uncond = net(x, noise)
    null = net(x, noise, torch.zeros(2, 2, dtype=torch.long))
    labelled = net(x, noise, torch.tensor([[1, 3], [2, 0]]))
    assert torch.equal(uncond, null)
    assert not torch.allclose(uncond, labelled)


def test_noise_level_changes_output() -> None:
    net = UNet(UNetConfig(**TINY))
    perturb_output(net)
    x = torch.randn(1, 1, 16, 16)
    assert not torch.allclose(net(x, torch.tensor([-1.0])), net(x, torch.tensor([1.0])))


def test_three_dimensional_unet() -> None:
    net = UNet(UNetConfig(spatial_dims=3, cond_classes=(2,), **TINY))
    perturb_output(net)
    out = net(torch.randn(2, 1, 8, 8, 8), torch.randn(2), torch.tensor([[1], [0]]))
    assert out.shape == (2, 1, 8, 8, 8)


def test_default_config_size_and_parameters() -> None:
    for size in (32, 64):
        config = default_unet_config(size, cond_classes=(3,))
        assert config.cond_classes == (3,)
        assert 1.0e6 <= count_parameters(UNet(default_unet_config(size))) <= 1.2e6
    assert default_unet_config(16).factor == 4  # coarsest level stays >= 4 pixels
    assert default_unet_config(128).factor == 16  # and <= 8 pixels


def test_noise_embedding_shapes() -> None:
    emb = NoiseEmbedding(33)
    assert emb(torch.linspace(-2, 2, 5)).shape == (5, 33)
    assert emb(torch.arange(0, 1000, 250)).shape == (4, 33)  # DDPM integer timesteps too
    with pytest.raises(ValueError):
        emb(torch.zeros(2, 1))


def test_label_embedding_null_is_learnable_and_none_equals_zero() -> None:
    emb = LabelEmbedding((2, 4), 6)
    cond = torch.zeros(3, 2, dtype=torch.long)
    assert torch.equal(emb(None, 3), emb(cond))
    emb(None, 3).sum().backward()
    for table in emb.tables:
        assert table.weight.grad is not None and table.weight.grad[0].abs().sum() > 0
    with pytest.raises(ValueError, match="shape"):
        emb(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        emb(torch.zeros(3, 2))


def test_small_unet_learns_a_fixed_batch() -> None:
    torch.manual_seed(0)
    net = UNet(UNetConfig(**TINY))
    x = torch.randn(4, 1, 16, 16).cumsum(-1).cumsum(-2) / 16  # smooth targets
    noisy, noise = x + 0.5 * torch.randn_like(x), torch.full((4,), -0.2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (net(noisy, noise) - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("extra", [False, True])
def test_two_blocks_per_level_both_decoder_layouts(extra: bool) -> None:
    config = UNetConfig(**{**TINY, "num_res_blocks": 2, "decoder_extra_block": extra})
    net = UNet(config)
    perturb_output(net)
    assert net(torch.randn(2, 1, 16, 16), torch.randn(2)).shape == (2, 1, 16, 16)
    assert len(net.up[0].blocks) == (3 if extra else 2)
