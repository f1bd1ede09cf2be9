"""Study profiles: how big the data are and how long each chapter may take on its target machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medgen.exceptions import SettingError


@dataclass(frozen=True)
class Profile:
    """The size of a study and its time budget, in all and per chapter, on `target`."""

    name: str
    description: str
    target: str  # the machine the budget is meant for
    budget_s: float  # wall-clock budget of the whole study, seconds
    chapter_budget_s: dict[str, float]  # chapter -> its part of budget_s, seconds
    data: dict[str, Any] = field(default_factory=dict)  # DataConfig overrides (size, n_train, ...)
    examples_per_cell: int = 4  # examples per location × type row of the grids
    distribution_slices: int = 400  # slices sampled for the intensity histograms
    seed: int = 0  # seed of every random choice the study makes (the data have their own)
    lab_scale: float = 1.0  # compute budget of the lab experiments (1: the published numbers)
    feature_steps: int = 800  # training steps of the comparison's feature extractor
    compare_samples: int = 1000  # samples per run (and real slices per reference set) compared
    mode_collapse_seeds: int = 5  # seeds of the 2-D mode-collapse benchmark
    mode_collapse_scale: float = 1.0  # its training budget (1: the benchmark's)
    detector_steps: int = 3000  # training steps of the detector's segmentation network
    arms_at_once: bool = False  # on a CPU of 2+ cores, the remedy's arms train side by side
    # (`remedy_workers`); worth the worker processes' start only for full-size detectors
    remedy_n: int = 400  # examples each arm of the remedy experiment adds
    remedy_generators: str = ""  # budget of the joint generators ("" = no generator arms)
    tasks_slices: int = 100  # test slices denoised (the tasks chapter scores multiples of it)
    tasks_tune_slices: int = 16  # dev slices the classical peers are tuned on
    segment_counts: tuple[int | None, ...] = (10, 30)  # labelled slices of the few-label segmenters
    segment_draws: int = 3  # draws of those slices per count
    segment_test: int = 200  # test slices they are scored on
    segment_steps: int = 300  # training steps of each segmenter (pixel MLPs and U-Nets)
    register_pairs: int = 80  # same-level test pairs registered
    register_train_slices: int = 2000  # training slices the registration networks learn from
    register_steps: int = 3000  # training steps of each registration network
    references: bool = False  # evaluate the shipped reference models (medgen.reference) where
    # they were trained on the study's data, instead of training runs within the budget

    def budget_for(self, chapter: str) -> float:
        """The time budget of `chapter` in seconds (what is left of the whole if not listed)."""
        listed = sum(self.chapter_budget_s.values())
        return self.chapter_budget_s.get(chapter, max(self.budget_s - listed, 0.0))


CPU = "a 2-core CPU"
PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        description="a few slices at 32 pixels, for tests: seconds",
        target=CPU,
        budget_s=100.0,
        chapter_budget_s={
            "data": 15.0,
            "lab": 15.0,
            "models": 20.0,
            "compare": 15.0,
            "errors": 15.0,
            "tasks": 10.0,
            "uses": 10.0,
        },
        data={"size": 32, "n_train": 60, "n_dev": 40, "n_test": 20},
        lab_scale=0.1,
        feature_steps=10,
        compare_samples=20,
        mode_collapse_seeds=1,
        mode_collapse_scale=0.02,
        detector_steps=10,
        remedy_n=4,
        tasks_slices=2,
        tasks_tune_slices=2,
        segment_counts=(5,),
        segment_draws=2,
        segment_test=4,
        segment_steps=5,
        register_pairs=4,
        register_train_slices=60,
        register_steps=2,
        examples_per_cell=2,
        distribution_slices=50,
    ),
    "quick": Profile(
        name="quick",
        description="small data, for smoke tests: at most 5 minutes in all",
        target=CPU,
        budget_s=300.0,
        chapter_budget_s={
            "data": 30.0,
            "lab": 50.0,
            "models": 90.0,
            "compare": 30.0,
            "errors": 40.0,
            "tasks": 40.0,
            "uses": 20.0,
        },
        data={"size": 64, "n_train": 600, "n_dev": 400, "n_test": 200},
        lab_scale=0.3,
        feature_steps=150,
        compare_samples=150,
        mode_collapse_seeds=1,
        mode_collapse_scale=0.05,
        detector_steps=300,
        remedy_n=50,
        tasks_slices=8,
        tasks_tune_slices=4,
        segment_draws=2,
        segment_test=50,
        segment_steps=100,
        register_pairs=20,
        register_train_slices=600,
        register_steps=200,
        examples_per_cell=3,
    ),
    "standard": Profile(
        name="standard",
        description="the default dataset (8000/5000/2000 slices at 64 pixels): at most 20 minutes",
        target=CPU,
        budget_s=1200.0,
        chapter_budget_s={
            # measured in a fresh standard study with every reference current (18:42 in all):
            # data 62 s, lab 17, models 58, compare 118 (with the per-condition rows of the
            # conditional latent diffusion model), tasks 129, uses 180, errors 549; models
            # trains its from-scratch run for 0.6 of its budget, so its budget sets that run's
            # length (48 s: a curve that falls)
            "data": 70.0,
            "lab": 20.0,
            "models": 80.0,  # samples of the reference models, and one run from scratch
            "compare": 130.0,
            "errors": 570.0,  # the detector, then one per remedy arm (real, diffusion, ...)
            "tasks": 140.0,
            "uses": 190.0,  # few-label segmenters, then the shipped registration networks
        },
        lab_scale=0.5,
        feature_steps=600,
        compare_samples=400,
        mode_collapse_seeds=3,
        mode_collapse_scale=0.15,
        detector_steps=3000,
        arms_at_once=True,
        tasks_slices=18,
        tasks_tune_slices=4,
        segment_draws=2,
        segment_test=100,
        register_pairs=200,  # the shipped networks register; only SyN and demons take time
        register_train_slices=1000,
        register_steps=600,
        data={"size": 64, "n_train": 8000, "n_dev": 5000, "n_test": 2000},
        references=True,
    ),
    "full": Profile(
        name="full",
        description="the default counts at 128 pixels, sized for one GPU: about 3 hours",
        target="one GPU and 16 CPU cores",
        budget_s=10800.0,
        chapter_budget_s={
            "data": 600.0,
            "lab": 600.0,
            "models": 3600.0,
            "compare": 1200.0,
            "errors": 1800.0,
            "tasks": 2400.0,
            "uses": 600.0,
        },
        feature_steps=2000,
        compare_samples=2000,
        detector_steps=8000,
        remedy_generators="20m",
        segment_counts=(10, 30, 100, None),
        data={"size": 128, "n_train": 8000, "n_dev": 5000, "n_test": 2000},
        examples_per_cell=6,
        distribution_slices=1000,
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called `name` (SettingError naming "profile" if there is none)."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise SettingError("profile", f"unknown profile {name!r} (choose one of {known})") from None
