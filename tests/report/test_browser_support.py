"""The report checks' own reading of an estimate beside its interval (no browser needed), in each
format the chapters print: "value [low, high]", the tasks chapter's "+g (95% interval +a to +b"
and the errors and uses chapters' "v (a–b)"."""

from __future__ import annotations

import pandas as pd

from browser_support import outside_interval
from medgen.study.chapters.errors import parts_shown
from medgen.study.chapters.tasks import read_claim
from medgen.study.chapters.uses import dice_cell
from medgen.tasks.claims import Claim
from medgen.tasks.intervals import Interval


def test_only_estimates_outside_their_interval_are_reported() -> None:
    text = "FD 2.42 [1.23, 2.42], recall 0.5 [0.6, 0.9], KID -4.7 [-5, 6.6], precision 1 [0.327, 1]"
    assert outside_interval(text) == ["0.5 [0.6, 0.9]"]
    assert outside_interval("coverage 0.482 [0.348, 0.444]") == ["0.482 [0.348, 0.444]"]
    assert outside_interval("no intervals here: 3 of 4 [sic]") == []
    # a table's cells reach innerText tab-separated: "slice AUROC [95% interval]" columns
    assert outside_interval("medgen\t0.883\t[0.812, 0.950]\t0.7") == []
    assert outside_interval("vae\t0.612\t[0.650, 0.800]") == ["0.612\t[0.650, 0.800]"]


def _gain_sentence(estimate: float, low: float, high: float) -> str:
    """The tasks chapter's sentence on a target whose gain and interval are these."""
    gain = Interval(estimate, low, high, 40)
    claim = Claim("anomaly", "Dice on malignant", "medgen", "vae", 0.5, 0.4, gain, 0.15, "")
    return read_claim(claim).sentence


def test_a_tasks_target_outside_its_interval_is_reported() -> None:
    good = _gain_sentence(0.132, -0.010, 0.255)
    assert "+0.132 (95% interval -0.010 to +0.255, 40 slices)" in good
    assert outside_interval(good) == []
    bad = _gain_sentence(0.300, -0.010, 0.255)
    assert outside_interval(bad) == ["+0.300 (95% interval -0.010 to +0.255"]
    negative = _gain_sentence(-0.050, -0.040, 0.020)  # signs read: -0.050 < -0.040
    assert outside_interval(negative) == ["-0.050 (95% interval -0.040 to +0.020"]


def test_an_errors_share_outside_its_interval_is_reported() -> None:
    table = pd.DataFrame(
        {
            "part": ["extract", "classify"],
            "errors": [4, 7],
            "wrong_type": [0, 2],
            "share": [0.67, 0.80],
            "share_low": [0.58, 0.29],
            "share_high": [0.76, 0.77],
            "accuracy_if_perfect_up_to": [0.5, 0.6],
            "verdict": ["", ""],
        }
    )
    good, bad = parts_shown(table)["share of errors (95% CI)"]
    assert (good, bad) == ("67% (58%–76%)", "80% (29%–77%)")
    assert outside_interval(f"extract\t4\t0\t{good}\t0.5") == []
    assert outside_interval(f"classify\t7\t2\t{bad}\t0.6") == [bad]
    # the template's shares of the real arm's gain: the low end without its percent sign
    assert outside_interval("inpaint 66% (50–88%), augment 20%.") == []
    assert outside_interval("inpaint 46% (50–88%), augment 20%.") == ["46% (50–88%)"]
    # prose ranges that are no interval: "(ch. 17–18)"
    assert outside_interval("Machine Learning Yearning (ch. 17–18), the dev split") == []


def test_a_uses_dice_outside_its_range_is_reported() -> None:
    good = dice_cell(pd.Series({"dice": 0.812, "low": 0.700, "high": 0.900}))
    bad = dice_cell(pd.Series({"dice": 0.650, "low": 0.700, "high": 0.900}))
    assert good == "0.812 (0.700–0.900)"
    assert outside_interval(good) == [] and outside_interval(bad) == [bad]
