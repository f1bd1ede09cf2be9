"""MonaiUNet: MONAI's DiffusionModelUNet behind medgen's F(x, noise_level, cond) signature."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DiffusionModelUNet
from test_unet import one_thread, perturb_output  # noqa: F401 (autouse fixture)

from medgen.nets import MonaiUNet, count_parameters, joint_class_index, monai_tutorial_unet


def small_monai(cond_classes: tuple[int, ...] = ()) -> MonaiUNet:
    """A tiny DiffusionModelUNet, adapted."""
    net = DiffusionModelUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=(8, 16),
        attention_levels=(False, True),
        num_res_blocks=1,
        num_head_channels=8,
        norm_num_groups=4,
        num_class_embeds=12 if cond_classes else None,
    )
    return MonaiUNet(net, cond_classes)


def test_tutorial_unet_parameter_count() -> None:
    assert 1.0e6 <= count_parameters(monai_tutorial_unet()) <= 1.2e6


@pytest.mark.parametrize("cond", [None, torch.tensor([[1, 2], [0, 0]])])
def test_forward_backward(cond: torch.Tensor | None) -> None:
    net = small_monai((2, 3))
    x = torch.randn(2, 1, 16, 16)
    out = net(x, torch.randn(2), cond)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_unconditional_forward_backward() -> None:
    net = small_monai()
    out = net(torch.randn(2, 1, 16, 16), torch.randn(2))
    out.sum().backward()
    with pytest.raises(ValueError, match="unconditional"):
        net(torch.randn(2, 1, 16, 16), torch.randn(2), torch.zeros(2, 1, dtype=torch.long))


def test_null_cond_equals_none() -> None:
    net = small_monai((2, 3))
    perturb_output(net)
    x, noise = torch.randn(2, 1, 16, 16), torch.randn(2)
    null = net(x, noise, torch.zeros(2, 2, dtype=torch.long))
    assert torch.equal(net(x, noise), null)
    assert not torch.allclose(net(x, noise, torch.tensor([[1, 3], [2, 1]])), null)


def test_joint_class_index_is_a_bijection() -> None:
    classes = (2, 3)
    cond = torch.cartesian_prod(torch.arange(3), torch.arange(4))  # every (a0, a1)
    index = joint_class_index(cond, classes)
    assert sorted(index.tolist()) == list(range(12))
    assert index[0] == 0  # all null
