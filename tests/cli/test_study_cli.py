"""`medgen study` through the command line: bad options, and the tiny study end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from browser_support import HAVE_CHROMIUM, chromium, report_problems
from cli_support import run_cli as medgen
from medgen.models.diffusion import DiffusionConfig
from medgen.tasks.anomaly_split import PRIOR_LEVELS


@pytest.mark.parametrize(
    ("option", "what"), [(["--profile", "bogus"], "--profile"), (["--force", "nope"], "--force")]
)
def test_bad_option_is_one_line_and_exit_2(tmp_path: Path, option: list[str], what: str) -> None:
    result = medgen("study", "--out", tmp_path / "study", *option)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert what in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "study").exists()


def test_help_shows_defaults_and_an_example() -> None:
    result = medgen("study", "--help")
    assert result.returncode == 0
    assert "Example: medgen study" in result.stdout and "standard" in result.stdout


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A tiny study run once through the CLI: its folder and what it printed."""
    out = tmp_path_factory.mktemp("tiny_study") / "study"
    first = medgen("study", "--profile", "tiny", "--out", out, "--workers", "1")
    assert first.returncode == 0, first.stderr
    return out, first.stdout


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium and chromium-driver")
def test_tiny_study_report_reads_cleanly_in_chromium(
    tiny_study: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = tiny_study
    with chromium(tmp_path / "profile") as driver:
        assert report_problems(driver, out / "report.html") == []


@pytest.mark.slow
def test_tiny_study_end_to_end(tiny_study: tuple[Path, str]) -> None:
    out, printed = tiny_study
    chapters = ["data", "lab", "models", "compare", "tasks", "uses", "errors"]
    for i, chapter in enumerate(chapters, start=1):
        assert f"[{i}/{len(chapters)}] {chapter}: running" in printed
    assert f"report: {out / 'report.html'}" in printed
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "1. The data" in text and "2. The lab" in text and "3. The models" in text
    assert "4. Diffusion, GAN and VAE compared" in text and "Mode collapse on 2-D" in text
    record = json.loads((out / "chapters" / "compare" / "compare" / "metrics.json").read_text())
    assert [r["run"] for r in record["runs"]] == ["vae", "diffusion", "gan"]
    assert "5. Diffusion at work" in text and "7. The detector and its errors" in text
    # the tiny profile segments at N = 5, which carries no target: no empty list of targets
    assert "No N measured here carries a target." in text and "white matter:\n." not in text
    assert "6. Diffusion where labels are few" in text and "Dice per class" in text
    assert "Registration without labels" in text and "ants_syn" in text
    assert "Error analysis by parts" in text
    assert (out / "chapters" / "errors" / "project" / "errors.sqlite").is_file()
    assert "The remedy: more brainstem tumours" in text
    remedy = json.loads((out / "chapters" / "errors" / "remedy" / "remedy.json").read_text())
    assert {row["arm"] for row in remedy["rows"]} >= {"baseline", "real"}
    models = out / "chapters" / "models" / "runs"
    for family in ("vae", "diffusion", "gan"):
        assert (models / family / "model" / "model.safetensors").is_file()
    task_runs = out / "chapters" / "tasks" / "runs"
    edm = {"p_mean": DiffusionConfig().p_mean, "p_std": DiffusionConfig().p_std}
    for run, levels in (("diffusion_healthy", PRIOR_LEVELS), ("diffusion", edm)):
        config = json.loads((task_runs / run / "config.json").read_text())["model"]
        assert levels.items() <= config.items()  # the anomaly prior trains where it is queried
    sources = re.findall(r'src="([^"]+)"', text)
    assert sources and all((out / src).is_file() for src in sources)
    links = [h for h in re.findall(r'href="([^"]+)"', text) if not h.startswith("#")]
    assert links and [h for h in links if not (out / h).exists()] == []
    cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", text)
    shown_badly = re.compile(r"(?i:\b(nan|inf)\b)|\bNone\b|\de\+\d")  # e.g. 5e+03
    assert [c for c in cells if shown_badly.search(c)] == []
    for head, body in re.findall(r"<thead>(.*?)</thead>\s*<tbody>(.*?)</tbody>", text, re.DOTALL):
        assert "_" not in "".join(re.findall(r"<th[^>]*>([^<]*)</th>", head))
        assert re.findall(r"<th[^>]*>([^<]*)</th>", body)[:2] != ["0", "1"]  # no row numbers
    compare = out / "chapters" / "compare" / "compare"
    assert (compare / record["features_at"] / "extractor.json").is_file()
    again = medgen("study", "--profile", "tiny", "--out", out)
    assert again.returncode == 0, again.stderr
    assert "reusing it" in again.stdout
