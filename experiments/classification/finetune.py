"""Fine-tune the shipped unconditional pixel prior into a class-conditional model.

Every tensor of the prior is copied; the new label tables start at zero, so at step 0 the model
is the prior for every label. Usage: python finetune.py DATA OUT STEPS [LABEL]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from medgen.data.conditions import condition_vocab
from medgen.data.store import open_dataset
from medgen.models import load_model
from medgen.models.io import build_model
from medgen.train.config import TrainConfig
from medgen.train.loop import train
from medgen.train.recipe import training_set
from medgen.train.rng import init_seed, seed_globals


def main() -> None:
    data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    label = sys.argv[4] if len(sys.argv) > 4 else "tumour_type"
    seed_globals(init_seed(0))
    import medgen.reference as ref

    prior = load_model(Path(ref.__file__).parent / "models" / "pixel_prior" / "model")
    store = open_dataset(data)
    config = prior.config_dict()
    config["conditioning"] = {
        "drop_prob": 0.1,
        "names": [label],
        "vocab": condition_vocab(store.split("train"), [label]),
    }
    model = build_model({"family": "diffusion", "config": config}, "finetune")
    missing, unexpected = model.load_state_dict(prior.state_dict(), strict=False)
    assert not unexpected, unexpected
    assert missing and all("label_emb" in k for k in missing), missing
    with torch.no_grad():
        for table in model.denoiser.net.label_emb.tables:
            table.weight.zero_()
    dataset = training_set(store, model)
    cfg = TrainConfig(
        budget=f"{steps}steps",
        batch_size=32,
        checkpoint_every=200,
        keep_checkpoints=2,
        log_every=25,
        seed=0,
    )
    print(train(model, dataset, out, cfg, data=data, progress=False))


if __name__ == "__main__":
    main()
