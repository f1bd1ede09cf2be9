"""Chapter 2, the lab: the exact-mixture experiments (score, why noise, score matching)."""

from __future__ import annotations

import pandas as pd

from medgen.lab import run_experiment
from medgen.report.html import FigureRef, render_template, table_html
from medgen.study.context import ChapterResult, StudyContext

SCALARS = {  # the score-matching experiment's numbers, as the table names them
    "difference_mean": "J_naive - J_dsm, mean over checkpoints",
    "difference_spread": "J_naive - J_dsm, max - min",
    "difference_typical_se": "J_naive - J_dsm, median standard error",
    "grad_cosine_min": "lowest cosine of the two gradients",
    "grad_relative_error_max": "largest relative gradient error",
    "check_samples": "samples per check",
    "training_steps": "training steps per objective",
}


def numbers_table(name: str, numbers: dict) -> str:
    """The experiment's headline numbers as an HTML table."""
    if name == "score":
        return table_html(pd.DataFrame(numbers["per_t"]).set_index("t"))
    if name == "why-noise":
        return table_html(pd.DataFrame(numbers["rows"]).set_index(["data", "method"]))
    scalars = {SCALARS.get(k, k): v for k, v in numbers.items() if isinstance(v, int | float)}
    scalars.update(
        {
            f"final J_naive, trained on J_{k}": v
            for k, v in numbers["final_score_error_j_naive"].items()
        }
    )
    return table_html(pd.DataFrame({"value": scalars}), float_format="{:.4g}")


# The exact-mixture experiments; the lab's mode-collapse benchmark belongs to the comparison.
LAB_EXPERIMENTS = ("score", "why-noise", "score-matching")


def lab_chapter(ctx: StudyContext) -> ChapterResult:
    """Run the three lab experiments at the profile's scale; their summaries, numbers, figures."""
    sections, figures, outputs = [], [], {}
    for name in LAB_EXPERIMENTS:
        ctx.log(f"experiment {name}")
        result = run_experiment(
            name, ctx.workdir / name, seed=ctx.profile.seed, scale=ctx.profile.lab_scale
        )
        sections.append(
            {
                "title": result.title,
                "summary": result.summary,
                "table": numbers_table(name, result.numbers),
                "numbers": f"{name}/numbers.json",
            }
        )
        figures += [FigureRef(f"{name}/{f.path}", f.caption) for f in result.figures]
        outputs[name] = f"{name}/numbers.json"
    body = render_template("lab_chapter.html", sections=sections)
    summary = f"{len(LAB_EXPERIMENTS)} experiments at scale {ctx.profile.lab_scale:g}"
    title = "The lab: diffusion on exact mixtures"
    return ChapterResult(title, body, figures, outputs, summary)
