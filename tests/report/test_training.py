"""Loss curves of trained runs: one line and one legend entry per distinct loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from medgen.report import training
from medgen.report.training import loss_series


def gan_records(n: int = 4) -> list[dict]:
    """metrics.jsonl records as the GAN trainer logs them: each total under two names."""
    return [
        {
            "images": 32 * (i + 1),
            "metrics": {
                "d.d_loss": 1.0 / (i + 1),
                "d.loss": 1.0 / (i + 1),
                "d.d_real": 3.0,
                "g.g_loss": 2.0 + i,
                "g.loss": 2.0 + i,
            },
        }
        for i in range(n)
    ]


def test_a_loss_logged_under_two_names_is_one_line() -> None:
    series = loss_series(gan_records())
    assert list(series) == ["d.d_loss", "g.g_loss"]
    assert series["g.g_loss"] == ([32, 64, 96, 128], [2.0, 3.0, 4.0, 5.0])


def test_distinct_losses_all_stay() -> None:
    records = [{"images": 8, "metrics": {"loss": 1.0, "kl_loss": 0.2, "recon_loss": 0.8}}]
    assert list(loss_series(records)) == ["kl_loss", "loss", "recon_loss"]


def test_the_gan_panel_has_one_legend_entry_per_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "gan"
    run.mkdir()
    lines = [json.dumps(r) for r in gan_records()]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n{half", encoding="utf-8")
    drawn: list[Figure] = []

    def keep(fig: Figure, out: Path) -> Path:
        drawn.append(fig)
        return out

    monkeypatch.setattr(training, "save_figure", keep)
    training.loss_curves({"gan": run}, tmp_path / "losses.png")
    (ax,) = drawn[0].axes
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["d.d_loss", "g.g_loss"]
    assert len(ax.get_lines()) == 2
