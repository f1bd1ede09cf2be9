"""A degradation suite for sample-quality metrics: does each metric move as it claims when real
slices are damaged by a known amount?

Real unseen slices play the generated set and real slices of another split the reference; each
damage of `medgen.evaluate.damage` is applied at increasing strengths, and every metric is
measured on every damaged set. `CLAIMS` says which damages each metric must see and in which
direction (+1: the metric rises with the damage, -1: it falls). The memorisation check uses
the reference as its held-out yardstick; a per-condition FD is the mean, over the values of one
meta column (tumour type, or location with "none" among them), of the FD between the generated
rows meant to have that value and the reference rows that have it.

The rule a claimed (metric, damage) cell must pass, with values v_0 (undamaged), v_1 .. v_S
(increasing strengths) measured on the full sets and the same metric on `halves` paired
half-samples (half of the reference rows and half of the generated rows without replacement,
the same rows for every strength, so damage-free noise cancels in differences): with d the
claimed direction and sd the standard deviation over the half-samples of a paired difference,
- the whole range moves the claimed way: d (v_S - v_0) > z sd(v_S - v_0), and
- no step moves against it: d (v_s - v_{s-1}) >= -z sd(v_s - v_{s-1}) for every s,
with z = 2. A half-sample drawn without replacement varies about the full-sample value about as
much as the full-sample value varies about its target (medgen.evaluate.halfsample), so sd
estimates the noise of a full-sample difference.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medgen.evaluate.damage import DAMAGES, STRENGTHS, Context, Slices
from medgen.evaluate.frechet import frechet_distance, kernel_inception_distance
from medgen.evaluate.memorisation import memorisation
from medgen.evaluate.prdc import prdc
from medgen.evaluate.sharpness import image_sharpness, relative_sharpness
from medgen.exceptions import SettingError
from medgen.validate import one_of, positive, random_seed, whole

UP, DOWN = 1, -1
CONDITIONS = ("tumour_type", "location")  # the meta columns per-condition metrics group by
PIXEL = ("blur", "noise", "blobs", "brain blobs")  # damages that move slices off the real manifold
MODES = ("drop type", "collapse", "no lesions")  # damages that empty a large part of the real set
DISTRIBUTION = PIXEL + MODES
# What each metric must see, and which way it moves. What is left out, and the measurements
# behind it, are in benchmarks/results/metric_sanity_notes.md: FD and KID under copying (training
# slices are real slices, so a copied set is a fair sample); precision under every damage, and
# density under blur (a few real slices with wide k-NN balls hold most off-manifold samples, and
# blur draws features into the dense centre of the real set); global metrics under dropping one
# location (about 9% of the slices: within their noise at 500 slices); every metric under
# dropping brainstem slices (the shipped features barely tell them from other slices).
CLAIMS: dict[str, dict[str, int]] = {
    "FD": dict.fromkeys(DISTRIBUTION, UP),
    "KID": dict.fromkeys(DISTRIBUTION, UP),
    "recall": dict.fromkeys(MODES, DOWN),
    "density": dict.fromkeys(("noise", "blobs", "brain blobs"), DOWN),
    "coverage": dict.fromkeys((*PIXEL, *MODES, "drop location"), DOWN),
    "memorisation ratio": {"copy": DOWN},
    "fraction closer": {"copy": UP},
    "FD per type": {"drop type": UP, "no lesions": UP},
    "FD per location": {"drop location": UP, "no lesions": UP},
    "sharpness": {"blur": DOWN, "noise": UP},
}


class Scored(NamedTuple):
    """A set of slices as the metrics see it."""

    features: Tensor  # (N, D)
    sharpness: np.ndarray  # (N,) per-image sharpness (medgen.evaluate.sharpness)
    conditions: pd.DataFrame  # (N, len(CONDITIONS)) the intended condition of each row

    def take(self, rows: np.ndarray) -> Scored:
        """The rows `rows` of the set."""
        conditions = self.conditions.iloc[rows].reset_index(drop=True)
        return Scored(self.features[torch.from_numpy(rows)], self.sharpness[rows], conditions)


def scored(slices: Slices, extractor: Callable[[np.ndarray], Tensor]) -> Scored:
    """Features, sharpness and conditions of `slices`."""
    conditions = slices.meta[list(CONDITIONS)].astype(str).reset_index(drop=True)
    return Scored(extractor(slices.images), image_sharpness(slices.images), conditions)


@dataclass(frozen=True)
class SanitySettings:
    """How the suite measures (recorded beside its tables)."""

    halves: int = 20  # paired half-samples behind each noise estimate
    z: float = 2.0  # standard deviations a move must clear (see the module docstring)
    k: int = 5  # PRDC neighbours
    kid_subsets: int = 20  # KID subsets per measurement (the same rows for every set)
    min_condition: int = 10  # rows a condition needs in both sets to enter a per-condition FD
    seed: int = 0
    damages: tuple[str, ...] = tuple(DAMAGES)
    strengths: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(STRENGTHS))

    def __post_init__(self) -> None:
        whole("halves", self.halves, 2)
        positive("z", self.z)
        whole("k", self.k, 1)
        whole("kid_subsets", self.kid_subsets, 1)
        whole("min_condition", self.min_condition, 2)
        random_seed("seed", self.seed)
        for damage in self.damages:
            one_of("damages", damage, DAMAGES)
            if not self.strengths.get(damage):
                raise SettingError("strengths", f"name at least one strength for {damage!r}")


Group = Callable[[Scored, Scored, Tensor, SanitySettings], dict[str, float]]


def fd_group(fake: Scored, real: Scored, train: Tensor, s: SanitySettings) -> dict[str, float]:
    """Fréchet distance of the features."""
    return {"FD": frechet_distance(real.features, fake.features)}


def kid_group(fake: Scored, real: Scored, train: Tensor, s: SanitySettings) -> dict[str, float]:
    """Kernel inception distance (its mean over subsets)."""
    kid = kernel_inception_distance(real.features, fake.features, subsets=s.kid_subsets)
    return {"KID": kid.mean}


def prdc_group(fake: Scored, real: Scored, train: Tensor, s: SanitySettings) -> dict[str, float]:
    """Precision, recall, density and coverage with k neighbours."""
    k = min(s.k, real.features.shape[0] - 1, fake.features.shape[0] - 1)
    found = prdc(real.features, fake.features, k=k)
    return {
        "precision": found.precision,
        "recall": found.recall,
        "density": found.density,
        "coverage": found.coverage,
    }


def memorisation_group(
    fake: Scored, real: Scored, train: Tensor, s: SanitySettings
) -> dict[str, float]:
    """Memorisation ratio and fraction closer, with the reference as the held-out yardstick."""
    found = memorisation(train, real.features, fake.features)
    return {"memorisation ratio": found.ratio, "fraction closer": found.fraction_closer}


def condition_fd(fake: Scored, real: Scored, column: str, min_rows: int) -> float:
    """Mean over the values of `column` with >= min_rows rows in both sets of the Fréchet
    distance between the two sets' rows of that value (NaN if no value has enough)."""
    distances = []
    for value in sorted(set(real.conditions[column])):
        f = torch.from_numpy(np.flatnonzero(fake.conditions[column].to_numpy() == value))
        r = torch.from_numpy(np.flatnonzero(real.conditions[column].to_numpy() == value))
        if min(f.numel(), r.numel()) >= min_rows:
            distances.append(frechet_distance(real.features[r], fake.features[f]))
    return float(np.mean(distances)) if distances else float("nan")


def type_group(fake: Scored, real: Scored, train: Tensor, s: SanitySettings) -> dict[str, float]:
    """Fréchet distance per tumour type, averaged over the types."""
    return {"FD per type": condition_fd(fake, real, "tumour_type", s.min_condition)}


def location_group(
    fake: Scored, real: Scored, train: Tensor, s: SanitySettings
) -> dict[str, float]:
    """Fréchet distance per tumour location, averaged over the locations."""
    return {"FD per location": condition_fd(fake, real, "location", s.min_condition)}


def sharpness_group(
    fake: Scored, real: Scored, train: Tensor, s: SanitySettings
) -> dict[str, float]:
    """Relative sharpness: mean fake sharpness over mean real sharpness."""
    return {"sharpness": relative_sharpness(fake.sharpness, real.sharpness, n_boot=2).value}


GROUPS: dict[str, tuple[Group, tuple[str, ...]]] = {  # group -> (function, the metrics it gives)
    "fd": (fd_group, ("FD",)),
    "kid": (kid_group, ("KID",)),
    "prdc": (prdc_group, ("precision", "recall", "density", "coverage")),
    "memorisation": (memorisation_group, ("memorisation ratio", "fraction closer")),
    "type": (type_group, ("FD per type",)),
    "location": (location_group, ("FD per location",)),
    "sharpness": (sharpness_group, ("sharpness",)),
}
METRICS = tuple(name for _, names in GROUPS.values() for name in names)


def measure(
    fake: Scored, real: Scored, train: Tensor, settings: SanitySettings, groups: Sequence[str]
) -> dict[str, float]:
    """The metrics of `groups` for one generated set."""
    values: dict[str, float] = {}
    for name in groups:
        values |= GROUPS[name][0](fake, real, train, settings)
    return values


def claimed_groups(damage: str | None) -> list[str]:
    """The groups holding a metric that claims `damage` (None: any damage)."""
    wanted = {m for m, claims in CLAIMS.items() if damage is None or damage in claims}
    return [g for g, (_, names) in GROUPS.items() if wanted & set(names)]


class Replicated(NamedTuple):
    """A set's metrics on the full sets and on each paired half-sample."""

    full: dict[str, float]
    halves: dict[str, np.ndarray]  # metric -> (halves,), only for the claimed metrics


def half_rows(n_real: int, n_fake: int, settings: SanitySettings) -> list[tuple[np.ndarray, ...]]:
    """`halves` pairs (real rows, fake rows), each half of its set drawn without replacement."""
    rng = np.random.default_rng([settings.seed, 1])
    return [
        (
            np.sort(rng.choice(n_real, n_real // 2, replace=False)),
            np.sort(rng.choice(n_fake, n_fake // 2, replace=False)),
        )
        for _ in range(settings.halves)
    ]


def replicated(
    fake: Scored,
    real: Scored,
    train: Tensor,
    settings: SanitySettings,
    groups: Sequence[str],
    rows: Sequence[tuple[np.ndarray, ...]],
) -> Replicated:
    """Every metric on the full sets, and those of `groups` on each pair of half rows."""
    full = measure(fake, real, train, settings, list(GROUPS))
    draws = [measure(fake.take(f), real.take(r), train, settings, groups) for r, f in rows]
    names = draws[0].keys() if draws else []
    return Replicated(full, {m: np.array([d[m] for d in draws]) for m in names})


class Verdict(NamedTuple):
    """A claimed cell's outcome: the range's move and the worst step, in noise units."""

    passed: bool
    range_z: float  # d (v_S - v_0) / sd of the paired difference
    worst_step_z: float  # min over steps of d (v_s - v_{s-1}) / sd


def z_score(move: float, noise: np.ndarray) -> float:
    """move / sd(noise); +-inf for a move with no noise, 0 for neither, NaN if undefined."""
    sd = float(np.std(noise, ddof=1)) if noise.size > 1 else float("nan")
    if not np.isfinite(move) or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0 if move == 0 else float(np.sign(move) * np.inf)
    return move / sd


def verdict(
    values: Sequence[float], halves: Sequence[np.ndarray], direction: int, z: float
) -> Verdict:
    """The module docstring's rule for values v_0 .. v_S and their half-sample replicates."""
    v = [direction * x for x in values]
    h = [direction * x for x in halves]
    range_z = z_score(v[-1] - v[0], h[-1] - h[0])
    steps = [z_score(v[s] - v[s - 1], h[s] - h[s - 1]) for s in range(1, len(v))]
    worst = min(steps, default=float("nan"))
    passed = range_z > z and all(x >= -z for x in steps)  # NaN fails both comparisons
    return Verdict(bool(passed), range_z, worst)


class Cell(NamedTuple):
    """One (metric, damage) pair: its values over the strengths and, if claimed, its verdict."""

    metric: str
    damage: str
    strengths: tuple[float, ...]  # 0 (undamaged) first
    values: tuple[float, ...]
    direction: int  # the claimed direction, 0 if the metric claims nothing here
    verdict: Verdict | None


def context_for(base: Context, seed: int, damage: str, strength: int) -> Context:
    """`base` with a generator of its own for one (damage, strength), the same whichever other
    damages run."""
    key = zlib.crc32(damage.encode())
    return base._replace(rng=np.random.default_rng([seed, 2, key, strength]))


class FeatureCache:
    """An extractor that computes each distinct image's features once: set damages (collapse,
    copying, mode dropping) only rearrange real slices, whose features are then looked up."""

    def __init__(self, extractor: Callable[[np.ndarray], Tensor]) -> None:
        self.extractor = extractor
        self.known: dict[bytes, Tensor] = {}

    def __call__(self, images: np.ndarray) -> Tensor:
        """Features (N, D) of images (N, H, W)."""
        keys = [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]
        new = list({k: i for i, k in enumerate(keys) if k not in self.known}.items())
        if new:
            found = self.extractor(images[[i for _, i in new]])
            self.known.update({k: f for (k, _), f in zip(new, found, strict=True)})
        return torch.stack([self.known[k] for k in keys])


def run_suite(
    base: Slices,
    reference: Slices,
    context: Context,
    extractor: Callable[[np.ndarray], Tensor],
    settings: SanitySettings | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> list[Cell]:
    """Damage `base` at each strength, measure it against `reference`, judge every claim."""
    s = settings or SanitySettings()
    features = FeatureCache(extractor)
    real = scored(reference, features)
    train = features(context.train.images)
    rows = half_rows(len(reference), len(base), s)
    undamaged = replicated(scored(base, features), real, train, s, claimed_groups(None), rows)
    cells: list[Cell] = []
    for damage in s.damages:
        log(f"{damage}: strengths {s.strengths[damage]}")
        found = [undamaged]
        for j, strength in enumerate(s.strengths[damage]):
            damaged = DAMAGES[damage](base, strength, context_for(context, s.seed, damage, j))
            found.append(
                replicated(scored(damaged, features), real, train, s, claimed_groups(damage), rows)
            )
        for metric in METRICS:
            direction = CLAIMS.get(metric, {}).get(damage, 0)
            values = tuple(r.full[metric] for r in found)
            judged = None
            if direction:
                judged = verdict(values, [r.halves[metric] for r in found], direction, s.z)
            strengths = (0.0, *s.strengths[damage])
            cells.append(Cell(metric, damage, strengths, values, direction, judged))
    return cells


def verdict_table(cells: Sequence[Cell]) -> pd.DataFrame:
    """Metrics x damages: "pass", "FAIL", or "-" where the metric claims nothing."""
    marks = {(c.metric, c.damage): mark(c) for c in cells}
    metrics = list(dict.fromkeys(c.metric for c in cells))
    damages = list(dict.fromkeys(c.damage for c in cells))
    rows = [[marks[m, d] for d in damages] for m in metrics]
    return pd.DataFrame(rows, index=pd.Index(metrics, name="metric"), columns=damages)


def mark(cell: Cell) -> str:
    """The cell's entry in the verdict table."""
    if cell.verdict is None:
        return "-"
    return "pass" if cell.verdict.passed else "FAIL"


def failures(cells: Sequence[Cell]) -> list[Cell]:
    """The claimed cells that fail."""
    return [c for c in cells if c.verdict is not None and not c.verdict.passed]
