"""The same code on a CUDA GPU: every family trains and samples there, the detector and the
task denoisers run there and agree with the CPU, a seed gives the same noise on both, and two
same-seed runs under torch's deterministic algorithms end bit-identical.

Skipped on machines without a GPU (CI has none); run on one with `pytest tests/test_gpu.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medgen.data.store import open_dataset
from medgen.detect import DetectorConfig, load_detector, train_detector
from medgen.detect.classify import ClassifyConfig
from medgen.detect.extract import ExtractConfig
from medgen.devices import ENV
from medgen.diffusion.samplers import SAMPLERS
from medgen.tasks.augment import generate_with_masks, train_joint_generator
from medgen.tasks.run import open_pixel_model
from medgen.tensorio import load_tensors
from medgen.train.generate import open_run
from medgen.train.recipe import RunConfig, read_run_config, train_on_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _config(family: str) -> RunConfig:
    return read_run_config(
        None,
        family,
        budget="3steps",
        batch_size=8,
        log_every=1,
        checkpoint_every=100,
        sample_count=2,
    )


@pytest.mark.parametrize("family", ["diffusion", "gan", "vae"])
def test_each_family_trains_and_samples_on_the_gpu(
    family: str, builtin_dataset: Path, tmp_path: Path
) -> None:
    summary = train_on_data(
        family, builtin_dataset, tmp_path / "run", _config(family), progress=False
    )
    assert summary["steps"] == 3
    model = open_run(tmp_path / "run").eval().cuda()
    images = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert images.device.type == "cuda" and torch.isfinite(images).all()


def test_a_joint_generator_trains_and_generates_with_masks_on_the_gpu(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    train_joint_generator(
        "diffusion", builtin_dataset, tmp_path / "joint", _config("diffusion"), progress=False
    )
    conditions = [{"location": "brainstem", "tumour_type": "malignant"}] * 3
    images, masks = generate_with_masks(tmp_path / "joint", conditions, steps=4)
    assert images.shape == masks.shape == (3, 64, 64) and masks.dtype == np.bool_


def test_the_detector_trains_on_the_gpu_and_agrees_with_itself_on_the_cpu(
    builtin_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = DetectorConfig(
        extract=ExtractConfig(steps=15, batch_size=8), classify=ClassifyConfig(steps=30)
    )
    train_detector(builtin_dataset, tmp_path / "det", config, log=lambda _: None)
    store, ids = open_dataset(builtin_dataset), np.arange(40)
    on_gpu = load_detector(tmp_path / "det")
    assert next(on_gpu.net.parameters()).device.type == "cuda"
    monkeypatch.setenv(ENV, "cpu")
    on_cpu = load_detector(tmp_path / "det")
    gpu, cpu = on_gpu.run(store, ids), on_cpu.run(store, ids)
    np.testing.assert_allclose(gpu.probability, cpu.probability, atol=1e-3)


def test_a_pixel_denoiser_gives_the_same_estimate_on_both(
    builtin_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_on_data(
        "diffusion", builtin_dataset, tmp_path / "run", _config("diffusion"), progress=False
    )
    store = open_dataset(builtin_dataset)
    x = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    sigma = torch.full((4,), 0.1)
    gpu = open_pixel_model(tmp_path / "run", store).denoiser(x, sigma)
    monkeypatch.setenv(ENV, "cpu")
    cpu = open_pixel_model(tmp_path / "run", store).denoiser(x, sigma)
    assert gpu.device.type == "cpu"  # the caller's tensors stay where they were
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=1e-3)


def test_a_cpu_seed_gives_the_same_ancestral_noise_on_the_gpu() -> None:
    def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return 0.5 * x

    sigmas = torch.tensor([2.0, 1.0, 0.5, 0.0])
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    runs = [
        SAMPLERS["euler_ancestral"](
            denoiser, x.to(device), sigmas.to(device), generator=torch.Generator().manual_seed(3)
        ).cpu()
        for device in ("cpu", "cuda")
    ]
    torch.testing.assert_close(runs[0], runs[1], atol=1e-5, rtol=1e-5)


# Two same-seed runs of one family in a fresh process whose cuBLAS and cuDNN take only
# deterministic kernels: the flag is set, and the workspace size fixed, before CUDA starts.
TWICE = """
import sys
import torch

torch.use_deterministic_algorithms(True)
sys.path.insert(0, sys.argv[1])
from test_gpu import _config
from medgen.train.recipe import train_on_data

family, data, out = sys.argv[2:]
for run in ("a", "b"):
    train_on_data(family, data, f"{out}/{run}", _config(family), progress=False)
"""


@pytest.mark.parametrize("family", ["diffusion", "gan", "vae"])
def test_two_same_seed_runs_are_bit_identical_under_deterministic_algorithms(
    family: str, builtin_dataset: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    args = [str(Path(__file__).parent), family, str(builtin_dataset), str(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-c", TWICE, *args], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    a, b = (load_tensors(tmp_path / run / "model" / "model.safetensors") for run in "ab")
    assert a.keys() == b.keys()
    assert [name for name in a if not torch.equal(a[name], b[name])] == []
