"""`medgen data ...`: make the built-in dataset, show it, import users' data."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.data_import import import_command
from medgen.cli.data_show import show_command
from medgen.cli.progress import progress_bar

data_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Make, show and import datasets."
)
data_app.command("import")(import_command)
data_app.command("show")(show_command)


@data_app.command("make")
def make_command(
    out: Path = typer.Option(..., "--out", help="Folder to create (must not exist)."),
    size: int | None = typer.Option(
        None, help="Image size in pixels: 32, 64, 128 or 256.  [default: 64]"
    ),
    n_train: int | None = typer.Option(None, help="Slices in train.  [default: 8000]"),
    n_dev: int | None = typer.Option(None, help="Slices in dev.  [default: 5000]"),
    n_test: int | None = typer.Option(None, help="Slices in test.  [default: 2000]"),
    seed: int | None = typer.Option(
        None, help="Seed: same seed and config, same bytes. [default: 0]"
    ),
    config: Path | None = typer.Option(
        None, help="TOML/JSON file with the generator's knobs. [default: the built-in knobs]"
    ),
    workers: int = typer.Option(0, help="Processes to use (0: all cores)."),
    overwrite: bool = typer.Option(False, help="Replace OUT once the new dataset is complete."),
) -> None:
    """Build the brain-MRI tumour dataset from the MNI152 template.

    Options given on the command line override the --config file, which overrides the defaults.

    Example: medgen data make --out data --size 64 --n-train 8000 --n-dev 5000 --n-test 2000
    """
    from medgen.data.synth import make_dataset, resolve_config

    cfg = resolve_config(config, size=size, n_train=n_train, n_dev=n_dev, n_test=n_test, seed=seed)
    with progress_bar("making slices") as advance:
        manifest = make_dataset(out, cfg, workers=workers, overwrite=overwrite, progress=advance)
    splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    digest = manifest["content_hash"][:12]
    print(f"wrote {out}: {manifest['n_slices']} slices ({splits}), content hash {digest}")
