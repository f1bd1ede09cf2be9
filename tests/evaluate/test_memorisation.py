"""Memorisation: copies of the training set are flagged, fresh samples look like held-out data."""

from __future__ import annotations

import pytest
import torch

from medgen.evaluate.memorisation import memorisation

torch.set_num_threads(1)


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_copies_of_training_samples_are_flagged() -> None:
    train, held_out = draw(500, 3, seed=0), draw(300, 3, seed=1)
    result = memorisation(train, held_out, train[:200].clone())
    assert result.fake_to_train == pytest.approx(0.0, abs=1e-6)
    assert result.ratio == pytest.approx(0.0, abs=1e-5)
    assert result.fraction_closer == 1.0
    assert result.held_out_to_train > 0.1


def test_fresh_samples_look_like_held_out_data() -> None:
    train, held_out, fake = draw(1000, 3, seed=2), draw(1000, 3, seed=3), draw(1000, 3, seed=4)
    result = memorisation(train, held_out, fake)
    assert result.ratio == pytest.approx(1.0, abs=0.1)
    assert result.fraction_closer == pytest.approx(0.05, abs=0.03)


def test_bad_inputs_are_refused() -> None:
    train = draw(20, 3, seed=0)
    with pytest.raises(ValueError, match="one feature dimension"):
        memorisation(train, draw(10, 3, seed=1), draw(10, 2, seed=2))
    with pytest.raises(ValueError, match="2-D"):
        memorisation(train, draw(10, 3, seed=1), draw(10, seed=2))
    with pytest.raises(ValueError, match="quantile"):
        memorisation(train, draw(10, 3, seed=1), draw(10, 3, seed=2), quantile=1.5)
