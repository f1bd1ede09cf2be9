"""The three peer tables (denoising, reconstruction, anomaly) as DataFrames, with the tasks'
targets checked: shared by `benchmarks/tasks.py` (printed) and the study's tasks chapter (HTML)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import pandas as pd
import torch

from medgen.data.store import StoredDataset
from medgen.models import VAE
from medgen.tasks.anomaly_split import MAX_NFE, TRUTH_WORDS, AnomalySettings, anomaly_split
from medgen.tasks.outputs import TaskOutcome
from medgen.tasks.peers import DENOISE_PEERS, RECONSTRUCT_PEERS
from medgen.tasks.run import (
    DenoiseSettings,
    PixelDenoiser,
    ReconstructSettings,
    TaskSettings,
    denoise_split,
    reconstruct_split,
)

NOISES = (0.05, 0.10, 0.15)  # the Rician noise stds the denoising table is measured at
ACCELS = (4.0, 8.0)  # the accelerations the reconstruction table is measured at
DENOISE_GAIN_DB = 1.0  # target: medgen >= best peer + 1 dB at noise 0.10, brain PSNR
RECON_GAIN_DB = {4.0: 2.0, 8.0: 3.0}  # target: medgen >= best peer + this, brain PSNR
RECON_MAX_NFE = 100
ANOMALY_GAIN = {"dice": 0.15, "pixel_auprc": 0.10}  # target on malignant tumours over the VAE
SCORES = ["psnr_brain", "ssim_brain", "psnr", "ssim", "seconds"]


class Table(NamedTuple):
    """One peer table, its target verdict and a sentence saying why."""

    table: pd.DataFrame
    met: bool
    verdict: str
    outcomes: dict[str, TaskOutcome]  # the medgen outcomes behind it, by level


def denoise_table(model: PixelDenoiser, store: StoredDataset, s: TaskSettings) -> Table:
    """PSNR/SSIM (brain, whole), s/slice and NFE per noise level and method (medgen: one-step
    posterior mean and the mean of k posterior samples)."""
    rows, outcomes, verdict, met = [], {}, "", False
    for noise in NOISES:
        mean = denoise_split(model, store, s, DenoiseSettings(noise=noise, method="mean"))
        sample = denoise_split(
            model,
            store,
            replace(s, peers=tuple(DENOISE_PEERS)),
            DenoiseSettings(noise=noise, method="sample"),
        )
        outcomes[f"{noise:.2f}"] = sample
        k = DenoiseSettings().k
        found = {
            "medgen posterior mean": (
                mean.metrics["methods"]["medgen"],
                mean.metrics["nfe_per_slice"],
            )
        }
        for name, m in sample.metrics["methods"].items():
            nfe = sample.metrics["nfe_per_slice"] if name == "medgen" else 0
            found[f"medgen {k} samples" if name == "medgen" else name] = (m, nfe)
        strengths = sample.metrics["strengths"]
        for name, (m, nfe) in found.items():
            knob = f" ({strengths[name.split()[0]]:g})"
            rows.append(
                {"noise": noise, "method": name + knob, **{c: m[c] for c in SCORES}, "NFE": nfe}
            )
        if noise == 0.10:
            met, verdict = _denoise_target(found)
    table = pd.DataFrame(rows).set_index(["noise", "method"])
    return Table(table, met, verdict, outcomes)


def _denoise_target(found: dict[str, tuple[dict[str, float], int]]) -> tuple[bool, str]:
    ours = {k: v[0] for k, v in found.items() if k.startswith("medgen")}
    peers = {k: v[0] for k, v in found.items() if k in DENOISE_PEERS}
    best = max(m["psnr_brain"] for m in peers.values())
    good = [m["seconds"] for m in ours.values() if m["psnr_brain"] >= best + DENOISE_GAIN_DB]
    top = max(m["psnr_brain"] for m in ours.values())
    bm3d_s = peers["bm3d"]["seconds"] if "bm3d" in peers else float("inf")
    met = bool(good) and min(good) <= bm3d_s
    return met, (
        f"at noise 0.10 medgen {top:.2f} dB vs the best peer {best:.2f} dB inside the brain "
        f"({top - best:+.2f} dB; target +{DENOISE_GAIN_DB:g} dB at no more than BM3D's "
        f"{bm3d_s:.3f} s/slice): {'met' if met else 'not met'}"
    )


def anomaly_table(
    model: PixelDenoiser, vae: VAE | None, store: StoredDataset, s: TaskSettings
) -> Table:
    """Slice AUROC/AUPRC, pixel AUPRC and Dice per group (all, tumour type, location), per
    method (the healthy diffusion model's look-alike, the VAE's reconstruction error); pixel
    scores against the tumour mask, then against tumour and oedema ("+oedema")."""
    with torch.no_grad():
        outcome = anomaly_split(model, store, s, AnomalySettings(), vae)
    m = outcome.metrics
    rows = []
    for group in m["methods"]["medgen"]["groups"]:
        for name, result in m["methods"].items():
            g = result["groups"][group]
            whole = result["by_truth"]["whole"]["groups"][group]
            rows.append(
                {
                    "group": group,
                    "method": name,
                    "n tumour": g["n_tumour"],
                    "slice AUROC": g["slice_auroc"],
                    "slice AUPRC": g["slice_auprc"],
                    "pixel AUPRC": g["pixel_auprc"],
                    "Dice": g["dice"],
                    "pixel AUPRC +oedema": whole["pixel_auprc"],
                    "Dice +oedema": whole["dice"],
                }
            )
    table = pd.DataFrame(rows).set_index(["group", "method"])
    met, verdict = _anomaly_target(m)
    return Table(table, met, verdict, {"anomaly": outcome})


def _malignant_gains(m: dict[str, Any], truth: str) -> dict[str, float] | None:
    """medgen's Dice and pixel AUPRC minus the VAE's on malignant tumours, against `truth`."""
    found = [
        m["methods"].get(name, {}).get("by_truth", {}).get(truth, {}).get("groups", {})
        for name in ("medgen", "vae")
    ]
    ours, base = (g.get("tumour_type=malignant") for g in found)
    if ours is None or base is None:
        return None
    return {k: ours[k] - base[k] for k in ANOMALY_GAIN}


def _anomaly_target(m: dict[str, Any]) -> tuple[bool, str]:
    """The target on the headline truth; the gains against tumour and oedema are told too."""
    nfe = m["methods"]["medgen"]["nfe_per_slice"]
    gain, whole = _malignant_gains(m, m["truth"]), _malignant_gains(m, "whole")
    if gain is None or whole is None:
        return False, "no VAE baseline or no malignant slices: target not measured"
    met = all(gain[k] >= v for k, v in ANOMALY_GAIN.items()) and nfe <= MAX_NFE
    return met, (
        f"malignant tumours ({TRUTH_WORDS[m['truth']]}): Dice {gain['dice']:+.3f} (target "
        f"+{ANOMALY_GAIN['dice']:g}) and pixel AUPRC {gain['pixel_auprc']:+.3f} (target "
        f"+{ANOMALY_GAIN['pixel_auprc']:g}) over the VAE at {nfe} NFE per slice (at most "
        f"{MAX_NFE}): {'met' if met else 'not met'}; against tumour and oedema: Dice "
        f"{whole['dice']:+.3f}, pixel AUPRC {whole['pixel_auprc']:+.3f}; masks chosen on dev "
        f"(clean-up, smoothing): {_cleanups(m)}"
    )


def _cleanups(m: dict[str, Any]) -> str:
    """Each method's dev-chosen masks, e.g. "medgen region 0.75 px, vae none 0.5 px"."""
    return ", ".join(f"{name} {_masks(r)}" for name, r in m["methods"].items())


def _masks(r: dict[str, Any]) -> str:
    blur = r.get("segment_blur")
    return r.get("cleanup", "none") + ("" if blur is None else f" {blur:g} px")


def reconstruct_table(model: PixelDenoiser, store: StoredDataset, s: TaskSettings) -> Table:
    """PSNR/SSIM (brain, whole), s/slice and NFE per acceleration and method."""
    rows, outcomes, verdicts, met = [], {}, [], True
    for accel in ACCELS:
        out = reconstruct_split(
            model,
            store,
            replace(s, peers=tuple(RECONSTRUCT_PEERS)),
            ReconstructSettings(accel=accel),
        )
        outcomes[f"{accel:g}x"] = out
        strengths, nfe = out.metrics["strengths"], out.metrics["nfe_per_slice"]
        for name, m in out.metrics["methods"].items():
            knob = f" (lambda {strengths[name]:g})" if name.startswith("cs_") else ""
            rows.append(
                {
                    "accel": f"{accel:g}x",
                    "method": name + knob,
                    **{c: m[c] for c in SCORES},
                    "NFE": nfe if name == "medgen" else 0,
                }
            )
        ours = out.metrics["methods"]["medgen"]["psnr_brain"]
        best = max(v["psnr_brain"] for k, v in out.metrics["methods"].items() if k != "medgen")
        ok = ours >= best + RECON_GAIN_DB[accel] and nfe <= RECON_MAX_NFE
        met &= ok
        verdicts.append(
            f"{accel:g}x: {ours:.2f} vs {best:.2f} dB ({ours - best:+.2f}; target "
            f"+{RECON_GAIN_DB[accel]:g}) at {nfe} NFE: {'met' if ok else 'not met'}"
        )
    table = pd.DataFrame(rows).set_index(["accel", "method"])
    return Table(table, met, "; ".join(verdicts), outcomes)
