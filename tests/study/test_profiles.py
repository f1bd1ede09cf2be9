"""Profiles: a budget for every chapter within the whole, valid data configs, clear errors."""

from __future__ import annotations

import pytest

from medgen.exceptions import SettingError
from medgen.study.chapters import CHAPTERS
from medgen.study.profiles import PROFILES, get_profile


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_chapter_has_a_budget_within_the_whole(name: str) -> None:
    profile = PROFILES[name]
    assert profile.name == name
    assert set(CHAPTERS) <= set(profile.chapter_budget_s)
    assert sum(profile.chapter_budget_s.values()) <= profile.budget_s


@pytest.mark.parametrize("name", list(PROFILES))
def test_data_overrides_make_a_valid_config(name: str) -> None:
    from medgen.data.synth import resolve_config

    cfg = resolve_config(None, **PROFILES[name].data)
    assert cfg.size == PROFILES[name].data["size"]


def test_the_issue_budgets() -> None:
    assert PROFILES["quick"].budget_s <= 5 * 60
    assert PROFILES["standard"].budget_s <= 20 * 60
    assert PROFILES["standard"].data == {"size": 64, "n_train": 8000, "n_dev": 5000, "n_test": 2000}


def test_unknown_profile_is_input_error() -> None:
    with pytest.raises(SettingError) as info:
        get_profile("bogus")
    assert info.value.setting == "profile" and "quick" in info.value.problem
