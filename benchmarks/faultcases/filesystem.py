"""Hostile filesystems: read-only output folders, a file where a folder must go, --overwrite
aimed at something medgen did not write, missing and empty inputs, named pipes, and the
`.NAME.tmp-PID` folders a killed writer leaves behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from faultcases.core import SAMPLE, SMALL_DATA, Attempt, Case, cli, copy_tree, write
from faultcases.inputs import dead_pid, fifo, image_folder, read_only

DENOISE = ("--limit", "1", "--k", "1", "--steps", "1", "--strength", "0.1")
RECONSTRUCT = ("--limit", "1", "--k", "1", "--steps", "1")
ANOMALY = ("--limit", "1", "--t-sigma", "0.2", "--levels", "1", "--draws", "1", "--cleanup", "none")
DENIED = "cannot be"  # written or created: "Permission denied", as root "Operation not permitted"


# ---- read-only output folders (immutable as well when run as root, whom modes do not bind) ----


def ro(command: tuple[object, ...], out: str, *rest: object) -> Any:
    """COMMAND --out ro/OUT REST, where the folder ro cannot be written."""

    def setup(work: Path, fx: Any) -> Attempt:
        read_only(work / "ro")
        target = work / "ro" / out
        argv = [fx.resolve(a) for a in command]
        return cli(*argv, "--out", target, *rest, needles=(str(target), DENIED))

    return setup


def ro_project_tag(work: Path, fx: Any) -> Attempt:
    project = copy_tree(fx.errors / "project", work / "project")
    read_only(project / "errors.sqlite")
    read_only(project)
    argv = ("errors", "tag", fx.eyeball_errors[0], "blurry", "--project", project)
    return cli(*argv, needles=("errors.sqlite",))


def ro_tally_out(work: Path, fx: Any) -> Attempt:
    project = copy_tree(fx.errors / "project", work / "project")
    read_only(work / "ro")
    sheet = work / "ro" / "sheet.csv"
    pred = fx.errors / "predictions"
    argv = ("errors", "tally", "--predictions", pred, "--project", project, "--out", sheet)
    return cli(*argv, needles=(str(sheet), DENIED), creates=("project/errors.sqlite",))


# ---- a file where a folder must go -------------------------------------------------------------


def in_the_way(command: tuple[object, ...], out: str, *rest: object) -> Any:
    """COMMAND --out notes.txt/OUT REST, where notes.txt is a file."""

    def setup(work: Path, fx: Any) -> Attempt:
        write(work / "notes.txt", "mine")
        target = work / "notes.txt" / out
        argv = [fx.resolve(a) for a in command]
        return cli(*argv, "--out", target, *rest, needles=(str(work / "notes.txt"), "not a folder"))

    return setup


def out_is_file(command: tuple[object, ...], *rest: object, needles: tuple[str, ...]) -> Any:
    """COMMAND --out notes.txt REST, where notes.txt is a user's file."""

    def setup(work: Path, fx: Any) -> Attempt:
        target = write(work / "notes.txt", "mine")
        argv = [fx.resolve(a) for a in command]
        return cli(*argv, "--out", target, *rest, needles=(str(target), *needles))

    return setup


# ---- --overwrite aimed at something else ------------------------------------------------------


def thesis(work: Path) -> Path:
    """A user's own folder, not a medgen output."""
    write(work / "thesis" / "chapter1.tex", "mine")
    return work / "thesis"


def overwrite(command: tuple[object, ...], *rest: object, target: str = "thesis") -> Any:
    """--overwrite on a folder medgen did not write (or on a file, or another kind of output)."""

    def setup(work: Path, fx: Any) -> Attempt:
        if target == "thesis":
            out = thesis(work)
        elif target == "file":
            out = write(work / "notes.txt", "mine")
        elif target == "dataset":
            out = copy_tree(fx.data32, work / "data")
        else:  # another task's output folder
            record = json.dumps({"task": target, "n": 1})
            out = write(work / "den" / "metrics.json", record).parent
        argv = [fx.resolve(a) for a in command]
        return cli(*argv, "--out", out, "--overwrite", *rest, needles=(str(out), "--overwrite"))

    return setup


def overwrite_cwd(work: Path, fx: Any) -> Attempt:
    return cli("data", "make", "--out", ".", "--overwrite", *SMALL_DATA, needles=(".", "current"))


def overwrite_link(work: Path, fx: Any) -> Attempt:
    copy_tree(fx.data32, work / "data")
    (work / "link").symlink_to(work / "data")
    argv = ("data", "make", "--out", work / "link", "--overwrite", *SMALL_DATA)
    return cli(*argv, needles=(str(work / "link"), "--overwrite"))


# ---- missing and empty inputs ------------------------------------------------------------------


def missing(*argv: object, needles: tuple[str, ...] = ("no such",)) -> Any:
    def setup(work: Path, fx: Any) -> Attempt:
        words = [work / "missing" if a == "MISSING" else fx.resolve(a) for a in argv]
        return cli(*words, needles=(str(work / "missing"), *needles))

    return setup


def empty(*argv: object, needles: tuple[str, ...] = ()) -> Any:
    def setup(work: Path, fx: Any) -> Attempt:
        (work / "empty").mkdir()
        words = [work / "empty" if a == "EMPTY" else fx.resolve(a) for a in argv]
        return cli(*words, needles=(str(work / "empty"), *needles))

    return setup


# ---- named pipes: never opened, so nothing hangs -------------------------------------------


def pipes_only(work: Path, fx: Any) -> Attempt:
    fifo(work / "src" / "glioma" / "a.png")
    fifo(work / "src" / "notumor" / "b.png")
    argv = ("data", "import", work / "src", "--out", work / "out", "--size", "32")
    return cli(*argv, needles=(str(work / "src"), "no regular files"), timeout=30)


def pipe_config(*command: object) -> Any:
    def setup(work: Path, fx: Any) -> Attempt:
        config = fifo(work / "config.toml")
        argv = [fx.resolve(a) for a in command]
        return cli(*argv, "--config", config, needles=(str(config), "FIFO"), timeout=30)

    return setup


def pipe_nifti(work: Path, fx: Any) -> Attempt:
    volume = fifo(work / "scan.nii.gz")
    argv = ("data", "import", volume, "--kind", "nifti", "--out", work / "out", "--size", "32")
    return cli(*argv, needles=(str(volume), "no regular files"), timeout=30)


def pipe_manifest(work: Path, fx: Any) -> Attempt:
    data = copy_tree(fx.data32, work / "data")
    (data / "manifest.json").unlink()
    fifo(data / "manifest.json")
    argv = ("data", "show", data, "--out", work / "grid.png")
    return cli(*argv, needles=(str(data / "manifest.json"), "FIFO"), timeout=30)


def pipe_model(work: Path, fx: Any) -> Attempt:
    run = copy_tree(fx.prior, work / "run")
    (run / "model" / "model.json").unlink()
    fifo(run / "model" / "model.json")
    argv = ("sample", run, "--out", work / "s.png", *SAMPLE)
    return cli(*argv, needles=("model.json", "FIFO"), timeout=30)


# ---- what a killed writer leaves ---------------------------------------------------------------


def stale(kind: str, alive: bool) -> Any:
    """A `.data.KIND-PID` folder beside --out: removed if its writer is dead; kept while it
    lives, and an `.old` one kept while --out is missing (it is the only copy)."""

    def setup(work: Path, fx: Any) -> Attempt:
        pid = os.getpid() if alive else dead_pid()
        leftover = f".data.{kind}-{pid}"
        write(work / leftover / "images.npy", "half")
        kept = alive or kind == "old"
        argv = ("data", "make", "--out", work / "data", *SMALL_DATA)
        return cli(*argv, code=0, creates=("data",), removes=() if kept else (leftover,))

    return setup


TABLE: dict[str, Any] = {
    "read-only-data-make": ro(("data", "make"), "data", *SMALL_DATA),
    "read-only-sample": ro(("sample", "PRIOR"), "s.png", *SAMPLE),
    "read-only-denoise": ro(("denoise", "PRIOR", "--data", "DATA64"), "den", *DENOISE),
    "read-only-train": ro(("train", "vae", "--data", "DATA32"), "run", "--budget", "1steps"),
    "read-only-features": ro(("features", "--data", "DATA32"), "feat", "--steps", "1"),
    "read-only-show": ro(("data", "show", "DATA32"), "grid.png"),
    "read-only-project": ro_project_tag,
    "read-only-tally-out": ro_tally_out,
    "file-in-way-data-make": in_the_way(("data", "make"), "data", *SMALL_DATA),
    "file-in-way-sample": in_the_way(("sample", "PRIOR"), "s.png", *SAMPLE),
    "file-in-way-train": in_the_way(
        ("train", "vae", "--data", "DATA32"), "run", "--budget", "1steps"
    ),
    "file-in-way-denoise": in_the_way(("denoise", "PRIOR", "--data", "DATA64"), "den", *DENOISE),
    "file-in-way-show": in_the_way(("data", "show", "DATA32"), "grid.png"),
    "out-is-file-data-make": out_is_file(
        ("data", "make"), *SMALL_DATA, needles=("already exists",)
    ),
    "out-is-file-train": out_is_file(
        ("train", "vae", "--data", "DATA32"), "--budget", "1steps", needles=("not a folder",)
    ),
    "out-is-folder-sample": lambda work, fx: cli(
        "sample",
        fx.prior,
        "--out",
        (work / "s.png").mkdir() or work / "s.png",
        *SAMPLE,
        needles=(str(work / "s.png"), "a directory"),
    ),
    "overwrite-file-data-make": overwrite(("data", "make"), *SMALL_DATA, target="file"),
    "overwrite-thesis-import": lambda work, fx: overwrite(
        ("data", "import", image_folder(work / "src")), "--size", "32"
    )(work, fx),
    "overwrite-thesis-features": overwrite(("features", "--data", "DATA32"), "--steps", "1"),
    "overwrite-thesis-detect": overwrite(("detect", "train", "--data", "DATA32"), "--steps", "1"),
    "overwrite-thesis-compare": overwrite(
        ("compare", "PRIOR", "--data", "DATA64", "--features", "FEATURES"),
        "--n",
        "10",
        "--n-real",
        "10",
    ),
    "overwrite-thesis-denoise": overwrite(("denoise", "PRIOR", "--data", "DATA64"), *DENOISE),
    "overwrite-thesis-anomaly": overwrite(("anomaly", "PRIOR", "--data", "DATA64"), *ANOMALY),
    "overwrite-thesis-reconstruct": overwrite(
        ("reconstruct", "PRIOR", "--data", "DATA64"), *RECONSTRUCT
    ),
    "overwrite-file-denoise": overwrite(
        ("denoise", "PRIOR", "--data", "DATA64"), *DENOISE, target="file"
    ),
    "overwrite-dataset-by-denoise": overwrite(
        ("denoise", "PRIOR", "--data", "DATA64"), *DENOISE, target="dataset"
    ),
    "overwrite-denoise-by-reconstruct": overwrite(
        ("reconstruct", "PRIOR", "--data", "DATA64"), *RECONSTRUCT, target="denoise"
    ),
    "overwrite-the-current-folder": overwrite_cwd,
    "overwrite-through-a-link": overwrite_link,
    "missing-train-data": missing("train", "vae", "--data", "MISSING", "--out", "run"),
    "missing-sample-run": missing(
        "sample", "MISSING", "--out", "s.png", needles=("not a run folder",)
    ),
    "missing-import-source": missing(
        "data", "import", "MISSING", "--out", "out", needles=("does not exist",)
    ),
    "missing-show-data": missing("data", "show", "MISSING", "--out", "grid.png"),
    "missing-predictions": missing("errors", "tally", "--predictions", "MISSING"),
    "missing-compare-run": missing("compare", "MISSING", "--data", "DATA64", "--out", "cmp"),
    "missing-denoise-data": missing("denoise", "PRIOR", "--data", "MISSING", "--out", "den"),
    "missing-anomaly-vae": missing(
        "anomaly", "PRIOR", "--data", "DATA64", "--vae", "MISSING", needles=()
    ),
    "missing-history-project": missing("errors", "history", "--project", "MISSING", needles=()),
    "missing-study-data": missing(
        "study", "--out", "study", "--profile", "tiny", "--data", "MISSING", needles=()
    ),
    "empty-import-source": empty("data", "import", "EMPTY", "--out", "out"),
    "empty-train-data": empty("train", "vae", "--data", "EMPTY", "--out", "run"),
    "empty-sample-run": empty("sample", "EMPTY", "--out", "s.png"),
    "empty-predictions": empty("errors", "tally", "--predictions", "EMPTY"),
    "empty-features": empty(
        "compare", "PRIOR", "--data", "DATA64", "--out", "cmp", "--features", "EMPTY"
    ),
    "empty-project": empty("errors", "history", "--project", "EMPTY"),
    "pipes-only-import": pipes_only,
    "pipe-as-train-config": pipe_config("train", "vae", "--data", "DATA32", "--out", "run"),
    "pipe-as-data-config": pipe_config("data", "make", "--out", "data", *SMALL_DATA),
    "pipe-as-nifti": pipe_nifti,
    "pipe-as-manifest": pipe_manifest,
    "pipe-as-model-json": pipe_model,
    "stale-tmp-dead-writer": stale("tmp", alive=False),
    "stale-tmp-live-writer": stale("tmp", alive=True),
    "stale-old-only-copy": stale("old", alive=False),
}


def cases() -> list[Case]:
    """The filesystem cases."""
    return [Case("filesystem", name, setup) for name, setup in TABLE.items()]
