"""The detector's batched steps: training windows cut from the right slice around its tumour,
the segmentation net's decaying learning rate, and a stack preprocessed as each slice alone."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from medgen.detect import extract
from medgen.detect.extract import (
    ExtractConfig,
    cosine_factor,
    segmentation_net,
    train_segmentation,
    training_windows,
    window_centres,
)


def slices() -> tuple[torch.Tensor, torch.Tensor]:
    """Six 16x16 slices: distinct random brains, a 2x2 tumour in the even ones, one empty."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 16, 16, generator=g) + 0.1
    x[5] = 0.0  # no brain: the window centres on the slice's centre
    y = torch.zeros(6, 1, 16, 16)
    for i, (r, c) in {0: (1, 1), 2: (13, 2), 4: (7, 12)}.items():
        y[i, 0, r : r + 2, c : c + 2] = 1.0
    return x, y


def test_each_window_is_a_piece_of_its_own_slice_around_its_tumour() -> None:
    x, y = slices()
    centres = window_centres(x, y)
    assert centres.count.tolist() == [4, 256, 4, 256, 4, 1]
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        pick = torch.randint(6, (8,), generator=g)
        xb, yb = training_windows(x, y, pick, centres, 8, g)
        assert xb.shape == yb.shape == (8, 1, 8, 8)
        for k, i in enumerate(pick.tolist()):
            if i == 5:  # the empty slice: any piece of it is zeros
                assert not xb[k].any() and not yb[k].any()
                continue
            pieces = x[i, 0].unfold(0, 8, 1).unfold(1, 8, 1)  # every 8x8 piece of the slice
            hits = (pieces == xb[k, 0]).all(-1).all(-1).nonzero()
            assert len(hits) == 1, "the window is a piece of its own slice"
            top, left = hits[0].tolist()
            assert torch.equal(yb[k, 0], y[i, 0, top : top + 8, left : left + 8])
            if i % 2 == 0 and i < 5:
                assert yb[k].sum() > 0, "a tumour slice's window holds tumour"


def test_the_same_generator_state_cuts_the_same_windows() -> None:
    x, y = slices()
    centres = window_centres(x, y)
    pick = torch.tensor([0, 2, 4, 1, 3])
    a = training_windows(x, y, pick, centres, 8, torch.Generator().manual_seed(3))
    b = training_windows(x, y, pick, centres, 8, torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_a_stack_is_preprocessed_as_each_slice_alone() -> None:
    """`preprocess` blurs CHUNK slices per call; every slice must get the numbers it gets alone
    (across a chunk boundary, and for an empty slice and a one-pixel one)."""
    import numpy as np
    from scipy import ndimage

    from medgen.detect.preprocess import CHUNK, PreprocessConfig, preprocess, preprocess_slice

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    slices = []
    for _ in range(CHUNK + 6):
        r = rng.uniform(8, 14)
        brain = ((yy - 16) ** 2 + (xx - 16) ** 2 < r**2) * rng.uniform(0.4, 0.9)
        slices.append(ndimage.gaussian_filter(brain, 1.0) + 0.02 * rng.random((32, 32)))
    slices[3] = np.zeros((32, 32))
    slices[CHUNK + 1] = np.zeros((32, 32))
    slices[CHUNK + 1][5, 5] = 1.0
    stack = np.stack(slices).astype(np.float32)
    config = PreprocessConfig()
    out, masks = preprocess(stack, config)
    for i, image in enumerate(stack):
        alone, mask = preprocess_slice(image, config)
        assert np.array_equal(out[i], alone) and np.array_equal(masks[i], mask), i
    assert not masks[3].any() and not out[3].any()


def test_the_learning_rate_falls_along_a_half_cosine() -> None:
    factors = [cosine_factor(step, 3000) for step in range(3000)]
    assert factors[0] == 1.0
    assert factors[1500] == pytest.approx(0.5)
    assert all(a > b for a, b in itertools.pairwise(factors))
    assert 0.0 < factors[-1] < 1e-5  # the last step still moves the net, barely


def test_the_segmentation_net_steps_at_the_scheduled_rate(monkeypatch) -> None:
    """With the rate cut to zero after the first step, five steps leave the net's weights
    where one step put them: the schedule, not a constant rate, sets each step's size."""
    x, y = slices()
    images, masks = x[:, 0].numpy(), y[:, 0].numpy().astype(bool)
    config = ExtractConfig(channels=(4, 8), strides=(2,), batch_size=4, window=0.5)

    def trained(steps: int) -> dict[str, np.ndarray]:
        torch.manual_seed(0)
        net = segmentation_net(replace(config, steps=steps))
        train_segmentation(net, images, masks, replace(config, steps=steps))
        return {k: v.detach().numpy().copy() for k, v in net.named_parameters()}

    monkeypatch.setattr(extract, "cosine_factor", lambda step, steps: 1.0 if step == 0 else 0.0)
    one, five = trained(1), trained(5)
    assert all(np.array_equal(one[k], five[k]) for k in one)
    monkeypatch.undo()
    assert not all(np.array_equal(one[k], v) for k, v in trained(5).items())
