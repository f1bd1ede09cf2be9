"""Registration variants scored on DEV pairs (the test pairs stay for the benchmark).

Trains one variant of the registration network (or loads it from --cache), then scores it on
--pairs same-level dev pairs with each test-time option: one pass, a recursive cascade of 2 or
3 passes (the same network applied to the warped moving image, fields composed), and a few
steps of instance optimisation of the field. Appends one JSON line per option to --out.

    python experiments/registration/variants.py --name base --steps 4000
    python experiments/registration/variants.py --name syn   # the peers on the same dev pairs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from medgen.data.store import open_dataset
from medgen.reference.zoo import require
from medgen.tasks.registration.diffusion import prior_denoised
from medgen.tasks.registration.nets import NetConfig, RegistrationNet, warp
from medgen.tasks.registration.pairs import same_level_pairs
from medgen.tasks.registration.peers import run_peer
from medgen.tasks.registration.scores import pair_scores, pair_truth
from medgen.tasks.registration.train import TrainSettings, train_registration
from medgen.tasks.run import open_pixel_model


def compose(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """u(p) = u2(p) + u1(p + u2(p)): warp by `first`, then the warped image by `second`."""
    h, w = first.shape[2:]
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    at = torch.stack([rows, cols]).to(first) + second  # (B, 2, H, W) pixel positions
    grid = torch.stack([at[:, 1] / (w - 1), at[:, 0] / (h - 1)], dim=-1) * 2 - 1
    moved = F.grid_sample(first, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return second + moved


@torch.no_grad()
def cascade(net: RegistrationNet, fixed: torch.Tensor, moving: torch.Tensor, passes: int):
    ddf = net(fixed, moving)
    for _ in range(passes - 1):
        ddf = compose(ddf, net(fixed, warp(moving, ddf)))
    return ddf


def refine(net, fixed, moving, s: TrainSettings, iterations: int, lr: float):
    """Instance optimisation: the one-pass field as the start, then Adam on the training
    objective over the field itself."""
    with torch.no_grad():
        start = net(fixed, moving)
    field = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([field], lr=lr)
    from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss

    lncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=s.lncc_kernel)
    bend = BendingEnergyLoss()
    for _ in range(iterations):
        loss = lncc(warp(moving, field), fixed) + s.bending * bend(field)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return field.detach()


class AffineNet(torch.nn.Module):
    """A small CNN from (moving, fixed) to an affine displacement u(p) = M p + t, with p
    centred pixel coordinates; starts at the identity (de Vos et al. 2019's affine stage)."""

    def __init__(self, size: int = 64) -> None:
        super().__init__()
        layers, c = [], 2
        for out in (16, 32, 32, 64, 64):
            layers += [torch.nn.Conv2d(c, out, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2)]
            c = out
        self.features = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(c, 6)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)
        centre = (size - 1) / 2
        rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.register_buffer("p", torch.stack([rows, cols]).float() - centre)  # (2, H, W)

    def forward(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        z = self.features(torch.cat([moving, fixed], dim=1)).mean(dim=(2, 3))
        a = self.head(z)  # (B, 6)
        m, t = a[:, :4].view(-1, 2, 2) * 0.1, a[:, 4:] * 2.0  # scaled: small steps per unit
        return torch.einsum("bij,jhw->bihw", m, self.p) + t[:, :, None, None]


class TwoStage(torch.nn.Module):
    """Affine stage, then the deformable network on the affinely warped moving image."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.affine = AffineNet()
        self.deform = RegistrationNet(cfg)

    def forward(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        first = self.affine(fixed, moving)
        return compose(first, self.deform(fixed, warp(moving, first)))

    def parts(self, fixed, moving):
        first = self.affine(fixed, moving)
        second = self.deform(fixed, warp(moving, first))
        return compose(first, second), second


def train_two_stage(images, targets, levels, s: TrainSettings) -> TwoStage:
    from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss

    from medgen.tasks.registration.pairs import training_pairs

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    net = TwoStage(s.net)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    x = torch.as_tensor(np.array(images, np.float32))
    y = torch.as_tensor(np.array(targets, np.float32))
    lncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=s.lncc_kernel)
    bend = BendingEnergyLoss()
    for _ in range(s.steps):
        pick = torch.as_tensor(training_pairs(levels, s.batch_size, rng))
        xi, yi = x[pick], y[pick]
        ddf, second = net.parts(xi[:, :1], xi[:, 1:])
        loss = lncc(warp(yi[:, 1:], ddf), yi[:, :1]) + s.bending * bend(second)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--data", type=Path, default=Path("/tmp/std_data"))
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--train-slices", type=int, default=2000)
    p.add_argument("--bending", type=float, default=0.1)
    p.add_argument("--lncc", type=int, default=7)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--channels", default="16,32,32,32")
    p.add_argument("--raw", action="store_true", help="similarity on raw images")
    p.add_argument("--train-cascade", type=int, default=1)
    p.add_argument("--affine", action="store_true", help="an affine stage first")
    p.add_argument("--pairs", type=int, default=80)
    p.add_argument("--cache", type=Path, default=Path("/tmp/regexp"))
    p.add_argument("--out", type=Path, default=Path("experiments/registration/dev.jsonl"))
    a = p.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(a.data)
    pairs = same_level_pairs(store, "dev", a.pairs, 0)
    truth = pair_truth(store, pairs)
    fixed = np.asarray(store.array("images")[pairs.fixed], np.float32)
    moving = np.asarray(store.array("images")[pairs.moving], np.float32)

    def record(option: str, ddf: np.ndarray, seconds: float) -> None:
        rows = pair_scores(a.name, ddf, np.full(len(ddf), seconds), truth, pairs)
        line = {
            "name": a.name,
            "option": option,
            "args": vars(a) | {"data": str(a.data), "cache": str(a.cache), "out": str(a.out)},
            "epe": float(rows["epe_px"].mean()),
            "epe_near": float(rows["epe_near_tumour_px"].mean()),
            "folding": float(rows["folding_pct"].mean()),
            "dice": float(rows["dice_mean"].mean()),
            "s_per_pair": seconds,
            "per_pair_epe": rows["epe_px"].round(4).tolist(),
        }
        print(json.dumps({k: v for k, v in line.items() if k not in ("args", "per_pair_epe")}))
        with a.out.open("a") as f:
            f.write(json.dumps(line) + "\n")

    if a.name in ("syn", "demons"):
        peer = {"syn": "ants_syn", "demons": "sitk_demons"}[a.name]
        found = run_peer(peer, fixed, moving)
        record("peer", found.ddf, float(found.seconds.mean()))
        return

    channels = tuple(int(c) for c in a.channels.split(","))
    s = TrainSettings(
        steps=a.steps,
        bending=a.bending,
        lncc_kernel=a.lncc,
        lr=a.lr,
        net=NetConfig(channels=channels),
    )
    a.cache.mkdir(exist_ok=True)
    weights = a.cache / f"{a.name}.pt"
    if weights.exists():
        net = TwoStage(s.net) if a.affine else RegistrationNet(s.net)
        net.load_state_dict(torch.load(weights))
        net.eval()
    else:
        ids = store.split("train").index.to_numpy()[: a.train_slices]
        levels = store.meta.loc[ids, "source_z"].to_numpy()
        images = np.asarray(store.array("images")[ids], np.float32)
        if a.raw:
            targets = images
        else:
            model = open_pixel_model(require("pixel_prior", store).folder, store)
            targets = prior_denoised(model, images)
        start = time.perf_counter()
        if a.affine:
            net = train_two_stage(images, targets, levels, s)
        elif a.train_cascade == 1:
            net = train_registration(images, targets, levels, s)
        else:
            net = train_cascaded(images, targets, levels, s, a.train_cascade)
        print(f"trained {a.name}: {time.perf_counter() - start:.0f} s", flush=True)
        torch.save(net.state_dict(), weights)

    f = torch.as_tensor(fixed)[:, None]
    m = torch.as_tensor(moving)[:, None]
    for passes in (1, 2, 3):
        cascade(net, f[:2], m[:2], passes)
        start = time.perf_counter()
        ddf = cascade(net, f, m, passes)
        record(f"cascade{passes}", ddf.double().numpy(), (time.perf_counter() - start) / len(f))
    for iterations, lr in ((20, 0.05), (50, 0.05)):
        start = time.perf_counter()
        ddf = refine(net, f, m, s, iterations, lr)
        record(f"refine{iterations}", ddf.double().numpy(), (time.perf_counter() - start) / len(f))


def train_cascaded(images, targets, levels, s: TrainSettings, passes: int) -> RegistrationNet:
    """Recursive cascade (Zhao et al. 2019) with shared weights: the loss reads the composed
    field of `passes` passes."""
    from medgen.tasks.registration.pairs import training_pairs

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    net = RegistrationNet(s.net)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    x = torch.as_tensor(np.array(images, np.float32))
    y = torch.as_tensor(np.array(targets, np.float32))
    from monai.losses import BendingEnergyLoss, LocalNormalizedCrossCorrelationLoss

    lncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=s.lncc_kernel)
    bend = BendingEnergyLoss()
    for _ in range(s.steps):
        pick = torch.as_tensor(training_pairs(levels, s.batch_size, rng))
        xi, yi = x[pick], y[pick]
        fixed, moving = xi[:, :1], xi[:, 1:]
        ddf = net(fixed, moving)
        loss = s.bending * bend(ddf)
        for _k in range(passes - 1):
            step = net(fixed, warp(moving, ddf))
            loss = loss + s.bending * bend(step)
            ddf = compose(ddf, step)
        loss = loss + lncc(warp(yi[:, 1:], ddf), yi[:, :1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


if __name__ == "__main__":
    main()
