"""The domain feature extractor: trained, saved, versioned, reloaded; other spaces; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medgen.data.store import open_dataset
from medgen.evaluate import frechet_distance
from medgen.evaluate.features import (
    FeatureConfig,
    class_recalls,
    load_extractor,
    scores_with_recalls,
    split_scores,
    train_extractor,
)
from medgen.exceptions import InputError

QUICK = FeatureConfig(steps=30, batch_size=32)
# the lesion heads, a short run: 300 train slices, about 15 s of one core
LESIONS = FeatureConfig(steps=300, batch_size=32, lr=2e-3, presence_weight=1, mask_weight=1)


def trained(data: Path, factory: pytest.TempPathFactory, config: FeatureConfig) -> Path:
    torch.set_num_threads(1)
    out = factory.mktemp("features") / "features"
    train_extractor(data, out, config)
    return out


@pytest.fixture(scope="module")
def extractor_dir(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained(builtin_dataset, tmp_path_factory, QUICK)


@pytest.fixture(scope="module")
def lesion_dir(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained(builtin_dataset, tmp_path_factory, LESIONS)


def split_images(data: Path, split: str, n: int) -> np.ndarray:
    store = open_dataset(data)
    ids = store.split(split).index.to_numpy()[:n]
    return np.asarray(store.array("images")[ids], dtype=np.float32)


def test_saved_record_names_the_space_and_what_it_learned(
    extractor_dir: Path, builtin_dataset: Path
) -> None:
    record = json.loads((extractor_dir / "extractor.json").read_text())
    assert record["format"] == "medgen-features" and len(record["id"]) == 12
    assert record["data"]["content_hash"] == open_dataset(builtin_dataset).manifest["content_hash"]
    assert set(record["targets"]["classes"]) == {"tumour_type", "location"}
    assert "brainstem" in record["targets"]["classes"]["location"]
    assert {"tumour_type accuracy", "source_z R2"} <= set(record["dev_scores"])
    dev_locations = set(open_dataset(builtin_dataset).split("dev")["location"]) - {"none"}
    recalls = {k for k in record["dev_scores"] if k.startswith("location recall ")}
    assert recalls == {f"location recall {v}" for v in dev_locations} and len(recalls) >= 2
    assert 0 <= record["dev_scores"]["tumour presence AUROC"] <= 1  # from the type head
    assert record["format_version"] == 2
    assert not record["targets"]["presence"] and not record["targets"]["mask"]
    extractor = load_extractor(extractor_dir)
    assert extractor.name == f"medgen:{record['id']}" and extractor.image_size == 64


def test_training_is_reproducible(
    extractor_dir: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    again = train_extractor(builtin_dataset, tmp_path / "again", QUICK)
    assert again["id"] == json.loads((extractor_dir / "extractor.json").read_text())["id"]


def test_features_tell_brains_from_scrambled_brains(
    extractor_dir: Path, builtin_dataset: Path
) -> None:
    extractor = load_extractor(extractor_dir)
    dev, test = (
        split_images(builtin_dataset, "dev", 150),
        split_images(builtin_dataset, "test", 100),
    )
    feats_dev = extractor(dev)
    assert feats_dev.shape == (150, 128) and feats_dev.dtype == torch.float64
    rng = np.random.default_rng(0)
    scrambled = np.stack([rng.permutation(im.ravel()).reshape(im.shape) for im in dev[:100]])
    same = frechet_distance(extractor(test), feats_dev)
    different = frechet_distance(extractor(test), extractor(scrambled))
    assert different > 10 * same


@pytest.mark.parametrize("folder", ["extractor_dir", "lesion_dir"])
def test_saved_heads_score_as_they_did_when_trained(
    folder: str, builtin_dataset: Path, request: pytest.FixtureRequest
) -> None:
    saved: Path = request.getfixturevalue(folder)
    record = json.loads((saved / "extractor.json").read_text())
    again = split_scores(saved, builtin_dataset, "dev")
    assert again == pytest.approx(record["dev_scores"], abs=1e-6)
    assert load_extractor(saved)(split_images(builtin_dataset, "dev", 3)).shape == (3, 128)


def test_format_1_folders_load_and_newer_formats_are_refused(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    train_extractor(builtin_dataset, old, FeatureConfig(steps=2))
    record = json.loads((old / "extractor.json").read_text())
    for key in ("presence", "mask"):
        del record["targets"][key]
    for key in ("presence_weight", "mask_weight", "mask_stage", "pool"):
        del record["config"][key]
    (old / "extractor.json").write_text(json.dumps({**record, "format_version": 1}))
    images = split_images(builtin_dataset, "dev", 4)
    assert load_extractor(old)(images).shape == (4, 128)
    assert "tumour presence AUROC" in split_scores(old, builtin_dataset, "dev")
    (old / "extractor.json").write_text(json.dumps({**record, "format_version": 3}))
    with pytest.raises(InputError, match="newer medgen"):
        load_extractor(old)


def test_the_lesion_heads_learn_to_see_tumours_in_seconds(lesion_dir: Path) -> None:
    record = json.loads((lesion_dir / "extractor.json").read_text())
    assert record["targets"]["presence"] and record["targets"]["mask"]
    assert record["dev_scores"]["tumour presence AUROC"] >= 0.68  # chance: 0.50 +- 0.04 (sd)


def test_images_of_another_size_are_refused(extractor_dir: Path) -> None:
    with pytest.raises(ValueError, match="64-pixel"):
        load_extractor(extractor_dir)(np.zeros((2, 32, 32), dtype=np.float32))


def test_altered_weights_and_bad_specs_are_refused(extractor_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    record = json.loads((extractor_dir / "extractor.json").read_text())
    (copy / "extractor.json").write_text(json.dumps({**record, "id": "000000000000"}))
    (copy / "weights.safetensors").write_bytes((extractor_dir / "weights.safetensors").read_bytes())
    with pytest.raises(InputError, match="altered"):
        load_extractor(copy)
    with pytest.raises(InputError, match="not a feature extractor"):
        load_extractor(tmp_path)
    (tmp_path / "junk.pt2").write_bytes(b"not a program")
    with pytest.raises(InputError, match=r"torch\.export"):
        load_extractor(f"export:{tmp_path / 'junk.pt2'}")
    with pytest.raises(InputError, match="no such"):
        load_extractor(f"inception:{tmp_path / 'missing.pth'}")


def test_existing_output_is_kept(extractor_dir: Path, builtin_dataset: Path) -> None:
    before = (extractor_dir / "weights.safetensors").read_bytes()
    with pytest.raises(InputError, match="already exists"):
        train_extractor(builtin_dataset, extractor_dir, QUICK)
    assert (extractor_dir / "weights.safetensors").read_bytes() == before


class MeanStd(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))], dim=1)


def test_an_exported_program_is_a_feature_space(tmp_path: Path) -> None:
    path = tmp_path / "f.pt2"
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        MeanStd(), (torch.rand(4, 1, 16, 16),), dynamic_shapes={"x": {0: batch}}
    )
    torch.export.save(program, str(path))
    extractor = load_extractor(f"export:{path}")
    images = torch.rand(300, 1, 16, 16)  # two batches of the extractor: 256 and 44
    assert torch.allclose(extractor(images), MeanStd()(images).double())
    assert extractor.name.startswith("export:") and extractor.image_size is None


def test_class_recalls_count_each_tumour_class_by_hand() -> None:
    vocab = ["brainstem", "none", "frontal", "temporal"]
    truth = torch.tensor([0, 0, 0, 0, 2, 2, 1, 1])
    predicted = torch.tensor([0, 2, 2, 2, 2, 2, 0, 0])  # 1 of 4 brainstem, 2 of 2 frontal
    found = class_recalls(predicted, truth, "location", vocab)
    # "none" is the presence score's job; temporal has no slice, so no recall
    assert found == {"location recall brainstem": 0.25, "location recall frontal": 1.0}


def test_recalls_missing_from_a_record_are_measured_on_loading(
    extractor_dir: Path, builtin_dataset: Path
) -> None:
    extractor = load_extractor(extractor_dir)
    recorded = dict(extractor.record["dev_scores"])
    store = open_dataset(builtin_dataset)
    assert scores_with_recalls(extractor, store) == recorded  # nothing missing: nothing measured
    # a record written before recalls were scored, as the shipped extractor's is
    extractor.record["dev_scores"] = {
        k: v for k, v in recorded.items() if not k.startswith("location recall ")
    }
    measured = scores_with_recalls(extractor, store)
    assert measured == pytest.approx(recorded, abs=1e-6)  # every dev tumour slice: the same
    one = scores_with_recalls(extractor, store, cap=1)  # one slice: one location, right or not
    recalls = [v for k, v in one.items() if k.startswith("location recall ")]
    assert len(recalls) == 1 and recalls[0] in (0.0, 1.0)
