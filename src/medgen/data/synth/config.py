"""The generator's knobs: one typed dataclass per concern, loaded from TOML/JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medgen.config import load_config
from medgen.data.store import check_size
from medgen.exceptions import SettingError
from medgen.validate import at_least, in_range, positive, random_seed, span, whole

BUILTIN_KIND = "builtin-mni152"  # the manifest kind of the data this generator makes
LOCATIONS = (
    "brainstem",
    "cerebellum",
    "frontal",
    "parietal",
    "temporal",
    "occipital",
    "deep_grey",
)
TUMOUR_TYPES = ("benign", "malignant")
SPLITS = ("train", "dev", "test")
# non-enhancing tumours: the share of the infiltrated tissue's signal lost, per tumour type
NON_ENHANCING_CONTRAST = {"benign": (0.4, 0.5), "malignant": (0.58, 0.75)}
MAX_FIELD_OF_VIEW_MM = 1000.0  # a metre: far beyond any head, and the template's blur stays small


def _prevalence(brainstem: float) -> dict[str, float]:
    rest = (1.0 - brainstem) / (len(LOCATIONS) - 1)
    return {loc: (brainstem if loc == "brainstem" else rest) for loc in LOCATIONS}


def default_prevalence() -> dict[str, dict[str, float]]:
    """The studied scenario: brainstem tumours rare in train (1%), common in dev/test (15%)."""
    return {"train": _prevalence(0.01), "dev": _prevalence(0.15), "test": _prevalence(0.15)}


@dataclass(frozen=True)
class AnatomyConfig:
    """Which template slices are used and how each is deformed."""

    min_brain_fraction: float = 0.3  # keep axial slices whose brain area >= this x the largest one
    field_of_view_mm: float = 200.0  # square field of view, centred on the brain
    rotation_deg: float = 10.0  # in-plane rotation, uniform in [-r, r] degrees
    scale: tuple[float, float] = (0.92, 1.08)  # isotropic scale, uniform in this range
    shift_mm: float = 6.0  # translation, uniform in [-s, s] mm along each axis
    elastic_mm: float = 2.5  # std of the smooth elastic displacement, mm
    elastic_spacing_mm: float = 35.0  # control-point spacing of the elastic field, mm (smoothness)

    def __post_init__(self) -> None:
        in_range("min_brain_fraction", self.min_brain_fraction, 0.0, 1.0, open_low=True)
        in_range(
            "field_of_view_mm", self.field_of_view_mm, 0.0, MAX_FIELD_OF_VIEW_MM, open_low=True
        )
        in_range("rotation_deg", self.rotation_deg, 0.0, 180.0)
        span("scale", self.scale, open_low=True)
        at_least("shift_mm", self.shift_mm)
        at_least("elastic_mm", self.elastic_mm)
        positive("elastic_spacing_mm", self.elastic_spacing_mm)


@dataclass(frozen=True)
class IntensityConfig:
    """Scanner-like intensity variation: bias field, gamma and contrast jitter."""

    bias_strength: tuple[float, float] = (0.0, 0.35)  # max |log bias| of the smooth field
    bias_spacing_mm: float = 70.0  # control-point spacing of the bias field, mm
    gamma: tuple[float, float] = (0.8, 1.25)  # clean = contrast * anatomy ** gamma
    contrast: tuple[float, float] = (0.85, 1.05)

    def __post_init__(self) -> None:
        span("bias_strength", self.bias_strength)
        positive("bias_spacing_mm", self.bias_spacing_mm)
        span("gamma", self.gamma, open_low=True)
        span("contrast", self.contrast, open_low=True)


@dataclass(frozen=True)
class TumourConfig:
    """Tumour sizes, contrast and shape, per type."""

    # Sizes and contrast are calibrated at 64 px (3 mm pixels) so that a detector trained with
    # every location equally common finds nearly every tumour, while the scenario's rare
    # brainstem tumours stay its main error (benchmarks/scenario.py, experiments/scenario/).
    p_malignant: float = 0.5  # fraction of tumours that are malignant
    benign_radius_mm: tuple[float, float] = (12.0, 20.0)  # log-uniform radius range
    malignant_radius_mm: tuple[float, float] = (14.0, 28.0)
    # enhancing: enhancement over the brightest nearby tissue; non-enhancing: the share of the
    # infiltrated tissue's signal lost
    contrast: tuple[float, float] = (0.3, 0.6)
    irregularity: float = 0.22  # malignant margin: amplitude of the angular harmonics
    rim_fraction: float = 0.35  # malignant: enhancing rim thickness / radius
    oedema_factor: tuple[float, float] = (1.4, 2.2)  # malignant: oedema radius / tumour radius
    oedema_contrast: float = 0.45  # oedema darkening, as a fraction of the tumour contrast
    # location -> probability that a tumour there is diffuse, non-enhancing and T1-hypointense
    # (brainstem gliomas mostly are); locations left out use `non_enhancing_elsewhere`. None
    # elsewhere: the look stays the brainstem's own, which rare brainstem tumours make hard.
    non_enhancing: dict[str, float] = field(default_factory=lambda: {"brainstem": 0.85})
    non_enhancing_elsewhere: float = 0.0
    # share of enhancing malignant tumours drawn with a benign tumour's look (small, solid,
    # sharp, no oedema), as some anaplastic tumours image: a type error no detector can avoid,
    # the world's optimal (Bayes) error, as real reads have one
    malignant_looks_benign: float = 0.1
    # non-enhancing tumours, per type: the share of the infiltrated tissue's signal lost. A
    # malignant one (a diffuse midline glioma) is darker, infiltrative and textured; a benign one
    # (a focal low-grade glioma) milder, homogeneous and sharply marginated. At 3-4 px in the pons
    # the depth of the hypointensity is the type's only cue that survives: with one range for
    # both, dark benign tumours were called malignant (experiments/scenario/NOTES.md).
    non_enhancing_contrast: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(NON_ENHANCING_CONTRAST)
    )

    def __post_init__(self) -> None:
        in_range("p_malignant", self.p_malignant, 0.0, 1.0)
        for name in ("benign_radius_mm", "malignant_radius_mm", "contrast"):  # log-uniform
            span(name, getattr(self, name), open_low=True)
        at_least("irregularity", self.irregularity)
        in_range("rim_fraction", self.rim_fraction, 0.0, 1.0, open_low=True)
        span("oedema_factor", self.oedema_factor, 1.0)  # the oedema surrounds the tumour
        in_range("oedema_contrast", self.oedema_contrast, 0.0, 1.0)
        if not isinstance(self.non_enhancing, dict):
            raise SettingError("non_enhancing", "expected a table of location = probability")
        for loc, p in self.non_enhancing.items():
            if loc not in LOCATIONS:
                raise SettingError("non_enhancing", f"unknown location {loc!r}")
            in_range(f"non_enhancing.{loc}", p, 0.0, 1.0)
        in_range("non_enhancing_elsewhere", self.non_enhancing_elsewhere, 0.0, 1.0)
        in_range("malignant_looks_benign", self.malignant_looks_benign, 0.0, 1.0)
        name = "non_enhancing_contrast"
        if not isinstance(self.non_enhancing_contrast, dict):
            raise SettingError(name, "expected a table of tumour type = [low, high]")
        merged = dict(NON_ENHANCING_CONTRAST)  # a type left out keeps its default range
        for kind, bounds in self.non_enhancing_contrast.items():
            if kind not in TUMOUR_TYPES:
                raise SettingError(name, f"unknown tumour type {kind!r}")
            span(f"{name}.{kind}", bounds, open_low=True)
            low, high = (float(v) for v in bounds)
            if high > 1.0:
                raise SettingError(
                    f"{name}.{kind}", f"a share of the signal, at most 1, got {high:g}"
                )
            merged[kind] = (low, high)
        object.__setattr__(self, name, merged)

    def p_non_enhancing(self, location: str) -> float:
        """Probability that a tumour at `location` is non-enhancing."""
        return self.non_enhancing.get(location, self.non_enhancing_elsewhere)


@dataclass(frozen=True)
class NoiseConfig:
    """Rician noise: the std of the complex Gaussian, uniform per slice in this range."""

    sigma: tuple[float, float] = (0.01, 0.03)  # calibrated with the tumours (TumourConfig)

    def __post_init__(self) -> None:
        span("sigma", self.sigma)


@dataclass(frozen=True)
class ScenarioConfig:
    """What each split holds: tumour fraction and the per-split location prevalence."""

    tumour_fraction: float = 0.5
    # split -> location -> weight (normalised); a location left out keeps its default weight.
    location_prevalence: dict[str, dict[str, float]] = field(default_factory=default_prevalence)

    def __post_init__(self) -> None:
        in_range("tumour_fraction", self.tumour_fraction, 0.0, 1.0)
        name = "location_prevalence"
        if not isinstance(self.location_prevalence, dict):
            raise SettingError(name, "expected a table of split -> location -> weight")
        merged = default_prevalence()
        for split, weights in self.location_prevalence.items():
            if split not in SPLITS:
                raise SettingError(name, f"unknown split {split!r}")
            if not isinstance(weights, dict):
                raise SettingError(f"{name}.{split}", "expected a table of location = weight")
            for loc, w in weights.items():
                if loc not in LOCATIONS:
                    raise SettingError(f"{name}.{split}", f"unknown location {loc!r}")
                merged[split][loc] = at_least(f"{name}.{split}.{loc}", w)
        for split, weights in merged.items():
            if sum(weights.values()) <= 0:
                raise SettingError(f"{name}.{split}", "all weights are zero")
        object.__setattr__(self, "location_prevalence", merged)


@dataclass(frozen=True)
class DataConfig:
    """Everything that determines the built-in dataset, byte for byte."""

    size: int = 64  # image size in pixels: 32, 64, 128 or 256
    n_train: int = 8000
    n_dev: int = 5000
    n_test: int = 2000
    seed: int = 0
    anatomy: AnatomyConfig = field(default_factory=AnatomyConfig)
    intensity: IntensityConfig = field(default_factory=IntensityConfig)
    tumour: TumourConfig = field(default_factory=TumourConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)

    def __post_init__(self) -> None:
        whole("size", self.size)
        check_size(self.size)
        for name in ("n_train", "n_dev", "n_test"):
            whole(name, getattr(self, name))
        if self.n_train + self.n_dev + self.n_test == 0:
            raise SettingError("n_train/n_dev/n_test", "the dataset would be empty")
        random_seed("seed", self.seed)
        pixel_mm = self.anatomy.field_of_view_mm / self.size
        for name, spacing in (
            ("anatomy.elastic_spacing_mm", self.anatomy.elastic_spacing_mm),
            ("intensity.bias_spacing_mm", self.intensity.bias_spacing_mm),
        ):  # a smooth field has fewer control points than the image has pixels
            if spacing < pixel_mm:
                raise SettingError(
                    name, f"must be at least the pixel size ({pixel_mm:g} mm), got {spacing:g}"
                )

    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "dev": self.n_dev, "test": self.n_test}


def resolve_config(path: str | Path | None = None, **overrides: Any) -> DataConfig:
    """Defaults, then the file at `path` (if any), then the non-None `overrides` (CLI options)."""
    cfg = load_config(DataConfig, path) if path is not None else DataConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, **given) if given else cfg
