"""Registration: the built-in data's ground truth (grids bit-exact with rendering, labels, true
displacement), MONAI's warp convention, metrics on closed forms, the network and the peers
recovering known warps, pairs and the table's reading of its target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from monai.losses import LocalNormalizedCrossCorrelationLoss
from scipy import ndimage

from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth.anatomy import load_anatomy
from medgen.data.synth.truth import (
    TISSUES,
    data_config,
    template_grids,
    tissue_labels,
    true_displacement,
)
from medgen.tasks.registration.metrics import (
    endpoint_error,
    folding_percent,
    label_dice,
    warp_nearest,
)
from medgen.tasks.registration.nets import NetConfig, RegistrationNet, warp
from medgen.tasks.registration.pairs import same_level_pairs
from medgen.tasks.registration.peers import run_peer
from medgen.tasks.registration.refine import RefineSettings, lncc_loss
from medgen.tasks.registration.run import MEDGEN, PLAIN
from medgen.tasks.registration.table import register_table, verdict
from medgen.tasks.registration.train import (
    TrainSettings,
    predict,
    registration_loss,
    train_registration,
)


@pytest.fixture(scope="module")
def store(builtin_dataset: Path) -> StoredDataset:
    return open_dataset(builtin_dataset)


@pytest.fixture(scope="module")
def pairs_and_truth(store: StoredDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = same_level_pairs(store, "train", 6, seed=0)
    return pairs.fixed, pairs.moving, true_displacement(store, pairs.fixed, pairs.moving)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def test_grids_resample_the_stored_brain_mask_exactly(store: StoredDataset) -> None:
    cfg = data_config(store)
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    ids = store.meta.index.to_numpy()[:12]  # tumour and healthy slices of every split's start
    grids = template_grids(store, ids)
    assert grids.shape == (12, 2, 64, 64) and grids.dtype == np.float64
    for grid, i in zip(grids, ids, strict=True):
        level = int(np.flatnonzero(anatomy.z_mm == store.meta.at[i, "source_z"])[0])
        coords = grid + (np.subtract(anatomy.centre_mm, anatomy.origin_mm))[:, None, None]
        brain = ndimage.map_coordinates(anatomy.brain[level], coords, order=1, cval=0.0) >= 0.5
        np.testing.assert_array_equal(brain, store.array("brain_mask")[i] > 0)


def test_tissue_labels_fill_the_brain_with_three_tissues(store: StoredDataset) -> None:
    ids = store.meta.index.to_numpy()[:8]
    labels = tissue_labels(store, ids)
    brain = np.asarray(store.array("brain_mask")[ids]) > 0
    assert labels.shape == (8, 64, 64) and labels.dtype == np.uint8
    assert (labels[~brain] == 0).all() and (labels[brain] >= 1).all()
    assert set(np.unique(labels[brain])) == set(range(1, len(TISSUES) + 1))


def test_true_displacement_of_a_slice_onto_itself_is_zero(store: StoredDataset) -> None:
    ids = store.meta.index.to_numpy()[:3]
    assert np.abs(true_displacement(store, ids, ids)).max() < 1e-6


def test_true_displacement_aligns_the_brain_masks(
    store: StoredDataset, pairs_and_truth: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    fixed, moving, truth = pairs_and_truth
    f = np.asarray(store.array("brain_mask")[fixed]) > 0
    m = torch.as_tensor(np.asarray(store.array("brain_mask")[moving], np.float32))[:, None]
    warped = warp(m, torch.as_tensor(truth, dtype=torch.float32))[:, 0].numpy() > 0.5
    for a, b, before in zip(warped, f, m[:, 0].numpy() > 0.5, strict=True):
        assert _dice(a, b) > 0.95 and _dice(a, b) >= _dice(before, b)


def test_true_displacement_needs_one_level(store: StoredDataset) -> None:
    meta = store.meta
    a = int(meta.index[0])
    b = int(meta.index[meta["source_z"] != meta.at[a, "source_z"]][0])
    with pytest.raises(ValueError, match="same level"):
        true_displacement(store, np.array([a]), np.array([b]))


def test_warp_samples_moving_at_p_plus_u_rows_first() -> None:
    image = torch.arange(64.0).reshape(1, 1, 8, 8)
    ddf = torch.zeros(1, 2, 8, 8)
    ddf[:, 0] = 2.0  # rows
    out = warp(image, ddf)[0, 0]
    torch.testing.assert_close(out[:6], image[0, 0, 2:])
    assert (out[6:] == 0).all()  # sampled outside: zero


def test_the_warp_of_the_identity_is_the_identity() -> None:
    image = torch.rand(2, 1, 64, 64)
    torch.testing.assert_close(warp(image, torch.zeros(2, 2, 64, 64)), image)
    net = RegistrationNet()  # its last layer starts at zero: the identity
    assert predict(net, image[:, 0].numpy(), image[:, 0].numpy()).max() == 0.0


def test_metrics_on_closed_forms() -> None:
    truth = np.zeros((1, 2, 16, 16))
    truth[:, 0], truth[:, 1] = 3.0, 4.0
    mask = np.ones((1, 16, 16))
    assert endpoint_error(np.zeros_like(truth), truth, mask)[0] == pytest.approx(5.0)
    rows = np.broadcast_to(np.arange(16.0)[:, None], (16, 16))
    mirror = np.zeros((1, 2, 16, 16))
    mirror[:, 0] = -2.0 * rows  # p -> -p along rows: det J = -1 everywhere
    assert folding_percent(mirror)[0] == 100.0
    assert folding_percent(np.zeros_like(mirror))[0] == 0.0
    half = mirror.copy()
    half[:, 0, :, 8:] = 0.0  # the right half unfolded
    assert folding_percent(half)[0] == pytest.approx(50.0)
    labels = np.zeros((1, 16, 16), np.uint8)
    labels[:, 4:8], labels[:, 8:12] = 1, 2
    shifted = warp_nearest(labels, truth * 0 + np.array([4.0, 0.0])[None, :, None, None])
    np.testing.assert_array_equal(shifted[:, 4:8], labels[:, 8:12])
    dice = label_dice(labels, labels)[0]
    assert dice[0] == dice[1] == 1.0 and np.isnan(dice[2])
    assert label_dice(shifted, labels)[0, 1] == 0.0


def _shifted(store: StoredDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clean slice, it shifted by (2, -3) px, its brain mask: moving(p + (2, -3)) = fixed(p)."""
    fixed = np.asarray(store.array("clean")[0], np.float64)
    moving = ndimage.shift(fixed, (2.0, -3.0), order=1)
    return fixed, moving, np.asarray(store.array("brain_mask")[0:1])


@pytest.mark.parametrize("peer", ["ants_syn", "sitk_demons"])
def test_peers_recover_a_known_shift(store: StoredDataset, peer: str) -> None:
    fixed, moving, brain = _shifted(store)
    truth = np.zeros((1, 2, 64, 64))
    truth[:, 0], truth[:, 1] = 2.0, -3.0
    found = run_peer(peer, fixed[None], moving[None])
    assert endpoint_error(found.ddf, truth, brain)[0] < 0.5
    assert found.seconds.shape == (1,) and found.seconds[0] > 0


def test_the_network_learns_a_known_warp(store: StoredDataset) -> None:
    """medgen's network and loss, optimised on one pair, recover the pair's known shift."""
    fixed, moving, brain = _shifted(store)
    truth = np.zeros((1, 2, 64, 64))
    truth[:, 0], truth[:, 1] = 2.0, -3.0
    torch.manual_seed(0)
    s = TrainSettings(lr=0.01)
    net = RegistrationNet(NetConfig(channels=(8, 16, 16)))
    optimiser = torch.optim.Adam(net.parameters(), lr=s.lr)
    pair = torch.as_tensor(np.stack([fixed, moving]), dtype=torch.float32)[None]  # (1, 2, H, W)
    for _ in range(120):
        loss = registration_loss(net, pair, pair, s)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    ddf = predict(net.eval(), fixed[None], moving[None])
    assert endpoint_error(ddf, truth, brain)[0] < 0.5  # from 3.6 px at the identity
    assert folding_percent(ddf)[0] == 0.0


def test_refinement_from_the_identity_recovers_a_small_known_shift(store: StoredDataset) -> None:
    """Refinement alone (an untrained network's zero field as the start) walks to a pair's known
    1-pixel shift, the size of correction it is for (from the identity it does not cross the
    3.6 px of the shift above: LNCC's 7-pixel window sees no further); zero steps give the
    network's own field, bit for bit."""
    fixed = np.asarray(store.array("clean")[0], np.float64)
    moving = ndimage.shift(fixed, (1.0, -1.0), order=1)
    brain = np.asarray(store.array("brain_mask")[0:1])
    truth = np.zeros((1, 2, 64, 64))
    truth[:, 0], truth[:, 1] = 1.0, -1.0
    net = RegistrationNet(NetConfig(channels=(8, 16, 16))).eval()  # its last layer is zero
    as_is = predict(net, fixed[None], moving[None], RefineSettings(steps=0))
    assert np.array_equal(as_is, predict(net, fixed[None], moving[None]))
    assert endpoint_error(as_is, truth, brain)[0] > 1.4  # the identity: sqrt(2) px off
    refined = predict(net, fixed[None], moving[None], RefineSettings(steps=60, lr=0.1))
    assert endpoint_error(refined, truth, brain)[0] < 0.2
    assert folding_percent(refined)[0] == 0.0


def test_each_pair_refines_as_it_would_alone(store: StoredDataset) -> None:
    """A batch's pairs do not share anything: refined together or one by one, each pair gets
    the same field (up to float rounding in Adam's normalisation)."""
    ids = store.split("train").index.to_numpy()[:4]
    images = np.asarray(store.array("images")[ids], np.float32)
    torch.manual_seed(0)
    net = RegistrationNet(NetConfig(channels=(8, 16))).eval()
    s = RefineSettings(steps=3)
    together = predict(net, images[:2], images[2:], s)
    alone = np.concatenate(
        [predict(net, images[k : k + 1], images[k + 2 : k + 3], s) for k in (0, 1)]
    )
    np.testing.assert_allclose(together, alone, atol=1e-3)


def test_the_similarity_is_monais_local_ncc() -> None:
    torch.manual_seed(0)
    a = torch.rand(3, 1, 32, 32)
    for b in (a + 0.3 * torch.rand(3, 1, 32, 32), torch.rand(3, 1, 32, 32)):
        monai = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=7)(a, b)
        assert lncc_loss(a, b, 7).item() == pytest.approx(monai.item(), abs=1e-5)


def test_training_on_same_level_pairs_runs_within_its_budget(store: StoredDataset) -> None:
    ids = store.split("train").index.to_numpy()[:100]
    images = np.asarray(store.array("images")[ids])
    levels = store.meta.loc[ids, "source_z"].to_numpy()
    seen: list[int] = []
    s = TrainSettings(steps=3, batch_size=2, net=NetConfig(channels=(8, 16)))
    net = train_registration(images, images, levels, s, lambda i, _n: seen.append(i))
    assert seen == [1, 2, 3] and not net.training
    assert predict(net, images[:3], images[3:6]).shape == (3, 2, 64, 64)


def test_pairs_share_a_level_and_alternate_tumours(store: StoredDataset) -> None:
    pairs = same_level_pairs(store, "dev", 10, seed=1)
    meta = store.meta
    assert len(pairs.fixed) == 10 and (pairs.fixed != pairs.moving).all()
    np.testing.assert_array_equal(
        meta.loc[pairs.fixed, "source_z"].to_numpy(), meta.loc[pairs.moving, "source_z"].to_numpy()
    )
    assert (meta.loc[pairs.fixed, "label"] == 0).all()
    np.testing.assert_array_equal(pairs.tumour, meta.loc[pairs.moving, "label"].to_numpy() == 1)
    assert pairs.tumour.any() and not pairs.tumour.all()


def _per_pair(epe: dict[str, list[float]], seconds: dict[str, float], fold: float) -> pd.DataFrame:
    rows = []
    for method, values in epe.items():
        for i, v in enumerate(values):
            rows.append(
                {
                    "method": method, "fixed": i, "moving": 100 + i, "tumour": i % 2 == 0,
                    "epe_px": v, "epe_near_tumour_px": v, "dice_csf": 0.5, "dice_grey": 0.5,
                    "dice_white": 0.5, "dice_mean": 0.5, "seconds": seconds[method],
                    "folding_pct": fold if method == MEDGEN else 0.0,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_table_reads_its_target_from_the_interval() -> None:
    rng = np.random.default_rng(0)
    good = list(1.0 + 0.01 * rng.standard_normal(20))
    worse = list(1.5 + 0.01 * rng.standard_normal(20))
    seconds = {MEDGEN: 0.001, PLAIN: 0.001, "ants_syn": 0.1}
    table = register_table(_per_pair({MEDGEN: good, PLAIN: worse, "ants_syn": worse}, seconds, 0))
    assert [verdict(c) for c in table.claims] == ["met", "met"]
    assert table.table.loc[MEDGEN, "x SyN speed"] == pytest.approx(100.0)
    folded = register_table(_per_pair({MEDGEN: good, "ants_syn": worse}, seconds, 0.5))
    assert verdict(folded.claims[0]) == "not met" and "folding" in folded.claims[0].blocked
    slow = register_table(
        _per_pair({MEDGEN: good, "ants_syn": worse}, {**seconds, MEDGEN: 0.05}, 0)
    )
    assert verdict(slow.claims[0]) == "not met" and "speed" in slow.claims[0].blocked
    lost = register_table(_per_pair({MEDGEN: worse, "ants_syn": good}, seconds, 0))
    assert verdict(lost.claims[0]) == "not met"
