"""The command line's closed sets of values equal the library registries they mirror, and a
number option takes finite numbers only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_args

import pytest
import typer

from medgen.cli import values


def registries() -> list[tuple[Any, Iterable[Any]]]:
    """(the command line's type, the library's registry) pairs."""
    from medgen.data.importers.core import KINDS
    from medgen.data.importers.nifti import MODALITIES
    from medgen.diffusion.samplers import SAMPLERS
    from medgen.models import MODELS
    from medgen.study.profiles import PROFILES
    from medgen.tasks.anomaly import METHODS, NOISES
    from medgen.tasks.anomaly_split import TRUTHS
    from medgen.tasks.kspace import MASKS
    from medgen.tasks.run import DENOISE_METHODS, SPLITS
    from medgen.tasks.segmentation import CLEANUPS

    return [
        (values.Family, MODELS),
        (values.Split, SPLITS),
        (values.ImportKind, KINDS),
        (values.Modality, MODALITIES),
        (values.Profile, PROFILES),
        (values.Sampler, SAMPLERS),
        (values.DenoiseMethod, DENOISE_METHODS),
        (values.AnomalyMethod, METHODS),
        (values.AnomalyNoise, NOISES),
        (values.Truth, TRUTHS),
        (values.Cleanup, ("auto", *CLEANUPS)),
        (values.KspaceMask, MASKS),
    ]


def test_each_closed_set_equals_its_registry() -> None:
    for literal, registry in registries():
        assert sorted(map(str, get_args(literal))) == sorted(map(str, registry)), literal


def test_the_trackers_are_the_ones_the_trainer_drives() -> None:
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    from medgen.train.tracking import TRACKERS

    assert [t.value for t in values.Tracker] == list(TRACKERS)
    assert set(TRACKERS) <= set(LOGGER_TYPE_TO_CLASS)  # each one is accelerate's


@pytest.mark.parametrize(
    ("text", "problem"), [("abc", "is not a number"), ("nan", "finite"), ("-inf", "finite")]
)
def test_a_number_option_refuses_what_is_not_a_finite_number(text: str, problem: str) -> None:
    with pytest.raises(typer.BadParameter, match=problem):
        values.finite_number(text)
    assert values.finite_number("0.25") == 0.25


def test_the_classifier_steps_default_is_the_detectors() -> None:
    from medgen.detect.classify import ClassifyConfig

    assert ClassifyConfig().steps == values.CLASSIFY_STEPS
