"""Bad config values: NaN, inf, negative, out of range, the wrong type and unknown keys in a
--config file (train, data make), and bad option values of every command that takes one.

Each command is given small sizes and valid inputs beside the one bad value, so a value that
slips through shows as a run that finished (and wrote its output), not as an hour of work.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from faultcases.core import SMALL_DATA, Attempt, Case, Setup, cli, write


def _train(family: str, name: str, text: str | bytes, *needles: str) -> Setup:
    """`medgen train FAMILY --config NAME` holding `text`; the line names `needles`."""

    def setup(work: Path, fx: Any) -> Attempt:
        config = write(work / name, text)
        argv = ("train", family, "--data", fx.data32, "--out", work / "run", "--config", config)
        budget = () if "budget" in str(text) else ("--budget", "1steps")
        return cli(*argv, *budget, needles=needles)

    return setup


vae = functools.partial(_train, "vae", "t.toml")
vae_json = functools.partial(_train, "vae", "t.json")
diffusion = functools.partial(_train, "diffusion", "t.toml")
gan = functools.partial(_train, "gan", "t.toml")

TRAIN_CONFIGS: dict[str, Setup] = {
    "train-lr-nan": vae("[train]\nlr = nan\n", "t.toml", "lr", "finite"),
    "train-lr-inf": vae("[train]\nlr = inf\n", "t.toml", "lr", "finite"),
    "train-lr-negative": vae("[train]\nlr = -1e-3\n", "lr", "positive"),
    "train-lr-huge-json": vae_json('{"train": {"lr": 1e999}}', "t.json", "lr", "finite"),
    "train-batch-size-zero": vae("[train]\nbatch_size = 0\n", "batch_size"),
    "train-batch-size-float": vae("[train]\nbatch_size = 2.5\n", "batch_size", "2.5"),
    "train-batch-size-text": vae('[train]\nbatch_size = "32"\n', "batch_size", "'32'"),
    "train-ema-above-1": vae("[train]\nema_decay = 1.5\n", "ema_decay", "1.5"),
    "train-one-beta": vae("[train]\nbetas = [0.9]\n", "betas"),
    "train-bad-budget": vae('[train]\nbudget = "forever"\n', "budget", "forever"),
    "train-bad-schedule": vae('[train]\nlr_schedule = "linear"\n', "lr_schedule", "linear"),
    "train-negative-seed": vae("[train]\nseed = -1\n", "seed", "-1"),
    "train-unknown-key": vae("[train]\nepochs = 3\n", "t.toml", "epochs"),
    "train-unknown-table": vae("[trian]\nlr = 1e-3\n", "t.toml", "trian"),
    "train-table-not-a-table": vae("train = 3\n", "t.toml", "train"),
    "train-json-list": vae_json("[1, 2]", "t.json", "list"),
    "train-not-toml": vae("[train\nlr = \n", "t.toml", "TOML"),
    "train-not-utf8": vae(b"[train]\nlr = \xff\xfe\n", "t.toml", "cannot be read"),
    "vae-hidden-text": vae('[model]\nhidden = "wide"\n', "[model]", "hidden", "'wide'"),
    "vae-latent-negative": vae("[model]\nlatent_channels = -2\n", "[model]", "latent_channels"),
    "diffusion-sigma-data-nan": diffusion("[model]\nsigma_data = nan\n", "[model]", "finite"),
    "diffusion-bad-sampler": diffusion('[model]\nsampler = "eulr"\n', "[model]", "'eulr'"),
    "diffusion-steps-zero": diffusion("[model]\nsteps = 0\n", "[model]", "steps", "0"),
    "gan-width-zero": gan("[model]\nwidth = 0\n", "[model]", "width", "0"),
    "model-unknown-key": gan("[model]\ndepth = 3\n", "[model]", "depth"),
}

# name -> (config text, what the line must name); `data make --config`
DATA_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "data-size-48": ("size = 48\n", ("48",)),
    "data-reversed-contrast": ("[tumour]\ncontrast = [0.6, 0.1]\n", ("contrast",)),
    "data-noise-nan": ("[noise]\nsigma = [nan, 0.1]\n", ("sigma", "finite")),
    "data-prevalence-negative": (
        "[scenario.location_prevalence.train]\nbrainstem = -0.5\n",
        ("brainstem", "-0.5"),
    ),
    "data-unknown-location": (
        "[scenario.location_prevalence.train]\nhippocampus = 0.1\n",
        ("hippocampus",),
    ),
    "data-unknown-key": ('colour = "red"\n', ("colour",)),
    "data-seed-float": ("seed = 1e30\n", ("seed",)),
    "data-malignant-fraction-2": ("[tumour]\np_malignant = 2.0\n", ("p_malignant", "2")),
    "data-radius-zero": ("[tumour]\nbenign_radius_mm = [0.0, 14.0]\n", ("benign_radius_mm",)),
    "data-fov-inf": ("[anatomy]\nfield_of_view_mm = inf\n", ("field_of_view_mm", "finite")),
}


def _data(text: str, needles: tuple[str, ...]) -> Setup:
    def setup(work: Path, fx: Any) -> Attempt:
        config = write(work / "data.toml", text)
        sizes = SMALL_DATA[2:] if text.startswith("size") else SMALL_DATA  # the file's size
        argv = ("data", "make", "--out", work / "data", "--config", config, *sizes)
        return cli(*argv, needles=("data.toml", *needles))

    return setup


# name -> (the command line, what the line must name); PRIOR, DATA64, DATA32, PRED and PROJECT
# stand for the shared fixtures.
OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "denoise-noise-nan": ("denoise PRIOR --data DATA64 --noise nan", ("--noise", "nan")),
    "denoise-noise-negative": ("denoise PRIOR --data DATA64 --noise -0.1", ("--noise",)),
    "denoise-noise-above-1": ("denoise PRIOR --data DATA64 --noise 2", ("--noise", "2")),
    "denoise-bad-split": (
        "denoise PRIOR --data DATA64 --split validation",
        ("--split", "validation"),
    ),
    "denoise-bad-method": ("denoise PRIOR --data DATA64 --method median", ("--method", "median")),
    "denoise-unknown-peer": ("denoise PRIOR --data DATA64 --peers bm4d", ("--peers", "bm4d")),
    "denoise-sigma-inf": ("denoise PRIOR --data DATA64 --sigma inf", ("--sigma", "inf")),
    "reconstruct-accel-1": ("reconstruct PRIOR --data DATA64 --accel 1", ("--accel", "1")),
    "reconstruct-accel-100": ("reconstruct PRIOR --data DATA64 --accel 100", ("--accel", "100")),
    "reconstruct-bad-mask": ("reconstruct PRIOR --data DATA64 --mask spiral", ("--mask", "spiral")),
    "anomaly-bad-method": ("anomaly PRIOR --data DATA64 --method magic", ("--method", "magic")),
    "anomaly-t-sigma-inf": ("anomaly PRIOR --data DATA64 --t-sigma inf", ("--t-sigma", "inf")),
    "anomaly-bad-truth": ("anomaly PRIOR --data DATA64 --truth all", ("--truth", "all")),
    "anomaly-bad-cleanup": ("anomaly PRIOR --data DATA64 --cleanup magic", ("--cleanup", "magic")),
    "anomaly-bad-noise-kind": (
        "anomaly PRIOR --data DATA64 --noise-kind pink",
        ("--noise-kind", "pink"),
    ),
    "sample-bad-sampler": ("sample PRIOR --sampler magic --n 1", ("--sampler", "magic")),
    "sample-cond-unconditional": ("sample PRIOR --cond location=moon --n 1", ("--cond",)),
    "sample-guidance-nan": ("sample PRIOR --guidance nan --n 1", ("--guidance", "nan")),
    "sample-bad-format": ("sample PRIOR --out s.jpg --n 1", ("s.jpg", ".jpg")),
    "train-where-unknown-column": (
        "train vae --data DATA32 --out run --where colour=red --budget 1steps",
        ("--where", "colour"),
    ),
    "train-cond-unknown-column": (
        "train diffusion --data DATA32 --out run --cond colour --budget 1steps",
        ("--cond", "colour"),
    ),
    "train-bad-budget-flag": (
        "train vae --data DATA32 --out run --budget 10parsecs",
        ("--budget", "10parsecs"),
    ),
    "train-joint-with-latent": (
        "train diffusion --data DATA32 --out run --joint --latent PRIOR",
        ("--latent", "--joint"),
    ),
    "import-splits-two": ("data import DATA32 --out imported --splits 0.5,0.5", ("--splits",)),
    "import-splits-over-1": (
        "data import DATA32 --out imported --splits 0.8,0.1,0.2",
        ("--splits",),
    ),
    "import-bad-modality": (
        "data import DATA32 --out imported --modality dwi",
        ("--modality", "dwi"),
    ),
    "import-bad-kind": ("data import DATA32 --out imported --kind zip", ("--kind", "zip")),
    "import-size-100": ("data import DATA32 --out imported --size 100", ("--size", "100")),
    "import-axis-3": ("data import DATA32 --out imported --axis 3", ("--axis", "3")),
    "tally-unknown-group": (
        "errors tally --predictions PRED --project PROJECT --by colour",
        ("--by", "colour"),
    ),
    "remedy-unknown-slice": (
        "errors remedy --data DATA32 --out remedy --slice colour=red",
        ("--slice", "colour"),
    ),
    "remedy-unknown-arm": (
        "errors remedy --data DATA32 --out remedy --arms magic",
        ("--arms", "magic"),
    ),
    "show-bad-split": (
        "data show DATA32 --out show.png --split validation",
        ("--split", "validation"),
    ),
    "show-bad-format": ("data show DATA32 --out show.docx", ("show.docx", "'docx'")),
    "lab-scale-nan": ("lab score --scale nan", ("--scale", "nan")),
    "compare-bad-features-kind": (
        "compare PRIOR --data DATA64 --out cmp --features clip:model.pt",
        ("clip:model.pt", "not a feature extractor"),
    ),
}


def _option(line: str, needles: tuple[str, ...]) -> Setup:
    def setup(work: Path, fx: Any) -> Attempt:
        return cli(*map(fx.resolve, line.split()), needles=needles)

    return setup


def cases() -> list[Case]:
    """Config-file values for train and data make, then option values."""
    found = [Case("config", name, setup) for name, setup in TRAIN_CONFIGS.items()]
    found += [Case("config", name, _data(*spec)) for name, spec in DATA_CONFIGS.items()]
    found += [Case("config", name, _option(*spec)) for name, spec in OPTIONS.items()]
    return found
