"""The three peer tables (denoising, reconstruction, anomaly) as DataFrames, with the claims
their targets make (`medgen.tasks.claims`): shared by `benchmarks/tasks.py` (printed) and the
study's tasks chapter (HTML), which read each claim from its interval."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from medgen.data.store import StoredDataset
from medgen.models import VAE
from medgen.tasks.anomaly_split import MAX_NFE, TRUTH_WORDS, AnomalySettings, anomaly_split
from medgen.tasks.claims import MALIGNANT, Claim, best_of, malignant_gains, paired_psnr
from medgen.tasks.intervals import RESAMPLES, Interval
from medgen.tasks.outputs import TaskOutcome
from medgen.tasks.peers import DENOISE_PEERS, RECONSTRUCT_PEERS
from medgen.tasks.reconstruct_split import ReconstructSettings, reconstruct_split
from medgen.tasks.run import (
    DenoiseSettings,
    PixelDenoiser,
    TaskSettings,
    denoise_split,
)

NOISES = (0.05, 0.10, 0.15)  # the Rician noise stds the denoising table is measured at
ACCELS = (4.0, 8.0)  # the accelerations the reconstruction table is measured at
DENOISE_GAIN_DB = 1.0  # target: medgen >= best peer + 1 dB at noise 0.10, brain PSNR
RECON_GAIN_DB = {4.0: 2.0, 8.0: 3.0}  # target: medgen >= best peer + this, brain PSNR
RECON_MAX_NFE = 100
ANOMALY_GAIN = {"dice": 0.15, "pixel_auprc": 0.10}  # target on malignant tumours over the VAE
SCORES = ["psnr_brain", "ssim_brain", "psnr", "ssim", "seconds"]


class Table(NamedTuple):
    """One peer table, the claims of its target, and a note on how the target was set up."""

    table: pd.DataFrame
    claims: list[Claim]
    note: str  # what the claims' numbers do not say (e.g. the masks chosen on dev)
    outcomes: dict[str, TaskOutcome]  # the medgen outcomes behind it, by level


def denoise_table(model: PixelDenoiser, store: StoredDataset, s: TaskSettings) -> Table:
    """PSNR/SSIM (brain, whole), s/slice and NFE per noise level and method (medgen: one-step
    posterior mean and the mean of k posterior samples)."""
    rows, outcomes, claims = [], {}, []
    k = DenoiseSettings().k
    for noise in NOISES:
        mean = denoise_split(model, store, s, DenoiseSettings(noise=noise, method="mean"))
        sample = denoise_split(
            model,
            store,
            replace(s, peers=tuple(DENOISE_PEERS)),
            DenoiseSettings(noise=noise, method="sample"),
        )
        outcomes[f"{noise:.2f}"] = sample
        found = {"medgen posterior mean": mean}
        for name in sample.metrics["methods"]:
            found[f"medgen {k} samples" if name == "medgen" else name] = sample
        strengths = sample.metrics["strengths"]
        for name, outcome in found.items():
            method = "medgen" if name.startswith("medgen") else name
            m = outcome.metrics["methods"][method]
            nfe = outcome.metrics["nfe_per_slice"] if method == "medgen" else 0
            knob = f" ({strengths[method]:g})"
            rows.append(
                {"noise": noise, "method": name + knob, **{c: m[c] for c in SCORES}, "NFE": nfe}
            )
        if noise == 0.10:
            claims.append(_denoise_claim(found, s.seed))
    table = pd.DataFrame(rows).set_index(["noise", "method"])
    return Table(table, claims, "", outcomes)


def _slices(found: dict[str, TaskOutcome], name: str) -> pd.DataFrame:
    """The per-slice rows of method `name` ("medgen ..." for medgen's variants)."""
    rows = found[name].per_slice
    return rows[rows["method"] == ("medgen" if name.startswith("medgen") else name)]


def _denoise_claim(found: dict[str, TaskOutcome], seed: int) -> Claim:
    """medgen's variant with the best brain PSNR among those no slower than BM3D, against the
    peer with the best brain PSNR: the gain must reach DENOISE_GAIN_DB."""
    seconds = {n: float(_slices(found, n)["seconds"].mean()) for n in found}
    psnr = {n: float(_slices(found, n)["psnr_brain"].mean()) for n in found}
    peers = [n for n in found if n in DENOISE_PEERS]
    best = best_of(found[peers[0]].per_slice, peers)
    bm3d = seconds.get("bm3d", float("inf"))
    ours = [n for n in found if n.startswith("medgen")]
    fast = [n for n in ours if seconds[n] <= bm3d] or ours
    chosen = max(fast, key=lambda n: psnr[n])
    blocked = ""
    if seconds[chosen] > bm3d:
        blocked = f"{chosen} takes {seconds[chosen]:.3f} s/slice, more than BM3D's {bm3d:.3f}"
    return Claim(
        "denoise",
        "brain PSNR in dB at noise 0.10, in at most BM3D's time",
        chosen,
        best,
        psnr[chosen],
        psnr[best],
        paired_psnr(_slices(found, chosen), _slices(found, best), seed),
        DENOISE_GAIN_DB,
        blocked,
    )


def anomaly_table(
    model: PixelDenoiser, vae: VAE | None, store: StoredDataset, s: TaskSettings
) -> Table:
    """Slice AUROC (with its 95% interval)/AUPRC, pixel AUPRC and Dice per group (all, tumour
    type, location), per method (the healthy diffusion model's look-alike, the VAE's
    reconstruction error); pixel scores against the tumour mask, then against tumour and oedema
    ("+oedema")."""
    a = AnomalySettings()
    with torch.no_grad():
        outcome = anomaly_split(model, store, s, a, vae)
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
                    "slice AUROC 95% low": g["slice_auroc_low"],
                    "slice AUROC 95% high": g["slice_auroc_high"],
                    "slice AUPRC": g["slice_auprc"],
                    "pixel AUPRC": g["pixel_auprc"],
                    "Dice": g["dice"],
                    "pixel AUPRC +oedema": whole["pixel_auprc"],
                    "Dice +oedema": whole["dice"],
                }
            )
    table = pd.DataFrame(rows).set_index(["group", "method"])
    claims = _anomaly_claims(outcome, vae, store, s, a)
    note = (
        f"Anomaly detection's masks, chosen on dev (clean-up, smoothing): {_cleanups(m)}. "
        f"Slice AUROC's 95% interval is the BCa bootstrap over slices ({RESAMPLES:,} resamples), "
        "the group's tumour slices and the healthy ones drawn apart."
    )
    return Table(table, claims, note, {"anomaly": outcome})


def _anomaly_claims(
    outcome: TaskOutcome, vae: VAE | None, store: StoredDataset, s: TaskSettings, a: AnomalySettings
) -> list[Claim]:
    """medgen's Dice and pixel AUPRC gains over the VAE on malignant tumours (the headline
    truth), each at most MAX_NFE per slice; NaN gains where there is nothing to compare."""
    m = outcome.metrics
    nfe = m["methods"]["medgen"]["nfe_per_slice"]
    blocked = "" if nfe <= MAX_NFE else f"{nfe} NFE per slice, more than {MAX_NFE}"
    gains = None if vae is None else malignant_gains(outcome, vae, store, s.batch_size, a, s.seed)
    claims = []
    for key, column in (("dice", "Dice"), ("pixel_auprc", "pixel AUPRC")):
        values = [
            m["methods"].get(name, {}).get("groups", {}).get(MALIGNANT, {}).get(key, np.nan)
            for name in ("medgen", "vae")
        ]
        nan = Interval(float("nan"), float("nan"), float("nan"), 0)
        claims.append(
            Claim(
                "anomaly",
                f"{column} on malignant tumours, against {TRUTH_WORDS[m['truth']]}",
                f"medgen ({nfe} NFE)",
                "vae",
                float(values[0]),
                float(values[1]),
                nan if gains is None else gains[key],
                ANOMALY_GAIN[key],
                blocked,
            )
        )
    return claims


def _cleanups(m: dict[str, Any]) -> str:
    """Each method's dev-chosen masks, e.g. "medgen region 0.75 px, vae none 0.5 px"."""
    return ", ".join(f"{name} {_masks(r)}" for name, r in m["methods"].items())


def _masks(r: dict[str, Any]) -> str:
    blur = r.get("segment_blur")
    return r.get("cleanup", "none") + ("" if blur is None else f" {blur:g} px")


def reconstruct_table(model: PixelDenoiser, store: StoredDataset, s: TaskSettings) -> Table:
    """PSNR/SSIM (brain, whole), s/slice and NFE per acceleration and method."""
    rows, outcomes, claims = [], {}, []
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
        peers = [name for name in out.metrics["methods"] if name != "medgen"]
        best = best_of(out.per_slice, peers)
        rows_of = {n: out.per_slice[out.per_slice["method"] == n] for n in ("medgen", best)}
        claims.append(
            Claim(
                "reconstruct",
                f"brain PSNR in dB at {accel:g}x",
                f"medgen ({nfe} NFE)",
                best,
                out.metrics["methods"]["medgen"]["psnr_brain"],
                out.metrics["methods"][best]["psnr_brain"],
                paired_psnr(rows_of["medgen"], rows_of[best], s.seed),
                RECON_GAIN_DB[accel],
                "" if nfe <= RECON_MAX_NFE else f"{nfe} NFE per slice, more than {RECON_MAX_NFE}",
            )
        )
    table = pd.DataFrame(rows).set_index(["accel", "method"])
    return Table(table, claims, "", outcomes)
