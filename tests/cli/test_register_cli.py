"""`medgen register` end to end on the tiny built-in data with the shipped pixel prior and a
two-step training budget, on a split's pairs and on a user's own NIfTI pair; and its refusals
(a run that is no pixel diffusion model, a pair of two shapes, a pair of another size than the
data's, half a pair, an unknown peer): one line, exit 2, through `medgen.cli.main` in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cli_support import run_cli
from medgen.cli import main
from medgen.data.store import open_dataset
from medgen.reference.zoo import reference_folder

TINY = ("--limit", "4", "--train-slices", "60", "--steps", "2")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def prior() -> Path:
    return reference_folder("pixel_prior")


def _nifti(path: Path, image: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(image, np.float32), np.eye(4)), path)
    return path


@pytest.fixture(scope="module")
def pair(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 64 x 64 slices of one level and a 32 x 32 one, as NIfTI files."""
    store = open_dataset(builtin_dataset)
    meta = store.meta
    level = meta["source_z"].value_counts().index[0]
    a, b = meta.index[meta["source_z"] == level][:2]
    root = tmp_path_factory.mktemp("register_pair")
    images = store.array("images")
    return {
        "fixed": _nifti(root / "fixed.nii.gz", images[a]),
        "moving": _nifti(root / "moving.nii", images[b]),
        "small": _nifti(root / "small.nii.gz", images[a][::2, ::2]),
        "small2": _nifti(root / "small2.nii.gz", images[b][::2, ::2]),
    }


def test_register_scores_a_split_against_its_peers(
    prior: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "registered"
    result = run_cli("register", prior, "--data", builtin_dataset, *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    for needle in ("medgen (diffusion-prior VoxelMorph)", "voxelmorph", "ants_syn", "sitk_demons"):
        assert needle in result.stdout
    assert "EPE px" in result.stdout and "folding %" in result.stdout
    assert result.stdout.count("target:") == 2
    per_pair = pd.read_csv(out / "per_pair.csv")
    assert len(per_pair) == 16 and per_pair["epe_px"].notna().all()
    table = (out / "table.txt").read_text()
    assert "EPE px" in table and table.count("target:") == 2


def test_register_warps_your_own_pair(
    prior: Path, builtin_dataset: Path, pair: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "warped.nii.gz"
    result = run_cli(
        "register", prior, "--data", builtin_dataset, "--fixed", pair["fixed"],
        "--moving", pair["moving"], "--out", out, *TINY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warped = _read(out)
    ddf = _read(tmp_path / "warped_ddf.nii.gz")
    assert warped.shape == (64, 64) and ddf.shape == (64, 64, 2)
    assert np.isfinite(warped).all() and np.isfinite(ddf).all()


def _read(path: Path) -> np.ndarray:
    image: Any = nib.load(path)
    return np.asarray(image.get_fdata())


def _refused(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("medgen: error: "), captured.err
    return lines[0]


def test_register_refuses_a_run_that_is_no_pixel_diffusion_model(
    builtin_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(capsys, "register", reference_folder("healthy_vae"), "--data", builtin_dataset)
    assert "need a diffusion model" in line


@pytest.mark.parametrize(
    ("fixed", "moving", "needles"),
    [
        ("fixed", "small", ["different shapes", "(64, 64) and (32, 32)"]),
        ("small", "small2", ["is 32 x 32", "registers 64 x 64"]),
        ("fixed", None, ["--fixed/--moving", "give both or neither"]),
    ],
)
def test_register_refuses_a_bad_pair(
    prior: Path,
    builtin_dataset: Path,
    pair: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    fixed: str,
    moving: str | None,
    needles: list[str],
) -> None:
    args: list[str | Path] = ["register", prior, "--data", builtin_dataset, "--fixed", pair[fixed]]
    if moving is not None:
        args += ["--moving", pair[moving]]
    line = _refused(capsys, *args)
    for needle in needles:
        assert needle in line


def test_register_refuses_an_unknown_peer(
    prior: Path, builtin_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(capsys, "register", prior, "--data", builtin_dataset, "--peers", "elastix")
    assert "--peers" in line and "elastix" in line


def test_register_refuses_negative_refinement(
    prior: Path, builtin_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(capsys, "register", prior, "--data", builtin_dataset, "--refine-steps", "-1")
    assert "--refine-steps" in line and "-1" in line


def test_register_refuses_no_pairs(
    prior: Path, builtin_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(capsys, "register", prior, "--data", builtin_dataset, "--limit", "0")
    assert "--limit" in line


def test_register_refuses_an_existing_output_before_training(
    prior: Path, builtin_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(capsys, "register", prior, "--data", builtin_dataset, "--out", tmp_path)
    assert "already exists" in line and "--overwrite" in line


def test_saved_networks_register_as_they_were_trained(
    prior: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    """--save-nets writes the networks; RUN = that folder registers the same pairs with them,
    without training, and scores each pair exactly as the freshly trained networks did."""
    nets = tmp_path / "nets"
    trained, reused = tmp_path / "trained", tmp_path / "reused"
    first = run_cli(
        "register", prior, "--data", builtin_dataset, *TINY, "--peers", "",
        "--save-nets", nets, "--out", trained,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert {p.name for p in nets.iterdir()} == {
        "nets.json", "medgen.safetensors", "voxelmorph.safetensors",
    }  # fmt: skip
    again = run_cli(
        "register", nets, "--data", builtin_dataset, "--limit", "4", "--peers", "", "--out", reused
    )
    assert again.returncode == 0, again.stderr
    assert "trained medgen" not in again.stdout + again.stderr  # nothing was trained
    before, after = (pd.read_csv(p / "per_pair.csv") for p in (trained, reused))
    columns = ["method", "fixed", "moving", "epe_px", "dice_mean", "folding_pct"]
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_saved_networks_are_refused_when_damaged_or_for_another_size(
    prior: Path, builtin_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nets = tmp_path / "nets"
    main(["register", str(prior), "--data", str(builtin_dataset), *TINY, "--peers", "",
          "--save-nets", str(nets)])  # fmt: skip
    capsys.readouterr()
    line = _refused(
        capsys, "register", nets, "--data", builtin_dataset, "--save-nets", tmp_path / "x"
    )
    assert "--save-nets" in line and "nothing to train" in line
    line = _refused(capsys, "register", prior, "--data", builtin_dataset, "--save-nets", nets)
    assert "already exists" in line
    info = json.loads((nets / "nets.json").read_text())
    (nets / "nets.json").write_text(json.dumps({**info, "size": 32}))
    line = _refused(capsys, "register", nets, "--data", builtin_dataset)
    assert "trained on 32 px slices" in line
    (nets / "nets.json").write_text(json.dumps(info))
    (nets / "medgen.safetensors").write_bytes(b"not weights")
    line = _refused(capsys, "register", nets, "--data", builtin_dataset)
    assert "medgen.safetensors" in line and "SHA-256" in line
