"""Time N training steps of each 2-D mode-collapse family two ways: the lab's own loop
(`medgen.lab.mode_collapse_families.TRAINERS`) and `medgen.train.train` with the same networks,
losses and batch size behind the `GenerativeModel` protocol. Single-threaded, CPU, as the
benchmark runs.

    .venv/bin/python experiments/mode_collapse_loop/measure.py [--steps 1000] [--repeats 5]

Trainer settings: "quiet" = no per-step bookkeeping the trainer lets one turn off (one metrics
line, one checkpoint at the end, no monitor, no gradient clipping, no EMA); "defaults" =
`TrainConfig`'s defaults for logging, checkpoints and clipping, EMA for the diffusion (as
`DiffusionModel` has it). The trainer's data is a pre-drawn tensor served a batch at a time
(`__getitems__`, no per-item collate), the cheapest way its map-style stream allows.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from medgen.diffusion.loss import dsm_loss, sample_sigma_lognormal
from medgen.diffusion.precond import EDMPrecond
from medgen.lab import mode_collapse as mc
from medgen.lab import mode_collapse_families as fam
from medgen.models.protocol import Batch, GenerativeModel
from medgen.train import TrainConfig, train

SEED = 0


class Points(torch.utils.data.Dataset[Any]):
    """Pre-drawn 2-D points, fetched a whole batch at a time."""

    def __init__(self, x: Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Batch:
        return {"image": self.x[i]}

    def __getitems__(self, idx: list[int]) -> Batch:
        return {"image": self.x[idx]}


def identity(batch: Any) -> Any:
    return batch


class Toy(GenerativeModel):
    """Shared protocol stubs; `sample` returns (n, 1, 1, 2) so the trainer's final grid works."""

    def config_dict(self) -> dict[str, Any]:
        return {}

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, cond: Tensor | None = None
    ) -> Tensor:
        return torch.zeros(n, 1, 1, 2)


class ToyVae(Toy):
    family: ClassVar[str] = "vae"

    def __init__(self) -> None:
        super().__init__()
        self.vae = fam.Vae()

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        assert generator is not None
        return {"loss": self.vae.loss(batch["image"], generator)}


class ToyGan(Toy):
    family: ClassVar[str] = "gan"
    phases: ClassVar[tuple[str, ...]] = ("d", "g")

    def __init__(self) -> None:
        super().__init__()
        self.G = fam.mlp(fam.LATENT, 2, fam.WIDTH, torch.nn.ReLU)
        self.D = fam.mlp(2, 1, fam.WIDTH, lambda: torch.nn.LeakyReLU(0.2))

    def phase_parameters(self, phase: str) -> list[torch.nn.Parameter]:
        return list((self.D if phase == "d" else self.G).parameters())

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        real = batch["image"]
        fake = self.G(torch.randn(len(real), fam.LATENT, generator=generator))
        if phase == "d":
            d = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
            return {"loss": d}
        return {"loss": F.softplus(-self.D(fake)).mean()}


class ToyDiffusion(Toy):
    family: ClassVar[str] = "diffusion"

    def __init__(self, sigma_data: float) -> None:
        super().__init__()
        self.net = EDMPrecond(fam.DenoiserMLP(), sigma_data=sigma_data)
        self.sigma_data = sigma_data
        self.p_mean = math.log(sigma_data) + fam.P_MEAN_OFFSET

    def loss(
        self, batch: Batch, phase: str = "main", generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        x0 = batch["image"]
        sigma = sample_sigma_lognormal(len(x0), self.p_mean, fam.P_STD, generator=generator)
        loss = dsm_loss(self.net, x0, sigma, sigma_data=self.sigma_data, generator=generator)
        return {"loss": loss.mean()}


class ToyDiffusionEMA(ToyDiffusion):
    uses_ema: ClassVar[bool] = True  # as DiffusionModel


LR = {"diffusion": fam.DIFFUSION_LR, "gan": fam.GAN_LR, "vae": fam.VAE_LR}
BETAS = {"diffusion": (0.9, 0.999), "gan": (0.5, 0.999), "vae": (0.9, 0.999)}


def clocks() -> tuple[float, float]:
    """(wall, CPU of this process) in seconds: CPU time is steadier on a shared machine but
    leaves out waits on the disk (the trainer's fsyncs)."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def own_loop(family: str, steps: int) -> tuple[float, float]:
    start = clocks()
    mc.train_family(family, "grid", SEED, steps)
    return since(start)


def generic(family: str, steps: int, setting: str) -> tuple[float, float]:
    mixture = mc.benchmark("grid").mixture
    data = mixture.sample(steps * mc.BATCH, generator=torch.Generator().manual_seed(SEED))
    torch.manual_seed(SEED)
    model: GenerativeModel
    if family == "vae":
        model = ToyVae()
    elif family == "gan":
        model = ToyGan()
    else:
        kind = ToyDiffusionEMA if setting == "defaults" else ToyDiffusion
        model = kind(float(data[:5120].std(0).mean()))
    quiet = setting == "quiet"
    config = TrainConfig(
        batch_size=mc.BATCH,
        lr=LR[family],
        betas=BETAS[family],
        lr_schedule="cosine" if family == "diffusion" else "constant",
        budget=f"{steps}steps",
        grad_clip=0.0 if quiet else 1.0,
        checkpoint_every=steps if quiet else 100,
        log_every=steps if quiet else 10,
        monitor_every=0 if quiet else 50,
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = clocks()
        train(
            model,
            Points(data),
            Path(tmp) / "run",
            config,
            cpu=True,
            progress=False,
            collate_fn=identity,
        )
        return since(start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for family in mc.FAMILIES:  # warm-up: first-call costs (allocator, lazy imports) excluded
        own_loop(family, 5)
        generic(family, 5, "defaults")
    times = {}
    for family in mc.FAMILIES:
        runs: list[list[tuple[float, float]]] = [[], [], []]
        for _ in range(args.repeats):  # interleaved, so a slow spell hits every way alike
            runs[0].append(own_loop(family, args.steps))
            runs[1].append(generic(family, args.steps, "quiet"))
            runs[2].append(generic(family, args.steps, "defaults"))
        times[family] = runs
    for clock, name in enumerate(("wall", "CPU")):
        print(
            f"{args.steps} steps of batch {mc.BATCH}, grid mixture, 1 thread, fastest of "
            f"{args.repeats}; {name} ms per step (ratio to the lab's loop)"
        )
        print(f"{'family':10} {'lab loop':>9} {'train quiet':>18} {'train defaults':>18}")
        for family, runs in times.items():
            per = [1000 * min(t[clock] for t in way) / args.steps for way in runs]
            print(
                f"{family:10} {per[0]:9.3f} {per[1]:9.3f} ({per[1] / per[0]:4.2f}x) "
                f"{per[2]:9.3f} ({per[2] / per[0]:4.2f}x)"
            )
        print()


if __name__ == "__main__":
    main()
