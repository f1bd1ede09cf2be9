"""The built-in dataset: determinism, knobs, mask geometry, Rician noise, the on-disk format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, ScenarioConfig, make_dataset, resolve_config
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.config import LOCATIONS
from medgen.data.synth.fields import rician
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice
from medgen.exceptions import InputError, SettingError

TINY = DataConfig(n_train=40, n_dev=30, n_test=20, seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_and_config_give_identical_bytes_whatever_the_worker_count(
    tmp_path: Path,
) -> None:
    make_dataset(tmp_path / "a", TINY, workers=1)
    make_dataset(tmp_path / "b", TINY, workers=2)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    make_dataset(tmp_path / "c", replace(TINY, seed=4), workers=2)
    hash_a = json.loads((tmp_path / "a" / "manifest.json").read_text())["content_hash"]
    hash_c = json.loads((tmp_path / "c" / "manifest.json").read_text())["content_hash"]
    assert hash_a != hash_c


def test_manifest_records_config_and_a_hash_that_matches_the_files(builtin_dataset: Path) -> None:
    from medgen.data.store import content_hash

    ds = open_dataset(builtin_dataset)
    assert ds.manifest["config"]["seed"] == 7
    assert ds.manifest["content_hash"] == content_hash(builtin_dataset, ds.arrays)
    assert ds.manifest["splits"] == {"dev": 200, "test": 100, "train": 300}


def test_arrays_have_the_documented_shapes_dtypes_and_ranges(builtin_dataset: Path) -> None:
    ds = open_dataset(builtin_dataset)
    images, clean = ds.array("images"), ds.array("clean")
    assert images.shape == clean.shape == (600, 64, 64)
    assert images.dtype == clean.dtype == np.float32
    assert ds.array("tumour_mask").dtype == np.uint8
    for array in (images, clean):
        assert float(array.min()) >= 0.0 and float(array.max()) <= 1.0
    brain = ds.array("brain_mask").astype(bool)
    assert not np.asarray(clean)[~brain].any(), "the clean image is zero outside the brain"


def test_plan_reproduces_the_scenario_prevalence_at_default_size() -> None:
    cfg = DataConfig()
    plan = plan_slices(cfg, load_anatomy(cfg.anatomy.min_brain_fraction))
    assert plan["split"].value_counts().to_dict() == {"train": 8000, "dev": 5000, "test": 2000}
    for split, brainstem in (("train", 0.01), ("dev", 0.15), ("test", 0.15)):
        rows = plan[plan["split"] == split]
        tumours = rows[rows["label"] == 1]
        assert len(tumours) == len(rows) // 2
        share = (tumours["location"] == "brainstem").mean()
        assert share == pytest.approx(brainstem, abs=0.002)
        assert (tumours["tumour_type"] == "malignant").mean() == pytest.approx(0.5, abs=0.01)
    healthy = plan[plan["label"] == 0]
    assert set(healthy["location"]) == {"none"} and set(healthy["tumour_type"]) == {"none"}


def test_knobs_change_the_counts(tmp_path: Path) -> None:
    toml = tmp_path / "data.toml"
    toml.write_text(
        "n_train = 200\nn_dev = 0\nn_test = 0\n"
        "[scenario]\ntumour_fraction = 0.25\n"
        "[scenario.location_prevalence.train]\nbrainstem = 1.0\ncerebellum = 1.0\n"
        "frontal = 0\nparietal = 0\ntemporal = 0\noccipital = 0\ndeep_grey = 0\n"
        "[tumour]\np_malignant = 1.0\n"
    )
    cfg = resolve_config(toml)
    plan = plan_slices(cfg, load_anatomy(cfg.anatomy.min_brain_fraction))
    tumours = plan[plan["label"] == 1]
    assert len(tumours) == 50
    assert tumours["location"].value_counts().to_dict() == {"brainstem": 25, "cerebellum": 25}
    assert set(tumours["tumour_type"]) == {"malignant"}


def test_tumour_slices_come_only_from_template_slices_where_the_structure_exists() -> None:
    cfg = DataConfig(n_train=2000, n_dev=0, n_test=0)
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    plan = plan_slices(cfg, anatomy)
    brainstem = plan[plan["location"] == "brainstem"]["source_z"]
    assert brainstem.max() <= -4 and brainstem.min() >= -60
    parietal = plan[plan["location"] == "parietal"]["source_z"]
    assert parietal.min() > 6


@pytest.mark.parametrize("kind", ["benign", "malignant"])
def test_tumours_lie_inside_the_brain_and_mostly_inside_their_structure(kind: str) -> None:
    """Every tumour is inside the brain and touches its structure; nearly all lie mostly inside it
    (a small tumour in a thin structure, e.g. the putamen at 3 mm pixels, may spill over)."""
    cfg = DataConfig()
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    plan = plan_slices(replace(cfg, n_train=400, n_dev=0, n_test=0), anatomy)
    rows = plan[(plan["label"] == 1) & (plan["tumour_type"] == kind)]
    inside = []
    for row in rows.itertuples():
        s = render_slice(cfg, anatomy, t1, row.slice_index, row.location, kind, int(row.seed))
        tumour, oedema, brain = (a.astype(bool) for a in (s.tumour, s.oedema, s.brain))
        assert tumour.any()
        assert not (tumour & ~brain).any(), row.location
        assert (tumour & s.structure).any(), row.location
        assert not (tumour & oedema).any()
        assert not (oedema & ~brain).any()
        if kind == "benign":
            assert not oedema.any()
        inside.append((tumour & s.structure).sum() / tumour.sum())
    assert np.mean(np.array(inside) >= 0.5) >= 0.97
    assert np.mean(inside) >= 0.9


def test_malignant_tumours_are_larger_and_have_oedema(builtin_dataset: Path) -> None:
    meta = open_dataset(builtin_dataset).meta
    benign = meta[meta["tumour_type"] == "benign"]
    malignant = meta[meta["tumour_type"] == "malignant"]
    assert malignant["tumour_px"].median() > benign["tumour_px"].median()
    assert (malignant["oedema_px"] > 0).mean() > 0.7
    assert (benign["oedema_px"] == 0).all()
    # calibrated to be learnable at 64x64 (benchmarks/scenario.py): a few pixels across at least
    assert benign["tumour_px"].median() >= 20
    assert meta.loc[meta["label"] == 1, "tumour_px"].quantile(0.01) >= 4


def test_brainstem_tumours_are_mostly_non_enhancing_and_darker(builtin_dataset: Path) -> None:
    ds = open_dataset(builtin_dataset)
    meta = ds.meta[ds.meta["label"] == 1]
    assert set(meta["enhancing"]) <= {0, 1}
    assert (ds.meta[ds.meta["label"] == 0]["enhancing"] == -1).all()
    brainstem = meta[meta["location"] == "brainstem"]
    elsewhere = meta[meta["location"] != "brainstem"]
    assert (brainstem["enhancing"] == 0).mean() >= 0.6
    assert (elsewhere["enhancing"] == 0).mean() <= 0.1
    clean, tumour, brain = ds.array("clean"), ds.array("tumour_mask"), ds.array("brain_mask")
    for i in meta.index:
        inside = clean[i][tumour[i] > 0].mean()
        around = clean[i][(brain[i] > 0) & (tumour[i] == 0)].mean()
        if meta.at[i, "enhancing"] == 0 and meta.at[i, "tumour_contrast"] > 0.2:
            assert inside < around
        big = meta.at[i, "tumour_px"] >= 5  # a tumour squeezed to a pixel or two is all margin
        if meta.at[i, "enhancing"] == 1 and meta.at[i, "tumour_contrast"] > 0.2 and big:
            assert clean[i][tumour[i] > 0].max() > around  # a necrotic core may pull the mean down


def test_the_depth_of_a_dark_tumour_tells_its_type() -> None:
    """Non-enhancing tumours: a malignant one loses more of the infiltrated tissue's signal than
    a benign one, so that at 3-4 px in the pons the type is still in the pixels. A threshold on
    the signal lost (clean slice, inside the mask) separates the types almost always."""
    cfg = DataConfig()
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    plan = plan_slices(replace(cfg, n_train=3000, n_dev=0, n_test=0), anatomy)
    rows = plan[plan["location"] == "brainstem"]
    lost: dict[str, list[float]] = {"benign": [], "malignant": []}
    for row in rows.itertuples():
        kind, seed = str(row.tumour_type), int(row.seed)
        s = render_slice(cfg, anatomy, t1, row.slice_index, row.location, kind, seed)
        if s.enhancing != 0:
            continue
        # the same seed without a tumour: the same clean slice, as it is drawn before the tumour
        base = render_slice(cfg, anatomy, t1, row.slice_index, "none", "none", int(row.seed))
        inside = s.tumour.astype(bool)
        lost[kind].append(1.0 - s.clean[inside].sum() / base.clean[inside].sum())
    assert len(lost["benign"]) >= 5 and len(lost["malignant"]) >= 5
    benign, malignant = np.array(lost["benign"]), np.array(lost["malignant"])
    assert np.median(malignant) > np.median(benign) + 0.15
    cut = (np.median(benign) + np.median(malignant)) / 2
    right = np.r_[benign < cut, malignant >= cut]
    assert right.mean() >= 0.9


def test_a_malignant_tumour_that_looks_benign_is_drawn_as_one_and_labelled_malignant() -> None:
    """The world's unavoidable type error: with the share at 1 every enhancing malignant tumour
    has a benign look (no oedema, the benign sizes), at 0 none has; the label stays malignant."""
    base = DataConfig()
    anatomy = load_anatomy(base.anatomy.min_brain_fraction)
    t1 = smoothed_t1(base.anatomy.min_brain_fraction, base.anatomy.field_of_view_mm / base.size)
    plan = plan_slices(replace(base, n_train=200, n_dev=0, n_test=0), anatomy)
    rows = plan[(plan["tumour_type"] == "malignant") & (plan["location"] != "brainstem")].head(12)
    for share, oedema_expected in ((1.0, False), (0.0, True)):
        cfg = replace(base, tumour=replace(base.tumour, malignant_looks_benign=share))
        with_oedema = [
            render_slice(
                cfg, anatomy, t1, r.slice_index, r.location, "malignant", int(r.seed)
            ).oedema.any()
            for r in rows.itertuples()
        ]
        if oedema_expected:
            assert np.mean(with_oedema) >= 0.8  # a tumour cut by the brain's edge may lose it
        else:
            assert not any(with_oedema)


def test_every_location_is_drawn_only_where_it_can_hold_a_tumour() -> None:
    """Template slices where a lobe is a sliver (a tip of the frontal or occipital lobe) are not
    used for its tumours: those were 2-15 px, smaller than any tumour the sizes allow. The
    brainstem, smaller than the threshold everywhere, keeps its slices."""
    from medgen.data.synth.plan import MIN_LOCATION_AREA_MM2, SMALL_STRUCTURE_SHARE

    anatomy = load_anatomy(DataConfig().anatomy.min_brain_fraction)
    for code, loc in enumerate(LOCATIONS, start=1):
        area = (anatomy.locations == code).sum(axis=(1, 2))
        valid = anatomy.valid_slices(loc, MIN_LOCATION_AREA_MM2, SMALL_STRUCTURE_SHARE)
        assert len(valid) >= 10, loc
        floor = min(MIN_LOCATION_AREA_MM2, SMALL_STRUCTURE_SHARE * area.max())
        assert area[valid].min() >= floor, loc
    assert np.pi * DataConfig().tumour.benign_radius_mm[0] ** 2 <= MIN_LOCATION_AREA_MM2


def test_rician_noise_matches_the_rice_distribution() -> None:
    rng = np.random.default_rng(0)
    for amplitude, sigma in ((0.0, 0.05), (0.1, 0.05), (0.6, 0.08)):
        samples = rician(np.full(200_000, amplitude), sigma, rng)
        reference = stats.rice(b=amplitude / sigma, scale=sigma)
        assert samples.mean() == pytest.approx(reference.mean(), rel=0.01)
        assert samples.var() == pytest.approx(reference.var(), rel=0.02)
        assert stats.kstest(samples[:5000], reference.cdf).pvalue > 1e-3


def test_stored_noise_level_explains_the_background(builtin_dataset: Path) -> None:
    """Outside the head the signal is 0, so image / sigma must be Rayleigh(1) distributed."""
    ds = open_dataset(builtin_dataset)
    images, brain = ds.array("images"), ds.array("brain_mask")
    normalised = []
    for i in range(0, len(ds), 10):
        background = images[i][:6, :6]  # a corner of the field of view, far from the brain
        assert not brain[i][:6, :6].any()
        normalised.append(background.ravel() / ds.meta.at[i, "noise_sigma"])
    values = np.concatenate(normalised)
    assert stats.kstest(values, stats.rayleigh.cdf).pvalue > 1e-3


def test_noisy_image_is_clean_times_bias_plus_noise(builtin_dataset: Path) -> None:
    ds = open_dataset(builtin_dataset)
    images, clean = ds.array("images"), ds.array("clean")
    for i in range(0, len(ds), 50):
        inside = ds.array("brain_mask")[i].astype(bool)
        ratio = images[i][inside].mean() / clean[i][inside].mean()
        bound = np.exp(ds.meta.at[i, "bias_strength"]) + 0.2
        assert 1 / bound < ratio < bound


def test_every_allowed_size_builds(tmp_path: Path) -> None:
    for size in (32, 128):
        manifest = make_dataset(tmp_path / str(size), replace(TINY, size=size), workers=1)
        assert open_dataset(tmp_path / str(size)).array("images").shape[1:] == (size, size)
        assert manifest["size"] == size


def test_bad_size_and_bad_config_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="size"):
        DataConfig(size=100)
    bad = tmp_path / "bad.toml"
    bad.write_text("[tumour]\nradius = 3\n")
    with pytest.raises(InputError, match="unknown key 'radius'"):
        resolve_config(bad)
    bad.write_text("[noise]\nsigma = [0.2, 0.1]\n")
    with pytest.raises(InputError, match="low <= high"):
        resolve_config(bad)
    with pytest.raises(SettingError, match="unknown location"):
        ScenarioConfig(location_prevalence={"train": {"pituitary": 1.0}})


def test_an_interrupted_build_leaves_nothing_and_keeps_the_old_dataset(tmp_path: Path) -> None:
    out = tmp_path / "data"
    make_dataset(out, TINY, workers=1)
    before = _files(out)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_dataset(out, replace(TINY, seed=9), workers=1, overwrite=True, progress=interrupt)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    with pytest.raises(InputError, match="already exists"):
        make_dataset(out, TINY, workers=1)


def test_smooth_field_equals_scipy_spline_zoom_of_its_knots() -> None:
    from scipy import ndimage

    from medgen.data.synth.fields import smooth_field

    for size, n_control in ((64, 7), (128, 21), (32, 3)):
        field = smooth_field(np.random.default_rng(1), size, n_control)
        knots = np.random.default_rng(1).standard_normal((n_control, n_control))
        zoomed = ndimage.zoom(knots, size / n_control, order=3, mode="nearest", grid_mode=True)
        np.testing.assert_allclose(field, zoomed[:size, :size], atol=1e-12)
