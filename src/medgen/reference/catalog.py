"""The reference models medgen ships: what each one is for and the command that trains it.

Every model but the feature extractor is trained by `medgen train` with a config file from
`recipes/` (its [train] table holds the budget), so the recipe of a shipped model is a command a
user can run. The VAE, the GAN and the latent diffusion model of the comparison see the same
number of training images each (24,000). The latent diffusion model works in the latent space
of its own autoencoder, a VAE with a spatial latent, and is trained after it; the comparison's
VAE has a global latent instead, so that its prior samples are brains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medgen.exceptions import SettingError

RECIPES_DIR = Path(__file__).parent / "recipes"


@dataclass(frozen=True)
class Recipe:
    """How one reference model is trained, and what the study uses it for."""

    name: str
    role: str  # one line: what the model does in the study
    # "diffusion", "gan", "vae" (medgen train), "features" (medgen features) or "registration"
    # (medgen register --save-nets)
    family: str
    chapter: str  # the study chapter that uses it
    where: str | None = None  # --where: the training slices it sees
    cond: str | None = None  # --cond: the metadata it is conditional on
    latent: str | None = None  # the reference whose VAE's latent space it works in
    joint: bool = False  # --joint: a joint (image, tumour mask) generator
    prior: str | None = None  # the reference diffusion prior it trains with (registration)
    steps: int = 0  # --steps of the feature extractor and the registration networks

    @property
    def config_file(self) -> Path | None:
        """The recipe's `--config` file (None where the command takes --steps instead)."""
        return None if self.family in STEP_FAMILIES else RECIPES_DIR / f"{self.name}.toml"


STEP_FAMILIES = ("features", "registration")  # trained for --steps, without a config file
REGISTER_TRAIN_SLICES = 2000  # training slices of the registration networks
REGISTER_DEV_PAIRS = 50  # dev pairs `medgen register` scores after training them


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("vae", "the comparison's VAE, with a global latent", "vae", "models"),
        Recipe(
            "autoencoder",
            "the latent space of the latent diffusion model (a spatial KL autoencoder)",
            "vae",
            "models",
        ),
        Recipe(
            "latent_diffusion",
            "the comparison's latent diffusion model, conditional on tumour type and location",
            "diffusion",
            "models",
            cond="tumour_type,location",
            latent="autoencoder",
        ),
        Recipe("gan", "the comparison's DCGAN", "gan", "models"),
        Recipe(
            "pixel_prior",
            "the pixel-space diffusion prior of denoising and reconstruction",
            "diffusion",
            "tasks",
        ),
        Recipe(
            "healthy_prior",
            "the healthy-only diffusion prior of anomaly detection",
            "diffusion",
            "tasks",
            where="label=0",
        ),
        Recipe(
            "healthy_vae",
            "the healthy-only VAE, anomaly detection's baseline",
            "vae",
            "tasks",
            where="label=0",
        ),
        Recipe(
            "joint_diffusion",
            "the remedy's joint (image, tumour mask) diffusion generator",
            "diffusion",
            "errors",
            joint=True,
        ),
        Recipe(
            "features",
            "the comparison's feature space (medgen's domain extractor)",
            "features",
            "compare",
            steps=2000,
        ),
        Recipe(
            "registration",
            "the registration networks: medgen's (trained on the prior's denoised slices) and "
            "its raw-image twin",
            "registration",
            "uses",
            prior="pixel_prior",
            steps=6000,
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (SettingError naming NAME if there is none)."""
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(RECIPES)
        raise SettingError("NAME", f"no reference model {name!r} (known: {known})") from None


def train_argv(
    recipe: Recipe,
    data: str | Path,
    out: str | Path,
    *,
    budget: str | None = None,
    latent_run: str | Path | None = None,
    prior_run: str | Path | None = None,
) -> list[str]:
    """The `medgen ...` command (without `medgen`) that trains `recipe` on `data` into `out`;
    `budget` replaces the recipe's, `latent_run` is the VAE run of a latent model, `prior_run`
    the diffusion prior of the registration networks."""
    if recipe.family in STEP_FAMILIES:
        steps = recipe.steps if budget is None else budget_steps(budget)
    if recipe.family == "features":
        return ["features", "--data", str(data), "--out", str(out), "--steps", str(steps)]
    if recipe.family == "registration":
        if prior_run is None:
            raise SettingError("prior", f"{recipe.name} needs the run of {recipe.prior}")
        return [
            "register",
            str(prior_run),
            "--data",
            str(data),
            "--save-nets",
            str(out),
            "--steps",
            str(steps),
            "--train-slices",
            str(REGISTER_TRAIN_SLICES),
            "--split",
            "dev",
            "--limit",
            str(REGISTER_DEV_PAIRS),
        ]
    argv = ["train", recipe.family, "--data", str(data), "--out", str(out)]
    argv += ["--config", str(recipe.config_file)]
    if budget is not None:
        argv += ["--budget", budget]
    if recipe.where:
        argv += ["--where", recipe.where]
    if recipe.cond:
        argv += ["--cond", recipe.cond]
    if recipe.joint:
        argv += ["--joint"]
    if recipe.latent:
        if latent_run is None:
            raise SettingError("latent", f"{recipe.name} needs the run of {recipe.latent}")
        argv += ["--latent", str(latent_run)]
    return argv


def budget_steps(budget: str) -> int:
    """Steps from a budget such as "2000steps", the only unit of the feature extractor and the
    registration networks."""
    from medgen.train.budget import parse_budget

    parsed = parse_budget(budget)
    if parsed.steps is None:
        raise SettingError("budget", f"this model's budget is in steps, not {budget!r}")
    return parsed.steps
