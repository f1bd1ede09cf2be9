"""The lab chapter's tables and figures show what its text quotes."""

from __future__ import annotations

import pytest

from medgen.lab.score_matching import COSINE_BOTTOM, COSINE_TOP, cosine_limits, curves_figure
from medgen.study.chapters.lab import numbers_table


def history(cosines: list[float]) -> list[dict[str, float]]:
    """A run's checkpoints with the given gradient cosines."""
    return [
        {"step": 10 * i, "j_naive": 1.0, "difference": 0.5, "difference_se": 0.01, "grad_cosine": c}
        for i, c in enumerate(cosines)
    ]


@pytest.mark.parametrize("lowest", [0.3, 0.85, 0.899])
def test_the_cosine_axis_reaches_below_the_lowest_cosine(lowest: float) -> None:
    figure = curves_figure({"naive": history([1.0, 0.99]), "dsm": history([lowest, 0.999])})
    bottom, top = figure.axes[2].get_ylim()
    assert bottom < lowest and top == COSINE_TOP


def test_cosines_near_one_keep_the_usual_axis() -> None:
    assert cosine_limits([0.95, 0.999]) == (COSINE_BOTTOM, COSINE_TOP)


def test_score_matching_numbers_have_plain_names() -> None:
    numbers = {
        "histories": {},
        "difference_spread": 0.001,
        "difference_mean": 0.5,
        "grad_cosine_min": 0.97,
        "check_samples": 20_000,
        "final_score_error_j_naive": {"naive": 0.1, "dsm": 0.12},
    }
    text = numbers_table("score-matching", numbers)
    assert "lowest cosine of the two gradients" in text and "grad_cosine_min" not in text
    assert "20,000" in text and "e+" not in text
    assert "final J_naive, trained on J_dsm" in text  # the notation stays
