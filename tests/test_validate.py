"""The shared checks, and every config users can set fed hostile values: each gives a valid
object or one InputError naming the key, never another exception and never a kept NaN."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medgen.compare.engine import CompareSettings
from medgen.compare.metrics import MetricSettings
from medgen.config import from_dict, load_config
from medgen.data.synth.config import (
    AnatomyConfig,
    DataConfig,
    IntensityConfig,
    NoiseConfig,
    ScenarioConfig,
    TumourConfig,
)
from medgen.detect.classify import ClassifyConfig
from medgen.detect.extract import ExtractConfig
from medgen.detect.pipeline import DetectorConfig
from medgen.detect.preprocess import PreprocessConfig
from medgen.errors.remedy.plan import Generators, RemedyPlan
from medgen.evaluate.features import FeatureConfig
from medgen.exceptions import InputError, SettingError
from medgen.models.common import Conditioning
from medgen.models.diffusion import DiffusionConfig
from medgen.models.gan import GANConfig
from medgen.models.vae import VAEConfig
from medgen.nets import UNetConfig
from medgen.tasks.anomaly_split import AnomalySettings
from medgen.tasks.reconstruct_split import ReconstructSettings
from medgen.tasks.run import DenoiseSettings, TaskSettings
from medgen.train.config import TrainConfig
from medgen.validate import (
    SEED_MAX,
    at_least,
    byte_size,
    finite,
    fits_in_memory,
    in_range,
    memory_bytes,
    one_of,
    positive,
    random_seed,
    span,
    whole,
    worker_count,
)

# Every config a user sets, from a file (medgen.config.from_dict) or the command line.
CONFIGS: tuple[type[Any], ...] = (
    DataConfig,
    AnatomyConfig,
    IntensityConfig,
    TumourConfig,
    NoiseConfig,
    ScenarioConfig,
    TrainConfig,
    DiffusionConfig,
    UNetConfig,
    Conditioning,
    VAEConfig,
    GANConfig,
    FeatureConfig,
    DetectorConfig,
    PreprocessConfig,
    ExtractConfig,
    ClassifyConfig,
    RemedyPlan,
    Generators,
    TaskSettings,
    DenoiseSettings,
    ReconstructSettings,
    AnomalySettings,
    CompareSettings,
    MetricSettings,
)
REQUIRED: dict[type[Any], dict[str, Any]] = {Generators: {"runs": {}}}  # fields without defaults
SEEDED = [c for c in CONFIGS if "seed" in {f.name for f in dataclasses.fields(c)}]

HUGE = 10**400  # no float holds it
HOSTILE = st.one_of(
    st.sampled_from(
        [math.nan, -math.nan, math.inf, -math.inf, -1, -1.0, 0, 0.0, 1e-300, 1e308, HUGE, -HUGE]
    ),
    st.sampled_from([True, False, None, "", "nan", "inf", "abc", [], {}, [math.nan, 1.0]]),
    st.sampled_from([[1.0, 2.0], [2, 1], [0, 0], [-1, 3], {"a": 1}, {"frontal": math.nan}]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.lists(st.integers(min_value=-3, max_value=300), max_size=5),
    st.text(max_size=6),
)
QUICK = settings(max_examples=60, deadline=None)


def _dataclass_of(hint: Any) -> type[Any] | None:
    """The dataclass a field holds (X or X | None), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def leaf_paths(cls: type[Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key a config file can set in `cls`, nested tables followed down."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        nested = _dataclass_of(hints[f.name])
        yield (*prefix, f.name)
        if nested is not None:
            yield from leaf_paths(nested, (*prefix, f.name))


def nest(path: tuple[str, ...], value: object) -> dict[str, Any]:
    """{"a": {"b": value}} for the path ("a", "b")."""
    table: Any = value
    for key in reversed(path):
        table = {key: table}
    return dict(table)


def built(cls: type[Any], make: Callable[[], Any]) -> Any:
    """make() and, for a config checked on use, its check (CompareSettings)."""
    config = make()
    check = getattr(config, "check", None)
    if callable(check):
        check()
    assert isinstance(config, cls)
    return config


def non_finite_floats(value: object) -> list[float]:
    """The NaN and inf floats anywhere in a config (its fields, tuples, dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            x for f in dataclasses.fields(value) for x in non_finite_floats(getattr(value, f.name))
        ]
    if isinstance(value, dict):
        return [x for v in value.values() for x in non_finite_floats(v)]
    if isinstance(value, tuple | list):
        return [x for v in value for x in non_finite_floats(v)]
    if isinstance(value, float) and not math.isfinite(value):
        return [value]
    return []


def accepts(expected: Any, value: object) -> bool:
    """Whether `value` has a type a field of type hint `expected` may hold, as a finite number."""
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return any(accepts(a, value) for a in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is bool:
        return isinstance(value, bool)
    return True


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# ---- the helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, HUGE, "1", None, True, [1.0]])
def test_every_number_check_refuses_what_is_not_a_finite_number(value: object) -> None:
    checks: list[Callable[[], object]] = [
        lambda: finite("x", value),
        lambda: at_least("x", value),
        lambda: positive("x", value),
        lambda: in_range("x", value, 0.0, 1.0),
        lambda: in_range("x", value, -math.inf, math.inf),
    ]
    for check in checks:
        with pytest.raises(SettingError) as err:
            check()
        assert err.value.setting == "x" and "\n" not in str(err.value)


def test_ranges_name_their_ends_and_keep_good_values() -> None:
    assert in_range("p", 0.0, 0.0, 1.0) == 0.0 and in_range("p", 1, 0.0, 1.0) == 1.0
    assert finite("x", np.float32(0.5)) == 0.5 and finite("x", -(2**70)) == -(2.0**70)
    with pytest.raises(SettingError, match=r"^p: 0 is outside \(0, 1\]$"):
        in_range("p", 0.0, 0.0, 1.0, open_low=True)
    with pytest.raises(SettingError, match=r"1 is outside \[0, 1\)"):
        in_range("p", 1.0, 0.0, 1.0, open_high=True)
    with pytest.raises(SettingError, match="must be positive, got 0"):
        positive("lr", 0.0)
    with pytest.raises(SettingError, match=r"must be 0 or more, got -0\.5"):
        at_least("blur", -0.5)


def test_whole_numbers_seeds_and_workers() -> None:
    assert whole("n", np.int64(3), 1) == 3 and random_seed("seed", SEED_MAX) == SEED_MAX
    assert worker_count("workers", 0) == 0
    for bad in (1.0, True, "2", None, math.nan):
        with pytest.raises(SettingError, match="expected a whole number"):
            whole("n", bad)
    with pytest.raises(SettingError, match="must be at least 1, got 0"):
        whole("n", 0, 1)
    with pytest.raises(SettingError, match="at most"):
        random_seed("seed", SEED_MAX + 1)
    with pytest.raises(SettingError, match="seed: must be at least 0, got -1"):
        random_seed("seed", -1)
    with pytest.raises(SettingError, match="workers"):
        worker_count("workers", -1)
    with pytest.raises(SettingError) as err:
        whole("n", -HUGE)
    assert len(str(err.value)) < 80  # a huge number is cut short


def test_spans_and_choices() -> None:
    span("sigma", (0.0, 0.0))
    for bad in ((0.2, 0.1), (-1.0, 1.0), (math.nan, 1.0), (0.0, math.inf), (1.0,), "ab", 3):
        with pytest.raises(SettingError, match="sigma"):
            span("sigma", bad)
    with pytest.raises(SettingError, match=r"need 0 < low <= high"):
        span("radius", (0.0, 1.0), open_low=True)
    assert one_of("mode", "a", ("a", "b")) == "a"
    for bad in ("c", 1, None, ["a"]):
        with pytest.raises(SettingError, match=r"mode: unknown .* \(use a, b\)"):
            one_of("mode", bad, ("a", "b"))


# ---- every config ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_the_defaults_still_build(cls: type[Any]) -> None:
    config = built(cls, lambda: cls(**REQUIRED.get(cls, {})))
    assert not non_finite_floats(config)
    assert from_dict(cls, {**REQUIRED.get(cls, {})}) == config


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@QUICK
@given(data=st.data())
def test_a_hostile_value_in_a_file_is_one_line_naming_its_key(
    cls: type[Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(list(leaf_paths(cls))), label="key")
    value = data.draw(HOSTILE, label="value")
    table = {**REQUIRED.get(cls, {}), **nest(path, value)}
    try:
        config = built(cls, lambda: from_dict(cls, table, "config.toml"))
    except InputError as err:
        assert path[-1] in str(err) and "\n" not in str(err)
        return
    assert not non_finite_floats(config)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@QUICK
@given(data=st.data())
def test_a_hostile_value_in_a_library_call_is_refused_naming_its_setting(
    cls: type[Any], data: st.DataObject
) -> None:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if _dataclass_of(hints[f.name]) is None]
    name = data.draw(st.sampled_from(names), label="setting")
    value = data.draw(HOSTILE, label="value")
    kwargs = {**REQUIRED.get(cls, {}), name: value}
    try:
        config = built(cls, lambda: cls(**kwargs))
    except InputError as err:
        assert name in str(err) and "\n" not in str(err)
        return
    assert accepts(hints[name], value), f"{cls.__name__}({name}={value!r}) was accepted"
    assert not non_finite_floats(config)


@pytest.mark.parametrize("cls", SEEDED, ids=lambda c: c.__name__)
def test_every_seed_is_a_whole_number_in_the_seed_range(cls: type[Any]) -> None:
    for good in (0, SEED_MAX):
        built(cls, lambda: cls(**REQUIRED.get(cls, {}), seed=good))  # noqa: B023
    for bad in (-1, SEED_MAX + 1, HUGE, 1.5, math.nan, "0"):
        with pytest.raises(SettingError) as err:
            built(cls, lambda: cls(**REQUIRED.get(cls, {}), seed=bad))  # noqa: B023
        assert err.value.setting == "seed"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"tumour": {"oedema_contrast": math.nan}}, "tumour.oedema_contrast"),
        ({"anatomy": {"field_of_view_mm": -200.0}}, "field_of_view_mm"),
        ({"anatomy": {"field_of_view_mm": math.inf}}, "anatomy.field_of_view_mm"),
        ({"anatomy": {"elastic_spacing_mm": 0.01}}, "anatomy.elastic_spacing_mm"),
        ({"intensity": {"gamma": [0.0, 1.0]}}, "gamma"),
        ({"noise": {"sigma": [math.nan, 0.1]}}, "noise.sigma"),
        ({"scenario": {"tumour_fraction": 1.5}}, "tumour_fraction"),
        ({"scenario": {"location_prevalence": {"dev": {"frontal": math.nan}}}}, "frontal"),
        ({"tumour": {"non_enhancing": {"brainstem": 2.0}}}, "non_enhancing.brainstem"),
        ({"tumour": {"non_enhancing_contrast": {"benign": [0.5, 0.2]}}}, "contrast.benign"),
        ({"tumour": {"non_enhancing_contrast": {"benign": [0.5, 1.2]}}}, "contrast.benign"),
        ({"tumour": {"non_enhancing_contrast": {"none": [0.1, 0.2]}}}, "non_enhancing_contrast"),
        ({"tumour": {"malignant_looks_benign": 1.5}}, "malignant_looks_benign"),
        ({"seed": -1}, "seed"),
        ({"size": 64.0}, "size"),
    ],
)
def test_the_synthetic_data_config_refuses_bad_knobs(table: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as err:
        from_dict(DataConfig, table, "bad.toml")
    assert key in str(err.value)


def test_a_nan_in_a_toml_file_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[tumour]\noedema_contrast = nan\n")
    with pytest.raises(InputError, match=r"bad\.toml\.tumour\.oedema_contrast: .*finite"):
        load_config(DataConfig, bad)
    as_json = tmp_path / "train.json"
    as_json.write_text('{"lr": NaN, "seed": 0}')  # Python's json reads NaN and Infinity
    with pytest.raises(InputError, match=r"train\.json\.lr: expected a finite number, got nan"):
        load_config(TrainConfig, as_json)


def test_a_count_beyond_the_machines_memory_is_refused_by_name() -> None:
    fits_in_memory("n", 4, 4 * 4096)
    total = memory_bytes()
    assert total is not None and total > 0
    with pytest.raises(SettingError, match=r"^n: 1000000000000 would need 4.1 PB of memory; th"):
        fits_in_memory("n", 10**12, 10**12 * 4096.0)
    assert (byte_size(512), byte_size(8e12), byte_size(1.64e16)) == ("512 B", "8 TB", "16.4 PB")


def test_a_dark_tumour_contrast_given_for_one_type_keeps_the_others_default() -> None:
    cfg = from_dict(DataConfig, {"tumour": {"non_enhancing_contrast": {"benign": [0.2, 0.3]}}}, "x")
    default = DataConfig().tumour.non_enhancing_contrast
    assert cfg.tumour.non_enhancing_contrast == {
        "benign": (0.2, 0.3),
        "malignant": default["malignant"],
    }
