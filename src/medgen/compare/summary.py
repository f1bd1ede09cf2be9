"""The comparison table as people read it, and the sentences that say what it shows.

The sentences that read an interval (each ranking with a rival, each published finding the runs
can test) read it at one Bonferroni level over all of them (`medgen.compare.familywise`), so
that the chance that any of one summary's verdicts is false stays near 5% when nothing differs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from medgen.compare.familywise import ONE_CLAIM, ClaimLevel
from medgen.compare.metrics import CENTRES
from medgen.evaluate import Estimate, half_sample_interval
from medgen.evaluate.features import recall_key
from medgen.report.tables import mean_std

RECALL_READS = (
    "recall (real variety covered; it sees dropped tumour types, collapse and lost lesions, "
    "not a dropped location)"
)
FLOOR = "real (dev split)"  # the row that scores unseen real slices as if they were samples
WITH_INTERVALS = ("fd", "precision", "recall", "density", "coverage")
CONDITION_INTERVALS = ("fd", "precision", "recall", "coverage")  # per-condition rows
# What the degradation suite (benchmarks/metric_sanity.py) found: in this feature space,
# precision stays near 1 when every slice is replaced by noise blobs (a few wide real neighbour
# balls hold most of them, Naeem et al. 2020's outlier case) and does not fall under blur, and
# density rises under light blur. So they are shown, and no sentence reads them.
PRECISION_NOT_READ = (
    "Precision and density are shown but no sentence reads them: in this feature space "
    "precision does not fall when slices are blurred or replaced by noise blobs, and density "
    "rises under light blur (benchmarks/metric_sanity.py), so a high value does not show that "
    "samples look real."
)
Row = Mapping[str, Any]  # one run's measured numbers (`medgen.compare.metrics.quality_row`)
COPY_WARNING = 2.0  # fraction_closer above this many times the quantile suggests copying
RANKED = (  # the ranking sentences, in order: metric, whether high is better, what it reads
    ("fd", False, "Fréchet distance (closest to the real slices)"),
    # recall passes the degradation suite for dropped types, collapse and lost lesions, not for
    # a dropped location (benchmarks/results/metric_sanity.txt), so it claims only those
    ("recall", True, RECALL_READS),
    ("coverage", True, "coverage"),
)


def with_interval(row: Mapping[str, Any], name: str, digits: int = 3) -> str:
    """ "value [low, high]" for a metric with an interval."""
    value, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def display_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One line per run (and the floor): metrics with intervals, memorisation, costs."""
    lines = []
    for row in rows:
        line: dict[str, Any] = {"run": row["run"], "model": row["model"]}
        for name in WITH_INTERVALS:
            line[name.upper() if name == "fd" else name] = with_interval(row, name)
        line["KID x1000"] = mean_std(1000 * row["kid"], 1000 * row["kid_std"], 1)
        if "sharpness" in row:
            line["sharpness vs real"] = with_interval(row, "sharpness")
        line["memorisation ratio"] = row["memorisation_ratio"]
        line["closer than 5% of real"] = f"{100 * row['fraction_closer']:.1f}%"
        for name in ("parameters", "images_seen", "train_seconds", "ms_per_image", "nfe"):
            value = row.get(name)
            line[name.replace("_", " ")] = (
                "–" if value is None or (isinstance(value, float) and math.isnan(value)) else value
            )
        lines.append(line)
    return pd.DataFrame(lines).set_index("run")


COST_COLUMNS = (
    "memorisation ratio",
    "closer than 5% of real",
    "parameters",
    "images seen",
    "train seconds",
    "ms per image",
    "nfe",
)


def quality_and_cost(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`display_table`'s columns as two tables a page can hold side by side with the text:
    quality and diversity (with intervals), then memorisation and cost, each led by the model."""
    cost = [c for c in table.columns if c in COST_COLUMNS]
    quality = [c for c in table.columns if c not in COST_COLUMNS]
    return table[quality], table[["model", *cost]]


def best(rows: Sequence[Mapping[str, Any]], metric: str, high: bool) -> Mapping[str, Any]:
    """The run with the highest (or lowest) value of `metric`."""
    return (max if high else min)(rows, key=lambda r: r[metric])


def difference(a: Row, b: Row, metric: str, level: float = ONE_CLAIM.each) -> Estimate:
    """a[metric] - b[metric] with its `level` interval from paired half-sample replicates.

    Both rows are measured against one real set with one seed, so replicate i of each uses
    the same real half: the pairing cancels the real set's share of the noise.
    """
    halves_a = torch.tensor(a["half_samples"][metric], dtype=torch.float64)
    halves_b = torch.tensor(b["half_samples"][metric], dtype=torch.float64)
    return half_sample_interval(a[metric] - b[metric], halves_a - halves_b, CENTRES[metric], level)


def clearly_ahead(
    winner: Row, rival: Row, metric: str, high: bool, level: float = ONE_CLAIM.each
) -> bool:
    """Whether the `level` interval of winner - rival on `metric` excludes zero on the winner's
    side."""
    gap = difference(winner, rival, metric, level)
    return gap.low > 0 if high else gap.high < 0


def ranking_sentence(
    rows: Sequence[Row], metric: str, high: bool, what: str, level: ClaimLevel = ONE_CLAIM
) -> str:
    """Which run wins on `metric`, and whether the `level` interval of each lead excludes zero
    (every lead must: an intersection-union test, Berger 1982)."""
    winner = best(rows, metric, high)
    rivals = [r for r in rows if r is not winner]
    word = "highest" if high else "lowest"
    sentence = f"{winner['run']} ({winner['model']}) has the {word} {what}, {winner[metric]:.3g}"
    if not rivals:
        return sentence + "."
    tied = [r["run"] for r in rivals if not clearly_ahead(winner, r, metric, high, level.each)]
    if tied:
        return (
            sentence + f"; the {level.interval} of its lead over {', '.join(tied)} includes "
            "zero, so that lead is not clear."
        )
    return (
        sentence + f", clear of every other run: the {level.interval} of each lead excludes zero."
    )


def recall_rivals(rows: Sequence[Row]) -> tuple[Row, Row] | None:
    """The diffusion and the GAN run with the highest recall, or None without both."""
    diffusion = [r for r in rows if r["family"] == "diffusion"]
    gans = [r for r in rows if r["family"] == "gan"]
    if not diffusion or not gans:
        return None
    return best(diffusion, "recall", True), best(gans, "recall", True)


def recall_claim(rows: Sequence[Row], level: ClaimLevel = ONE_CLAIM) -> str | None:
    """Medfusion's finding (diffusion's recall far above a GAN's), tested on these runs by the
    `level` interval of the difference, or None without both a diffusion and a GAN run.
    Medfusion also found equal or better precision; that half is not tested
    (`PRECISION_NOT_READ`)."""
    rivals = recall_rivals(rows)
    if rivals is None:
        return None
    d, g = rivals
    if clearly_ahead(d, g, "recall", True, level.each):
        verdict = f"confirm it, the {level.interval} of the difference lying above zero"
    else:
        verdict = f"do not confirm it, the {level.interval} of the difference not above zero"
    return (
        f"Medfusion (Müller-Franzes et al. 2023) found diffusion's recall far above GANs'; "
        f"these runs {verdict}: recall {d['recall']:.2f} ({d['run']}) vs {g['recall']:.2f} "
        f"({g['run']})."
    )


def sharpness_gap(a: Row, b: Row, level: ClaimLevel = ONE_CLAIM) -> Estimate:
    """a's relative sharpness minus b's with its `level` interval: a two-sample (Welch, normal)
    comparison of their images' mean sharpness, both relative to the same real slices, whose
    own noise is shared and cancels. Rows without a standard error get no interval (NaN)."""
    gap = a["sharpness"] - b["sharpness"]
    spread = level.z * math.hypot(a.get("sharpness_se", math.nan), b.get("sharpness_se", math.nan))
    return Estimate(gap, gap - spread, gap + spread, 0)  # 0: not from half-samples


def sharpness_rivals(rows: Sequence[Row]) -> tuple[Row, list[Row]] | None:
    """The sharpest VAE (the blur claim's hardest case) and every other run with a measured
    sharpness, or None without both."""
    measured = [r for r in rows if math.isfinite(r.get("sharpness", math.nan))]
    vaes = [r for r in measured if r["family"] == "vae"]
    others = [r for r in measured if r["family"] != "vae"]
    if not vaes or not others:
        return None
    return max(vaes, key=lambda r: r["sharpness"]), others


def sharpness_claim(rows: Sequence[Row], level: ClaimLevel = ONE_CLAIM) -> str | None:
    """The common finding that a VAE's samples are blurrier than a GAN's or a diffusion
    model's, tested by the `level` interval of the difference to every other run; None without
    a VAE and another run."""
    rivals = sharpness_rivals(rows)
    if rivals is None:
        return None
    vae, others = rivals
    gaps = [sharpness_gap(vae, o, level) for o in others]
    if all(g.high < 0 for g in gaps):
        verdict = (
            f"confirm it: it is blurrier than every other run, the {level.interval} of each "
            "difference below zero"
        )
    elif any(g.low > 0 for g in gaps):
        verdict = (
            f"contradict it: it is sharper than another run, the {level.interval} of that "
            "difference above zero"
        )
    else:
        verdict = f"leave it unclear: the {level.interval} of a difference includes zero"
    rest = ", ".join(f"{o['sharpness']:.2f} ({o['run']})" for o in others)
    return (
        f"VAEs are known for blurrier samples than GANs and diffusion models; these runs "
        f"{verdict}. Sharpness relative to real slices: {vae['sharpness']:.2f} ({vae['run']}) "
        f"vs {rest}."
    )


# What a feature space must score on unseen dev slices before a distance in it can speak for
# that attribute of the lesions: presence by AUROC, type and location by accuracy.
FEATURE_TARGETS = {
    "tumour presence AUROC": ("tumour presence", 0.95),
    "tumour_type accuracy": ("tumour type", 0.85),
    "location accuracy": ("tumour location", 0.80),
}
# The recall each class of a head must reach on dev, the head's own accuracy target: an accuracy
# above it can hide a rare class the head misses, whose per-condition rows then measure nothing.
CLASS_TARGETS = {"location": FEATURE_TARGETS["location accuracy"][1]}


def blind_classes(scores: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per head of CLASS_TARGETS, the classes whose dev recall ("location recall brainstem") is
    below the head's target, with that recall; a class without a recorded recall is not listed."""
    blind: dict[str, dict[str, float]] = {}
    for head, target in CLASS_TARGETS.items():
        prefix = recall_key(head, "")
        found = {
            key.removeprefix(prefix): score
            for key, score in scores.items()
            if key.startswith(prefix) and math.isfinite(score) and score < target
        }
        if found:
            blind[head] = found
    return blind


def is_blind(condition: Mapping[str, str], blind: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether a condition ({"tumour_type": "benign", "location": "brainstem"}) names a class
    the feature space is blind to (`blind_classes`)."""
    return any(value in blind.get(name, {}) for name, value in condition.items())


def location_seen(score: float, target: float, scores: Mapping[str, float]) -> str:
    """ "tumour location (...)" as the "sees" sentence words it: the locations it is blind to are
    excepted, and a location accuracy without per-location recalls says they were not scored."""
    blind = blind_classes(scores).get("location", {})
    shown = f"{score:.2f} ≥ {target:.2f}"
    if blind:
        return f"tumour location except {', '.join(blind)} ({shown} overall)"
    if not any(key.startswith(recall_key("location", "")) for key in scores):
        return f"tumour location ({shown}; not scored per location)"
    return f"tumour location ({shown}, and each location ≥ {target:.2f})"


def blind_class_sentences(scores: Mapping[str, float]) -> list[str]:
    """One sentence per tumour location whose dev recall is below the location target."""
    target = CLASS_TARGETS["location"]
    return [
        f"The feature space is blind to {value} tumours (it places {100 * recall:.0f}% of them "
        f"on dev, below {100 * target:.0f}%): no distance here shows whether a model gets them "
        f"right, and the per-condition rows for {value} (marked blind) are not read."
        for value, recall in blind_classes(scores).get("location", {}).items()
    ]


def feature_space_sentences(scores: Mapping[str, float]) -> list[str]:
    """What the feature space sees and what it is blind to, from its dev scores against
    FEATURE_TARGETS and each location's recall against CLASS_TARGETS; an attribute it was not
    scored on is said to be unknown, never seen."""
    seen, blind, unknown = [], [], []
    for key, (what, target) in FEATURE_TARGETS.items():
        score = scores.get(key)
        if score is None or not math.isfinite(score):
            unknown.append(what)
        elif score >= target and key == "location accuracy":
            seen.append(location_seen(score, target, scores))
        elif score >= target:
            seen.append(f"{what} ({score:.2f} ≥ {target:.2f})")
        else:
            blind.append(f"{what} ({score:.2f} < {target:.2f})")
    sentences = []
    if seen:
        sentences.append(f"The feature space sees {', '.join(seen)} on unseen dev slices.")
    if blind:
        sentences.append(
            f"It is blind to {', '.join(blind)}: these distances cannot show whether a model "
            "gets that right, and no sentence here reads them for it."
        )
    sentences += blind_class_sentences(scores)
    if unknown:
        sentences.append(
            f"It was not scored on {', '.join(unknown)}, so what it sees there is unknown."
        )
    return sentences


def condition_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The per-condition rows as people read them: FD, precision, recall and coverage with
    their intervals and KID as mean ± std over subsets (as in `display_table`), and a
    "feature space" column that marks a condition it is blind to."""
    lines = []
    for row in rows:
        line: dict[str, Any] = {"run": row["run"], "condition": row["condition"]}
        line |= {"real slices": row["real slices"], "samples": row["samples"]}
        for name in CONDITION_INTERVALS:
            line[name.upper() if name == "fd" else name] = with_interval(row, name)
        line["KID x1000"] = mean_std(row["KID x1000"], row["KID x1000 std"], 1)
        line["feature space"] = "blind" if row["blind"] else "sees"
        lines.append(line)
    return pd.DataFrame(lines).set_index(["run", "condition"])


def claim_count(rows: Sequence[Row]) -> int:
    """How many of `claim_sentences` read an interval: each ranking, when there is a rival,
    and each published finding these runs can test."""
    rankings = len(RANKED) if len(rows) > 1 else 0
    return rankings + (recall_rivals(rows) is not None) + (sharpness_rivals(rows) is not None)


def claim_sentences(rows: Sequence[Row], level: ClaimLevel | None = None) -> list[str]:
    """The ranking sentences and the published findings tested on these (one or more) runs,
    every interval read at `level`: by default Bonferroni's over the claims made
    (`claim_count`), so that they hold together at FAMILY_LEVEL."""
    if level is None:
        level = ClaimLevel(max(claim_count(rows), 1))
    sentences = [ranking_sentence(rows, *ranked, level) for ranked in RANKED]
    findings = (recall_claim(rows, level), sharpness_claim(rows, level))
    return sentences + [claim for claim in findings if claim]


def summary_sentences(
    rows: Sequence[Mapping[str, Any]], floor: Mapping[str, Any] | None
) -> list[str]:
    """What the numbers show, in sentences computed from them (nothing is written by hand)."""
    if not rows:
        return []
    sentences = [*claim_sentences(rows), PRECISION_NOT_READ]
    if floor is not None:
        sentences.append(
            f"Unseen real slices score FD {floor['fd']:.3g} and recall {floor['recall']:.2f} "
            f"with the same sample counts: the best a model can do here."
        )
    for row in rows:
        if row["fraction_closer"] > COPY_WARNING * 0.05:
            sentences.append(
                f"{row['run']}: {100 * row['fraction_closer']:.0f}% of its samples lie nearer the "
                f"training set than 95% of unseen real slices do; look for copied training images."
            )
    fastest = min(rows, key=lambda r: r["ms_per_image"])
    sentences.append(
        f"{fastest['run']} samples fastest ({fastest['ms_per_image']:.3g} ms per image, "
        f"{fastest['nfe']} network evaluations)."
    )
    return sentences
