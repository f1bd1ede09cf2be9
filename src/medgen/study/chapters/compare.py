"""Chapter 4, the comparison: the models chapter's runs measured in one feature space, with the
2-D mode-collapse benchmark beside them (`medgen compare` on the study's runs)."""

from __future__ import annotations

from dataclasses import replace

from medgen.compare import CompareSettings, compare_runs, comparison_html
from medgen.compare.metrics import MetricSettings
from medgen.evaluate.features import FeatureConfig, train_extractor
from medgen.lab.mode_collapse import mode_collapse_rows, summarise
from medgen.report.html import FigureRef
from medgen.report.tables import mode_collapse_shown
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.references import provenance_html, reference_run


def compare_chapter(ctx: StudyContext) -> ChapterResult:
    """Train the feature extractor, compare the three runs, run the mode-collapse benchmark."""
    p = ctx.profile
    data = ctx.out / ctx.upstream["data"]["dataset"]
    models = ctx.out / "chapters" / "models"
    runs = [models / path for path in ctx.upstream["models"].values()]
    shipped = reference_run(ctx, "features")
    if shipped is None:
        ctx.log(f"training the feature extractor ({p.feature_steps} steps)")
        features = ctx.workdir / "features"
        train_extractor(data, features, FeatureConfig(steps=p.feature_steps, seed=p.seed))
    else:
        features = shipped
    ctx.log(
        f"mode-collapse benchmark: {p.mode_collapse_seeds} seeds, scale {p.mode_collapse_scale:g}"
    )
    seeds = range(p.mode_collapse_seeds)
    modes = summarise(mode_collapse_rows(seeds, scale=p.mode_collapse_scale))
    settings = CompareSettings(
        n=p.compare_samples,
        n_real=p.compare_samples,
        n_train=2 * p.compare_samples,
        per_condition=min(CompareSettings().per_condition, p.compare_samples),
        seed=p.seed,
        metrics=replace(MetricSettings(), seed=p.seed),
    )
    result = compare_runs(
        runs,
        data,
        ctx.workdir / "compare",
        features=features,
        settings=settings,
        mode_collapse=modes,
        log=ctx.log,
    )
    body = comparison_html(result, settings, mode_collapse_shown(modes))
    where = (
        "<code>features/</code>"
        if shipped is None  # the shipped one is named, not its path inside this installation
        else "the shipped reference <code>features</code> (<code>medgen reference show "
        "features</code>)"
    )
    body += (
        '<p class="note">Everything here, as files: <a href="compare/metrics.json">metrics.json'
        '</a>, <a href="compare/metrics.csv">metrics.csv</a>, and the feature extractor in '
        f"{where}. Re-run with <code>medgen compare RUN... --data DIR --features "
        "FEATURES --out DIR</code>.</p>"
    )
    references = [run.name for run in runs if (run / "provenance.json").is_file()]
    if references:
        body += (
            f"<p>The runs compared are the models chapter's; {', '.join(references)} "
            f"{'is a' if len(references) == 1 else 'are'} shipped reference "
            f"model{'' if len(references) == 1 else 's'} (provenance in that chapter), "
            "sampled and measured here.</p>"
        )
    body += provenance_html({} if shipped is None else {"feature extractor": "features"})
    figures = [FigureRef("compare/samples.png", "Real test slices beside each run's samples.")]
    outputs = {
        "features": "features" if shipped is None else str(shipped),
        "metrics": "compare/metrics.json",
    }
    best = min(result.rows, key=lambda r: r["fd"])
    summary = f"lowest FD: {best['run']} ({best['fd']:.3g}); feature space {result.features}"
    return ChapterResult("Diffusion, GAN and VAE compared", body, figures, outputs, summary)
