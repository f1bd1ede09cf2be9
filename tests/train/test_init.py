"""`medgen train --init`: a run that starts from a trained model's weights is that model at step
0 for every label, trains on, and refuses what cannot fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cli_support import assert_one_line_error, run_in_process
from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.exceptions import InputError, SettingError
from medgen.models import DiffusionModel, load_model
from medgen.reference import load_reference
from medgen.train.init import initial_model
from tiny_runs import train_tiny


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("init") / "data"
    make_dataset(out, DataConfig(size=32, n_train=32, n_dev=8, n_test=8, seed=3), workers=1)
    return out


@pytest.fixture(scope="module")
def prior(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unconditional run, as the shipped pixel prior is."""
    out = tmp_path_factory.mktemp("init") / "prior"
    train_tiny(tiny_data, out, 3)
    return out


def test_step_zero_is_the_trained_model_for_every_label(tiny_data: Path, prior: Path) -> None:
    source = load_model(prior / "model")
    store = open_dataset(tiny_data)
    model = initial_model(prior, "diffusion", store, {}, "tumour_type")
    assert isinstance(model, DiffusionModel) and isinstance(source, DiffusionModel)
    assert tuple(model.config.conditioning.names) == ("tumour_type",)
    assert model.config.sigma_max == source.config.sigma_max
    assert model.data_fit is not None and source.data_fit is not None
    assert torch.equal(model.data_fit.mean, source.data_fit.mean)
    x = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.05, 0.3, 1.0, 8.0])
    with torch.no_grad():
        expected = source.denoiser(x, sigma)
        for label in range(len(model.config.conditioning.vocab[0]) + 1):  # 0: the null label
            cond = torch.full((4, 1), label, dtype=torch.long)
            assert torch.equal(model.denoiser(x, sigma, cond), expected), label


def test_a_run_from_init_trains_its_labels_and_keeps_the_rest(
    tiny_data: Path, prior: Path, tmp_path: Path
) -> None:
    train_tiny(tiny_data, tmp_path / "typed", 2, cond="tumour_type", init=prior)
    tuned = load_model(tmp_path / "typed" / "model")
    source = load_model(prior / "model")
    assert isinstance(tuned, DiffusionModel)
    assert tuple(tuned.config.conditioning.names) == ("tumour_type",)
    have, got = source.state_dict(), tuned.state_dict()
    labels = [k for k in got if "label_emb." in k]
    assert labels and all(k not in have for k in labels)
    assert any(got[k].abs().sum() > 0 for k in labels)  # the zeroed tables learned
    assert any(not torch.equal(got[k], have[k]) for k in have if k.startswith("denoiser."))
    assert all(torch.equal(got[k], have[k]) for k in have if k.startswith("fit_"))


def test_what_cannot_fit_is_refused(tiny_data: Path, prior: Path, tmp_path: Path) -> None:
    store = open_dataset(tiny_data)
    with pytest.raises(InputError, match="no such run folder"):
        initial_model(tmp_path / "nothing", "diffusion", store, {}, None)
    with pytest.raises(InputError, match="holds a diffusion model; cannot start a gan run"):
        initial_model(prior, "gan", store, {}, None)
    with pytest.raises(InputError, match="64-pixel images; the data are 32 pixels"):
        initial_model(load_reference("pixel_prior").folder, "diffusion", store, {}, None)
    wider = {"unet": {"channels": [16, 16], "attention_levels": [False, False]}}
    with pytest.raises(InputError, match="a \\[model\\] setting changes the network"):
        initial_model(prior, "diffusion", store, wider, None)
    with pytest.raises(SettingError, match="keeps that model's own VAE"):
        train_tiny(tiny_data, tmp_path / "latent", 2, init=prior, latent=prior)
    assert not (tmp_path / "latent").exists()


def test_the_command_line_takes_a_reference_name_and_refuses_in_one_line(
    tiny_data: Path, tmp_path: Path
) -> None:
    common = ("train", "diffusion", "--data", tiny_data, "--out", tmp_path / "run")
    result = run_in_process(*common, "--init", "pixel_prior")  # resolved, then refused
    assert_one_line_error(result, "pixel_prior", "64-pixel images; the data are 32 pixels")
    result = run_in_process(*common, "--init", "features")  # the feature extractor
    assert_one_line_error(result, "features", "holds no generative model")
    result = run_in_process(*common, "--init", "no_such_model")
    assert_one_line_error(result, "no_such_model", "neither a run folder nor a shipped reference")
    assert not (tmp_path / "run").exists()
