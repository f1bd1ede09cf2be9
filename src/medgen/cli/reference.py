"""`medgen reference list | show NAME | retrain NAME`: the reference models medgen ships."""

from __future__ import annotations

import json
from pathlib import Path

import typer

reference_app = typer.Typer(
    help="The trained reference models shipped inside medgen: list, provenance, retrain.",
    no_args_is_help=True,
)


@reference_app.command("list")
def list_command() -> None:
    """Every shipped reference model: size, precision, training data, steps and dev metric.

    Example: medgen reference list
    """
    from medgen.reference.catalog import RECIPES
    from medgen.reference.zoo import shipped

    found = {r.name: r for r in shipped()}
    header = f"{'name':<17} {'MB':>5} {'dtype':<8} {'data':<12} {'steps':>6} {'images':>7}  dev"
    print(header)
    total = 0
    for name in RECIPES:
        if name not in found:
            print(f"{name:<17} {'-':>5} not shipped")
            continue
        ref = found[name]
        p = ref.provenance
        total += ref.size_bytes
        print(
            f"{name:<17} {ref.size_bytes / 1e6:>5.1f} {p.get('dtype', '?'):<8} "
            f"{ref.data_hash[:12]:<12} {p.get('steps', 0):>6} {p.get('images', 0):>7}  "
            f"{ref.dev_line()}"
        )
    print(f"{len(found)} of {len(RECIPES)} shipped, {total / 1e6:.1f} MB of weights")


@reference_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="A reference model (medgen reference list)."),
) -> None:
    """A reference model's provenance: command, data hash, commit, machine, dev metrics.

    Example: medgen reference show pixel_prior
    """
    from medgen.reference.zoo import load_reference

    reference = load_reference(name)
    print(f"# {name}: {reference.folder}")
    print(json.dumps(reference.provenance, indent=2))


@reference_app.command("retrain")
def retrain_command(
    name: str = typer.Argument(..., help="A reference model (medgen reference list)."),
    data: Path = typer.Option(
        ..., help="Dataset folder to train on (the shipped ones: medgen data make)."
    ),
    out: Path = typer.Option(
        ..., help="Folder for the run (OUT/runs/NAME) and the new reference (OUT/NAME)."
    ),
    budget: str | None = typer.Option(
        None,
        help="Training budget instead of the recipe's: 500steps, 20000img, 90s, 10m. "
        "[default: the recipe's]",
    ),
    latent: Path | None = typer.Option(
        None, help="The VAE run of a latent model. [default: the shipped reference VAE]"
    ),
) -> None:
    """Train a reference model again from its recipe and compare it with the shipped one.

    Example: medgen reference retrain healthy_vae --data data --out retrained --budget 50steps
    """
    from medgen.reference.retrain import NOISE_Z, retrain

    result = retrain(name, data, out, budget=budget, latent_run=latent)
    p = result.provenance
    print(f"wrote {result.folder}: {p['steps']} steps, {p['images']} images, {p['dtype']}")
    if not result.comparison:
        print("no shipped model trained on these data to compare with")
        return
    print(f"{'dev metric':<24} {'shipped':>10} {'retrained':>10} {'z':>7}")
    for row in result.comparison:
        verdict = "within noise" if row["agree"] else f"differs (|z| > {NOISE_Z:g})"
        print(
            f"{row['metric']:<24} {row['shipped']:>10.4g} {row['retrained']:>10.4g} "
            f"{row['z']:>7.2f}  {verdict}"
        )
