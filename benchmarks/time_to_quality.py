"""Time-to-quality: medgen's default diffusion recipe against MONAI's 2-D DDPM tutorial.

Both recipes train on the train split of the same data (the 64-pixel built-in set by default)
for the same CPU wall-clock minutes, one after the other, single-threaded, and are scored at the
same snapshot minutes in medgen's domain feature space (`medgen.evaluate.features`) against
`--n-real` test slices: Fréchet distance, KID and k-NN recall (k = 5), every row of a table with
the same number of samples (FD is biased by n). The floor is the same scores for dev slices.

- medgen: exactly `medgen train diffusion --data DIR --budget Ns --cpu` (pixel space, EDM
  preconditioning, default U-Net and optimiser, EMA weights), trained to the first snapshot and
  then resumed with the next wall-clock budget (`budget` is in `RESUMABLE_CHANGES`; the loop's
  `seconds` add up across sessions, so snapshots come from one run), sampled by its default
  sampler (LMS, 20 steps = 20 NFE) and, at the last snapshot, at ~10-50 NFE.
- MONAI: Project-MONAI/tutorials generation/2d_ddpm/2d_ddpm_tutorial.ipynb (MONAI >= 1.4):
  `DiffusionModelUNet`, `DDPMScheduler(num_train_timesteps=1000)`, `DiffusionInferer`, epsilon
  MSE, Adam lr 2.5e-5, batch 128, images in [0, 1] as its ScaleIntensityRanged leaves them, no
  EMA; sampled with DDIM-50 (`DDIMScheduler`, as in its compare_schedulers notebook) at every
  snapshot and DDPM-1000 at the last. The tutorial's U-Net is channels (128, 256, 256) with
  attention at levels 2 and 3 (num_head_channels 256); the default here is the CPU-sized
  (32, 64, 64) with the same attention levels (`--monai-channels` picks another). Left out: its
  RandAffined augmentation (medgen does not augment either) and CUDA mixed precision.

Run (`--quick`: 0.2,0.4 min, n 32, n-ddpm 2, about 6 minutes on one thread):

    python benchmarks/time_to_quality.py --data DIR --minutes 5,10,20 --n 500 --out FILE
    python benchmarks/time_to_quality.py --quick --work /tmp/ttq

Without --data the standard built-in set (8000/5000/2000 slices) is made in --work/data.

Cost on one CPU thread (64 px): medgen trains ~10-20 img/s and samples at ~0.013 s per image
per NFE; the MONAI (32, 64, 64) U-Net, whose attention runs on 32x32 = 1024 tokens, trains
~2-4 img/s and samples at ~0.06 s per image per NFE, so one DDPM-1000 image costs ~1 minute
and the full default run (n 500 for every row) takes many hours: use --n-ddpm for a smaller
DDPM-1000 set (medgen and the floor are then also scored at that n, column FD@n).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

NFE_TARGETS = (10, 15, 20, 25, 35, 50)  # medgen rows of the FD-vs-NFE table
TARGET_FRACTION = 1 / 3  # target: medgen reaches MONAI's final FD in <= 1/3 of the budget
MATCH_NFE = 25  # target: medgen at <= 25 NFE matches MONAI's 1000-step FD
MONAI_LR = 2.5e-5  # tutorial: Adam learning rate
MONAI_BATCH = 128  # tutorial: images per step
MONAI_TIMESTEPS = 1000  # tutorial: DDPM training timesteps
DDIM_STEPS = 50  # DDIM sampling steps at every snapshot
SAMPLE_CHUNK = 32  # images per sampling call (bounds the attention's memory)
RECALL_K = 5  # k of the k-NN recall (Kynkäänniemi et al. 2019)


class Snapshot(NamedTuple):
    """Where a recipe's training stood when it was scored."""

    recipe: str
    minutes: float  # the snapshot's budget
    seconds: float  # training wall time spent, all sessions together
    steps: int
    images: int  # training images seen


class Scores(NamedTuple):
    """Sample quality against the real reference in the domain feature space."""

    fd: float
    kid: float  # KID mean
    kid_std: float
    recall: float  # NaN when the set is too small for k-NN balls


class Row(NamedTuple):
    """One sampled set of one snapshot: what drew it, its cost and its scores."""

    snapshot: Snapshot
    sampler: str
    nfe: int
    n: int
    sec_per_image: float
    scores: Scores
    fd_small: float  # FD of its first --n-ddpm images (NaN when --n-ddpm equals --n)


@dataclass
class MonaiRecipe:
    """MONAI's tutorial DDPM: network, scheduler, inferer, optimizer and its training position."""

    net: torch.nn.Module
    scheduler: Any  # monai.networks.schedulers.DDPMScheduler
    inferer: Any  # monai.inferers.DiffusionInferer
    optimizer: torch.optim.Optimizer
    images: Tensor  # (N, 1, H, W) training images in [0, 1]
    batch_size: int
    generator: torch.Generator  # data order, noise and timesteps
    steps: int = 0
    seen: int = 0
    seconds: float = 0.0
    order: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))


@dataclass
class Reference:
    """Real features: the test reference and dev slices for the floor."""

    test: Tensor  # (n_real, D)
    dev: Tensor  # (max(n, n_ddpm), D)


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Wall seconds of a block, in the one-item list it yields."""
    spent = [0.0]
    start = time.perf_counter()
    try:
        yield spent
    finally:
        spent[0] = time.perf_counter() - start


def parse_minutes(text: str) -> list[float]:
    """Snapshot budgets "5,10,20" -> [5.0, 10.0, 20.0], increasing and positive."""
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values or any(v <= 0 for v in values) or values != sorted(set(values)):
        raise SystemExit(f"--minutes: expected increasing positive numbers, got {text!r}")
    return values


def dataset_folder(data: Path | None, work: Path) -> Path:
    """--data, or the standard built-in set made (once) in work/data."""
    if data is not None:
        return data
    folder = work / "data"
    if not (folder / "manifest.json").is_file():
        from medgen.data.synth import DataConfig, make_dataset

        log(f"making the standard built-in dataset in {folder}")
        make_dataset(folder, DataConfig(), workers=2, overwrite=True)
    return folder


def feature_extractor(data: Path, work: Path, features: str | None) -> Any:
    """--features, or medgen's domain extractor trained (once) on data into work/features."""
    from medgen.evaluate.features import FeatureConfig, load_extractor, train_extractor

    if features is None:
        folder = work / "features"
        if not (folder / "extractor.json").is_file():
            log(f"training the domain feature extractor into {folder}")
            train_extractor(data, folder, FeatureConfig(), overwrite=True)
        features = str(folder)
    return load_extractor(features)


def split_images(store: Any, split: str, n: int | None, seed: int) -> np.ndarray:
    """n slices (all when None) of a split, drawn without replacement by `seed`, (n, H, W)."""
    ids = np.sort(store.split(split).index.to_numpy())
    if n is not None:
        if len(ids) < n:
            raise SystemExit(f"{store.root}: the {split} split has {len(ids)} slices, need {n}")
        ids = np.sort(np.random.default_rng(seed).choice(ids, n, replace=False))
    return np.asarray(store.array("images")[ids], dtype=np.float32)


def score(real: Tensor, fake: Tensor) -> Scores:
    """FD, KID and recall of fake features against real ones."""
    from medgen.evaluate import frechet_distance, kernel_inception_distance, prdc

    kid = kernel_inception_distance(real, fake)
    recall = prdc(real, fake, k=RECALL_K).recall if fake.shape[0] > RECALL_K else math.nan
    return Scores(frechet_distance(real, fake), kid.mean, kid.std, recall)


def train_medgen(data: Path, run: Path, minutes: float, resume: bool) -> Snapshot:
    """`medgen train diffusion --data data --out run --budget <minutes> --cpu [--resume]`."""
    from medgen.train.recipe import read_run_config, train_on_data

    config = read_run_config(None, "diffusion", budget=f"{minutes * 60:g}s")
    summary = train_on_data("diffusion", data, run, config, resume=resume, cpu=True, progress=False)
    return Snapshot("medgen", minutes, summary["seconds"], summary["steps"], summary["images"])


def sample_medgen(run: Path, n: int, steps: int | None, seed: int) -> tuple[np.ndarray, int]:
    """n images (n, H, W) from a medgen run's exported model, and the NFE per image."""
    from medgen.diffusion import expected_nfe
    from medgen.models import load_model
    from medgen.models.diffusion import DiffusionModel

    model = load_model(run / "model")
    assert isinstance(model, DiffusionModel)
    sampler, steps = model.config.sampler, steps or model.config.steps
    generator = torch.Generator().manual_seed(seed)
    parts = [
        model.sample(min(SAMPLE_CHUNK, n - i), generator=generator, steps=steps)
        for i in range(0, n, SAMPLE_CHUNK)
    ]
    return torch.cat(parts)[:, 0].numpy(), expected_nfe(sampler, steps)


def monai_recipe(
    images: np.ndarray, channels: tuple[int, ...], batch_size: int, seed: int
) -> MonaiRecipe:
    """The tutorial's network, DDPM scheduler, inferer and Adam, on training images (N, H, W)."""
    from monai.inferers import DiffusionInferer
    from monai.networks.nets import DiffusionModelUNet
    from monai.networks.schedulers import DDPMScheduler

    torch.manual_seed(seed)
    net = DiffusionModelUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=channels,
        attention_levels=(False, True, True),
        num_res_blocks=1,
        num_head_channels=channels[-1],
    )
    scheduler = DDPMScheduler(num_train_timesteps=MONAI_TIMESTEPS)
    return MonaiRecipe(
        net=net,
        scheduler=scheduler,
        inferer=DiffusionInferer(scheduler),
        optimizer=torch.optim.Adam(net.parameters(), lr=MONAI_LR),
        images=torch.from_numpy(images).unsqueeze(1),
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
    )


def next_batch(recipe: MonaiRecipe) -> Tensor:
    """The next shuffled batch (an epoch's last one may be smaller, as DataLoader gives it)."""
    if recipe.order.numel() == 0:
        recipe.order = torch.randperm(recipe.images.shape[0], generator=recipe.generator)
    ids, recipe.order = recipe.order[: recipe.batch_size], recipe.order[recipe.batch_size :]
    return recipe.images[ids]


def train_monai(recipe: MonaiRecipe, minutes: float) -> Snapshot:
    """The tutorial's training loop until `minutes` of training wall time in all."""
    net, g = recipe.net, recipe.generator
    net.train()
    start, before = time.perf_counter(), recipe.seconds
    while recipe.seconds < minutes * 60:
        images = next_batch(recipe)  # (B, 1, H, W) in [0, 1]
        recipe.optimizer.zero_grad(set_to_none=True)
        noise = torch.randn(images.shape, generator=g)
        timesteps = torch.randint(0, MONAI_TIMESTEPS, (images.shape[0],), generator=g)
        noise_pred = recipe.inferer(
            inputs=images, diffusion_model=net, noise=noise, timesteps=timesteps
        )
        loss = F.mse_loss(noise_pred.float(), noise.float())
        loss.backward()
        recipe.optimizer.step()
        recipe.steps += 1
        recipe.seen += images.shape[0]
        recipe.seconds = before + time.perf_counter() - start
    return Snapshot("MONAI", minutes, round(recipe.seconds, 3), recipe.steps, recipe.seen)


def sample_monai(recipe: MonaiRecipe, n: int, sampler: str, seed: int) -> tuple[np.ndarray, int]:
    """n images (n, H, W) by DDPM-1000 ("ddpm") or DDIM-50 ("ddim"), and the NFE per image."""
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    if sampler == "ddpm":
        scheduler: Any = DDPMScheduler(num_train_timesteps=MONAI_TIMESTEPS)
        scheduler.set_timesteps(MONAI_TIMESTEPS)
    else:
        scheduler = DDIMScheduler(num_train_timesteps=MONAI_TIMESTEPS)
        scheduler.set_timesteps(DDIM_STEPS)
    size = recipe.images.shape[-1]
    generator = torch.Generator().manual_seed(seed)
    recipe.net.eval()
    parts = []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # DDPM's per-step noise comes from the global RNG
        for i in range(0, n, SAMPLE_CHUNK):
            noise = torch.randn((min(SAMPLE_CHUNK, n - i), 1, size, size), generator=generator)
            image = recipe.inferer.sample(
                input_noise=noise, diffusion_model=recipe.net, scheduler=scheduler, verbose=False
            )
            parts.append(image)
    recipe.net.train()
    return torch.cat(parts)[:, 0].clamp(0, 1).numpy(), len(scheduler.timesteps)


def evaluate(
    snapshot: Snapshot,
    sampler: str,
    draw: Callable[[], tuple[np.ndarray, int]],
    extractor: Callable[[np.ndarray], Tensor],
    reference: Reference,
    n_small: int,
) -> Row:
    """Draw one sample set, time it and score it (and its first n_small images)."""
    with timed() as spent:
        images, nfe = draw()
    fake = extractor(images)
    small = math.nan
    if n_small < fake.shape[0]:
        from medgen.evaluate import frechet_distance

        small = frechet_distance(reference.test, fake[:n_small])
    row = Row(
        snapshot,
        sampler,
        nfe,
        len(images),
        spent[0] / len(images),
        score(reference.test, fake),
        small,
    )
    log(f"{snapshot.recipe} {snapshot.minutes:g} min {sampler} NFE {nfe}: FD {row.scores.fd:.3f}")
    return row


def floor_rows(reference: Reference, n: int, n_small: int) -> tuple[Scores, float]:
    """Scores of n dev slices (the floor) and the FD of its first n_small."""
    from medgen.evaluate import frechet_distance

    small = math.nan
    if n_small < n:
        small = frechet_distance(reference.test, reference.dev[:n_small])
    return score(reference.test, reference.dev[:n]), small


def fmt_row(label: str, row: Row) -> str:
    """One table line: snapshot, sampler, cost and scores."""
    s, sc = row.snapshot, row.scores
    small = "" if math.isnan(row.fd_small) else f"{row.fd_small:9.3f}"
    return (
        f"{label:<8}{s.minutes:>6g}{s.seconds:>8.0f}{s.steps:>7d}{s.images:>9d}  "
        f"{row.sampler:<9}{row.nfe:>5d}{row.n:>5d}{sc.fd:>9.3f}{sc.kid * 1e3:>8.2f}"
        f" ±{sc.kid_std * 1e3:<6.2f}{sc.recall:>7.3f}{row.sec_per_image:>9.3f}{small}"
    )


HEADER = (
    f"{'recipe':<8}{'min':>6}{'train s':>8}{'steps':>7}{'images':>9}  {'sampler':<9}"
    f"{'NFE':>5}{'n':>5}{'FD':>9}{'KIDx1e3':>8}{'':8}{'recall':>7}{'s/img':>9}"
)


def render(args: argparse.Namespace, meta: dict[str, str], results: dict[str, Any]) -> str:
    """The report: header, time-to-quality table, FD-vs-NFE table and verdicts (what exists)."""
    n, n_small = args.n, args.n_ddpm
    small_head = f"{'FD@' + str(n_small):>9}" if n_small < n else ""
    lines = [f"# {k}: {v}" for k, v in meta.items()]
    floor, floor_small = results.get("floor", (None, math.nan))
    if floor is not None:
        fs = "" if math.isnan(floor_small) else f", FD@{n_small} {floor_small:.3f}"
        lines.append(
            f"# floor (dev slices vs the test reference, n={n}): FD {floor.fd:.3f}, "
            f"KIDx1e3 {floor.kid * 1e3:.2f}, recall {floor.recall:.3f}{fs}"
        )
    if n_small < n:
        lines.append(
            f"# NOTE: DDPM-1000 is drawn with n={n_small} < n={n}; FD at a smaller n is biased "
            f"upwards and is not comparable with the n={n} column: compare it with FD@{n_small}."
        )
    lines += ["", "(1) time to quality", HEADER + small_head]
    lines += [fmt_row(r.snapshot.recipe, r) for r in results.get("ttq", [])]
    lines += ["", "(2) FD vs NFE at the final snapshot", HEADER + small_head]
    lines += [fmt_row(r.snapshot.recipe, r) for r in results.get("nfe", [])]
    if "verdicts" in results:
        lines += ["", "(3) verdicts", *results["verdicts"]]
    return "\n".join(lines) + "\n"


def fd_at(row: Row, n_small: int) -> float:
    """A row's FD at n_small images (its own FD when it has exactly n_small)."""
    return row.scores.fd if row.n == n_small else row.fd_small


def verdicts(ttq: list[Row], nfe_rows: list[Row], minutes: list[float], n_small: int) -> list[str]:
    """The two verdicts from the finished tables."""
    final = minutes[-1]
    monai_final = [r for r in ttq if r.snapshot.recipe == "MONAI" and r.snapshot.minutes == final]
    medgen = [r for r in ttq if r.snapshot.recipe == "medgen"]
    same_n = [r for r in monai_final if r.n == medgen[0].n]
    target = min(r.scores.fd for r in same_n)
    best = min(same_n, key=lambda r: r.scores.fd)
    out = [f"MONAI final ({final:g} min) best FD at n={best.n}: {target:.3f} ({best.sampler})"]
    hit = next((r for r in medgen if r.scores.fd <= target), None)
    if hit is None:
        out.append("medgen never reaches it within the budget: FAIL (target <= 1/3)")
    else:
        frac = hit.snapshot.minutes / final
        verdict = "PASS" if frac <= TARGET_FRACTION + 1e-9 else "FAIL"
        out.append(
            f"first medgen snapshot with FD <= that: {hit.snapshot.minutes:g} min (FD "
            f"{hit.scores.fd:.3f}) = {frac:.2f} of the budget: {verdict} (target <= 1/3)"
        )
    ddpm = next(r for r in monai_final if r.sampler == "DDPM")
    cheap = [r for r in nfe_rows if r.snapshot.recipe == "medgen" and r.nfe <= MATCH_NFE]
    best_cheap = min(cheap, key=lambda r: fd_at(r, n_small))
    ok = fd_at(best_cheap, n_small) <= ddpm.scores.fd
    out.append(
        f"medgen at <= {MATCH_NFE} NFE vs MONAI DDPM-1000 (FD at n={n_small}): best "
        f"{fd_at(best_cheap, n_small):.3f} at {best_cheap.nfe} NFE vs {ddpm.scores.fd:.3f}: "
        f"{'PASS' if ok else 'FAIL'} (medgen FD <= DDPM-1000 FD)"
    )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="dataset folder [made in --work]")
    p.add_argument("--minutes", default="5,10,20", help="snapshot budgets [5,10,20]")
    p.add_argument("--n", type=int, default=500, help="samples per row [500]")
    p.add_argument("--n-ddpm", type=int, default=None, help="samples of DDPM-1000 [--n]")
    p.add_argument("--n-real", type=int, default=1000, help="test slices of the reference")
    p.add_argument("--work", type=Path, default=Path("time_to_quality_work"), help="work dir")
    p.add_argument("--features", default=None, help="feature extractor [trained in --work]")
    p.add_argument("--monai-channels", default="32,64,64", help="U-Net widths [32,64,64]")
    p.add_argument("--monai-batch", type=int, default=MONAI_BATCH, help="MONAI batch [128]")
    p.add_argument("--seed", type=int, default=0, help="seed of samples and MONAI [0]")
    p.add_argument("--quick", action="store_true", help="smoke run: 0.2,0.4 min, n 32")
    p.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.n, args.n_real = "0.2,0.4", 32, 200
        args.n_ddpm = min(args.n_ddpm or 2, 32)
    args.n_ddpm = args.n_ddpm or args.n
    if not 2 <= args.n_ddpm <= args.n:
        raise SystemExit("--n-ddpm must be between 2 and --n")
    return args


def main(argv: list[str] | None = None) -> None:
    """Train both recipes snapshot by snapshot, score them and print the tables."""
    from medgen.data.store import open_dataset
    from medgen.diffusion.defaults import DEFAULT_SAMPLER, steps_for_nfe

    torch.set_num_threads(1)
    args = parse_args(argv)
    minutes = parse_minutes(args.minutes)
    channels = tuple(int(c) for c in args.monai_channels.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    data = dataset_folder(args.data, args.work)
    extractor = feature_extractor(data, args.work, args.features)
    store = open_dataset(data)
    n, n_small = args.n, args.n_ddpm
    reference = Reference(
        extractor(split_images(store, "test", args.n_real, args.seed)),
        extractor(split_images(store, "dev", n, args.seed + 1)),
    )
    meta = {
        "command": shlex.join(["python", "benchmarks/time_to_quality.py", *sys.argv[1:]]),
        "scale": f"minutes {args.minutes}, n {n}, n-ddpm {n_small}, n-real {args.n_real}",
        "data": f"{data} ({store.manifest.get('content_hash', '?')[:12]})",
        "features": f"{extractor.name}; torch threads 1; {time.strftime('%Y-%m-%d %H:%M')}",
        "MONAI": f"channels {channels}, batch {args.monai_batch}, lr {MONAI_LR}",
    }
    results: dict[str, Any] = {"floor": floor_rows(reference, n, n_small), "ttq": [], "nfe": []}

    def report() -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(render(args, meta, results), encoding="utf-8")

    def add(table: str, row: Row) -> None:
        results[table].append(row)
        report()

    def feats(images: np.ndarray) -> Tensor:
        return extractor(images)

    run = args.work / "medgen_run"
    shutil.rmtree(run, ignore_errors=True)
    for i, m in enumerate(minutes):
        log(f"medgen: training to {m:g} min")
        snap = train_medgen(data, run, m, resume=i > 0)
        row = evaluate(
            snap, "LMS", lambda: sample_medgen(run, n, None, args.seed), feats, reference, n_small
        )
        add("ttq", row)
    for target in NFE_TARGETS:
        steps = steps_for_nfe(DEFAULT_SAMPLER, target)
        draw = functools.partial(sample_medgen, run, n, steps, args.seed)
        add("nfe", evaluate(snap, "LMS", draw, feats, reference, n_small))

    train_images = split_images(store, "train", None, args.seed)
    recipe = monai_recipe(train_images, channels, args.monai_batch, args.seed)
    for m in minutes:
        log(f"MONAI: training to {m:g} min")
        snap = train_monai(recipe, m)
        add(
            "ttq",
            evaluate(
                snap,
                "DDIM",
                lambda: sample_monai(recipe, n, "ddim", args.seed),
                feats,
                reference,
                n_small,
            ),
        )
    results["nfe"].append(results["ttq"][-1])
    ddpm = evaluate(
        snap,
        "DDPM",
        lambda: sample_monai(recipe, n_small, "ddpm", args.seed),
        feats,
        reference,
        n_small,
    )
    add("ttq", ddpm)
    results["nfe"].append(ddpm)
    results["verdicts"] = verdicts(results["ttq"], results["nfe"], minutes, n_small)
    report()
    print(render(args, meta, results), end="")


if __name__ == "__main__":
    main()
