"""Training throughput: medgen's default diffusion U-Net against MONAI's DiffusionModelUNet.

One run prints training images/s and peak memory at batch 32 for: medgen's default backbone
(`default_unet_config(size)`) and MONAI's 2-D DDPM tutorial net (channels (32, 64, 64), attention
at the last level, one res-block, ~1.1 M parameters) at 64x64 and 32x32, with the ratio medgen /
MONAI; the loss of both after equal steps on the same data, noise and seed; a DCGAN D+G step and a
VAE ELBO step at 64x64; and samples/s per family (diffusion: 10-NFE Euler; GAN: one generator
forward; VAE: one decoder forward).

A diffusion training step is EDM preconditioning + DSM loss (EDM weighting, log-normal sigma)
+ AdamW. Data: smooth random Gaussian blobs squashed into [-1, 1] (no dataset needed). Timed steps
of the nets being compared are interleaved (A, B, A, B, ...) and the median is reported, so the
shared machine's load hits both alike; compare ratios, not absolute numbers. Peak memory is the
growth of the peak RSS (Linux's VmHWM, reset after imports) over model construction and three
training steps, each row in a fresh process: torch's CPU allocations are invisible to tracemalloc,
and a fresh process keeps one row's peak from hiding the next's. Linux only. Run:

    python benchmarks/train_throughput.py [--quick] [--ablation] [--threads 2]

What made the difference (2-core AMD EPYC VM, torch 2.13 CPU, 2 threads; one run of this file):
at equal parameters (1.094 M vs 1.113 M) medgen's default trains 3.2x faster at 64x64 (72.1 vs
22.7 images/s) and 2.8x at 32x32 (229 vs 83), at half the peak memory (649 vs 1369 MiB), and its
held-out loss after 200 equal steps is lower (0.137 vs 0.145; one seed: it is behind at 50 steps,
0.267 vs 0.240, level at 100, ahead from 150). The `--ablation` rows (64x64, same
run) split the gain: medgen's U-Net in MONAI's layout runs at MONAI's speed (21.1: the code is
not faster per FLOP); one decoder block per encoder block instead of ADM's extra one, which
convolves 64-96-channel concatenations at full resolution (23.1); channels_last, whose mkldnn
convolution backward is up to 2x faster than NCHW at 64x64 (32.2); then the architecture,
(16, 32, 64, 80) over four levels with attention only at 8x8, which moves the parameters to low
resolution where a weight costs 1/64 of its FLOPs at 64x64 (65.6 NCHW, 72.1 channels_last). So:
architecture ~2-3x, channels_last ~1.1-1.4x, no fused ops. torch.compile is not used: on the
default net at 32x32 (1 thread) it took 94 s to compile and then ran at 139 images/s against 146
eager. Allocator: with glibc's defaults MONAI's 64x64 activations (a 96-channel concatenation is
50 MB) exceed glibc's 32 MiB mmap limit and are page-faulted back in on every step (~1 GB of
faults); on this VM that made MONAI's step erratic, 6-20 images/s across runs, while medgen's
smaller activations stay on the heap. The script therefore re-executes itself with MALLOC_ENV set,
so the ratio measures compute (`--default-malloc` measures the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.diffusion import (
    EDMPrecond,
    dsm_loss,
    karras_sigmas,
    sample_euler,
    sample_sigma_lognormal,
)
from medgen.nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    UNet,
    UNetConfig,
    VAEDecoder,
    VAEEncoder,
    count_parameters,
    default_unet_config,
    monai_tutorial_unet,
)

BATCH = 32  # images per training step and per sampling call
SIGMA_DATA = 0.5  # EDM's data standard deviation
LR = 1e-3  # AdamW learning rate for every net (equal for the loss comparison)
NFE = 10  # denoiser evaluations per diffusion sample
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0  # EDM's sampling noise levels
SEED = 0
# glibc returns freed blocks over 32 MiB (mmap) and the heap top (trim) to the kernel, so a step
# whose activations exceed that page-faults them back in every time; a VM makes those faults slow
# and erratic. These settings keep freed memory in the process, so rows compare compute.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**34), "MALLOC_TRIM_THRESHOLD_": str(2**34)}

Step = Callable[[], float]  # one training step; returns its loss


def smooth_blobs(n: int, size: int, generator: torch.Generator, blobs: int = 6) -> Tensor:
    """(n, 1, size, size) images in (-1, 1): tanh of a sum of random Gaussian bumps."""
    grid = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")  # (S, S)
    centres = torch.rand(n, blobs, 2, 1, 1, generator=generator) * 1.6 - 0.8
    widths = 0.08 + 0.3 * torch.rand(n, blobs, 1, 1, generator=generator)
    amps = 1.5 * torch.randn(n, blobs, 1, 1, generator=generator)
    d2 = (xx - centres[:, :, 0]) ** 2 + (yy - centres[:, :, 1]) ** 2  # (n, blobs, S, S)
    return torch.tanh((amps * torch.exp(-d2 / (2 * widths**2))).sum(1, keepdim=True))


def ablation_configs() -> dict[str, UNetConfig]:
    """medgen UNet variants from MONAI's tutorial layout to medgen's default, one change each."""
    monai_like = UNetConfig(channels=(32, 64, 64), num_head_channels=64)
    lean = UNetConfig(channels=(32, 64, 64), num_head_channels=64, decoder_extra_block=False)
    lean_cl = UNetConfig(**{**lean.__dict__, "channels_last": True})
    default_nchw = UNetConfig(**{**default_unet_config(64).__dict__, "channels_last": False})
    return {
        "medgen, MONAI layout": monai_like,
        "+ lean decoder": lean,
        "+ channels_last": lean_cl,
        "default, NCHW": default_nchw,
    }


def make_diffusion_net(name: str, size: int) -> nn.Module:
    """The network a diffusion row trains: medgen's default, MONAI's tutorial, or an ablation."""
    if name == "medgen":
        return UNet(default_unet_config(size))
    if name == "MONAI":
        return monai_tutorial_unet()
    return UNet(ablation_configs()[name])


def diffusion_step(net: nn.Module, data: Tensor, seed: int = SEED) -> Step:
    """EDM preconditioning + DSM loss + AdamW on random batches of data (Karras et al. 2022)."""
    denoiser = EDMPrecond(net, SIGMA_DATA)
    opt = torch.optim.AdamW(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)

    def step() -> float:
        x0 = data[torch.randint(len(data), (BATCH,), generator=gen)]  # (B, 1, S, S)
        sigma = sample_sigma_lognormal(BATCH, generator=gen)
        loss = dsm_loss(denoiser, x0, sigma, sigma_data=SIGMA_DATA, generator=gen).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def gan_step(size: int, data: Tensor) -> tuple[Step, int]:
    """One non-saturating DCGAN step: D on real + fake, then G (Goodfellow 2014; Radford 2016)."""
    G, D = DCGANGenerator(image_size=size), DCGANDiscriminator(image_size=size)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(SEED)

    def step() -> float:
        real = data[torch.randint(len(data), (BATCH,), generator=gen)]
        fake = G(torch.randn(BATCH, G.latent_dim, generator=gen))
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return loss_g.item()

    return step, count_parameters(G) + count_parameters(D)


def vae_step(data: Tensor) -> tuple[Step, int]:
    """One negative-ELBO step: Gaussian likelihood (unit variance) + KL (Kingma & Welling 2014)."""
    enc, dec = VAEEncoder(), VAEDecoder()
    opt = torch.optim.AdamW([*enc.parameters(), *dec.parameters()], lr=LR)
    gen = torch.Generator().manual_seed(SEED)

    def step() -> float:
        x = data[torch.randint(len(data), (BATCH,), generator=gen)]
        mean, logvar = enc(x)
        z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=gen)
        nll = 0.5 * (dec(z) - x).pow(2).sum(dim=(1, 2, 3))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3))
        loss = (nll + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, count_parameters(enc) + count_parameters(dec)


def make_row(name: str, size: int, data: Tensor) -> tuple[Step, int]:
    """A row's training step and its parameter count."""
    if name == "DCGAN":
        return gan_step(size, data)
    if name == "VAE":
        return vae_step(data)
    net = make_diffusion_net(name, size)
    return diffusion_step(net, data), count_parameters(net)


def time_interleaved(steps: dict[str, Step], warmup: int, timed: int) -> dict[str, float]:
    """Median seconds per step of each step function, run in turn so load hits all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(timed):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_memory_mib(name: str, size: int, threads: int) -> float:
    """Peak-RSS growth over 3 training steps of row `name`, in a fresh process (MiB)."""
    cmd = [sys.executable, __file__, "--memory-row", name, "--size", str(size)]
    out = subprocess.run(
        [*cmd, "--threads", str(threads)], check=True, capture_output=True, text=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"])


def rss_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak since reset), MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # the file gives kB


def measure_memory_row(name: str, size: int) -> None:
    """The child side of `peak_memory_mib`: print the peak-RSS growth as JSON.

    The peak is the kernel's high-water mark VmHWM, reset after imports by writing 5 to
    /proc/self/clear_refs; ru_maxrss will not do: Linux carries it over from the parent
    across fork + exec, so a child of a large parent reports the parent's peak.
    """
    data = smooth_blobs(256, size, torch.Generator().manual_seed(SEED))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = rss_mib("VmRSS")
    step, _ = make_row(name, size, data)
    for _ in range(3):
        step()
    print(json.dumps({"peak_mib": rss_mib("VmHWM") - before}))


@torch.no_grad()
def eval_loss(net: nn.Module, data: Tensor) -> float:
    """Mean EDM-weighted DSM loss on fixed images, sigmas and noise (the same for every net)."""
    denoiser = EDMPrecond(net, SIGMA_DATA)
    gen = torch.Generator().manual_seed(SEED + 1)
    sigma = sample_sigma_lognormal(len(data), generator=gen)
    losses = [
        dsm_loss(denoiser, x0, s, sigma_data=SIGMA_DATA, generator=gen).mean()
        for x0, s in zip(data.split(BATCH), sigma.split(BATCH), strict=True)
    ]
    return torch.stack(losses).mean().item()


def loss_after_steps(name: str, size: int, train: Tensor, test: Tensor, steps: int) -> float:
    """Held-out DSM loss of diffusion row `name` after `steps` training steps, seed fixed."""
    torch.manual_seed(SEED)  # same initialisation stream for every net
    net = make_diffusion_net(name, size)
    step = diffusion_step(net, train)
    for _ in range(steps):
        step()
    return eval_loss(net, test)


@torch.no_grad()
def sampling_seconds(name: str, size: int, repeats: int) -> float:
    """Median seconds to draw BATCH samples: diffusion 10-NFE Euler, GAN/VAE one forward."""
    gen = torch.Generator().manual_seed(SEED)
    if name == "DCGAN":
        G = DCGANGenerator(image_size=size).eval()
        z_shape: tuple[int, ...] = (BATCH, G.latent_dim)
        net: Callable[[Tensor], Tensor] = G
    elif name == "VAE":
        dec = VAEDecoder().eval()
        z_shape, net = (BATCH, dec.latent_channels, size // 4, size // 4), dec  # f = 4
    else:
        denoiser = EDMPrecond(make_diffusion_net(name, size).eval(), SIGMA_DATA)
        sigmas = karras_sigmas(NFE, SIGMA_MIN, SIGMA_MAX)  # NFE levels then 0: NFE Euler steps
        z_shape = (BATCH, 1, size, size)

        def net(z: Tensor) -> Tensor:
            return sample_euler(denoiser, z * SIGMA_MAX, sigmas)

    def draw() -> Tensor:
        return net(torch.randn(z_shape, generator=gen))

    draw()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        draw()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A plain fixed-width table."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for r in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def throughput_section(args: argparse.Namespace, warmup: int, timed: int) -> None:
    """Diffusion training images/s, peak memory and ratio at each size; GAN and VAE at 64."""
    for size in (64, 32):
        data = smooth_blobs(256, size, torch.Generator().manual_seed(SEED))
        names = ["medgen", "MONAI"]
        if args.ablation and size == 64:
            names += list(ablation_configs())
        made = {n: make_row(n, size, data) for n in names}
        secs = time_interleaved({n: s for n, (s, _) in made.items()}, warmup, timed)
        base = secs["MONAI"]
        rows = []
        for n in names:
            mem = peak_memory_mib(n, size, args.threads)
            speed = [f"{BATCH / secs[n]:.1f}", f"{base / secs[n]:.2f}x"]
            rows.append([n, f"{made[n][1] / 1e6:.3f} M", *speed, f"{mem:.0f}"])
        print_table(
            f"Diffusion training step, {size}x{size}, batch {BATCH} (EDM precond + DSM + AdamW)",
            ["net", "params", "images/s", "vs MONAI", "peak MiB"],
            rows,
        )
    data = smooth_blobs(256, 64, torch.Generator().manual_seed(SEED))
    made = {n: make_row(n, 64, data) for n in ("DCGAN", "VAE")}
    secs = time_interleaved({n: s for n, (s, _) in made.items()}, warmup, timed)
    rows = [
        [
            n,
            f"{made[n][1] / 1e6:.3f} M",
            f"{BATCH / secs[n]:.1f}",
            f"{peak_memory_mib(n, 64, args.threads):.0f}",
        ]
        for n in made
    ]
    print_table(
        f"GAN (D + G step) and VAE (ELBO step), 64x64, batch {BATCH}",
        ["family", "params", "images/s", "peak MiB"],
        rows,
    )


def loss_section(steps: int) -> None:
    """Held-out DSM loss of medgen's default and MONAI's net after equal steps at 32x32."""
    train = smooth_blobs(1024, 32, torch.Generator().manual_seed(SEED))
    test = smooth_blobs(256, 32, torch.Generator().manual_seed(SEED + 1))
    init = {n: eval_loss(make_diffusion_net(n, 32), test) for n in ("medgen", "MONAI")}
    rows = []
    for n in ("medgen", "MONAI"):
        t0 = time.perf_counter()
        loss = loss_after_steps(n, 32, train, test, steps)
        rows.append([n, f"{init[n]:.4f}", f"{loss:.4f}", f"{time.perf_counter() - t0:.0f}"])
    print_table(
        f"Held-out DSM loss (EDM weighting) after {steps} steps, 32x32, batch {BATCH}, lr {LR}",
        ["net", "at init", f"after {steps}", "train s"],
        rows,
    )


def sampling_section(repeats: int) -> None:
    """Samples/s for each family at 64x64 and 32x32."""
    rows = []
    for size in (64, 32):
        for n in ("medgen", "MONAI", "DCGAN", "VAE"):
            how = f"Euler, {NFE} NFE" if n in ("medgen", "MONAI") else "one forward"
            rows.append([n, f"{size}", how, f"{BATCH / sampling_seconds(n, size, repeats):.1f}"])
    print_table(f"Sampling, batch {BATCH}", ["net", "size", "how", "samples/s"], rows)


def main() -> None:
    """Parse the flags and print every table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed and training steps")
    parser.add_argument("--ablation", action="store_true", help="add the ablation rows at 64")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--loss-steps", type=int, default=None, help="steps before the loss")
    parser.add_argument(
        "--default-malloc", action="store_true", help="keep glibc's mmap/trim thresholds"
    )
    parser.add_argument("--memory-row", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.default_malloc and any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        argv = [sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
        os.execve(sys.executable, argv, {**os.environ, **MALLOC_ENV})  # glibc reads them at start
    torch.set_num_threads(args.threads)
    if args.memory_row:
        measure_memory_row(args.memory_row, args.size)
        return
    warmup, timed = (1, 3) if args.quick else (2, 7)
    loss_steps = args.loss_steps or (100 if args.quick else 200)
    malloc = "glibc defaults" if args.default_malloc else "no mmap/trim (MALLOC_ENV)"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, malloc: {malloc}")
    throughput_section(args, warmup, timed)
    loss_section(loss_steps)
    sampling_section(2 if args.quick else 5)


if __name__ == "__main__":
    main()
