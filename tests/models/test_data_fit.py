"""A diffusion model's record of its training data's Gaussian fit, and the sampling that starts
from it: what is recorded, how sampling uses it, and that saving, loading and resuming keep it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.diffusion import SAMPLERS
from medgen.diffusion.defaults import data_stats, gaussian_fit_start
from medgen.exceptions import SettingError
from medgen.models import DiffusionConfig, DiffusionModel, load_model
from medgen.nets import UNetConfig
from medgen.tensorio import load_tensors
from medgen.train.recipe import FIT_AXES, first_train_images
from tiny_runs import train_tiny

SIZE = 16
UNET = UNetConfig(channels=(8, 16), attention_levels=(False, False), num_head_channels=8)


def model_with_fit(axes: int = 4) -> DiffusionModel:
    torch.manual_seed(0)
    return DiffusionModel(
        DiffusionConfig(image_size=SIZE, unet=UNET, sigma_max=10.0, steps=3, fit_axes=axes)
    ).eval()


def examples(n: int = 40) -> Tensor:
    g = torch.Generator().manual_seed(3)
    return 0.2 + 0.3 * torch.randn(n, 1, SIZE, SIZE, generator=g)


def test_the_fit_is_the_examples_mean_and_leading_axes() -> None:
    model, x = model_with_fit(axes=4), examples()
    model.fit_data(x)
    fit, full = model.data_fit, data_stats(x)
    assert fit is not None
    torch.testing.assert_close(fit.mean, full.mean.float())
    torch.testing.assert_close(fit.axes, full.axes[:4].float())
    torch.testing.assert_close(fit.scales, full.scales[:4].float())
    assert fit.diameter == pytest.approx(full.diameter, rel=1e-6)


def test_axes_beyond_the_sample_rank_are_zero() -> None:
    model = model_with_fit(axes=12)
    model.fit_data(examples(5))  # 5 examples give 5 axes; centred, they span 4
    fit = model.data_fit
    assert fit is not None
    assert torch.all(fit.scales[5:] == 0) and torch.all(fit.axes[5:] == 0)
    assert torch.all(fit.scales[:4] > 0.1) and float(fit.scales[4]) < 1e-6


def capture_sampler(monkeypatch: pytest.MonkeyPatch) -> dict[str, Tensor]:
    """Replace the model's sampler by one that records its start and levels."""
    seen: dict[str, Tensor] = {}

    def record(denoiser: Any, x: Tensor, sigmas: Tensor, **_: Any) -> Tensor:
        seen["x"], seen["sigmas"] = x.clone(), sigmas.clone()
        return x

    monkeypatch.setitem(SAMPLERS, "lms", record)
    return seen


def test_a_fitted_model_starts_from_the_fit_and_stops_at_sigma_min(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = model_with_fit()
    model.fit_data(examples())
    seen = capture_sampler(monkeypatch)
    noise = torch.randn(6, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    model.sample_from(noise)
    c, fit = model.config, model.data_fit
    assert fit is not None
    torch.testing.assert_close(seen["x"], gaussian_fit_start(fit, c.sigma_max, noise))
    sigmas = seen["sigmas"]
    assert len(sigmas) == c.steps + 1  # as many steps (and NFE) as without the fit
    assert float(sigmas[0]) == pytest.approx(c.sigma_max)
    assert float(sigmas[-1]) == pytest.approx(c.sigma_min)


def test_a_model_without_a_fit_samples_from_zero_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_with_fit(axes=0)
    assert model.data_fit is None and not any(k.startswith("fit_") for k in model.state_dict())
    seen = capture_sampler(monkeypatch)
    noise = torch.randn(6, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    model.sample_from(noise)
    c = model.config
    torch.testing.assert_close(seen["x"], (c.sigma_max**2 + c.sigma_data**2) ** 0.5 * noise)
    assert len(seen["sigmas"]) == c.steps + 1 and float(seen["sigmas"][-1]) == 0.0


def test_sample_draws_its_noise_then_samples_from_it() -> None:
    model = model_with_fit()
    model.fit_data(examples())
    a = model.sample(3, generator=torch.Generator().manual_seed(2))
    noise = torch.randn(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, model.decode(model.sample_from(noise)))


def test_the_fit_round_trips_through_save_and_load(tmp_path: Path) -> None:
    model = model_with_fit()
    model.fit_data(examples())
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, DiffusionModel) and loaded.data_fit is not None
    assert model.data_fit is not None
    torch.testing.assert_close(loaded.data_fit.mean, model.data_fit.mean)
    g = torch.Generator
    assert torch.equal(
        model.sample(2, generator=g().manual_seed(4)),
        loaded.sample(2, generator=g().manual_seed(4)),
    )


def test_refusals() -> None:
    with pytest.raises(SettingError, match="fit_axes"):
        DiffusionConfig(fit_axes=-1)
    with pytest.raises(ValueError, match="no data fit"):
        model_with_fit(axes=0).fit_data(examples())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fit") / "data"
    make_dataset(out, DataConfig(size=32, n_train=32, n_dev=8, n_test=8, seed=3), workers=1)
    return out


def test_training_records_the_fit_and_resume_keeps_it(tiny_data: Path, tmp_path: Path) -> None:
    train_tiny(tiny_data, tmp_path / "one", 4)
    model = load_model(tmp_path / "one" / "model")
    assert isinstance(model, DiffusionModel) and model.config.fit_axes == FIT_AXES
    images = first_train_images(open_dataset(tiny_data), 512)
    expected = data_stats(model.encode(images))
    assert model.data_fit is not None
    torch.testing.assert_close(model.data_fit.mean, expected.mean.float())
    k = min(FIT_AXES, len(images) - 1)
    torch.testing.assert_close(model.data_fit.scales[:k], expected.scales[:k].float())

    train_tiny(tiny_data, tmp_path / "two", 2)
    train_tiny(tiny_data, tmp_path / "two", 4, resume=True)
    one = load_tensors(tmp_path / "one" / "model" / "model.safetensors")
    two = load_tensors(tmp_path / "two" / "model" / "model.safetensors")
    assert one.keys() == two.keys() and any(k.startswith("fit_") for k in one)
    assert all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("axes", [0, 4])
def test_nfe_counts_the_network_calls_with_and_without_a_fit(axes: int) -> None:
    model = DiffusionModel(
        DiffusionConfig(
            image_size=SIZE, unet=UNET, sigma_max=10.0, steps=4, sampler="heun", fit_axes=axes
        )
    ).eval()
    if axes:
        model.fit_data(examples())
    calls = 0
    forward = model.denoiser.forward

    def counted(*args: Any, **kwargs: Any) -> Tensor:
        nonlocal calls
        calls += 1
        return forward(*args, **kwargs)

    model.denoiser.forward = counted  # type: ignore[method-assign]
    model.sample(2, generator=torch.Generator().manual_seed(0))
    assert calls == model.nfe() == (8 if axes else 7)  # Heun: no last Euler step to 0 with a fit
