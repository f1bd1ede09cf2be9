"""The three families behind one protocol: training lowers the loss, save/load is exact,
bad model folders are refused, conditions are respected, latent mode works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medgen.diffusion import dsm_loss, sample_sigma_lognormal
from medgen.exceptions import InputError
from medgen.models import (
    GAN,
    MODELS,
    VAE,
    Conditioning,
    DiffusionConfig,
    DiffusionModel,
    GANConfig,
    GenerativeModel,
    VAEConfig,
    load_model,
    noise_scales,
)
from medgen.models.diffusion import mask_loss_weights
from medgen.nets import UNetConfig

SIZE = 16
TINY_UNET = UNetConfig(channels=(16, 32), attention_levels=(False, True), num_head_channels=16)


def blobs(n: int, seed: int = 0, size: int = SIZE) -> torch.Tensor:
    """n images (n, 1, size, size) in [0, 1]: one bright Gaussian blob each, random centre."""
    g = torch.Generator().manual_seed(seed)
    centre = 0.3 + 0.4 * torch.rand(n, 2, 1, 1, generator=g)
    grid = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    r2 = (yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2
    return torch.exp(-r2 / 0.02).unsqueeze(1)


def tiny(family: str, **overrides: object) -> GenerativeModel:
    if family == "diffusion":
        return DiffusionModel(
            DiffusionConfig(image_size=SIZE, unet=TINY_UNET, sigma_max=10.0, **overrides)  # type: ignore[arg-type]
        )
    if family == "gan":
        return GAN(GANConfig(image_size=SIZE, latent_dim=16, width=16, **overrides))  # type: ignore[arg-type]
    return VAE(VAEConfig(image_size=SIZE, hidden=(8, 16), latent_channels=2, **overrides))  # type: ignore[arg-type]


def fit(
    model: GenerativeModel, images: torch.Tensor, steps: int, **batch: torch.Tensor
) -> list[dict[str, float]]:
    """`steps` full-batch steps of the protocol's loop: one Adam per phase, phases in order."""
    torch.manual_seed(0)
    opts = {p: torch.optim.Adam(model.phase_parameters(p), lr=2e-3) for p in model.phases}
    g = torch.Generator().manual_seed(0)
    history = []
    model.train()
    for _ in range(steps):
        row = {}
        for phase in model.phases:
            opts[phase].zero_grad()
            out = model.loss({"image": images, **batch}, phase, g)
            out["loss"].backward()
            opts[phase].step()
            row.update({f"{phase}/{k}": float(v.detach()) for k, v in out.items()})
        history.append(row)
    return history


@pytest.mark.parametrize("family", ["diffusion", "vae"])
def test_loss_falls(family: str) -> None:
    history = fit(tiny(family), blobs(16), 40)
    first = sum(h["main/loss"] for h in history[:8]) / 8
    last = sum(h["main/loss"] for h in history[-8:]) / 8
    assert last < 0.7 * first


def test_gan_phases_update_their_own_networks() -> None:
    gan = tiny("gan")
    assert gan.phases == ("d", "g")
    d_params = {id(p) for p in gan.phase_parameters("d")}
    g_params = {id(p) for p in gan.phase_parameters("g")}
    assert not d_params & g_params
    assert d_params | g_params == {id(p) for p in gan.parameters()}
    out = gan.loss({"image": blobs(8)}, "d", torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert all(p.grad is None for p in gan.generator.parameters())  # D's step never reaches G
    history = fit(gan, blobs(32), 40)
    # the discriminator learns to separate real from fake at first: its loss drops below log 4
    assert min(h["d/d_loss"] for h in history) < 2 * torch.log(torch.tensor(2.0)).item()
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    assert gan.monitor()["diversity"] > 0


@pytest.mark.parametrize(
    "options", [{"loss": "hinge"}, {"penalty": "r1"}, {"penalty": "gp"}, {"spectral_norm": True}]
)
def test_gan_variants_give_finite_losses(options: dict[str, object]) -> None:
    gan = tiny("gan", **options)
    for phase in gan.phases:
        out = gan.loss({"image": blobs(4)}, phase, torch.Generator().manual_seed(0))
        out["loss"].backward()
        assert torch.isfinite(out["loss"])


def test_vae_kl_warmup_counts_training_steps() -> None:
    vae = tiny("vae", beta=2.0, kl_warmup_steps=4)
    assert vae.beta_now() == 0.0
    fit(vae, blobs(4), 2)
    assert vae.beta_now() == pytest.approx(1.0)
    fit(vae, blobs(4), 5)
    assert vae.beta_now() == pytest.approx(2.0)
    assert vae.reconstruct(blobs(2)).shape == (2, 1, SIZE, SIZE)


def test_a_vae_with_a_vector_latent_encodes_samples_and_round_trips(tmp_path: Path) -> None:
    """dense > 0: the posterior, the prior and the decoder work on vectors; the config and the
    weights come back from disk; a latent diffusion model refuses it as its autoencoder."""
    vae = tiny("vae", dense=6)
    assert isinstance(vae, VAE) and vae.latent_shape == (6,)
    mu, logvar = vae.encode(blobs(3))
    assert mu.shape == logvar.shape == (3, 6)
    history = fit(vae, blobs(8), 30)
    assert history[-1]["main/loss"] < history[0]["main/loss"]
    assert vae.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, SIZE, SIZE)
    vae.eval().save(tmp_path / "vae")
    loaded = load_model(tmp_path / "vae")
    assert loaded.config_dict()["dense"] == 6
    assert torch.equal(loaded.reconstruct(blobs(2)), vae.reconstruct(blobs(2)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", ["diffusion", "gan", "vae"])
def test_save_load_round_trip_is_exact(family: str, tmp_path: Path) -> None:
    model = tiny(family)
    fit(model, blobs(8), 2)
    model.eval().save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config_dict() == model.config_dict()
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    kwargs = {"steps": 3} if family == "diffusion" else {}
    x = model.sample(3, generator=torch.Generator().manual_seed(1), **kwargs)  # type: ignore[call-arg]
    y = loaded.sample(3, generator=torch.Generator().manual_seed(1), **kwargs)  # type: ignore[call-arg]
    assert x.shape == (3, 1, SIZE, SIZE) and torch.equal(x, y)
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_bad_model_folders_are_refused(tmp_path: Path) -> None:
    model = tiny("vae")
    model.save(tmp_path / "m")
    with pytest.raises(InputError, match="not a folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x80\x04garbage")
    with pytest.raises(InputError, match=r"does not match the SHA-256 recorded in model\.json"):
        load_model(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    del record["sha256"]  # unverified, it is still never unpickled
    (tmp_path / "m" / "model.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="pickle"):
        load_model(tmp_path / "m")
    model.save(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    record["config"]["latent_channels"] = 3  # the weights no longer fit the config
    (tmp_path / "m" / "model.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="shape"):
        load_model(tmp_path / "m")
    record["family"] = "flow"
    (tmp_path / "m" / "model.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="unknown model family"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="JSON"):
        load_model(tmp_path / "m")


def test_registry_names_every_family() -> None:
    assert set(MODELS) == {"diffusion", "gan", "vae"}
    assert all(cls.family == name for name, cls in MODELS.items())


def test_conditioning_labels() -> None:
    c = Conditioning(
        ("tumour_type", "location"), (("benign", "malignant"), ("brainstem", "frontal"))
    )
    assert c.classes == (2, 2)
    assert c.encode({"location": "frontal"}) == [0, 2]
    with pytest.raises(ValueError, match="not one of"):
        c.encode({"location": "liver"})
    with pytest.raises(ValueError, match="unknown condition"):
        c.encode({"colour": "red"})


@pytest.mark.slow
def test_conditional_diffusion_respects_its_condition() -> None:
    """Class 1 is dark blobs, class 2 bright ones; samples follow the label they are given."""
    images = blobs(48)
    labels = torch.tensor([1, 2] * 24).unsqueeze(1)  # (48, 1)
    images = torch.where(labels.view(-1, 1, 1, 1) == 1, 0.4 * images, images)
    cond = Conditioning(("tumour_type",), (("dark", "bright"),), drop_prob=0.2)
    model = tiny("diffusion", conditioning=cond, sigma_data=0.5)
    fit(model, images, 120, cond=labels)
    model.eval()
    g = torch.Generator().manual_seed(0)
    peak = {}
    for label in (1, 2):
        x = model.sample(16, generator=g, cond=torch.full((16, 1), label), steps=10, guidance=2.0)
        peak[label] = float(x.flatten(1).max(1).values.mean())
    assert peak[1] < 0.6 < peak[2]


def test_latent_diffusion_on_a_frozen_vae(tmp_path: Path) -> None:
    vae = tiny("vae")
    assert isinstance(vae, VAE)
    fit(vae, blobs(8), 3)
    config = DiffusionConfig(
        image_size=SIZE,
        unet=UNetConfig(
            in_channels=2, channels=(16, 32), attention_levels=(False, False), num_head_channels=16
        ),
    )
    model = DiffusionModel.on_latents(config, vae, latent_scale=2.0)
    assert model.data_shape() == (2, SIZE // 2, SIZE // 2)
    assert not any(p.requires_grad for p in model.vae.parameters())  # type: ignore[union-attr]
    trainable = {id(p) for p in model.phase_parameters("main")}
    assert trainable.isdisjoint(id(p) for p in model.vae.parameters())  # type: ignore[union-attr]
    fit(model, blobs(8), 2)
    model.train()
    assert not model.vae.training  # type: ignore[union-attr]
    x = model.sample(2, generator=torch.Generator().manual_seed(0), steps=3)
    assert x.shape == (2, 1, SIZE, SIZE)
    model.save(tmp_path / "ldm")
    loaded = load_model(tmp_path / "ldm")
    y = loaded.sample(2, generator=torch.Generator().manual_seed(0), steps=3)  # type: ignore[call-arg]
    assert torch.equal(x, y)


def test_monai_backbone_trains() -> None:
    model = DiffusionModel(DiffusionConfig(image_size=SIZE, backbone="monai", sigma_max=10.0))
    history = fit(model, blobs(8), 3)
    assert all(torch.isfinite(torch.tensor(h["main/loss"])) for h in history)


def test_noise_scales_of_data() -> None:
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    scales = noise_scales(x)
    assert scales.sigma_max == pytest.approx(5.0)
    assert scales.sigma_data == pytest.approx(float(x.double().std()))


def test_mask_loss_weights_weigh_the_mask_and_its_ring() -> None:
    mask = torch.zeros(1, 1, 9, 9, dtype=torch.bool)
    mask[0, 0, 4, 4] = True
    weights = mask_loss_weights(mask, 3.0, margin=1)
    near = torch.zeros(9, 9, dtype=torch.bool)
    near[3:6, 3:6] = True  # the pixel and its 1-px ring
    mean = (9 * 4.0 + 72 * 1.0) / 81
    assert torch.allclose(weights[0, 0][near], torch.full((9,), 4.0 / mean))
    assert torch.allclose(weights[0, 0][~near], torch.full((72,), 1.0 / mean))
    assert float(weights.mean()) == pytest.approx(1.0)
    assert torch.equal(mask_loss_weights(torch.zeros_like(mask), 3.0), torch.ones(1, 1, 9, 9))


def test_the_mask_weighted_loss_is_the_weighted_mean_of_the_plain_one() -> None:
    """Same draws, same network: mask_weight reweighs each pixel's DSM term, nothing else."""
    images = torch.cat([blobs(4), (blobs(4, seed=1) > 0.5).float()], 1)  # (image, mask) pairs
    config = DiffusionConfig(
        image_size=SIZE, channels=2, unet=TINY_UNET, sigma_max=10.0, mask_weight=5.0
    )
    model = DiffusionModel(config)
    loss = model.loss({"image": images}, generator=torch.Generator().manual_seed(3))["loss"]
    g = torch.Generator().manual_seed(3)  # the loss's draws, in its order: levels, then noise
    x0 = images * 2 - 1
    sigma = sample_sigma_lognormal(4, config.p_mean, config.p_std, generator=g)
    per_pixel = dsm_loss(model.denoiser, x0, sigma, sigma_data=config.sigma_data, generator=g)
    expected = (per_pixel * mask_loss_weights(x0[:, -1:] > 0, 5.0)).mean()
    assert torch.allclose(loss, expected) and not torch.allclose(loss, per_pixel.mean())
    with pytest.raises(InputError, match="mask_weight"):
        DiffusionConfig(image_size=SIZE, mask_weight=5.0)  # one channel: no mask to weigh
    with pytest.raises(InputError, match="mask_weight"):
        DiffusionConfig(image_size=SIZE, channels=2, mask_weight=-1.0)


def test_a_latent_diffusion_model_refuses_a_vae_with_a_vector_latent(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    from medgen.data.store import open_dataset
    from medgen.train.recipe import new_model

    VAE(VAEConfig(image_size=64, hidden=(8, 16), latent_channels=2, dense=4)).save(tmp_path / "v")
    with pytest.raises(InputError, match="vector latent"):
        new_model("diffusion", open_dataset(builtin_dataset), {}, None, tmp_path / "v")
