"""Anomaly detection over a split: a healthy diffusion model's look-alike (the multi-level
posterior-mean ensemble, or AnoDDPM's partial diffusion; see medgen.tasks.anomaly) against a
VAE's reconstruction error (Baur et al. 2021's baseline), with the noise level and the map
threshold chosen on dev and scores per tumour type and location.

What counts as anomalous pixels ("the truth") is a choice, and every score is given for both,
each with its own dev threshold: the tumour mask (the default), or the whole abnormal region,
tumour and oedema, as BraTS's whole-tumour label has it. The built-in slices have a T1
post-contrast look, where oedema is a faint darkening (0.45 of the tumour's contrast) and the
lesion is what stands out; BraTS's whole tumour is drawn on FLAIR/T2, where oedema is bright.
(An imported BraTS-style segmentation becomes one tumour mask, seg > 0: the whole tumour.)

Two smoothings of the residual |x - recon|: the map that pixel AUPRC and the slice score rank
(--blur, 1.5 px) and the one the lesion masks are cut from, chosen on dev with the threshold
(SEGMENT_BLURS). They differ because the two scores want different things: ranking pixels
rewards a smooth map whose evidence is pooled over a lesion, while Dice pays for every pixel of
halo that smoothing spreads past a small lesion's edge (on dev at the 70-minute plan, both the
diffusion model and the VAE cut better masks from maps smoothed 0.5-0.75 px than 1.5 px).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import Tensor

from medgen.data.store import StoredDataset
from medgen.exceptions import InputError, SettingError
from medgen.models import VAE
from medgen.tasks.anomaly import METHODS, NOISES, detect_anomalies, slice_score
from medgen.tasks.anomaly_maps import MapFunction, Residuals, SliceMaps, map_slices, vae_maps
from medgen.tasks.intervals import auroc_interval
from medgen.tasks.metrics import auprc, pixel_auprc
from medgen.tasks.outputs import Advance, TaskOutcome, no_progress, stack_arrays
from medgen.tasks.run import PixelDenoiser, TaskSettings, split_ids
from medgen.tasks.segmentation import AUTO, CLEANUPS, Segmentation, choose_segmentation
from medgen.validate import at_least, in_range, one_of, positive, shown, whole

LEVELS = (0.1, 0.2, 0.3)  # top noise levels t_sigma tried on dev, [0, 1] units
# The healthy prior's training levels: ln sigma ~ N(p_mean, p_std^2) in the model's [-1, 1] units
# (medgen.models.DiffusionConfig), for `medgen train diffusion --where label=0`. Anomaly methods
# query the prior at levels up to t_sigma only (the ensemble from t_sigma / levels), never at the
# large ones that sampling from pure noise needs, so the prior trains where it is queried: 88% of
# its draws fall in [min(LEVELS) / 4, max(LEVELS)] against 65% under EDM's (-1.2, 1.2). At equal
# steps (2,598, benchmarks/tasks.py's 70-minute plan), on held-out dev tumour slices: malignant
# pixel AUPRC +0.05, Dice +0.02 on malignant and +0.04 on all tumours.
PRIOR_LEVELS: dict[str, float] = {"p_mean": -1.7, "p_std": 0.8}
MAX_NFE = 50  # denoiser evaluations allowed per slice
SEGMENT_BLURS = (0.5, 0.75, 1.0, 1.5)  # smoothings (px) the lesion masks may be cut from, on dev
# the anomalous pixels scored against: the arrays whose union they are (absent ones are skipped)
TRUTHS = {
    "tumour": ("tumour_mask",),  # the lesion
    "whole": ("tumour_mask", "oedema_mask"),  # tumour and oedema: BraTS's whole tumour
}
TRUTH_WORDS = {"tumour": "the tumour mask", "whole": "tumour and oedema"}


@dataclass(frozen=True)
class AnomalySettings:
    """medgen anomaly: how far to noise, how to denoise back, how residuals become maps."""

    method: str = "ensemble"  # "ensemble" (posterior means) or "partial" (AnoDDPM)
    t_sigma: float | None = None  # top noise level; None: best of LEVELS on dev
    levels: int = 4  # ensemble: levels t_sigma / levels ... t_sigma
    draws: int = 10  # ensemble: noise draws per level (NFE = levels x draws)
    steps: int = 10  # partial: Heun steps back to 0, 2 steps - 1 NFE per repeat
    repeats: int = 2  # partial: reconstructions averaged (their spread is the uncertainty)
    noise: str = "gaussian"  # "gaussian" or "structured" (simplex-like, AnoDDPM)
    blur: float = 1.5  # Gaussian smoothing of |x - recon| for the map, pixels
    segment_blur: float | None = None  # the masks' smoothing; None: best of SEGMENT_BLURS on dev
    top_fraction: float = 0.01  # slice score: mean of the top 1% of the map
    truth: str = "tumour"  # the pixels the level is chosen on and the headline scores use
    cleanup: str = AUTO  # map > threshold, then: medgen.tasks.segmentation.CLEANUPS, or "auto"

    def __post_init__(self) -> None:
        one_of("method", self.method, METHODS)
        one_of("cleanup", self.cleanup, (AUTO, *CLEANUPS))
        one_of("truth", self.truth, TRUTHS)
        if not isinstance(self.noise, str) or self.noise not in NOISES:
            known = ", ".join(NOISES)
            raise SettingError("noise", f"unknown noise {shown(self.noise)} (use {known})")
        for setting in ("levels", "draws", "steps", "repeats"):
            whole(setting, getattr(self, setting), 1)
        if self.t_sigma is not None:
            positive("t_sigma", self.t_sigma)
        at_least("blur", self.blur)
        if self.segment_blur is not None:
            at_least("segment_blur", self.segment_blur)
        in_range("top_fraction", self.top_fraction, 0.0, 1.0, open_low=True)

    @property
    def nfe(self) -> int:
        """Denoiser evaluations per slice."""
        if self.method == "ensemble":
            return self.levels * self.draws
        return self.repeats * (2 * self.steps - 1)

    @property
    def budget_settings(self) -> str:
        """The settings that set the NFE, for messages."""
        return "levels/draws" if self.method == "ensemble" else "steps/repeats"


def diffusion_maps(
    model: PixelDenoiser, a: AnomalySettings, t_sigma: float, g: torch.Generator
) -> MapFunction:
    """The healthy look-alike by a.method, its residual and spread (partial: `repeats` times;
    the residual is the mean of theirs, so its smoothed map is the mean of their maps)."""

    def maps(x: Tensor, brain: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        runs = [
            detect_anomalies(
                model.denoiser,
                x,
                t_sigma,
                method=a.method,
                levels=a.levels,
                draws=a.draws,
                steps=a.steps,
                noise=a.noise,
                blur_sigma=a.blur,
                mask=brain,
                generator=g,
            )
            for _ in range(a.repeats if a.method == "partial" else 1)
        ]
        if a.method == "ensemble":
            run = runs[0]
            return run.recon, (x - run.recon).abs(), run.spread * brain, run.nfe
        stacked = torch.stack([r.map for r in runs])
        std = stacked.std(0) if a.repeats > 1 else torch.zeros_like(stacked[0])
        recon = torch.stack([r.recon for r in runs]).mean(0)
        residual = torch.stack([(x - r.recon).abs() for r in runs]).mean(0)
        return recon, residual, std, sum(r.nfe for r in runs)

    return maps


def tuning_slices(store: StoredDataset, n: int) -> NDArray[np.int64]:
    """The first n tumour slices of dev: what the level and the masks are chosen on."""
    dev = store.split("dev")
    ids = dev.index[dev["label"] == 1].to_numpy()[:n].astype(np.int64)
    if len(ids) == 0:
        raise InputError(store.root, "has no tumour slices in its dev split to tune on")
    return ids


def anomalous_pixels(store: StoredDataset, ids: NDArray[np.int64], truth: str) -> NDArray[np.bool_]:
    """(N, H, W) the pixels of slices `ids` that count as anomalous under TRUTHS[truth]."""
    names = [name for name in TRUTHS[truth] if name in store.arrays]
    masks = [np.asarray(store.array(name)[ids]).astype(bool) for name in names]
    return np.logical_or.reduce(masks)


def choose_level(
    model: PixelDenoiser, store: StoredDataset, s: TaskSettings, a: AnomalySettings
) -> float:
    """The LEVELS value with the best pixel AUPRC on tumour slices of dev."""
    dev = tuning_slices(store, s.tune_slices)
    truth = anomalous_pixels(store, dev, a.truth)
    brain = np.asarray(store.array("brain_mask")[dev])
    scores = {}
    for level in LEVELS:
        g = torch.Generator().manual_seed(s.seed + 1)
        found = map_slices(diffusion_maps(model, a, level, g), store, dev, s.batch_size)
        scores[level] = pixel_auprc(found.residuals().maps(a.blur), truth, brain)
    return max(scores, key=lambda k: scores[k])


def group_scores(
    meta: pd.DataFrame,
    maps: NDArray[Any],
    truth: NDArray[Any],
    brain: NDArray[Any],
    segmentation: Segmentation,
    top: float,
    mask_maps: NDArray[Any] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Slice AUROC/AUPRC, pixel AUPRC and Dice for all slices, per tumour type and location.

    A group is its tumour slices against every healthy slice of the split; Dice is the mean
    over the group's tumour slices of the segmentation's masks (cut from mask_maps, by default
    the maps) against their truth masks. Slice AUROC comes with its 95% bootstrap interval
    (auroc_interval, seeded by `seed`).
    """
    mask_maps = maps if mask_maps is None else mask_maps
    scores = slice_score(torch.from_numpy(maps), top).numpy()
    label = meta["label"].to_numpy() == 1
    groups: dict[str, NDArray[np.bool_]] = {"all": label}
    for column in ("tumour_type", "location"):
        for value in sorted(set(meta.loc[label, column].astype(str))):
            groups[f"{column}={value}"] = label & (meta[column].astype(str).to_numpy() == value)
    out = {}
    for name, tumour in groups.items():
        rows = tumour | ~label
        slice_auroc = auroc_interval(label[rows], scores[rows], seed=seed)
        out[name] = {
            "n_tumour": int(tumour.sum()),
            "slice_auroc": slice_auroc.estimate,
            "slice_auroc_low": slice_auroc.low,
            "slice_auroc_high": slice_auroc.high,
            "slice_auprc": auprc(label[rows], scores[rows]),
            "pixel_auprc": pixel_auprc(maps[rows], truth[rows], brain[rows]),
            "dice": segmentation.dice(mask_maps[tumour], truth[tumour]) if tumour.any() else np.nan,
        }
    return out


def choose_masks(
    dev: Residuals, dev_truth: NDArray[Any], a: AnomalySettings
) -> tuple[float, Segmentation]:
    """(smoothing, segmentation): the masks' smoothing (a.segment_blur, or the best of
    SEGMENT_BLURS), clean-up and threshold with the best Dice on dev; ties: less smoothing."""
    blurs = SEGMENT_BLURS if a.segment_blur is None else (a.segment_blur,)
    found = [(blur, choose_segmentation(dev.maps(blur), dev_truth, a.cleanup)) for blur in blurs]
    return max(found, key=lambda pair: pair[1].dev_dice)  # max keeps the first of equals


def scores_by_truth(
    meta: pd.DataFrame,
    test: Residuals,
    truths: dict[str, NDArray[Any]],
    dev: Residuals,
    dev_truths: dict[str, NDArray[Any]],
    a: AnomalySettings,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """For each truth: the masks' smoothing, clean-up and threshold with the best Dice on dev
    (choose_masks), and the groups' scores: ranks on the maps smoothed a.blur px, Dice on the
    masks; `seed` seeds the AUROC intervals."""
    maps = test.maps(a.blur)
    out = {}
    for kind, truth in truths.items():
        blur, chosen = choose_masks(dev, dev_truths[kind], a)
        mask_maps = maps if blur == a.blur else test.maps(blur)
        groups = group_scores(
            meta, maps, truth, test.brain, chosen, a.top_fraction, mask_maps=mask_maps, seed=seed
        )
        out[kind] = {
            "threshold": chosen.threshold,
            "cleanup": chosen.cleanup,
            "segment_blur": blur,
            "dev_dice": chosen.dev_dice,
            "groups": groups,
        }
    return out


def anomaly_split(
    model: PixelDenoiser,
    store: StoredDataset,
    s: TaskSettings,
    a: AnomalySettings,
    vae: VAE | None = None,
    progress: Advance = no_progress,
) -> TaskOutcome:
    """Anomaly maps of a split by medgen's look-alike (and by the VAE, if given), scored.

    The noise level (on a.truth) and each method's masks (smoothing, threshold and clean-up,
    per truth) are chosen on the first s.tune_slices tumour slices of dev. A method's
    "threshold", "cleanup", "segment_blur" and "groups" are a.truth's; "by_truth" holds them for
    every truth of TRUTHS.
    """
    if "tumour_mask" not in store.arrays:
        raise InputError(store.root, "has no tumour_mask array: anomaly scores need the truth")
    if a.nfe > MAX_NFE:
        raise SettingError(a.budget_settings, f"{a.nfe} NFE per slice exceed {MAX_NFE}")
    ids = split_ids(store, s.split, s.limit)
    level = a.t_sigma if a.t_sigma is not None else choose_level(model, store, s, a)
    methods: dict[str, MapFunction] = {}
    g = torch.Generator().manual_seed(s.seed)
    methods["medgen"] = diffusion_maps(model, a, level, g)
    if vae is not None:
        if vae.config.image_size != store.size:
            raise SettingError("vae", f"is a VAE for {vae.config.image_size}-pixel images")
        methods["vae"] = vae_maps(vae)
    dev = tuning_slices(store, s.tune_slices)
    dev_truths = {kind: anomalous_pixels(store, dev, kind) for kind in TRUTHS}
    truths = {kind: anomalous_pixels(store, ids, kind) for kind in TRUTHS}
    meta = store.meta.loc[ids].reset_index(drop=True)
    results: dict[str, Any] = {}
    kept: SliceMaps | None = None
    for name, fn in methods.items():
        found = map_slices(
            fn, store, ids, s.batch_size, progress if name == "medgen" else no_progress
        )
        dev_found = map_slices(fn, store, dev, s.batch_size).residuals()
        by_truth = scores_by_truth(
            meta, found.residuals(), truths, dev_found, dev_truths, a, s.seed
        )
        results[name] = {
            **by_truth[a.truth],
            "nfe_per_slice": found.nfe,
            "s_per_slice": found.seconds / len(ids),
            "by_truth": by_truth,
        }
        kept = found if name == "medgen" else kept
    assert kept is not None
    kept_maps = kept.residuals().maps(a.blur)
    scores = slice_score(torch.from_numpy(kept_maps), a.top_fraction).numpy()
    per_slice = pd.DataFrame(
        {
            "id": ids,
            "label": meta["label"],
            "tumour_type": meta["tumour_type"],
            "location": meta["location"],
            "score": scores,
        }
    )
    scans = np.asarray(store.array("images")[ids], np.float32)
    parts = {
        "input": [scans],
        "output": [np.concatenate(kept.recon)],
        "truth": [truths[a.truth].astype(np.uint8)],
        "error": [kept_maps],
        "uncertainty": [np.concatenate(kept.std)],
    }
    metrics = {
        "task": "anomaly",
        "split": s.split,
        "n": len(ids),
        "settings": asdict(a),
        "t_sigma": level,
        "truth": a.truth,
        "methods": results,
    }
    return TaskOutcome(stack_arrays(ids, parts), per_slice, metrics)
