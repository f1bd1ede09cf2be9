"""`medgen train`'s settings: family defaults, then the config file, then the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgen.exceptions import InputError
from medgen.train.recipe import read_run_config


def test_family_defaults_file_and_options_in_order(tmp_path: Path) -> None:
    gan = read_run_config(None, "gan").train
    assert gan.betas == (0.5, 0.999) and gan.grad_clip == 0.0  # DCGAN's settings
    assert read_run_config(None, "diffusion").train.betas == (0.9, 0.999)
    config = tmp_path / "c.toml"
    config.write_text('[train]\nbetas = [0.0, 0.99]\nbudget = "9steps"\n[model]\nwidth = 8\n')
    run = read_run_config(config, "gan", budget="3steps", batch_size=None)
    assert run.train.betas == (0.0, 0.99) and run.train.budget == "3steps"
    assert run.model == {"width": 8}
    fields = read_run_config(config, "diffusion", model={"p_std": 0.8}).model
    assert fields == {"width": 8, "p_std": 0.8}  # the caller's fields join the file's
    assert read_run_config(config, "vae", model={"width": 16}).model == {"width": 16}


def test_a_model_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("model = 3\n")
    with pytest.raises(InputError, match=r"\[model\]"):
        read_run_config(config, "diffusion")


def test_bad_train_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[train]\nlr = -1.0\n")
    with pytest.raises(InputError, match="lr"):
        read_run_config(config, "vae")
    config.write_text("[train]\nsteps = 3\n")
    with pytest.raises(InputError, match="unknown key 'steps'"):
        read_run_config(config, "vae")
