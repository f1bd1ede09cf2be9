"""Package every finished reference run into the folders medgen ships.

Usage: python experiments/reference/package_all.py DATA RUNS [NAME ...]
Writes src/medgen/reference/models/NAME (replacing an earlier one) and prints each provenance
line: steps, images, seconds, dtype, dev metric.
"""

from __future__ import annotations

import sys
from pathlib import Path

from medgen.reference.build import package_reference
from medgen.reference.catalog import RECIPES
from medgen.reference.zoo import MODELS_DIR, load_reference


def finished(run: Path) -> bool:
    """Whether the run has its final model (or extractor)."""
    return (run / "model").is_dir() or (run / "extractor.json").is_file()


def main() -> None:
    data, runs = Path(sys.argv[1]), Path(sys.argv[2])
    for name in sys.argv[3:] or list(RECIPES):
        if not finished(runs / name):
            print(f"{name}: not finished, skipped")
            continue
        package_reference(name, runs / name, data, MODELS_DIR / name, overwrite=True)
        p = load_reference(name).provenance
        print(
            f"{name}: {p['steps']} steps, {p['images']} images, {p['seconds']} s, "
            f"{p['dtype']}, {load_reference(name).dev_line()}, {p['machine']}"
        )


if __name__ == "__main__":
    main()
