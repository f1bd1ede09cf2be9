"""experiments/remedy/remedy_pool.py: pooling remedy calls' detectors, on hand-made tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parent / "remedy_pool.py"
N = {"dev": 300, "test": 100}


def call(folder: Path, errors: dict[tuple[str, int], dict[str, float]]) -> Path:
    """A remedy folder whose remedy_seeds.csv holds {(arm, seed): {set: slice error}}."""
    rows = [{"arm": arm, "added": 0 if arm == "baseline" else 400, "set": s, "scope": scope,
             "seed": seed, "error": e if scope == "slice" else 0.3, "low": 0.0, "high": 1.0,
             "n": N[s] if scope == "slice" else 10 * N[s]}
            for (arm, seed), by_set in errors.items() for s, e in by_set.items()
            for scope in ("slice", "overall")]  # fmt: skip
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "remedy_seeds.csv", index=False)
    return folder


def pool(*specs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *specs, "--bootstrap", "200"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_pooled_shares_have_known_answers(tmp_path: Path) -> None:
    # dev: baseline 0.9, real 0.8, inpaint 0.85 (half the gain); test: 0.9, 0.7, 0.8 (half);
    # pooled over 300 dev and 100 test tumours: 0.9, 0.775, 0.8375 (half again).
    first = call(tmp_path / "a", {("baseline", 0): {"dev": 0.9, "test": 0.9},
                                  ("real", 0): {"dev": 0.8, "test": 0.7},
                                  ("inpaint", 0): {"dev": 0.85, "test": 0.8}})  # fmt: skip
    second = call(tmp_path / "b", {("baseline", 1): {"dev": 0.9, "test": 0.9},
                                   ("real", 1): {"dev": 0.8, "test": 0.7},
                                   ("inpaint", 1): {"dev": 0.85, "test": 0.8},
                                   ("inpaint", 0): {"dev": 0.1, "test": 0.1}})  # fmt: skip
    done = pool(str(first), f"{second}:baseline,real,inpaint")
    assert done.returncode == 2 and "arm inpaint seed 0" in done.stderr  # two calls disagree
    second_rows = pd.read_csv(second / "remedy_seeds.csv")
    second_rows[second_rows["seed"] == 1].to_csv(second / "remedy_seeds.csv", index=False)
    done = pool(str(first), str(second))
    assert done.returncode == 0, done.stderr
    assert "inpaint  dev 50%  test 50%  dev+test 50%" in done.stdout
    assert "90% of detector resamples in 50% .. 50%" in done.stdout
    assert "0.838" in done.stdout  # the pooled inpaint error, mean over both seeds


def test_a_call_filtered_to_some_arms_and_bad_folders(tmp_path: Path) -> None:
    folder = call(tmp_path / "a", {("baseline", 0): {"dev": 0.9, "test": 0.9},
                                   ("real", 0): {"dev": 0.8, "test": 0.7}})  # fmt: skip
    done = pool(f"{folder}:real")
    assert done.returncode == 2 and "no baseline or no real arm" in done.stderr
    done = pool(f"{folder}:gan")
    assert done.returncode == 2 and "holds no arm 'gan'" in done.stderr
    done = pool(str(tmp_path / "missing"))
    assert done.returncode == 2 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr
