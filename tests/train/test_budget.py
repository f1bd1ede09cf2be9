"""Budget parsing and its stopping rule; TrainConfig validation and the LR schedules."""

from __future__ import annotations

import itertools

import pytest

from medgen.exceptions import InputError, SettingError
from medgen.train.budget import Budget, parse_budget
from medgen.train.config import TrainConfig, learning_rate, total_steps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500steps", Budget(steps=500)),
        ("500 steps", Budget(steps=500)),
        ("1step", Budget(steps=1)),
        ("20000img", Budget(images=20000)),
        ("20000images", Budget(images=20000)),
        ("20000 IMG", Budget(images=20000)),
        ("90s", Budget(seconds=90.0)),
        ("10m", Budget(seconds=600.0)),
        ("1h", Budget(seconds=3600.0)),
        ("1.5h", Budget(seconds=5400.0)),
        ("0.25s", Budget(seconds=0.25)),
    ],
)
def test_parse_budget_accepts(text: str, expected: Budget) -> None:
    assert parse_budget(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "500", "steps", "0steps", "-5steps", "0s", "0.0h", "1.5steps", "10 parsecs", "1e3s"],
)
def test_parse_budget_refuses_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(SettingError) as err:
        parse_budget(text)
    assert err.value.setting == "budget"
    assert "\n" not in str(err.value)


def test_budget_done_and_fraction() -> None:
    steps, images, seconds = Budget(steps=10), Budget(images=100), Budget(seconds=2.0)
    assert not steps.done(9, 10_000, 1e9) and steps.done(10, 0, 0.0)
    assert not images.done(10_000, 99, 1e9) and images.done(0, 100, 0.0)
    assert not seconds.done(10_000, 10_000, 1.9) and seconds.done(0, 0, 2.0)
    assert steps.fraction(5, 0, 0.0) == pytest.approx(0.5)
    assert images.fraction(0, 250, 0.0) == 1.0
    assert Budget(steps=10, seconds=4.0).fraction(2, 0, 3.0) == pytest.approx(0.75)
    assert str(parse_budget("10m")) == "600s" and str(steps) == "10steps"
    assert str(images) == "100img"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"lr_schedule": "cosine", "budget": "10m"}, "lr_schedule"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"budget": "forever"}, "budget"),
        ({"keep_checkpoints": 0}, "keep_checkpoints"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"sample_every": -1}, "sample_every"),
    ],
)
def test_train_config_refuses_bad_values(changes: dict[str, object], key: str) -> None:
    with pytest.raises(InputError) as err:
        TrainConfig(**changes)  # type: ignore[arg-type]
    assert err.value.what == key


def test_learning_rate_warms_up_then_follows_the_schedule() -> None:
    config = TrainConfig(lr=1.0, warmup_steps=4, lr_schedule="cosine", budget="104steps")
    total = total_steps(config, world_size=1)
    assert total == 104
    lrs = [learning_rate(config, step, total) for step in range(104)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == 1.0 and lrs[54] == pytest.approx(0.5) and lrs[-1] < 1e-3
    assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))
    flat = TrainConfig(lr=1.0)
    assert learning_rate(flat, 0, None) == learning_rate(flat, 10**6, None) == 1.0
    by_images = TrainConfig(batch_size=8, budget="160img", lr_schedule="cosine")
    assert total_steps(by_images, world_size=2) == 10
