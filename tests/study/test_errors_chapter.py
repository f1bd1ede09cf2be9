"""The errors chapter says what its tables say, also when the expected story is false."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from medgen.detect.predictions import Predictions
from medgen.errors.findings import remedy_fixes, top_location
from medgen.report.html import render_template
from medgen.study.chapters.errors import ARM_TEXT, brainstem_gap, remedy_figures


def predictions(rows: list[tuple[str, str, str]]) -> Predictions:
    """Stand-in predictions: (truth, prediction, location) per slice."""
    table = pd.DataFrame(rows, columns=["truth", "prediction", "location"])
    return SimpleNamespace(table=table)  # type: ignore[return-value]


def render(shares: dict | None = None, **findings: object) -> str:
    context = {
        "seconds": 60.0,
        "accuracy": "",
        "eyeball": 500,
        "blackbox": 4500,
        "eyeball_errors": 100,
        "evaluation": SimpleNamespace(model_version="m", eyeball_error=0.2, blackbox_error=0.2),
        "tally": "",
        "parts": "",
        "ceiling": "",
        "n_errors": 100,
        "remedy": "",
        "remedy_n": 400,
        "arms": ["baseline", "real", "augment"],
        "ARM_TEXT": ARM_TEXT,
        "shares": shares or {},
        "recovered": None,
        "generators": None,
        "prevalence": {"dev": 0.15, "test": 0.15, "train": 0.01},
    }
    return render_template("errors_chapter.html", **(context | findings))


def test_a_study_where_brainstem_is_not_the_problem_says_so() -> None:
    # frontal tumours fail, brainstem ones do not; more brainstem data then changes nothing
    rows = [("benign", "none", "frontal")] * 40 + [("benign", "benign", "frontal")] * 10
    rows += [("malignant", "malignant", "brainstem")] * 18 + [
        ("malignant", "none", "brainstem")
    ] * 2
    gap = brainstem_gap(predictions(rows))
    tally = pd.DataFrame({"category": ["location=frontal", "location=brainstem"], "count": [40, 2]})
    top = top_location(tally, 42, "brainstem")
    remedy = pd.DataFrame(
        [
            {
                "arm": a,
                "set": "test",
                "scope": "slice",
                "error": e,
                "low": e - 0.05,
                "high": e + 0.05,
                "n": 20,
                "added": n,
            }
            for a, e, n in (("baseline", 0.1, 0), ("real", 0.12, 400))
        ]
    )
    fixes = remedy_fixes(remedy, "brainstem")
    assert (gap.verdict, top.verdict, fixes.verdict) == ("contradicted",) * 3
    html = render(gap=gap, top=top, fixes=fixes, bottleneck=gap)
    assert "does not fail more on brainstem tumours" in html
    assert "does not put brainstem tumours at the top" in html
    assert "More data for the slice does not fix it" in html
    assert "puts brainstem tumours at the top" not in html.replace("does not put", "")
    assert "15% of the tumour slices in dev, 15% of the tumour slices in test, 1%" in html


def test_a_study_where_the_story_holds_says_it_clearly() -> None:
    rows = [("benign", "benign", "frontal")] * 90 + [("benign", "none", "frontal")] * 10
    rows += [("malignant", "none", "brainstem")] * 18 + [
        ("malignant", "malignant", "brainstem")
    ] * 2
    gap = brainstem_gap(predictions(rows))
    assert gap.verdict == "clear" and "9.0× as often on brainstem" in gap.sentence


def test_each_arms_share_of_the_real_gain_comes_with_its_interval() -> None:
    rows = [("benign", "none", "brainstem")] * 9 + [("benign", "benign", "frontal")] * 9
    finding = brainstem_gap(predictions(rows))
    shares = {
        "real": {"share": 1.0, "low": 1.0, "high": 1.0},
        "inpaint": {"share": 0.66, "low": 0.5, "high": 0.88},
        "augment": {"share": 0.2, "low": float("nan"), "high": float("nan")},
    }
    from markupsafe import escape

    from medgen.errors.findings import arm_recovers

    recovered = arm_recovers(shares["inpaint"], "inpaint", "brainstem")
    html = render(
        shares=shares,
        gap=finding,
        top=finding,
        fixes=finding,
        bottleneck=finding,
        recovered=recovered,
    )
    assert "inpaint 66% (50–88%)" in html and "augment 20%," not in html
    assert recovered.verdict == "clear" and str(escape(recovered.sentence)) in html
    assert "augment 20%." in html  # no interval where the real arm's gain is not clear


def test_the_by_parts_table_reads_plainly() -> None:
    from medgen.study.chapters.errors import parts_shown

    nan = float("nan")
    table = pd.DataFrame(
        {
            "part": ["preprocess", "extract", "classify"],
            "errors": [2, 4, 7],
            "wrong_type": [0, 0, 2],
            "share": [nan, 0.308, 0.538],
            "share_low": [nan, 0.127, 0.291],
            "share_high": [nan, 0.576, 0.768],
            "accuracy_if_perfect_up_to": [0.35, 0.5, nan],
            "verdict": ["no gain: a perfect preprocess takes accuracy from 0.350 to 0.350", "", ""],
        }
    )
    shown = parts_shown(table)
    assert list(shown["share of errors (95% CI)"]) == [
        "no gain: a perfect preprocess takes accuracy from 0.350 to 0.350",
        "31% (13%–58%)",
        "54% (29%–77%)",
    ]


def test_the_remedys_added_examples_are_the_chapters_figure(tmp_path: Path) -> None:
    remedy = tmp_path / "remedy"
    remedy.mkdir()
    assert remedy_figures(remedy) == []  # no slice tumours in training: no picture
    (remedy / "added.png").write_bytes(b"png")
    rows = ["the slice's training tumours", "real arm", "augment arm"]
    pd.DataFrame({"examples": rows, "n": [3, 400, 400]}).to_csv(remedy / "added.csv", index=False)
    (figure,) = remedy_figures(remedy)
    assert figure.path == "remedy/added.png"
    assert "the slice's training tumours; real arm; augment arm" in figure.caption


def test_the_remedy_runs_the_baseline_and_the_diffusion_arm_only_with_its_generator() -> None:
    from medgen.errors.remedy import ARMS
    from medgen.study.chapters.errors import study_arms

    assert study_arms(False, {"diffusion"}) == ["baseline", "real", "inpaint", "augment"]
    assert study_arms(False, set()) == ["baseline", "real", "augment"]
    assert study_arms(True, set()) == list(ARMS)


def test_the_remedys_arms_train_a_core_each_only_on_a_cpu_with_cores_to_spare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from medgen.study.chapters import errors

    monkeypatch.setattr(errors, "default_device", lambda: torch.device("cpu"))
    assert errors.remedy_workers(2, 3) == (2, 1)  # the standard study on this machine
    assert errors.remedy_workers(16, 3) == (3, 5)
    assert errors.remedy_workers(1, 3) == (1, None)  # one core: in turn, its threads
    assert errors.remedy_workers(8, 1) == (1, None)  # one detector: nothing to overlap
    monkeypatch.setattr(errors, "default_device", lambda: torch.device("cuda"))
    assert errors.remedy_workers(16, 3) == (1, None)  # a GPU trains them in turn
