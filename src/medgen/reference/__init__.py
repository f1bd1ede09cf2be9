"""Reference models shipped inside medgen: trained weights, their recipe and provenance.

`catalog` says which models there are and the command that trains each, `build` turns a
finished run into a shipped folder, `provenance` records where it came from (machine, commit,
data hash, dev metrics), `zoo` lists and hands them out only for their own data, and `retrain`
reproduces one. Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medgen.lazy import lazy_names

if TYPE_CHECKING:
    from medgen.reference.build import package_reference
    from medgen.reference.catalog import RECIPES, Recipe, get_recipe
    from medgen.reference.retrain import Retrained, retrain
    from medgen.reference.zoo import Reference, load_reference, require, shipped, usable

_HOMES = {
    "medgen.reference.build": ("package_reference",),
    "medgen.reference.catalog": ("RECIPES", "Recipe", "get_recipe"),
    "medgen.reference.retrain": ("Retrained", "retrain"),
    "medgen.reference.zoo": ("Reference", "load_reference", "require", "shipped", "usable"),
}

__all__ = [
    "RECIPES",
    "Recipe",
    "Reference",
    "Retrained",
    "get_recipe",
    "load_reference",
    "package_reference",
    "require",
    "retrain",
    "shipped",
    "usable",
]

__getattr__ = lazy_names(__name__, _HOMES)
