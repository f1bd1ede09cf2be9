"""The domain extractor's network and targets: mask pooling, heads, losses over known targets."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from medgen.evaluate.feature_net import (
    DomainFeatureNet,
    Weights,
    encode_targets,
    find_targets,
    pooled_mask,
    target_loss,
    tumour_score,
)


def table(labels: list[int]) -> pd.DataFrame:
    n = len(labels)
    kinds = {1: "benign", 0: "none", -1: "unknown"}
    return pd.DataFrame(
        {
            "label": labels,
            "tumour_type": [kinds[v] for v in labels],
            "location": ["frontal" if v == 1 else "none" for v in labels],
            "source_z": [float(i) for i in range(n)],
            "noise_sigma": [0.01 * (i + 1) for i in range(n)],
            "bias_strength": [math.nan] * n,
        }
    )


def test_pooled_mask_marks_every_cell_holding_a_lesion_pixel() -> None:
    masks = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    masks[0, 0, 5, 9] = 1  # one pixel: cell (1, 2) at stage 2 (4-pixel cells)
    masks[1, 0, 7:9, 7:9] = 1  # a 2x2 lesion across the corner of four cells
    pooled = pooled_mask(masks, 2)
    assert pooled.shape == (2, 1, 4, 4) and pooled.dtype == torch.float32
    assert pooled[0, 0].nonzero().tolist() == [[1, 2]]
    assert pooled[1, 0].nonzero().tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert pooled_mask(masks, 1).shape == (2, 1, 8, 8)


def test_targets_name_presence_and_mask_only_when_the_data_teach_them() -> None:
    targets = find_targets(table([1, 0, 1, -1]), presence=True, mask=True)
    assert targets.presence and targets.mask
    assert targets.classes["tumour_type"] == ["benign", "none"]
    assert list(targets.values) == ["source_z", "noise_sigma"]  # bias unknown everywhere
    assert not find_targets(table([1, 1, -1]), presence=True).presence  # one class only
    assert not find_targets(table([1, 0]), presence=False).presence
    encoded = encode_targets(table([1, 0, -1]), targets)
    assert encoded.presence[:2].tolist() == [1.0, 0.0] and math.isnan(encoded.presence[2])


def test_heads_and_the_mask_map_have_the_promised_shapes() -> None:
    targets = find_targets(table([1, 0, 1, 0]), presence=True, mask=True)
    net = DomainFeatureNet(targets, (4, 8, 16), 12, mask_stage=2)
    out = net.embed(torch.rand(3, 1, 32, 32))
    assert out.features.shape == (3, 12) and out.inner.shape == (3, 8, 8, 8)
    assert net.mask_head is not None and net.mask_head(out.inner).shape == (3, 1, 8, 8)
    score = tumour_score(net, targets, out.features)
    assert score is not None and score.shape == (3,)


def test_embed_and_forward_give_the_same_embedding() -> None:
    targets = find_targets(table([1, 0]), presence=True, mask=True)
    net = DomainFeatureNet(targets, (4, 8), 6, mask_stage=1).eval()
    images = torch.rand(2, 1, 16, 16)
    assert torch.allclose(net.embed(images).features, net(images))


def test_without_a_presence_head_the_type_head_scores_presence() -> None:
    targets = find_targets(table([1, 0, 1]), presence=False)
    net = DomainFeatureNet(targets, (4,), 6)
    assert net.presence_head is None and net.mask_head is None
    feats = torch.randn(5, 6)
    probs = net.class_heads["tumour_type"](feats).softmax(dim=1)
    score = tumour_score(net, targets, feats)
    assert score is not None and torch.allclose(score, 1 - probs[:, 1])  # vocab: benign, none


@pytest.mark.parametrize("weight", [0.0, 2.0])
def test_unlabelled_slices_add_no_presence_or_mask_loss(weight: float) -> None:
    torch.manual_seed(0)
    meta = table([1, 0, -1, -1])
    targets = find_targets(meta, presence=True, mask=True)
    net = DomainFeatureNet(targets, (4, 8), 6, mask_stage=1)
    images, masks = torch.rand(4, 1, 8, 8), torch.zeros(4, 1, 4, 4)
    encoded = encode_targets(meta, targets)
    out = net.embed(images)
    assert net.presence_head is not None and net.mask_head is not None
    base = target_loss(net, out, encoded, masks, Weights(0.0, 0.0))
    full = target_loss(net, out, encoded, masks, Weights(weight, weight))
    labelled = encoded.presence[:2]
    presence = torch.nn.functional.binary_cross_entropy_with_logits(
        net.presence_head(out.features[:2]).squeeze(1), labelled
    )
    mask = torch.nn.functional.binary_cross_entropy_with_logits(
        net.mask_head(out.inner[:2]), masks[:2]
    )
    assert torch.allclose(full, base + weight * (presence + mask))


def test_mean_max_pool_appends_each_channels_max() -> None:
    targets = find_targets(table([1, 0]), presence=False)
    net = DomainFeatureNet(targets, (4, 8), 6, pool="meanmax")
    maps = net.encoder.stages(torch.rand(2, 1, 16, 16) * 2 - 1)  # (2, 8, 4, 4)
    pooled = net.encoder.pool(maps)
    assert pooled.shape == (2, 16) and net.encoder.project.in_features == 16
    assert torch.equal(pooled[:, 8:], maps.amax(dim=(2, 3)))
    with pytest.raises(ValueError, match="pool"):
        DomainFeatureNet(targets, (4,), 6, pool="median")
