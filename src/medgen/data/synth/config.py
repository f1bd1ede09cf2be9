"""The generator's knobs: one typed dataclass per concern, loaded from TOML/JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medgen.config import check_ranges, load_config
from medgen.data.store import check_size
from medgen.exceptions import SettingError

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
        check_ranges(self)
        if not 0 < self.min_brain_fraction <= 1:
            raise ValueError(f"min_brain_fraction {self.min_brain_fraction} is not in (0, 1]")


@dataclass(frozen=True)
class IntensityConfig:
    """Scanner-like intensity variation: bias field, gamma and contrast jitter."""

    bias_strength: tuple[float, float] = (0.0, 0.35)  # max |log bias| of the smooth field
    bias_spacing_mm: float = 70.0  # control-point spacing of the bias field, mm
    gamma: tuple[float, float] = (0.8, 1.25)  # clean = contrast * anatomy ** gamma
    contrast: tuple[float, float] = (0.85, 1.05)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class TumourConfig:
    """Tumour sizes, contrast and shape, per type."""

    # Sizes and contrast are calibrated at 64 px (3 mm pixels) so that a detector trained with
    # every location equally common finds nearly every tumour, while the scenario's rare
    # brainstem tumours stay its main error (benchmarks/scenario.py, experiments/scenario/).
    p_malignant: float = 0.5  # fraction of tumours that are malignant
    benign_radius_mm: tuple[float, float] = (10.0, 20.0)  # log-uniform radius range
    malignant_radius_mm: tuple[float, float] = (12.0, 28.0)
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

    def __post_init__(self) -> None:
        check_ranges(self)
        if (
            self.benign_radius_mm[0] <= 0
            or self.malignant_radius_mm[0] <= 0
            or self.contrast[0] <= 0
        ):
            raise ValueError("radius and contrast ranges must start above 0 (they are log-uniform)")
        if not 0.0 <= self.p_malignant <= 1.0:
            raise ValueError(f"p_malignant {self.p_malignant} is not in [0, 1]")
        for loc, p in {**self.non_enhancing, "*": self.non_enhancing_elsewhere}.items():
            if loc != "*" and loc not in LOCATIONS:
                raise ValueError(f"non_enhancing: unknown location {loc!r}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"non_enhancing probability {p} for {loc!r} is not in [0, 1]")

    def p_non_enhancing(self, location: str) -> float:
        """Probability that a tumour at `location` is non-enhancing."""
        return self.non_enhancing.get(location, self.non_enhancing_elsewhere)


@dataclass(frozen=True)
class NoiseConfig:
    """Rician noise: the std of the complex Gaussian, uniform per slice in this range."""

    sigma: tuple[float, float] = (0.01, 0.03)  # calibrated with the tumours (TumourConfig)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class ScenarioConfig:
    """What each split holds: tumour fraction and the per-split location prevalence."""

    tumour_fraction: float = 0.5
    # split -> location -> weight (normalised); a location left out keeps its default weight.
    location_prevalence: dict[str, dict[str, float]] = field(default_factory=default_prevalence)

    def __post_init__(self) -> None:
        merged = default_prevalence()
        for split, weights in self.location_prevalence.items():
            if split not in SPLITS:
                raise ValueError(f"location_prevalence: unknown split {split!r}")
            for loc, w in weights.items():
                if loc not in LOCATIONS:
                    raise ValueError(f"location_prevalence.{split}: unknown location {loc!r}")
                if w < 0:
                    raise ValueError(f"location_prevalence.{split}.{loc}: negative weight {w}")
                merged[split][loc] = float(w)
        for split, weights in merged.items():
            if sum(weights.values()) <= 0:
                raise ValueError(f"location_prevalence.{split}: all weights are zero")
        object.__setattr__(self, "location_prevalence", merged)
        if not 0.0 <= self.tumour_fraction <= 1.0:
            raise ValueError(f"tumour_fraction {self.tumour_fraction} is not in [0, 1]")


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
        check_size(self.size)
        for name in ("n_train", "n_dev", "n_test"):
            if getattr(self, name) < 0:
                raise SettingError(name, "must be >= 0")
        if self.n_train + self.n_dev + self.n_test == 0:
            raise SettingError("n_train/n_dev/n_test", "the dataset would be empty")

    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "dev": self.n_dev, "test": self.n_test}


def resolve_config(path: str | Path | None = None, **overrides: Any) -> DataConfig:
    """Defaults, then the file at `path` (if any), then the non-None `overrides` (CLI options)."""
    cfg = load_config(DataConfig, path) if path is not None else DataConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, **given) if given else cfg
