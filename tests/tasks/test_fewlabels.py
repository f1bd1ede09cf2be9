"""Label-efficient segmentation: features' shapes, the pixel ensemble learning a toy from five
labelled images, label maps and draws on the built-in data, and Dice and intervals by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from medgen.data.store import open_dataset
from medgen.exceptions import SettingError
from medgen.models import DiffusionConfig, DiffusionModel
from medgen.nets.unet import UNetConfig
from medgen.tasks.fewlabels.features import (
    FeatureSettings,
    decoder_blocks,
    diffusion_features,
    feature_channels,
)
from medgen.tasks.fewlabels.labels import draw_labelled, label_maps, labelled_count
from medgen.tasks.fewlabels.peers import PEERS, PeerSettings, augment, predict_peer
from medgen.tasks.fewlabels.segmenter import SegmenterSettings, fit_segmenter, segment
from medgen.tasks.fewlabels.table import class_dice, draw_interval

SIZE = 32


@pytest.fixture(scope="module")
def tiny_model() -> DiffusionModel:
    """An untrained pixel diffusion model with a small medgen U-Net (its decoder's random
    features still carry each pixel's neighbourhood)."""
    torch.manual_seed(0)
    unet = UNetConfig(channels=(8, 16), attention_levels=(False, True), num_head_channels=8)
    return DiffusionModel(DiffusionConfig(image_size=SIZE, unet=unet)).eval()


def discs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n noisy images of a bright disc (class 1) of random centre and radius on a dark field."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    maps = np.zeros((n, SIZE, SIZE), np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(4, 8)
        maps[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    images = 0.2 + 0.6 * maps + 0.05 * rng.standard_normal(maps.shape)
    return images.astype(np.float32), maps


def test_features_shape_and_fixed_noise(tiny_model: DiffusionModel) -> None:
    s = FeatureSettings(sigmas=(0.05, 0.2), blocks=(0, 1))
    x = torch.rand(3, 1, SIZE, SIZE)
    f = diffusion_features(tiny_model, x, s)
    assert f.shape == (3, 2 * (16 + 8), SIZE, SIZE) and f.dtype == torch.float32
    assert feature_channels(tiny_model, s) == f.shape[1]
    torch.testing.assert_close(diffusion_features(tiny_model, x[:1], s), f[:1])  # no new noise
    assert not any(b._forward_hooks for b in decoder_blocks(tiny_model))  # hooks removed


def test_segmenter_learns_discs_from_five_labels(tiny_model: DiffusionModel) -> None:
    torch.manual_seed(0)
    images, maps = discs(5, seed=0)
    s = SegmenterSettings(features=FeatureSettings(sigmas=(0.05, 0.2)))
    seg = fit_segmenter(tiny_model, images, maps, 2, s)
    test_images, test_maps = discs(20, seed=1)
    dice = class_dice(segment(seg, test_images), test_maps, 2)
    assert dice[1] > 0.95 and dice[0] > 0.95, dice


def test_peers_train_and_augment_keeps_pairs() -> None:
    images, maps = discs(4, seed=2)
    s = PeerSettings(channels=(4, 8), steps=2, batch=2)
    for trainer in PEERS.values():
        pred = predict_peer(trainer(images, maps, 2, s), images)
        assert pred.shape == maps.shape and pred.dtype == np.uint8
    x, y = torch.from_numpy(images)[:, None], torch.from_numpy(maps.astype(np.int64))
    xa, ya = augment(x, y, torch.Generator().manual_seed(0))
    assert xa.shape == x.shape and ya.shape == y.shape
    assert set(ya.unique().tolist()) <= {0, 1}
    bright = (xa[:, 0] > 0.5).float()  # the disc moved with its labels
    agree = (bright == ya.float()).float().mean()
    assert agree > 0.95


def test_label_maps_and_stratified_draws(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    ids = store.split("train").index.to_numpy()[:40]
    found = label_maps(store, ids)
    assert found.classes[0] == "background" and found.classes[-2:] == ("oedema", "tumour")
    tumour = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    assert (found.maps[tumour] == len(found.classes) - 1).all()  # tumour overwrites the rest
    brain = np.asarray(store.array("brain_mask")[ids]).astype(bool)
    assert (found.maps[~brain & ~tumour] == 0).all()
    draws = draw_labelled(store, 10, 3, seed=0)
    meta = store.meta
    for d in draws:
        assert len(set(d)) == 10 and (meta.loc[d, "split"] == "train").all()
        kinds = meta.loc[d, "tumour_type"].astype(str).value_counts()
        assert set(kinds.index) == {"none", "benign", "malignant"} and kinds.max() <= 4
    assert not np.array_equal(draws[0], draws[1])
    assert len(draw_labelled(store, None, 2)[0]) == len(store.split("train"))
    with pytest.raises(SettingError, match="asks for 301"):
        draw_labelled(store, 301, 1)


@pytest.mark.parametrize("text", ["0", "-3", "ten", "1.5"])
def test_labelled_count_refuses(text: str) -> None:
    with pytest.raises(SettingError):
        labelled_count(text)
    assert labelled_count("30") == 30 and labelled_count("all") is None


def test_dice_and_draw_interval_by_hand() -> None:
    pred = np.array([[0, 1, 1, 2]], np.uint8)
    truth = np.array([[0, 1, 0, 0]], np.uint8)
    dice = class_dice(pred, truth, 4)
    np.testing.assert_allclose(dice[:3], [0.5, 2 / 3, 0.0])  # 2|P∩T| / (|P| + |T|)
    assert np.isnan(dice[3])  # in neither
    i = draw_interval(np.array([0.1, 0.2, 0.3]))
    assert i.estimate == pytest.approx(0.2) and i.n == 3
    assert i.low == pytest.approx(0.105) and i.high == pytest.approx(0.295)
    assert np.isnan(draw_interval(np.array([0.4])).low)
    assert replace(PeerSettings(), steps=1).steps == 1
