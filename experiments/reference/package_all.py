"""Package every finished reference run into the folders medgen ships.

Usage: python experiments/reference/package_all.py [--into ROOT] DATA RUNS [NAME ...]
Writes ROOT/NAME (default root src/medgen/reference/models, replacing an earlier one) and prints
each provenance line: steps, images, seconds, dtype, dev metric. A root elsewhere stages models
trained on data that are not yet the standard ones (experiments/reference/staged/).
"""

from __future__ import annotations

import sys
from pathlib import Path

from medgen.reference.build import package_reference
from medgen.reference.catalog import RECIPES
from medgen.reference.zoo import MODELS_DIR, load_reference


def finished(run: Path) -> bool:
    """Whether the run has its final model (or extractor, or registration networks)."""
    return any((run / f).exists() for f in ("model", "extractor.json", "nets.json"))


def main() -> None:
    args = sys.argv[1:]
    root = MODELS_DIR
    if args[:1] == ["--into"]:
        root, args = Path(args[1]), args[2:]
    data, runs = Path(args[0]), Path(args[1])
    for name in args[2:] or list(RECIPES):
        if not finished(runs / name):
            print(f"{name}: not finished, skipped")
            continue
        package_reference(name, runs / name, data, root / name, overwrite=True)
        reference = load_reference(name, root)
        p = reference.provenance
        print(
            f"{name}: {p['steps']} steps, {p['images']} images, {p['seconds']} s, "
            f"{p['dtype']}, {reference.dev_line()}, {p['machine']}"
        )


if __name__ == "__main__":
    main()
