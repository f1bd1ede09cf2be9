"""Retrain only the classify part of the default and real-arm detectors of
`benchmarks/scenario.py --work RUNS`, with variants of how the held-out examples and the real
arm's added examples reach the classifier, and print the real arm's brainstem cut per variant.

    python experiments/scenario/extras_probe.py DATA RUNS --seeds 0 1

It needs `ensemble_detector.patch` applied (the classifier ensemble; the data part of the old `candidate_data.patch` is in `src/`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.detect import load_detector
from medgen.detect.classify import ClassifierEnsemble, class_indices, train_classifier
from medgen.detect.pipeline import split_for_parts, split_train
from medgen.errors.remedy.arms import real_examples
from medgen.errors.remedy.plan import RemedyPlan

VARIANTS = ("dealt", "extras_to_all", "single_half", "single_all")


def held(detector, store, ids):
    out = detector.run(store, ids)
    return out.features, detector.windows(out.preprocessed, out.probability, out.region)


def fit(variant, c, base, extra):
    (f, w, y), (ef, ew, ey) = base, extra
    if variant == "dealt":
        return train_classifier(np.r_[f, ef], np.r_[y, ey], c, np.r_[w, ew])
    if variant == "extras_to_all":
        order = np.random.default_rng(c.seed).permutation(len(y))
        members = []
        for k, share in enumerate(np.array_split(order, c.members)):
            share = np.sort(share)
            one = replace(c, members=1, seed=c.seed + k)
            members += list(
                train_classifier(
                    np.r_[f[share], ef], np.r_[y[share], ey], one, np.r_[w[share], ew]
                ).members
            )
        return ClassifierEnsemble(members).eval()
    if variant == "single_half":
        share = np.sort(np.random.default_rng(c.seed).permutation(len(y))[: len(y) // 2])
        one = replace(c, members=1)
        return train_classifier(np.r_[f[share], ef], np.r_[y[share], ey], one, np.r_[w[share], ew])
    one = replace(c, members=1)
    return train_classifier(np.r_[f, ef], np.r_[y, ey], one, np.r_[w, ew])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("runs", type=Path)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = p.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data / "default")
    added = real_examples(store, RemedyPlan(n=400), None)
    test = store.split("test").index.to_numpy()
    meta = store.meta.loc[test]
    truth = meta["tumour_type"].astype(str).to_numpy()
    stem = (meta["location"].astype(str).to_numpy() == "brainstem") & (truth != "none")
    for seed in args.seeds:
        for arm in ("default", "real"):
            detector = load_detector(args.runs / f"{arm}-seed{seed}")
            c = detector.config.classify
            _, cls_ids = split_train(store, detector.config.seed)
            f, w = held(detector, store, cls_ids)
            y = class_indices(store.meta.loc[cls_ids, "tumour_type"].astype(str).to_numpy())
            empty = (f[:0], w[:0], y[:0])
            extra = empty
            if arm == "real":
                from medgen.detect.preprocess import preprocess

                _, to_cls = split_for_parts(np.arange(len(added.images)), detector.config.seed)
                pre, _ = preprocess(
                    added.images[to_cls].astype(np.float32), detector.config.preprocess
                )
                prob, region, ef = detector.run_extract(pre)
                extra = (
                    ef,
                    detector.windows(pre, prob, region),
                    class_indices(np.asarray(added.kinds)[to_cls]),
                )
            for variant in VARIANTS:
                detector.classifier = fit(variant, c, (f, w, y), extra)
                pred = detector.run(store, test).prediction
                wrong = pred != truth
                print(
                    f"seed {seed} {arm:7s} {variant:14s} accuracy {1 - wrong.mean():.3f} "
                    f"brainstem error {wrong[stem].mean():.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
