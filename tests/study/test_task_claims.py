"""The tasks chapter reads each target from its interval: met (clear), not shown (unclear) or not
met (contradicted), and a task from its claims."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from browser_support import outside_interval
from medgen.errors.findings import VERDICTS, Finding
from medgen.report.html import MISSING, table_html
from medgen.study.chapters.tasks import claims_table, read_claim, task_verdict, with_interval
from medgen.tasks.claims import Claim, claim_verdict
from medgen.tasks.intervals import Interval


def _claim(
    estimate: float, low: float, high: float, margin: float = 1.0, blocked: str = ""
) -> Claim:
    return Claim(
        "denoise",
        "brain PSNR in dB at noise 0.10",
        "medgen posterior mean",
        "bm3d",
        26.0 + estimate,
        26.0,
        Interval(estimate, low, high, 24),
        margin,
        blocked,
    )


def test_an_interval_clear_of_the_margin_meets_the_target() -> None:
    found = read_claim(_claim(1.5, 1.2, 1.8))
    assert found.verdict == "clear"
    assert found.sentence.startswith("Denoising, brain PSNR in dB at noise 0.10: met,")
    assert "+1.50 (95% interval +1.20 to +1.80, 24 slices)" in found.sentence
    assert "clear of the target of +1.00" in found.sentence


def test_an_interval_holding_the_margin_is_not_shown() -> None:
    found = read_claim(_claim(1.1, 0.8, 1.4))
    assert found.verdict == "unclear"
    assert (
        ": not shown," in found.sentence
        and "an interval that contains the target of +1.00" in found.sentence
    )
    assert "zero" not in found.sentence
    # an estimate below the margin is still only not shown while the interval reaches it
    assert read_claim(_claim(0.9, 0.6, 1.2)).verdict == "unclear"


def test_an_interval_across_zero_says_not_even_a_gain_is_shown() -> None:
    found = read_claim(_claim(0.2, -0.3, 1.1))
    assert found.verdict == "unclear"
    assert "not even a gain is shown" in found.sentence


def test_a_false_claim_says_so() -> None:
    """The gain's whole interval lies below the margin: medgen loses to BM3D here."""
    found = read_claim(_claim(-0.27, -0.43, -0.10))
    assert found.verdict == "contradicted"
    assert ": not met," in found.sentence and "below the target of +1.00" in found.sentence
    assert ": met," not in found.sentence


def test_a_failed_condition_besides_the_gain_is_not_met() -> None:
    found = read_claim(_claim(1.5, 1.2, 1.8, blocked="60 NFE per slice, more than 50"))
    assert found.verdict == "contradicted"
    assert "not met, 60 NFE per slice, more than 50" in found.sentence


def test_without_an_interval_or_a_baseline_nothing_is_shown() -> None:
    nan = float("nan")
    one = _claim(1.5, nan, nan)._replace(gain=Interval(1.5, nan, nan, 1))
    assert read_claim(one).verdict == "unclear"
    assert "not shown, too few slices for an interval" in read_claim(one).sentence
    none = _claim(nan, nan, nan)._replace(gain=Interval(nan, nan, nan, 0))
    assert read_claim(none).verdict == "unclear"
    assert "not measured" in read_claim(none).sentence


def test_anomaly_claims_use_three_decimals() -> None:
    claim = Claim(
        "anomaly",
        "Dice on malignant tumours, against the tumour mask",
        "medgen (40 NFE)",
        "vae",
        0.66,
        0.48,
        Interval(0.182, 0.132, 0.237, 29),
        0.15,
    )
    assert "+0.182 (95% interval +0.132 to +0.237, 29 slices)" in read_claim(claim).sentence


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["clear", "clear"], "clear"),
        (["clear", "unclear"], "unclear"),
        (["unclear", "contradicted"], "contradicted"),
        ([], "unclear"),
    ],
)
def test_a_task_is_met_only_when_all_its_claims_are(verdicts: list[str], expected: str) -> None:
    assert set(verdicts) <= set(VERDICTS)
    assert task_verdict([Finding(v, "") for v in verdicts]) == expected


def test_the_claims_table_carries_the_interval_and_the_verdict() -> None:
    table = claims_table([_claim(1.5, 1.2, 1.8), _claim(-0.27, -0.43, -0.10)])
    assert list(table.columns) == [
        "task",
        "score",
        "medgen",
        "baseline",
        "medgen score",
        "baseline score",
        "gain",
        "95% low",
        "95% high",
        "target gain",
        "n",
        "of",
        "verdict",
    ]
    assert list(table["verdict"]) == ["met", "not met"]
    assert list(table["of"]) == ["slices", "slices"]
    row = table.iloc[0]
    assert row["95% low"] <= row["gain"] <= row["95% high"]
    assert math.isclose(row["medgen score"] - row["baseline score"], 1.5)


def test_a_claim_says_what_its_interval_resamples_and_reads_as_its_verdict() -> None:
    over_draws = _claim(0.13, -0.01, 0.26, margin=0.10)._replace(task="segment", unit="draws")
    found = read_claim(over_draws)
    assert found.verdict == claim_verdict(over_draws) == "unclear"
    assert "24 draws" in found.sentence and "slices" not in found.sentence
    for estimate, low, high, verdict in [(1.5, 1.2, 1.8, "clear"), (0.5, 0.2, 0.8, "contradicted")]:
        c = _claim(estimate, low, high)
        assert claim_verdict(c) == read_claim(c).verdict == verdict
    assert claim_verdict(_claim(1.5, 1.2, 1.8, blocked="400 NFE")) == "contradicted"
    assert claim_verdict(_claim(1.5, math.nan, math.nan)) == "unclear"


def test_the_anomaly_table_shows_slice_auroc_beside_its_interval() -> None:
    nan = math.nan
    table = pd.DataFrame(
        {
            "n tumour": [30, 1, 0],
            "slice AUROC": [0.8834, 0.7, nan],
            "slice AUROC 95% low": [0.8123, nan, nan],
            "slice AUROC 95% high": [0.95, nan, nan],
            "Dice": [0.4, 0.2, nan],
        },
        index=pd.Index(["all", "tumour_type=rare", "location=none"], name="group"),
    )
    shown = with_interval(table, "slice AUROC")
    assert list(shown.columns) == ["n tumour", "slice AUROC [95% interval]", "Dice"]
    assert list(shown["slice AUROC [95% interval]"]) == ["0.883 [0.812, 0.950]", "0.700", MISSING]
    assert "slice AUROC 95% low" in table.columns  # the table itself is left as it was
    # the rendered report's check reads the cell as an estimate inside its interval
    assert outside_interval(table_html(shown, float_format="{:.3f}")) == []
