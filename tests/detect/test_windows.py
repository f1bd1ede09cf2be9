"""The segmentation net's training windows: cut from the right slice, around its tumour."""

from __future__ import annotations

import torch

from medgen.detect.extract import training_windows, window_centres


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
