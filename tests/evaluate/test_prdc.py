"""PRDC on toy sets with known answers: identical, disjoint, half the real manifold; refusals."""

from __future__ import annotations

import pytest
import torch

from medgen.evaluate.prdc import PRDC, prdc

torch.set_num_threads(1)


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_identical_sets_score_one() -> None:
    """Each real ball holds exactly k points strictly inside, so density is exactly 1."""
    a = draw(300, 4, seed=0)
    assert prdc(a, a.clone(), k=5) == PRDC(1.0, 1.0, 1.0, 1.0, k=5, n_real=300, n_fake=300)


def test_far_apart_sets_score_zero() -> None:
    result = prdc(draw(200, 3, seed=0), draw(150, 3, seed=1) + 100.0, k=3)
    assert result == PRDC(0.0, 0.0, 0.0, 0.0, k=3, n_real=200, n_fake=150)


def test_fake_on_one_of_two_real_clusters() -> None:
    """Real is two far-apart clusters; fake copies one: precision 1, recall = coverage = 1/2."""
    cluster = draw(100, 2, seed=2)
    real = torch.cat([cluster, draw(100, 2, seed=3) + 50.0])
    result = prdc(real, cluster.clone(), k=4)
    assert (result.precision, result.recall, result.coverage) == (1.0, 0.5, 0.5)
    assert result.density == pytest.approx(1.0, abs=0.02)  # rounding on the k-th neighbour ties


def test_chunking_does_not_change_the_result() -> None:
    a, b = draw(90, 3, seed=4), 0.7 * draw(70, 3, seed=5) + 0.3
    assert prdc(a, b, k=3, chunk=7) == prdc(a, b, k=3)


def test_a_shrunken_fake_set_has_high_precision_and_low_recall() -> None:
    result = prdc(draw(400, 2, seed=6), 0.2 * draw(400, 2, seed=7), k=5)
    assert result.precision > 0.95 and result.recall < 0.3


@pytest.mark.parametrize(("k", "n"), [(5, 5), (0, 10), (10, 10)])
def test_k_must_be_below_both_set_sizes(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="1 <= k <"):
        prdc(draw(n, 2, seed=0), draw(20, 2, seed=1), k=k)


def test_mismatched_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="one feature dimension"):
        prdc(draw(20, 2, seed=0), draw(20, 3, seed=1))
