"""Every command line a command's --help shows ("Example: medgen ...", "... with: medgen ...")
runs, in one temporary folder, on tiny data that the first example makes, and writes what it
names; and every option's help shows its default.

The examples run in their help's order of dependence (data, then runs, then the detector, then
its error analysis), in this process, each with a few values shrunk (a budget of 2 steps, a tiny
model config, a handful of slices) so that the chain takes well under a minute of one core. The
examples that stay slow even so (the classical peers' tuning, the study, the remedy loop) are
marked slow and run after the chain, in the same folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main

from medgen.cli import app, main

# A command line in a help text: after "Example:" or after "... with:".
COMMAND_LINE = re.compile(r"^\s*(?:Example|[\w -]+ with): (medgen .+)$")

TINY_MODELS = {
    "diffusion": (
        "[model]\nsteps = 3\n"
        "unet = {channels = [16, 32], attention_levels = [false, true], num_head_channels = 16}\n"
    ),
    "gan": "[model]\nlatent_dim = 16\nwidth = 16\n",
    "vae": "[model]\nhidden = [8, 16]\nlatent_channels = 2\n",
}
TINY_TRAIN = "[train]\nsample_count = 4\ncheckpoint_every = 1000\n"
PEER_OUTPUTS = ("arrays", "panels", "per_slice.csv", "metrics.json")
RUN_OUTPUTS = ("checkpoints", "config.json", "metrics.jsonl", "samples", "model", "summary.json")


@dataclass(frozen=True)
class Step:
    """How the test runs one example: values it shrinks, words it adds, the files (under the
    workspace) the example must write besides its --out, and whether it is slow."""

    # option -> its value (replaced, or added where the example has none); or a positional
    # word -> the word in its place
    shrink: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    slow: bool = False


def train(family: str, out: str) -> Step:
    """A training example at 2 steps of the family's tiny model."""
    config = ("--config", f"tiny-{family}.toml", "--batch-size", "4")
    return Step({"--budget": "2steps"}, config, tuple(f"{out}/{name}" for name in RUN_OUTPUTS))


def lab(name: str, *, slow: bool = False) -> Step:
    out = f"lab/{name}"
    return Step({}, ("--scale", "0.01"), (f"{out}/numbers.json", f"{out}/figures"), slow)


# Every example, in an order in which each finds what it reads.
STEPS: dict[str, Step] = {
    "medgen data make --out data --size 64 --n-train 8000 --n-dev 5000 --n-test 2000": Step(
        {"--size": "32", "--n-train": "64", "--n-dev": "64", "--n-test": "24"}, ("--workers", "1")
    ),
    "medgen data show data --out grid.png --split dev --per-cell 4": Step(),
    "medgen data import brats/ --out mydata --kind nifti --axis 2": Step(),
    "medgen train diffusion --data data --out runs/diffusion --budget 10m": train(
        "diffusion", "runs/diffusion"
    ),
    "medgen train diffusion --data data --out runs/cond --cond type,location --budget 10m": train(
        "diffusion", "runs/cond"
    ),
    "medgen train diffusion --data data --out runs/t --cond tumour_type --init pixel_prior": Step(
        # the tiny data are 32 pixels and pixel_prior models 64: start from the tiny run instead
        {"--budget": "2steps", "--init": "runs/diffusion"},
        train("diffusion", "runs/t").extra,
        train("diffusion", "runs/t").writes,
    ),
    "medgen train gan --data data --out runs/gan --budget 10m --log-with tensorboard": train(
        "gan", "runs/gan"
    ),
    "medgen train vae --data data --out runs/vae --budget 10m": train("vae", "runs/vae"),
    "medgen sample runs/diffusion --n 64 --out samples.png": Step({"--n": "4"}),
    "medgen sample runs/cond --n 64 --cond location=brainstem --guidance 2 --out s.png": Step(
        {"--n": "4"}
    ),
    "medgen classify runs/cond --data data --label tumour_type --draws 8 --out classified": Step(
        {"--draws": "1"}, ("--limit", "2"), ("classified/per_slice.csv", "classified/metrics.json")
    ),
    "medgen segment runs/diffusion --data data --labels 10 --draws 3 --test 200": Step(
        {"--draws": "2", "--test": "4"}, ("--unet-steps", "2", "--mlp-steps", "10")
    ),
    "medgen register runs/diffusion --data data --limit 40 --minutes 5 --out registered": Step(
        {"--limit": "4", "--minutes": "0.05"},
        ("--steps", "2", "--train-slices", "60"),
        ("registered/per_pair.csv", "registered/table.txt"),
    ),
    "medgen register runs/diffusion --data data --save-nets nets --peers ''": Step(
        {"--limit": "4"},
        ("--steps", "2", "--train-slices", "60"),
        ("nets/nets.json", "nets/medgen.safetensors", "nets/voxelmorph.safetensors"),
    ),
    "medgen register nets --data data --fixed a.nii --moving b.nii --out w.nii": Step(
        {}, (), ("w.nii", "w_ddf.nii")
    ),
    "medgen features --data data --out features": Step(
        {}, ("--steps", "2"), ("features/weights.safetensors", "features/extractor.json")
    ),
    "medgen compare runs/diffusion runs/gan runs/vae --data data --out compare": Step(
        {},
        ("--features", "features", "--n", "10", "--n-real", "10", "--per-condition", "10"),
        tuple(f"compare/{name}" for name in ("metrics.json", "metrics.csv", "samples.png")),
    ),
    "medgen train diffusion --data data --out runs/healthy --where label=0": train(
        "diffusion", "runs/healthy"
    ),
    "medgen train vae --data data --out runs/vae_healthy --where label=0": train(
        "vae", "runs/vae_healthy"
    ),
    "medgen anomaly runs/healthy --data data --vae runs/vae_healthy --out anomaly": Step(
        {},
        ("--limit", "2", "--levels", "1", "--draws", "1", "--tune-slices", "2"),
        tuple(f"anomaly/{name}" for name in PEER_OUTPUTS),
    ),
    "medgen anomaly healthy_prior --input scan.nii.gz --out anomaly.nii.gz": Step(
        {}, ("--levels", "1", "--draws", "1"), ("anomaly_montage.png",)
    ),
    "medgen denoise pixel_prior --input scan.nii.gz --out denoised.nii.gz": Step(
        {}, ("--k", "1", "--steps", "2"), ("denoised_uncertainty.nii.gz",)
    ),
    "medgen reconstruct pixel_prior --kspace kspace.npy --mask mask.npy --out recon.nii.gz": Step(
        {}, ("--k", "1", "--steps", "2"), ("recon_uncertainty.nii.gz",)
    ),
    "medgen detect train --data data --out detector": Step({}, ("--steps", "2")),
    "medgen detect predict detector --data data --split dev": Step(
        writes=(
            "detector/predictions/dev/predictions.csv",
            "detector/predictions/dev/predictions.json",
        )
    ),
    "medgen detect predict detector --input scan.nii.gz --out slices.csv": Step(),
    "medgen errors split --predictions detector/predictions/dev --project proj": Step(
        writes=("proj/errors.sqlite",)
    ),
    "medgen errors tally --predictions detector/predictions/dev --project proj --by location": (
        Step()
    ),
    "medgen errors tag 1234 blurry --project proj": Step({"1234": "{eyeball_id}"}),
    "medgen errors evaluate --predictions detector/predictions/dev --project proj": Step(),
    "medgen errors history --project proj": Step(),
    "medgen errors parts detector --predictions detector/predictions/dev --project proj": Step(),
    "medgen errors serve --predictions detector/predictions/dev --project proj --port 8765": Step(
        {"--port": "{port}"}
    ),
    "medgen lab score --out lab/score": lab("score"),
    "medgen lab why-noise --out lab/why-noise": lab("why-noise"),
    "medgen reference list": Step(),
    "medgen reference show pixel_prior": Step(),
    # slow: each takes from ten seconds to minutes of one core, even shrunk
    "medgen lab score-matching --out lab/score-matching": lab("score-matching", slow=True),
    "medgen lab mode-collapse --out lab/mode-collapse": lab("mode-collapse", slow=True),
    "medgen denoise runs/diffusion --data data --noise 0.1 --peers all --out denoised": Step(
        {},
        ("--limit", "1", "--k", "1", "--steps", "2"),
        tuple(f"denoised/{name}" for name in PEER_OUTPUTS),
        slow=True,
    ),
    "medgen reconstruct runs/diffusion --data data --accel 4 --mask cartesian --peers all": Step(
        {},
        ("--limit", "1", "--k", "1", "--steps", "2"),
        tuple(f"reconstructed/{name}" for name in PEER_OUTPUTS),
        slow=True,
    ),
    "medgen reference retrain healthy_vae --data data --out retrained --budget 50steps": Step(
        {"--budget": "2steps"}, slow=True
    ),
    "medgen errors remedy --data data --out remedy --slice location=brainstem --n 400": Step(
        {"--n": "4"},
        ("--train-budget", "2steps", "--steps", "2"),
        ("remedy/remedy.csv", "remedy/remedy.json"),
        slow=True,
    ),
    "medgen study --out study --profile quick": Step(
        {"--profile": "tiny"}, ("--workers", "1"), ("study/report.html",), slow=True
    ),
}
FAST = [example for example, step in STEPS.items() if not step.slow]
SLOW = [example for example, step in STEPS.items() if step.slow]


def help_texts() -> dict[str, str]:
    """Every command's --help, unwrapped (one very wide terminal), by its command line."""
    texts: dict[str, str] = {}

    def walk(command: Any, path: str) -> None:
        ctx = command.make_context(
            path, [], resilient_parsing=True, terminal_width=1000, max_content_width=1000
        )
        texts[path] = command.get_help(ctx)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "medgen")
    return texts


def help_examples() -> list[str]:
    """Every command line shown in a help text, in the order the help texts come."""
    return [
        match.group(1).strip()
        for text in help_texts().values()
        for line in text.splitlines()
        if (match := COMMAND_LINE.match(line))
    ]


def arguments(example: str, step: Step, facts: dict[str, str]) -> list[str]:
    """The example's words after `medgen`, with the step's values shrunk and words added."""
    words = shlex.split(example)[1:]
    for key, value in step.shrink.items():
        if key not in words:
            words += [key, ""]
        words[words.index(key) + (1 if key.startswith("--") else 0)] = value.format(**facts)
    return [*words, *step.extra]


def named_outputs(words: list[str], step: Step) -> list[str]:
    """What the example must write: its --out and the step's files."""
    out = [words[words.index("--out") + 1]] if "--out" in words else []
    return [*out, *step.writes]


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run a block with `folder` as the working directory."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_in_process(words: list[str]) -> tuple[int, str]:
    """`medgen WORDS` in this process: its exit code and stdout + stderr."""
    buffer = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            main(words)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, buffer.getvalue()


def serve_until_answered(words: list[str], port: str, timeout: float = 120) -> tuple[int, str]:
    """Start the web app in a process of its own, wait for its first page, then stop it."""
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "medgen", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    status = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    status = page.status
                break
            except OSError:
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    return (0 if status == 200 else 1), output


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def eyeball_id(project: Path) -> str:
    """An example id of the project's current eyeball set."""
    from medgen.errors import ErrorStore

    with ErrorStore(project, create=False) as store:
        split = store.latest_split()
        assert split is not None
        return str(int(split.eyeball[0]))


def prepare(folder: Path) -> None:
    """The tiny model configs the training examples get, a NIfTI volume to import (and as a
    user's scan), measured k-space with its line mask, and a pair of slices to register."""
    import nibabel as nib
    import torch

    from medgen.tasks.kspace import fft2c

    for family, model in TINY_MODELS.items():
        (folder / f"tiny-{family}.toml").write_text(TINY_TRAIN + model)
    axis = np.linspace(-1.0, 1.0, 24)
    head = np.exp(-2 * (axis[:, None, None] ** 2 + axis[None, :, None] ** 2))  # (24, 24, 1)
    volume = (100 * head * np.ones((1, 1, 8))).astype(np.float32)  # (24, 24, 8)
    (folder / "brats").mkdir()
    nib.Nifti1Image(volume, np.eye(4)).to_filename(folder / "brats" / "case1.nii.gz")
    nib.Nifti1Image(volume, np.eye(4)).to_filename(folder / "scan.nii.gz")
    lines = np.arange(24) % 3 == 0  # (cols,): every third phase-encode line
    kspace = fft2c(torch.from_numpy(np.moveaxis(volume, -1, 0)).to(torch.complex64)).numpy()
    np.save(folder / "kspace.npy", kspace * lines)
    np.save(folder / "mask.npy", lines)
    size = np.linspace(-1.0, 1.0, 32)  # the tiny data's image size
    for name, shift in (("a.nii", 0.0), ("b.nii", 0.1)):
        blob = np.exp(-3 * ((size[:, None] - shift) ** 2 + size[None, :] ** 2))
        nib.Nifti1Image(blob.astype(np.float32), np.eye(4)).to_filename(folder / name)


def run_example(example: str, folder: Path) -> None:
    """Run one example in `folder`; fail with its output unless it exits 0 and writes its
    outputs."""
    step = STEPS[example]
    facts: dict[str, str] = {}
    if "{eyeball_id}" in step.shrink.values():
        facts["eyeball_id"] = eyeball_id(folder / "proj")
    if "{port}" in step.shrink.values():
        facts["port"] = free_port()
    words = arguments(example, step, facts)
    with inside(folder):
        if words[:2] == ["errors", "serve"]:
            code, output = serve_until_answered(words, facts["port"])
        else:
            code, output = run_in_process(words)
    assert code == 0, f"{example}\n-> medgen {shlex.join(words)}\n{output}"
    missing = [name for name in named_outputs(words, step) if not (folder / name).exists()]
    assert not missing, f"{example} did not write {missing}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder in which every fast example has run, in order."""
    folder = tmp_path_factory.mktemp("examples")
    prepare(folder)
    for example in FAST:
        run_example(example, folder)
    return folder


def test_the_examples_are_the_ones_this_test_runs() -> None:
    shown = help_examples()
    assert len(shown) == len(set(shown)), "an example is shown twice"
    assert sorted(shown) == sorted(STEPS), "examples changed: update STEPS"


def test_every_fast_example_runs_and_writes_what_it_names(workspace: Path) -> None:
    assert (workspace / "runs" / "gan" / "tracker" / "medgen").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("MEDGEN_SLOW_EXAMPLES"),
    reason="minutes each on a CPU: run with MEDGEN_SLOW_EXAMPLES=1 (their commands have their "
    "own tests: lab, tasks, reference, remedy and study)",
)
@pytest.mark.parametrize("example", SLOW)
def test_every_slow_example_runs_and_writes_what_it_names(workspace: Path, example: str) -> None:
    run_example(example, workspace)


def test_every_option_shows_its_default_and_brackets_survive() -> None:
    root = typer.main.get_command(app)
    silent = []
    for path in help_texts():
        command = root
        for name in path.split()[1:]:
            command = command.commands[name]
        ctx = command.make_context(path, [], resilient_parsing=True)
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is None or param.name in ("help", "version"):
                continue
            if "default:" not in record[1] and "required" not in record[1]:
                silent.append(f"{path} {record[0]}")
    assert not silent, f"options without a shown default: {silent}"
    assert "TOML/JSON with [train] and [model] tables" in help_texts()["medgen train"]
