"""The data-aware sampling rule against the measured-sigma_max levels on shipped image models.

For each shipped reference diffusion model (`pixel_prior`: pixel space; `latent_diffusion`: VAE
latents) and one NFE budget, every row samples n images from the same unit noise z for each seed
and is scored in medgen's domain feature space (the shipped `features` extractor) against the test
split of the built-in data: Fréchet distance (FD, biased by n, so every row has the same n) and
KID. Unconditional by default (the null label); with --cond a conditional model draws for the
labels of the first n test slices, at its own guidance, and is scored against those slices. Rows:

- "measured sigma_max": how the models sampled before they kept a data fit: the model's sampler
  on karras_sigmas(steps, sigma_min, sigma_max, rho) with its recorded sigma_max (the data's
  diameter) and rho (7), ending at 0, from x = sqrt(sigma_max^2 + sigma_data^2) z;
- "data fit, 64 axes (as trained)": the model's own sampler (`DiffusionModel.sample_from`) with
  the fit `medgen train` records (`DiffusionModel.fit_data`: the rule's start from the data's
  Gaussian fit, on the model's rho 7 levels down to sigma_min); the shipped fit where the model
  keeps one, else the fit of this benchmark's training slices;
- "data fit, every axis": the same with all 512 axes of the fit, to measure the truncation;
- "data-aware rule": `sample_default(D, z, nfe, data=stats)` with the stats of the training
  examples in the model's units (`medgen.diffusion.defaults`: LMS, Karras rho 2 down to
  sigma_min, sigma_max = SIGMA_MAX_PER_DIAMETER x the diameter, started from the Gaussian fit
  of the diffused data, x = m + (C + sigma_max^2 I)^(1/2) z);
- "rule, started at 0": the same levels from x = sqrt(sigma_max^2 + sigma_data^2) z;
- "rule, recorded sigma_max": the rule's rho 2 levels and start up to the recorded sigma_max;
- "rule, rho 7": the rule's sigma_max and start on rho 7 levels;
- "recorded levels, rule's sigma_max": the model's recorded sampler, rho and start (from 0,
  ending at 0), up to the rule's sigma_max.

The last four take the rule apart: which of its changes (rho, sigma_max, start) moves the FD.

The floor is the same scores for n training slices. Run (`--rows` picks rows by label,
separated by ';'; about 25 minutes on one thread for the first two rows and three seeds):

    python benchmarks/samplers_images.py --n 300 --nfe 20 --seeds 0,1,2 \
        --rows "measured sigma_max;data fit, 64 axes (as trained)"
    python benchmarks/samplers_images.py ... --models latent_diffusion --cond

Without --data a small built-in set (512 train, 600 test slices, seed 1) is made in --work.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from medgen.diffusion import SAMPLERS, Denoiser, karras_sigmas
from medgen.diffusion.defaults import (
    DEFAULT_SAMPLER,
    DEFAULT_SIGMA_MIN,
    STATS_EXAMPLES,
    DataStats,
    data_stats,
    default_sigmas,
    gaussian_fit_start,
    prior_std,
    sample_default,
    sigma_max_of,
)
from medgen.draws import randn
from medgen.evaluate import frechet_distance, kernel_inception_distance
from medgen.models.diffusion import DiffusionModel
from medgen.train.recipe import FIT_AXES

MODELS = ("pixel_prior", "latent_diffusion")
CHUNK = 100  # images per sampler call
Rule = Callable[[DiffusionModel, Tensor, int, DataStats, Tensor | None], Tensor]
# (model, z, nfe, stats of the training examples, labels or None) -> samples in the model's units


def denoiser_of(model: DiffusionModel, n: int, cond: Tensor | None) -> Denoiser:
    """Unconditional (the null label), or conditional at the model's own guidance."""
    return model.guided_denoiser(n, cond, 1.0 if cond is None else model.config.guidance)


def recorded_levels(
    model: DiffusionModel, z: Tensor, nfe: int, sigma_max: float, cond: Tensor | None
) -> Tensor:
    """The model's sampler on karras(nfe steps, sigma_min, sigma_max, recorded rho) from 0."""
    c = model.config
    sigmas = karras_sigmas(nfe, c.sigma_min, sigma_max, c.rho).to(torch.float32)
    x = prior_std(sigma_max, c.sigma_data) * z
    return SAMPLERS[c.sampler](denoiser_of(model, z.shape[0], cond), x, sigmas)


def measured_levels(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """The recorded levels up to the recorded sigma_max: how the model samples with no data fit
    (as the references shipped before they kept one)."""
    return recorded_levels(model, z, nfe, model.config.sigma_max, cond)


def recorded_rule_max(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """The recorded levels up to the rule's sigma_max (a multiple of the examples' diameter)."""
    return recorded_levels(model, z, nfe, sigma_max_of(stats), cond)


def data_rule(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """`sample_default` given the training examples' stats."""
    return sample_default(denoiser_of(model, z.shape[0], cond), z, nfe, data=stats)


def rule_from_zero(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """The rule's levels, started at 0 with an isotropic std instead of the data's Gaussian fit."""
    scalars = DataStats(torch.zeros_like(stats.mean), stats.sigma_data, stats.diameter)
    return data_rule(model, z, nfe, scalars, cond)


def rule_recorded_max(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """The rule's levels and start, up to the recorded sigma_max instead of 1.5 x diameter."""
    denoiser = denoiser_of(model, z.shape[0], cond)
    return sample_default(denoiser, z, nfe, data=stats, sigma_max=model.config.sigma_max)


def rule_rho_7(
    model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
) -> Tensor:
    """The rule's sigma_max and start on Karras rho 7 levels down to sigma_min."""
    s_max = sigma_max_of(stats)
    sigmas = default_sigmas(nfe, DEFAULT_SIGMA_MIN, s_max, rho=7.0).to(torch.float32)
    x = gaussian_fit_start(stats, s_max, z)
    return SAMPLERS[DEFAULT_SAMPLER](denoiser_of(model, z.shape[0], cond), x, sigmas)


def with_fit(model: DiffusionModel, axes: int, examples: Tensor) -> DiffusionModel:
    """The same weights with a data fit of `axes` axes from examples (model units), as
    `medgen train` records one (`DiffusionModel.fit_data`)."""
    fitted = DiffusionModel(replace(model.config, fit_axes=axes))
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("fit_")}
    fitted.load_state_dict(weights, strict=False)  # every weight; the fit is new
    fitted.fit_data(examples)
    return fitted.eval()


_FITTED: dict[tuple[int, int], DiffusionModel] = {}  # (id of the model, axes) -> fitted copy


def fitted_rule(axes: int) -> Rule:
    """The models' own sampler (`DiffusionModel.sample_from`) with a data fit of `axes` axes of
    the training examples: the rule's start on the recorded rho 7 levels, down to sigma_min."""

    def rule(
        model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats, cond: Tensor | None
    ) -> Tensor:
        if model.config.fit_axes == axes:  # the fit the model was saved with
            return model.sample_from(z, cond=cond, steps=nfe)
        key = (id(model), axes)
        if key not in _FITTED:
            _FITTED[key] = with_fit(model, axes, EXAMPLES[id(model)])
        return _FITTED[key].sample_from(z, cond=cond, steps=nfe)

    return rule


EXAMPLES: dict[int, Tensor] = {}  # id of a model -> its training examples in its units


ROWS: dict[str, Rule] = {
    "measured sigma_max": measured_levels,
    f"data fit, {FIT_AXES} axes (as trained)": fitted_rule(FIT_AXES),
    "data fit, every axis": fitted_rule(STATS_EXAMPLES),
    "data-aware rule": data_rule,
    "rule, started at 0": rule_from_zero,
    "rule, recorded sigma_max": rule_recorded_max,
    "rule, rho 7": rule_rho_7,
    "recorded levels, rule's sigma_max": recorded_rule_max,
}
RECORDED = ("measured sigma_max", "rule, recorded sigma_max")  # rows at the recorded sigma_max


def builtin_data(work: Path) -> Path:
    """A small built-in set in work/data (made once): 512 train and 600 test slices."""
    folder = work / "data"
    if not (folder / "manifest.json").is_file():
        from medgen.data.synth import DataConfig, make_dataset

        make_dataset(folder, DataConfig(n_train=512, n_dev=0, n_test=600, seed=1), workers=1)
    return folder


def split_images(data: Path, split: str) -> Tensor:
    """Every slice of a split as (N, 1, H, W) in [0, 1]."""
    from medgen.data.store import open_dataset

    store = open_dataset(data)
    ids = np.sort(store.split(split).index.to_numpy())
    return torch.from_numpy(np.asarray(store.array("images")[ids], dtype=np.float32)).unsqueeze(1)


def without_fit(model: DiffusionModel) -> DiffusionModel:
    """The same weights, no data fit: the model as it sampled before it kept one."""
    plain = DiffusionModel(replace(model.config, fit_axes=0))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fit_")})
    return plain.eval()


def check_parity(model: DiffusionModel, nfe: int, stats: DataStats) -> None:
    """measured_levels from randn(seed) equals the fit-free model's sample(generator=seed)."""
    plain = without_fit(model)
    if plain.config.steps != nfe or plain.config.sampler != "lms" or plain.config.rho != 7.0:
        return
    ours = measured_levels(plain, randn((2, *plain.data_shape()), _gen(7)), nfe, stats, None)
    theirs = plain.sample(2, generator=_gen(7))
    torch.testing.assert_close(plain.decode(ours), theirs, atol=1e-5, rtol=1e-4)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_labels(model: DiffusionModel, data: Path, n: int) -> Tensor:
    """The (n, A) labels of the first n test slices, for a conditional model: its samples are
    then drawn for the same conditions as the real slices they are scored against."""
    from medgen.data.conditions import AddConditions
    from medgen.data.store import open_dataset

    c = model.config.conditioning
    store = open_dataset(data)
    ids = np.sort(store.split("test").index.to_numpy())[:n]
    return AddConditions(store.meta, c.names, c.vocab).labels[torch.from_numpy(ids)]


def run_model(
    name: str,
    data: Path,
    n: int,
    nfe: int,
    seeds: list[int],
    rows: list[str] | None = None,
    conditional: bool = False,
) -> list[str]:
    """One table: every row's FD and KID for reference model `name` per noise seed, their
    means, and the floor. `conditional`: labels of the test slices, the model's guidance."""
    from medgen.evaluate.features import load_extractor
    from medgen.models import load_model
    from medgen.reference.zoo import reference_folder

    model = load_model(reference_folder(name) / "model")
    assert isinstance(model, DiffusionModel)
    extractor = load_extractor(reference_folder("features"))
    train, test = split_images(data, "train"), split_images(data, "test")
    with torch.no_grad():
        EXAMPLES[id(model)] = model.encode(train)
    stats = data_stats(EXAMPLES[id(model)])
    cond = None
    if conditional and model.config.conditioning.names:
        cond, test = test_labels(model, data, n), test[:n]
    real = extractor(test.numpy())
    shipped = model.config.fit_axes
    lines = [
        f"{name}: recorded sigma_max {model.config.sigma_max:g}, rho {model.config.rho:g}, "
        f"sampler {model.config.sampler}, shipped fit axes {shipped}; training examples' "
        f"diameter {stats.diameter:.4g}, sigma_data {stats.sigma_data:.4g}, "
        f"|mean| {float(stats.mean.norm()):.4g}; "
        + (
            f"conditional, guidance {model.config.guidance:g}"
            if cond is not None
            else "unconditional"
        ),
        f"{'row':38s} {'sigma_max':>9s} "
        + "".join(f"{'FD s' + str(s):>8s}" for s in seeds)
        + f" {'FD mean':>8s} {'KID mean':>9s} {'seconds':>8s}",
    ]
    floor = extractor(train[:n].numpy())
    kid = kernel_inception_distance(real, floor).mean
    lines.append(
        f"{'floor (train slices)':38s} {'':9s} "
        + " " * 8 * len(seeds)
        + f" {frechet_distance(real, floor):8.3f} {kid:9.5f}"
    )
    check_parity(model, nfe, stats)
    for label, rule in ROWS.items():
        if rows is not None and label not in rows:
            continue
        start, fds, kids = time.perf_counter(), [], []
        for seed in seeds:
            z = randn((n, *model.data_shape()), _gen(seed))
            with torch.no_grad():
                images = torch.cat(
                    [
                        model.decode(
                            rule(
                                model,
                                z[i : i + CHUNK],
                                nfe,
                                stats,
                                None if cond is None else cond[i : i + CHUNK],
                            )
                        )
                        for i in range(0, n, CHUNK)
                    ]
                )
            fake = extractor(images.numpy())
            fds.append(frechet_distance(real, fake))
            kids.append(kernel_inception_distance(real, fake).mean)
        recorded = label in RECORDED or label.startswith("data fit")
        s_max = model.config.sigma_max if recorded else sigma_max_of(stats)
        lines.append(
            f"{label:38s} {s_max:9.4g} "
            + "".join(f"{v:8.3f}" for v in fds)
            + f" {float(np.mean(fds)):8.3f} {float(np.mean(kids)):9.5f} "
            f"{time.perf_counter() - start:8.0f}"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, help="a built-in data folder (default: made in --work)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/samplers_images"))
    parser.add_argument("--models", default=",".join(MODELS), help="shipped reference models")
    parser.add_argument("--n", type=int, default=300, help="samples per row (default 300)")
    parser.add_argument("--nfe", type=int, default=20, help="NFE budget (default 20)")
    parser.add_argument("--seeds", default="0", help="seeds of the shared noise z (e.g. 0,1,2)")
    parser.add_argument(
        "--cond", action="store_true", help="conditional models: the test slices' labels"
    )
    parser.add_argument("--rows", help="semicolon-separated row labels (default: every row)")
    parser.add_argument("--out", help="also write the tables to this path")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = args.data or builtin_data(args.work)
    text = [
        "python " + " ".join(sys.argv),
        f"{args.n} samples per row at {args.nfe} NFE; every row draws from the same noise for each "
        f"seed ({args.seeds}); FD and KID in the shipped domain feature space against the test "
        "split",
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.models.split(","):
        rows = args.rows.split(";") if args.rows else None
        text += ["", *run_model(name, data, args.n, args.nfe, seeds, rows, args.cond)]
    print("\n".join(text))
    if args.out:
        Path(args.out).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
