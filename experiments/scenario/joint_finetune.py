"""Does more exposure teach the joint model the brainstem's look? Continue training the shipped
joint diffusion model for a few steps with its rows repeated at another balance (1: every
condition cell equally often, so each of the two non-enhancing brainstem cells gets ~6% of the
rows instead of ~1.5%), then describe its inpainted brainstem tumours with joint_look.py.

python experiments/scenario/joint_finetune.py DATA OUT [--steps 150] [--balance 1]
python experiments/scenario/joint_look.py DATA OUT --n 400 --inpaint --no-free
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from medgen.data.store import open_dataset
from medgen.reference.zoo import reference_folder
from medgen.tasks.augment import joint_training_set, open_joint_run
from medgen.train.config import TrainConfig
from medgen.train.loop import train
from medgen.train.rng import init_seed, seed_globals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--balance", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    store = open_dataset(args.data)
    seed_globals(init_seed(args.seed))
    model = open_joint_run(reference_folder("joint_diffusion") / "model").float().train()
    config = replace(
        TrainConfig(), budget=f"{args.steps}steps", checkpoint_every=50, log_every=10,
        seed=args.seed,
    )
    summary = train(model, joint_training_set(store, args.balance), args.out, config,
                    data=args.data)
    print(summary["status"], summary["steps"], summary["seconds"])


if __name__ == "__main__":
    main()
