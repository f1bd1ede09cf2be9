"""Corrupt inputs, part 2: saved models (safetensors weights with a wrong SHA-256, a truncated or
pickled file under a matching one, a broken model.json), a run folder missing files, training
checkpoints that fail their hashes, a damaged feature extractor, detector and predictions
folder, and an errors project that is not a database."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultcases.core import SAMPLE, Attempt, Case, cli, copy_tree, write
from faultcases.inputs import edit_json, flip_byte, truncate


def rehash(model: Path) -> Path:
    """Record the current SHA-256 of model/model.safetensors in model.json (damage that the
    hash check alone would not see)."""
    digest = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    edit_json(model / "model.json", lambda r: {**r, "sha256": digest})
    return model / "model.safetensors"


def pickled(path: Path) -> Path:
    import pickle

    path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    return path


def foreign_weights(model: Path, fx: Any) -> Path:
    """The shipped VAE's weights under the diffusion prior's model.json."""
    (model / "model.safetensors").write_bytes((fx.vae / "model" / "model.safetensors").read_bytes())
    return rehash(model)


def sampled(damage: Callable[[Path, Any], Path], *needles: str) -> Any:
    """`medgen sample RUN` on a copy of the shipped prior whose model/ `damage` damaged."""

    def setup(work: Path, fx: Any) -> Attempt:
        run = copy_tree(fx.prior, work / "run")
        named = damage(run / "model", fx)
        argv = ("sample", run, "--out", work / "s.png", *SAMPLE)
        return cli(*argv, needles=(str(named), *needles))

    return setup


def record(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path, Any], Path]:
    return lambda model, fx: edit_json(model / "model.json", change)


MODELS: dict[str, Any] = {
    "weights-bit-flip": sampled(
        lambda m, fx: flip_byte(m / "model.safetensors"), "does not match the SHA-256"
    ),
    "weights-truncated-rehashed": sampled(
        lambda m, fx: (truncate(m / "model.safetensors"), rehash(m))[1], "safetensors"
    ),
    "weights-pickle-rehashed": sampled(
        lambda m, fx: (pickled(m / "model.safetensors"), rehash(m))[1], "safetensors"
    ),
    "weights-of-another-model": sampled(foreign_weights, "does not match the model"),
    "weights-missing": sampled(
        lambda m, fx: (m / "model.safetensors").unlink() or m / "model.safetensors", "no such"
    ),
    "model-json-not-json": sampled(lambda m, fx: write(m / "model.json", "{family"), "JSON"),
    "model-json-a-list": sampled(record(lambda r: [r]), "JSON object"),
    "model-json-no-family": sampled(
        record(lambda r: {k: v for k, v in r.items() if k != "family"}), "family"
    ),
    "model-json-unknown-family": sampled(record(lambda r: {**r, "family": "flow"}), "'flow'"),
    "model-json-bad-config": sampled(
        record(lambda r: {**r, "config": {**r["config"], "sampler": "magic"}}), "magic"
    ),
    "model-json-config-a-list": sampled(record(lambda r: {**r, "config": [1]}), "config"),
    "model-json-hash-a-number": sampled(record(lambda r: {**r, "sha256": 5}), "sha256"),
    "model-json-missing": sampled(
        lambda m, fx: (m / "model.json").unlink() or m / "model.json", "incomplete"
    ),
}


# ---- the other saved things: features, a VAE, predictions, an errors project ---------------


def features(damage: Callable[[Path], Path], *needles: str) -> Any:
    """`medgen compare` with a damaged copy of the shipped feature extractor."""

    def setup(work: Path, fx: Any) -> Attempt:
        folder = copy_tree(fx.features, work / "features")
        named = damage(folder)
        argv = ("compare", fx.prior, "--data", fx.data64, "--out", work / "cmp")
        sizes = ("--n", "10", "--n-real", "10", "--steps", "1")
        return cli(*argv, "--features", folder, *sizes, needles=(str(named), *needles))

    return setup


def export_garbage(work: Path, fx: Any) -> Attempt:
    """`compare --features export:FILE` where FILE is no torch.export program."""
    program = write(work / "f.pt2", "junk")
    argv = ("compare", fx.prior, "--data", fx.data64, "--out", work / "cmp")
    sizes = ("--n", "10", "--n-real", "10")
    return cli(*argv, "--features", f"export:{program}", *sizes, needles=(str(program),))


def anomaly_vae(work: Path, fx: Any) -> Attempt:
    vae = copy_tree(fx.vae, work / "vae")
    flip_byte(vae / "model" / "model.safetensors")
    argv = ("anomaly", fx.prior, "--data", fx.data64, "--vae", vae, "--out", work / "anomaly")
    return cli(*argv, needles=("model.safetensors", "SHA-256"))


def predictions(damage: Callable[[Path], Path], *needles: str) -> Any:
    """`medgen errors tally` on a damaged copy of the predictions folder."""

    def setup(work: Path, fx: Any) -> Attempt:
        folder = copy_tree(fx.errors / "predictions", work / "predictions")
        project = copy_tree(fx.errors / "project", work / "project")
        named = damage(folder)
        argv = ("errors", "tally", "--predictions", folder, "--project", project)
        return cli(*argv, needles=(str(named), *needles))

    return setup


def csv_edit(change: Callable[[str], str]) -> Callable[[Path], Path]:
    def damage(folder: Path) -> Path:
        path = folder / "predictions.csv"
        return write(path, change(path.read_text()))

    return damage


def project(damage: Callable[[Path], Path], *needles: str) -> Any:
    """`medgen errors history` on a damaged copy of the errors project."""

    def setup(work: Path, fx: Any) -> Attempt:
        folder = copy_tree(fx.errors / "project", work / "project")
        named = damage(folder)
        return cli("errors", "history", "--project", folder, needles=(str(named), *needles))

    return setup


SAVED: dict[str, Any] = {
    "features-bit-flip": features(lambda f: flip_byte(f / "weights.safetensors"), "does not match"),
    "features-json-garbage": features(lambda f: write(f / "extractor.json", "[1, 2"), "JSON"),
    "features-export-garbage": export_garbage,
    "anomaly-vae-bit-flip": anomaly_vae,
    "predictions-json-garbage": predictions(lambda f: write(f / "predictions.json", "{"), "JSON"),
    "predictions-json-no-split": predictions(
        lambda f: edit_json(f / "predictions.json", lambda r: {**r, "split": None}), "split"
    ),
    "predictions-csv-no-truth": predictions(
        csv_edit(lambda t: t.replace("truth", "label", 1)), "truth"
    ),
    "predictions-csv-duplicate-ids": predictions(
        csv_edit(lambda t: t + t.splitlines()[1] + "\n"), "id"
    ),
    "predictions-csv-cut-mid-row": predictions(
        csv_edit(lambda t: t[: len(t) // 2] + '"'), "predictions.csv"
    ),
    "predictions-csv-missing": predictions(
        lambda f: (f / "predictions.csv").unlink() or f / "predictions.csv", "no such"
    ),
    "project-not-a-database": project(
        lambda p: write(p / "errors.sqlite", "not sqlite " * 200), "errors.sqlite"
    ),
    "project-database-truncated": project(
        lambda p: truncate(p / "errors.sqlite", 0.3), "errors.sqlite"
    ),
}


# ---- training checkpoints and a detector (slow: they need a model trained first) -------------


def resumed(damage: Callable[[Path], Path], *needles: str, **expect: Any) -> Any:
    """`medgen train vae --resume` on a copy of the trained tiny run that `damage` damaged."""

    def setup(work: Path, fx: Any) -> Attempt:
        run = copy_tree(fx.trained, work / "run")
        named = damage(run)
        argv = ("train", "vae", "--data", fx.data32, "--out", run, "--resume")
        config = ("--config", fx.root / "tiny-vae.toml", "--budget", "3steps")
        return cli(*argv, *config, needles=(str(named), *needles), **expect)

    return setup


def every_checkpoint(damage: Callable[[Path], Path]) -> Callable[[Path], Path]:
    def apply(run: Path) -> Path:
        found = sorted((run / "checkpoints").iterdir())
        return [damage(c) for c in found][-1]

    return apply


def state_step(checkpoint: Path) -> Path:
    return edit_json(checkpoint / "state.json", lambda s: {**s, "step": s["step"] + 7})


def newest_only(run: Path) -> Path:
    return flip_byte(sorted((run / "checkpoints").iterdir())[-1] / "model.safetensors")


def detected(damage: Callable[[Path], Path], *needles: str) -> Any:
    """`medgen detect predict` with a damaged copy of the trained detector."""

    def setup(work: Path, fx: Any) -> Attempt:
        run = copy_tree(fx.detector, work / "detector")
        named = damage(run)
        argv = ("detect", "predict", run, "--data", fx.data32, "--out", work / "pred")
        return cli(*argv, needles=(str(named), *needles))

    return setup


SLOW: dict[str, Any] = {
    "checkpoints-all-bit-flipped": resumed(
        every_checkpoint(lambda c: flip_byte(c / "model.safetensors")), "SHA-256"
    ),
    "checkpoints-all-state-edited": resumed(every_checkpoint(state_step), "state.json"),
    "checkpoint-newest-bit-flipped": lambda work, fx: resumed(
        newest_only, code=0, warns=("set aside",), creates=("run",)
    )(work, fx),
    "run-config-json-missing": resumed(  # rebuilt from --config; the checkpoint checks it
        lambda r: (r / "config.json").unlink() or r, code=0, creates=("run",)
    ),
    "run-config-json-garbage": resumed(lambda r: write(r / "config.json", "{"), "config.json"),
    "detector-weights-bit-flip": detected(
        lambda d: flip_byte(d / "segmentation.safetensors"), "segmentation.safetensors"
    ),
    "detector-json-garbage": detected(lambda d: write(d / "detector.json", "{"), "detector.json"),
}


def cases() -> list[Case]:
    """Saved models and run folders, other saved things, then the slow ones."""
    found = [Case("corrupt", name, setup) for name, setup in {**MODELS, **SAVED}.items()]
    return found + [Case("corrupt", name, setup, fast=False) for name, setup in SLOW.items()]
