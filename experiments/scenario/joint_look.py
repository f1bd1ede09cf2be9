"""How the joint diffusion model draws a brainstem tumour: free samples and inpainted ones for
the conditions of the slice's training tumours, described like the remedy's audit table
(median contrast against the ring: real brainstem tumours are darker than their surroundings).

python experiments/scenario/joint_look.py DATA RUN [--n 48] [--guidance 1 2 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.errors.remedy.arms import attribute_conditions, slice_train_ids
from medgen.errors.remedy.lesions import describe_examples
from medgen.tasks.augment import generate_with_masks, joint_condition_names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()
    store = open_dataset(args.data)
    ids = slice_train_ids(store, {"location": "brainstem"})
    images = np.asarray(store.array("images")[np.sort(ids)], np.float32)
    masks = np.asarray(store.array("tumour_mask")[np.sort(ids)]).astype(bool)
    rows = [describe_examples("real brainstem (train)", images, masks)]
    names = joint_condition_names(args.run)
    print("conditioned on", names, "; train brainstem tumours", len(ids))
    picks = np.resize(np.sort(ids), args.n)
    conditions = attribute_conditions(store, {"location": "brainstem"}, names, picks)
    print(pd.Series([str(c) for c in conditions]).value_counts().to_string())
    for guidance in args.guidance:
        drawn, drawn_masks = generate_with_masks(args.run, conditions, guidance=guidance)
        rows.append(describe_examples(f"free samples, guidance {guidance}", drawn, drawn_masks))
    print(pd.DataFrame(rows).set_index("examples").round(3).to_string())


if __name__ == "__main__":
    main()
