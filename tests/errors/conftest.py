"""Tiny joint (image, mask) generators on the shared built-in dataset, for the remedy's tests;
a fresh eyeballing project and a test client of its web app, for the app's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from starlette.testclient import TestClient
from web_support import BASE, HOST, WebProject, build_web_project

from medgen.errors.web import allowed_hosts_for, create_app
from medgen.tasks.augment import train_joint_generator
from medgen.train.recipe import read_run_config

TINY = {
    "diffusion": "[model]\nsteps = 2\n"
    "unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }\n",
    "gan": "[model]\nwidth = 8\n",
}


@pytest.fixture(scope="session")
def joint_runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("joint")
    runs = {}
    for family, text in TINY.items():
        (root / f"{family}.toml").write_text(text)
        config = read_run_config(root / f"{family}.toml", family, budget="2steps", batch_size=4)
        runs[family] = root / family
        train_joint_generator(family, builtin_dataset, runs[family], config, progress=False)
    return runs


@pytest.fixture
def web(builtin_dataset: Path, tmp_path: Path) -> WebProject:
    """A fresh project (tests here write tags)."""
    return build_web_project(builtin_dataset, tmp_path)


@pytest.fixture
def client(web: WebProject) -> Iterator[TestClient]:
    """A test client of the app, as a browser on this machine would reach it."""
    app = create_app(
        web.predictions, web.project, author="tester", allowed_hosts=allowed_hosts_for(*HOST)
    )
    with TestClient(app, base_url=BASE, follow_redirects=False) as test_client:
        yield test_client
