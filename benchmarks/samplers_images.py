"""The data-aware sampling rule against the measured-sigma_max levels on shipped image models.

For each shipped reference diffusion model (`pixel_prior`: pixel space; `latent_diffusion`: VAE
latents, sampled unconditionally) and one NFE budget, every row samples n images from the same
unit noise z and is scored in medgen's domain feature space (the shipped `features` extractor)
against the test split of the built-in data: Fréchet distance (FD, biased by n, so every row has
the same n) and KID. Rows:

- "measured sigma_max": what `DiffusionConfig` recorded at training, as the models sampled
  before the rule: the model's sampler on karras_sigmas(steps, sigma_min, sigma_max, rho) with
  its recorded sigma_max (the data's diameter) and rho (7), ending at 0, from
  x = sqrt(sigma_max^2 + sigma_data^2) z;
- "data-aware rule": `sample_default(D, z, nfe, data=stats)` with the stats of the training
  examples in the model's units (`medgen.diffusion.defaults`: LMS, Karras rho 2 down to
  sigma_min, sigma_max = SIGMA_MAX_PER_DIAMETER x the diameter, started from the Gaussian fit
  of the diffused data, x = m + (C + sigma_max^2 I)^(1/2) z);
- "rule, started at 0": the same levels from x = sqrt(sigma_max^2 + sigma_data^2) z (what a
  model that records only scalars, not the data's mean and covariance, can do);
- "rule, recorded sigma_max": the rule's rho 2 levels and start up to the recorded sigma_max;
- "rule, rho 7": the rule's sigma_max and start on rho 7 levels;
- "recorded levels, rule's sigma_max": the model's recorded sampler, rho and start (from 0,
  ending at 0), up to the rule's sigma_max: what a model trained with the rule records.

The last three take the rule apart: which of its changes (rho, sigma_max, start) moves the FD.

The floor is the same scores for n training slices. Run (about 10 minutes on one idle thread;
`--rows` picks rows by label, separated by ';'):

    python benchmarks/samplers_images.py --n 300 --nfe 20 \
        --out benchmarks/results/samplers_images.txt

Without --data a small built-in set (512 train, 600 test slices, seed 1) is made in --work.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from medgen.diffusion import SAMPLERS, karras_sigmas
from medgen.diffusion.defaults import (
    DEFAULT_SAMPLER,
    DEFAULT_SIGMA_MIN,
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

MODELS = ("pixel_prior", "latent_diffusion")
CHUNK = 100  # images per sampler call
Rule = Callable[[DiffusionModel, Tensor, int, DataStats], Tensor]  # (model, z, nfe, stats) -> x


def recorded_levels(model: DiffusionModel, z: Tensor, nfe: int, sigma_max: float) -> Tensor:
    """The model's sampler on karras(nfe steps, sigma_min, sigma_max, recorded rho) from 0."""
    c = model.config
    sigmas = karras_sigmas(nfe, c.sigma_min, sigma_max, c.rho).to(torch.float32)
    x = prior_std(sigma_max, c.sigma_data) * z
    return SAMPLERS[c.sampler](model.guided_denoiser(z.shape[0], None, 1.0), x, sigmas)


def measured_levels(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """The recorded levels up to the recorded sigma_max: how the model samples as shipped."""
    return recorded_levels(model, z, nfe, model.config.sigma_max)


def recorded_rule_max(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """The recorded levels up to the rule's sigma_max (a multiple of the examples' diameter)."""
    return recorded_levels(model, z, nfe, sigma_max_of(stats))


def data_rule(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """`sample_default` given the training examples' stats."""
    return sample_default(model.guided_denoiser(z.shape[0], None, 1.0), z, nfe, data=stats)


def rule_from_zero(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """The rule's levels, started at 0 with an isotropic std instead of the data's Gaussian fit."""
    scalars = DataStats(torch.zeros_like(stats.mean), stats.sigma_data, stats.diameter)
    return data_rule(model, z, nfe, scalars)


def rule_recorded_max(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """The rule's levels and start, up to the recorded sigma_max instead of 1.5 x diameter."""
    denoiser = model.guided_denoiser(z.shape[0], None, 1.0)
    return sample_default(denoiser, z, nfe, data=stats, sigma_max=model.config.sigma_max)


def rule_rho_7(model: DiffusionModel, z: Tensor, nfe: int, stats: DataStats) -> Tensor:
    """The rule's sigma_max and start on Karras rho 7 levels down to sigma_min."""
    s_max = sigma_max_of(stats)
    sigmas = default_sigmas(nfe, DEFAULT_SIGMA_MIN, s_max, rho=7.0).to(torch.float32)
    x = gaussian_fit_start(stats, s_max, z)
    return SAMPLERS[DEFAULT_SAMPLER](model.guided_denoiser(z.shape[0], None, 1.0), x, sigmas)


ROWS: dict[str, Rule] = {
    "measured sigma_max": measured_levels,
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


def check_parity(model: DiffusionModel, nfe: int, stats: DataStats) -> None:
    """measured_levels from randn(seed) equals model.sample(generator=seed) when they coincide."""
    c = model.config
    if c.steps != nfe:
        return
    ours = measured_levels(model, randn((2, *model.data_shape()), _gen(7)), nfe, stats)
    theirs = model.sample(2, generator=_gen(7))
    if c.sampler == "lms" and c.rho == 7.0:  # the recorded recipe: the row is what shipped
        torch.testing.assert_close(model.decode(ours), theirs, atol=1e-5, rtol=1e-4)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def run_model(
    name: str, data: Path, n: int, nfe: int, seed: int, rows: list[str] | None = None
) -> list[str]:
    """One table: every row's FD and KID for reference model `name`, and the floor."""
    from medgen.evaluate.features import load_extractor
    from medgen.models import load_model
    from medgen.reference.zoo import reference_folder

    model = load_model(reference_folder(name) / "model")
    assert isinstance(model, DiffusionModel)
    extractor = load_extractor(reference_folder("features"))
    train, test = split_images(data, "train"), split_images(data, "test")
    with torch.no_grad():
        stats = data_stats(model.encode(train))
    real = extractor(test.numpy())
    lines = [
        f"{name}: recorded sigma_max {model.config.sigma_max:g}, rho {model.config.rho:g}, "
        f"sampler {model.config.sampler}; training examples' diameter {stats.diameter:.4g}, "
        f"sigma_data {stats.sigma_data:.4g}, |mean| {float(stats.mean.norm()):.4g}",
        f"{'row':34s} {'sigma_max':>9s} {'FD':>8s} {'KID':>9s} {'seconds':>8s}",
    ]
    floor = extractor(train[:n].numpy())
    kid = kernel_inception_distance(real, floor).mean
    lines.append(
        f"{'floor (train slices)':34s} {'':9s} {frechet_distance(real, floor):8.3f} {kid:9.5f}"
    )
    check_parity(model, nfe, stats)
    z = randn((n, *model.data_shape()), _gen(seed))
    for label, rule in ROWS.items():
        if rows is not None and label not in rows:
            continue
        start = time.perf_counter()
        with torch.no_grad():
            images = torch.cat(
                [
                    model.decode(rule(model, z[i : i + CHUNK], nfe, stats))
                    for i in range(0, n, CHUNK)
                ]
            )
        fake = extractor(images.numpy())
        s_max = model.config.sigma_max if label in RECORDED else sigma_max_of(stats)
        lines.append(
            f"{label:34s} {s_max:9.4g} {frechet_distance(real, fake):8.3f} "
            f"{kernel_inception_distance(real, fake).mean:9.5f} {time.perf_counter() - start:8.0f}"
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the shared noise z")
    parser.add_argument("--rows", help="semicolon-separated row labels (default: every row)")
    parser.add_argument("--out", help="also write the tables to this path")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = args.data or builtin_data(args.work)
    text = [
        "python " + " ".join(sys.argv),
        f"{args.n} samples per row at {args.nfe} NFE, one shared noise draw (seed {args.seed}); "
        "FD and KID in the shipped domain feature space against the test split",
    ]
    for name in args.models.split(","):
        rows = args.rows.split(";") if args.rows else None
        text += ["", *run_model(name, data, args.n, args.nfe, args.seed, rows)]
    print("\n".join(text))
    if args.out:
        Path(args.out).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
