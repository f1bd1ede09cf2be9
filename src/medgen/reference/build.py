"""Turn a finished training run into a reference-model folder, the form medgen ships:

NAME/model/model.safetensors + model.json   the weights (float16 where the dev metrics hold)
                                           and config; the folder is a run `medgen sample`,
                                           `medgen compare` and the tasks open as they are
NAME/weights.safetensors + extractor.json  (the feature extractor instead of model/)
NAME/*.safetensors + nets.json             (the registration networks instead of model/)
NAME/config.json                           the run's config: [train] and [model] as trained
NAME/train.toml                            the recipe's --config file
NAME/metrics.jsonl                         the training curve, at most CURVE_LINES lines
NAME/provenance.json                       command, data hash, commit, steps, images,
                                           seconds, machine, dev metrics
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from medgen import __version__
from medgen.data.store import open_dataset
from medgen.fileio import atomic_directory, read_json_object, sha256_of, write_json_atomic
from medgen.models import GenerativeModel
from medgen.models.io import CONFIG_FILE, HASH, WEIGHTS_FILE, build_model, model_record
from medgen.reference.catalog import Recipe, get_recipe, train_argv
from medgen.reference.provenance import data_record, dev_metrics, machine_name, source_commit
from medgen.tensorio import save_tensors

CURVE_LINES = 200  # metrics.jsonl lines kept in a reference folder
PROVENANCE = "provenance.json"
PLACEHOLDERS = {"data": "DATA", "out": "RUN", "latent": "LATENT_VAE_RUN", "prior": "PRIOR_RUN"}


def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state with every floating tensor stored as float16 (integers, e.g. counters, kept)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def holds(reduced: dict[str, float], full: dict[str, float]) -> bool:
    """Whether every dev metric of the reduced-precision model is within one standard error of
    the full-precision model's (or within 0.1% of it where the standard error is smaller)."""
    for name, value in full.items():
        if name.endswith(" se"):
            continue
        noise = max(full.get(f"{name} se", 0.0), 1e-3 * abs(value))
        if not abs(reduced[name] - value) <= noise:
            return False
    return True


def write_model(model: GenerativeModel, state: dict[str, torch.Tensor], folder: Path) -> None:
    """model.safetensors (the given state, in its dtype) and model.json with their SHA-256."""
    folder.mkdir(parents=True)
    save_tensors(folder / WEIGHTS_FILE, state)
    record = {**model_record(model), HASH: sha256_of(folder / WEIGHTS_FILE)}
    write_json_atomic(folder / CONFIG_FILE, record)


def trimmed_curve(path: Path, limit: int = CURVE_LINES) -> str:
    """metrics.jsonl thinned to at most `limit` evenly spaced lines, the last one kept."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) > limit:
        stride = -(-len(lines) // limit)
        lines = [*lines[::stride][: limit - 1], lines[-1]]
    return "".join(line + "\n" for line in lines)


def recorded_command(recipe: Recipe, budget: str | None = None) -> str:
    """The recipe's command with placeholders for the paths that differ between machines."""
    latent = PLACEHOLDERS["latent"] if recipe.latent else None
    prior = PLACEHOLDERS["prior"] if recipe.prior else None
    argv = train_argv(
        recipe,
        PLACEHOLDERS["data"],
        PLACEHOLDERS["out"],
        budget=budget,
        latent_run=latent,
        prior_run=prior,
    )
    if recipe.config_file is not None:
        argv[argv.index(str(recipe.config_file))] = "train.toml"
    return " ".join(["medgen", *argv])


def shipped_config(path: Path) -> dict[str, Any]:
    """A run's config.json as shipped: the dataset's path on the training machine becomes the
    command's placeholder, so no local path travels with the package."""
    record = read_json_object(path)
    if "data" in record:
        record["data"] = PLACEHOLDERS["data"]
    return record


def package_generative(recipe: Recipe, run: Path, store_path: Path, tmp: Path) -> dict[str, Any]:
    """Write model/ (float16 where the dev metrics hold) and config.json; the dev metrics."""
    from medgen.train.generate import open_run

    model = open_run(run)
    store = open_dataset(store_path)
    full = dev_metrics(model, store, where=recipe.where, joint=recipe.joint)
    state = half(model.state_dict())
    reduced_model = build_model(model_record(model))
    reduced_model.load_state_dict(state)
    reduced = dev_metrics(reduced_model, store, where=recipe.where, joint=recipe.joint)
    keep_half = holds(reduced, full)
    write_model(model, state if keep_half else model.state_dict(), tmp / "model")
    write_json_atomic(tmp / "config.json", shipped_config(run / "config.json"))
    return {
        "dtype": "float16" if keep_half else "float32",
        "dev": reduced if keep_half else full,
        "dev_float32": full,
    }


def package_features(run: Path, tmp: Path) -> dict[str, Any]:
    """Copy the extractor's folder (small: kept in float32); its dev scores."""
    from medgen.evaluate.features import INFO, WEIGHTS

    for name in (WEIGHTS, INFO):
        shutil.copyfile(run / name, tmp / name)
    info = read_json_object(run / INFO)
    return {"dtype": "float32", "dev": info.get("dev_scores", {})}


def package_registration(run: Path, data: Path, tmp: Path) -> dict[str, Any]:
    """Copy the networks (small: kept in float32); medgen's network's EPE on dev pairs."""
    from medgen.tasks.registration.saved import NETS_FILE, read_info

    info = read_info(run)
    for entry in info["nets"].values():
        shutil.copyfile(run / str(entry["file"]), tmp / str(entry["file"]))
    shutil.copyfile(run / NETS_FILE, tmp / NETS_FILE)
    return {"dtype": "float32", "dev": registration_dev(tmp, data)}


def registration_dev(folder: Path, data: Path) -> dict[str, float]:
    """Mean end-point error (pixels, in the brain) of medgen's network alone (no refinement on
    the pair: the trained weights are what this measures) on the dev split's same-level pairs,
    and its standard error."""
    from medgen.reference.catalog import REGISTER_DEV_PAIRS
    from medgen.tasks.registration.refine import RefineSettings
    from medgen.tasks.registration.run import MEDGEN, RegisterSettings, register_split
    from medgen.tasks.registration.saved import load_nets

    store = open_dataset(data)
    nets = load_nets(folder, store.size)
    alone = RefineSettings(steps=0)
    s = RegisterSettings(split="dev", limit=REGISTER_DEV_PAIRS, peers=(), refine=alone)
    epe = register_split({MEDGEN: nets[MEDGEN]}, store, s, log=lambda _: None)["epe_px"]
    return {"EPE px": float(epe.mean()), "EPE px se": float(epe.std(ddof=1) / len(epe) ** 0.5)}


def run_summary(recipe: Recipe, run: Path) -> dict[str, Any]:
    """Steps, images and seconds of the finished run."""
    if recipe.family == "registration":
        from medgen.tasks.registration.saved import read_info

        info = read_info(run)
        trained = list(info["nets"].values())
        steps = int(trained[0]["steps"])
        return {
            "steps": steps,
            "images": steps * int(info["train"]["batch_size"]) * 2,  # a pair is two slices
            "seconds": round(sum(float(t["seconds"]) for t in trained), 1),
        }
    if recipe.family == "features":
        from medgen.evaluate.features import INFO

        info = read_json_object(run / INFO)
        steps = int(info["config"]["steps"])
        return {
            "steps": steps,
            "images": steps * int(info["config"]["batch_size"]),
            "seconds": info.get("train_seconds"),
        }
    summary = read_json_object(run / "summary.json")
    return {k: summary.get(k) for k in ("steps", "images", "seconds", "status")}


def package_reference(
    name: str,
    run: str | Path,
    data: str | Path,
    dest: str | Path,
    *,
    budget: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the reference folder `dest` for `name` from its finished `run` trained on `data`
    (with `budget` if it replaced the recipe's); its provenance."""
    recipe = get_recipe(name)
    run, data = Path(run), Path(data)
    with atomic_directory(dest, overwrite=overwrite) as tmp:
        if recipe.family == "features":
            measured = package_features(run, tmp)
        elif recipe.family == "registration":
            measured = package_registration(run, data, tmp)
        else:
            measured = package_generative(recipe, run, data, tmp)
            assert recipe.config_file is not None
            shutil.copyfile(recipe.config_file, tmp / "train.toml")
            shutil.copyfile(run / "metrics.jsonl", tmp / "metrics.full.jsonl")
            (tmp / "metrics.jsonl").write_text(trimmed_curve(tmp / "metrics.full.jsonl"))
            (tmp / "metrics.full.jsonl").unlink()
        provenance = {
            "name": name,
            "role": recipe.role,
            "family": recipe.family,
            "chapter": recipe.chapter,
            "command": recorded_command(recipe, budget),
            "latent": recipe.latent,
            "prior": recipe.prior,
            "data": data_record(open_dataset(data)),
            "commit": source_commit(),
            "medgen_version": __version__,
            "torch_version": torch.__version__,
            "machine": machine_name(),
            **run_summary(recipe, run),
            **measured,
        }
        write_json_atomic(tmp / PROVENANCE, json.loads(json.dumps(provenance)))
    return provenance
