"""The tumour detector's parts on their own, the pipeline's bookkeeping, and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import open_dataset
from medgen.detect import PARTS, DetectorConfig, load_detector, pipeline, train_detector
from medgen.detect.classify import (
    ClassifyConfig,
    RegionClassifier,
    class_indices,
    class_probabilities,
    region_windows,
    train_classifier,
)
from medgen.detect.extract import (
    FEATURES,
    ExtractConfig,
    compactness,
    perfect_extract,
    region_features,
    region_of,
)
from medgen.detect.pipeline import BoundDetector, split_for_parts
from medgen.detect.predictions import read_predictions
from medgen.detect.preprocess import (
    PreprocessConfig,
    bias_correct,
    brain_mask,
    normalise,
    preprocess,
)
from medgen.errors import AnalysablePipeline

QUICK = DetectorConfig(
    extract=ExtractConfig(steps=15, batch_size=8), classify=ClassifyConfig(steps=30)
)


def test_brain_masks_match_the_truth(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    images, truth = store.array("images")[:60], store.array("brain_mask")[:60].astype(bool)
    iou = [
        ((brain_mask(im) & t).sum() / max((brain_mask(im) | t).sum(), 1))
        for im, t in zip(images, truth, strict=True)
    ]
    assert np.mean(iou) > 0.8


def test_bias_correction_removes_a_smooth_field() -> None:
    yy, xx = np.mgrid[:64, :64] / 63.0
    mask = (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16
    anatomy = np.where(mask, 0.6, 0.0)
    field = np.exp(0.4 * (xx - 0.5))  # a left-right shading of +-20%
    corrected = bias_correct(anatomy * field, mask, scale_px=8.0)
    spread_before = np.ptp((anatomy * field)[mask])
    assert np.ptp(corrected[mask]) < 0.3 * spread_before
    assert normalise(corrected, mask, 99.0)[mask].max() == pytest.approx(1.0, abs=0.02)


def disk(radius: float, centre: tuple[int, int] = (30, 34), size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.asarray((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2)


def test_region_features_read_a_ring_enhancing_lesion() -> None:
    lesion = disk(6)
    core = disk(3)
    image = np.full((64, 64), 0.4, dtype=np.float32)
    image[lesion] = 0.9
    image[core] = 0.5  # a bright rim around a darker, necrotic-looking core
    probability = np.where(lesion, 0.9, 0.05).astype(np.float32)
    region = region_of(probability)
    assert (region == lesion).all()
    f = dict(zip(FEATURES, region_features(image, probability, region), strict=True))
    assert f["found"] == 1 and f["peak_probability"] == pytest.approx(0.9)
    assert f["log_area"] == pytest.approx(np.log1p(lesion.sum()), rel=1e-5)
    assert f["contrast"] > 0.2 and f["rim_minus_core"] > 0.1  # the 1-px outline vs the rest
    assert 0.9 < f["compactness"] <= 1.0  # a disc
    assert f["centroid_row"] == pytest.approx(30 / 64, abs=0.01)
    empty = region_features(
        image, np.zeros_like(probability), region_of(np.zeros_like(probability))
    )
    assert empty[0] == 0 and not empty.any()


def test_compactness_is_one_for_discs_and_less_for_other_outlines() -> None:
    for radius in (3, 6, 9, 12):
        assert 0.92 < compactness(disk(radius)) <= 1.0, radius
    bar = np.zeros((64, 64), dtype=bool)
    bar[30:32, 10:50] = True
    assert compactness(bar) < 0.25
    pixel = np.zeros((64, 64), dtype=bool)
    pixel[5, 5] = True
    assert compactness(pixel) == 1.0 and compactness(disk(1)) <= 1.0


def test_the_perfect_extract_part_is_the_true_mask() -> None:
    masks = np.stack([disk(4), np.zeros((64, 64), dtype=bool)])
    images = np.stack([np.where(masks[0], 0.9, 0.3), np.full((64, 64), 0.3)]).astype(np.float32)
    probability, regions, features = perfect_extract(images, masks)
    assert (regions == masks).all() and probability.max() == 1.0
    assert features[0, 0] == 1 and features[1, 0] == 0


def test_the_classifier_learns_separable_classes_and_refuses_unknown_ones() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    features = rng.normal(size=(600, len(FEATURES))).astype(np.float32)
    features[:, 3] += 3.0 * labels  # the area feature tells the classes apart
    model = train_classifier(features, labels, ClassifyConfig(window=0, steps=300))
    assert (class_probabilities(model, features).argmax(1) == labels).mean() > 0.95
    with pytest.raises(ValueError, match="unknown tumour class 'cyst'"):
        class_indices(np.array(["none", "cyst"]))


def test_the_classifier_reads_what_only_the_window_around_the_region_shows() -> None:
    """Classes told apart by the lesion's texture inside the window (flat, striped, spotted),
    with region features that are pure noise: only the window CNN can learn them."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, size = 450, 32
    labels = rng.integers(0, 3, n)
    features = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    lesion = (yy - 16) ** 2 + (xx - 16) ** 2 <= 36
    texture = [np.full((size, size), 0.8), 0.5 + 0.4 * (xx % 2), 0.5 + 0.4 * ((yy + xx) % 3 == 0)]
    slices = np.stack([np.where(lesion, texture[k], 0.3) for k in labels]).astype(np.float32)
    slices += rng.normal(0, 0.03, slices.shape).astype(np.float32)
    region = np.broadcast_to(lesion, slices.shape)
    windows = region_windows(slices, region.astype(np.float32), region, 16)
    assert windows.shape == (n, 3, 16, 16)
    assert np.allclose(windows[:, 2], lesion[8:24, 8:24])  # centred on the region's centroid
    config = ClassifyConfig(window=16, steps=300)
    model = train_classifier(features[:300], labels[:300], config, windows[:300])
    held_out = class_probabilities(model, features[300:], windows[300:]).argmax(1)
    assert (held_out == labels[300:]).mean() > 0.9
    features_only = train_classifier(features[:300], labels[:300], replace(config, window=0))
    assert (
        class_probabilities(features_only, features[300:]).argmax(1) == labels[300:]
    ).mean() < 0.6


@pytest.fixture(scope="module")
def detector_run(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("detect") / "det"
    steps: list[int] = []  # the steps `medgen detect train`'s progress bar follows

    def progress(step: int, loss: float) -> None:
        steps.append(step)

    train_detector(builtin_dataset, out, QUICK, log=lambda _: None, progress=progress)
    assert steps == list(range(1, QUICK.extract.steps + 1))
    return out


def test_a_trained_detector_keeps_every_part_output_in_the_callers_order(
    detector_run: Path, builtin_dataset: Path
) -> None:
    info = json.loads((detector_run / "detector.json").read_text())
    assert info["parts"] == list(PARTS) and info["segmentation_examples"] == 240
    assert info["classifier_examples"] == 60
    detector, store = load_detector(detector_run), open_dataset(builtin_dataset)
    ids = np.array([450, 301, 599, 302])
    out = detector.run(store, ids)
    assert (out.ids == ids).all() and out.preprocessed.shape == (4, 64, 64)
    assert out.features.shape == (4, len(FEATURES)) and out.class_probabilities.shape == (4, 3)
    alone = detector.run(store, ids[:1])
    assert np.allclose(alone.class_probabilities[0], out.class_probabilities[0], atol=1e-5)
    regions = detector.regions(np.asarray(store.array("images")[ids], dtype=np.float32))
    assert np.array_equal(regions, out.region)  # the same extract part on raw slices
    tumours = store.split("dev").query("label == 1").index.to_numpy()[:10]
    perfect = detector.run(store, tumours, perfect=("extract",))
    assert (perfect.features[:, 0] == 1).all() and perfect.perfect == ("extract",)
    assert (perfect.region == store.array("tumour_mask")[np.sort(tumours)].astype(bool)).all()
    with pytest.raises(ValueError, match="classify"):
        detector.run(store, ids, perfect=("classify",))
    assert isinstance(BoundDetector(detector, store), AnalysablePipeline)


def test_detect_predict_and_errors_by_parts_from_the_command_line(
    detector_run: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    pred = tmp_path / "pred"
    result = run_cli("detect", "predict", detector_run, "--data", builtin_dataset, "--out", pred)
    assert result.returncode == 0, result.stderr
    predictions = read_predictions(pred)
    assert len(predictions.table) == 200 and predictions.split == "dev"
    assert predictions.model_version.startswith("detector:")
    assert np.load(pred / "intermediate" / "probability.npy").shape == (200, 64, 64)
    project = tmp_path / "project"
    split = run_cli(
        "errors", "split", "--predictions", pred, "--project", project, "--target-errors", "20"
    )
    assert split.returncode == 0, split.stderr
    parts = run_cli("errors", "parts", detector_run, "--predictions", pred, "--project", project)
    assert parts.returncode == 0, parts.stderr
    assert "preprocess" in parts.stdout and "extract" in parts.stdout and "by part" in parts.stdout


def test_detector_commands_refuse_bad_input(
    detector_run: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    result = run_cli("detect", "predict", tmp_path, "--data", builtin_dataset)
    assert_one_line_error(result, "not a detector run")
    result = run_cli(
        "detect", "train", "--data", builtin_dataset, "--out", tmp_path / "d", "--steps", "0"
    )
    assert_one_line_error(result, "--steps")
    result = run_cli(
        "detect",
        "predict",
        detector_run,
        "--data",
        builtin_dataset,
        "--split",
        "validation",
        "--out",
        tmp_path / "p",
    )
    assert_one_line_error(result, "--split", "validation")
    assert not (tmp_path / "p").exists()
    result = run_cli("detect", "train", "--data", builtin_dataset, "--out", detector_run)
    assert_one_line_error(result, "already exists")


def test_training_is_reproducible(
    builtin_dataset: Path, detector_run: Path, tmp_path: Path
) -> None:
    train_detector(builtin_dataset, tmp_path / "again", replace(QUICK), log=lambda _: None)
    for name in ("segmentation.safetensors", "classifier.safetensors"):
        assert (tmp_path / "again" / name).read_bytes() == (detector_run / name).read_bytes()


def test_added_examples_train_both_learned_parts(
    builtin_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_dataset(builtin_dataset)
    tumours = store.split("dev").query("label == 1").index.to_numpy()[:10]
    images = np.asarray(store.array("images")[tumours], dtype=np.float32)
    masks = np.asarray(store.array("tumour_mask")[tumours]).astype(bool)
    kinds = store.meta.loc[tumours, "tumour_type"].astype(str).to_numpy()
    seen: dict[str, np.ndarray] = {}

    def recording(
        features: np.ndarray,
        labels: np.ndarray,
        config: ClassifyConfig,
        windows: np.ndarray | None = None,
    ) -> RegionClassifier:
        seen["features"], seen["labels"], seen["windows"] = features, labels, windows
        return train_classifier(features, labels, config, windows)

    monkeypatch.setattr("medgen.detect.pipeline.train_classifier", recording)
    summary = train_detector(
        builtin_dataset,
        tmp_path / "d",
        replace(QUICK),
        extra=lambda: (images, masks, kinds),
        log=lambda _: None,
    )
    # 8 of the 10 join the segmentation net's 240 slices, 2 the classifier's 60 held-out ones
    assert summary["added_examples"] == 10
    assert (summary["segmentation_examples"], summary["classifier_examples"]) == (248, 62)
    assert seen["features"].shape == (62, len(FEATURES)) and len(seen["labels"]) == 62
    window = QUICK.classify.window
    assert seen["windows"] is not None and seen["windows"].shape == (62, 3, window, window)
    _, to_classifier = split_for_parts(np.arange(10), QUICK.seed)  # the added pair, by the rule
    assert np.array_equal(seen["labels"][-2:], class_indices(kinds[to_classifier]))
    with pytest.raises(ValueError, match="cyst"):
        train_detector(
            builtin_dataset,
            tmp_path / "e",
            replace(QUICK),
            log=lambda _: None,
            extra=lambda: (images, masks, np.array(["cyst"] * 10)),
        )


def test_a_detector_saved_before_the_classifier_read_windows_still_loads(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    config = replace(QUICK, classify=replace(QUICK.classify, window=0))
    train_detector(builtin_dataset, tmp_path / "old", config, log=lambda _: None)
    info_path = tmp_path / "old" / "detector.json"
    info = json.loads(info_path.read_text())
    del info["config"]["classify"]["window"]  # as format 1 wrote it
    info_path.write_text(json.dumps({**info, "format_version": 1}))
    detector = load_detector(tmp_path / "old")
    assert detector.config.classify.window == 0 and detector.classifier.cnn is None
    ids = open_dataset(builtin_dataset).split("dev").index.to_numpy()[:5]
    assert len(detector.run(open_dataset(builtin_dataset), ids).prediction) == 5


def test_preprocessed_rows_are_computed_once_and_handed_out_as_copies(
    builtin_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_dataset(builtin_dataset)
    ids = np.arange(10, 40)
    config = PreprocessConfig()
    fresh = preprocess(store.array("images")[ids].astype(np.float32), config)
    calls = []
    real = pipeline.preprocess
    monkeypatch.setattr(pipeline, "preprocess", lambda *a: calls.append(1) or real(*a))
    pipeline._preprocessed.clear()
    first = pipeline.preprocessed_rows(store, ids, config)
    first[0][:] = -1.0  # the caller's copy: what is kept stays as computed
    second = pipeline.preprocessed_rows(store, ids, config)
    assert len(calls) == 1
    assert np.array_equal(second[0], fresh[0]) and np.array_equal(second[1], fresh[1])
    pipeline.preprocessed_rows(store, ids, replace(config, denoise_px=0.0))  # other settings
    pipeline.preprocessed_rows(store, ids[1:], config)  # other rows
    assert len(calls) == 3

    class InMemory:  # a scan's slices: no manifest, so nothing to key them by
        def array(self, name: str) -> np.ndarray:
            return np.asarray(store.array(name))

    for _ in range(2):
        again = pipeline.preprocessed_rows(InMemory(), ids, config)  # type: ignore[arg-type]
        assert np.array_equal(again[0], fresh[0])
    assert len(calls) == 5
