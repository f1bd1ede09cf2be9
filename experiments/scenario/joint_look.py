"""How the joint diffusion model draws a brainstem tumour: free samples and inpainted ones for
the conditions of the slice's training tumours, described like the remedy's audit table
(median contrast against the ring: real brainstem tumours are darker than their surroundings).

python experiments/scenario/joint_look.py DATA RUN [--n 48] [--guidance 1 2 3] [--inpaint]
(--inpaint: also the inpaint arm's own examples, `inpainted_examples`, n of them per guidance)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from pathlib import Path

from medgen.errors.remedy.arms import attribute_conditions, inpainted_examples, slice_train_ids
from medgen.errors.remedy.plan import RemedyPlan
from medgen.errors.remedy.lesions import describe_examples
from medgen.tasks.augment import generate_with_masks, joint_condition_names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0])
    parser.add_argument("--inpaint", action="store_true")
    parser.add_argument("--no-free", action="store_true", help="only the inpainted examples")
    args = parser.parse_args()
    store = open_dataset(args.data)
    ids = slice_train_ids(store, {"location": "brainstem"})
    images = np.asarray(store.array("images")[np.sort(ids)], np.float32)
    masks = np.asarray(store.array("tumour_mask")[np.sort(ids)]).astype(bool)
    rows = [describe_examples("real brainstem (train)", images, masks)]
    kinds = store.meta.loc[np.sort(ids), "tumour_type"].astype(str).to_numpy()
    for kind in np.unique(kinds):
        pick = kinds == kind
        rows.append(describe_examples(f"real {kind} (train)", images[pick], masks[pick]))
    names = joint_condition_names(args.run)
    print("conditioned on", names, "; train brainstem tumours", len(ids))
    picks = np.resize(np.sort(ids), args.n)
    conditions = attribute_conditions(store, {"location": "brainstem"}, names, picks)
    print(pd.Series([str(c) for c in conditions]).value_counts().to_string())
    for guidance in args.guidance:
        if not args.no_free:
            drawn, drawn_masks = generate_with_masks(args.run, conditions, guidance=guidance)
            rows.append(describe_examples(f"free samples, guidance {guidance}", drawn, drawn_masks))
        if args.inpaint:
            start = time.perf_counter()
            plan = RemedyPlan({"location": "brainstem"}, args.n, 0, guidance=guidance)
            made = inpainted_examples(store, plan, Path(args.run))
            print(f"inpainted {args.n} at guidance {guidance}: {time.perf_counter() - start:.1f} s")
            rows.append(describe_examples(f"inpainted, guidance {guidance}", made.images, made.masks))
            for kind in np.unique(made.kinds):  # the type cue: dark malignant, less dark benign
                pick = made.kinds == kind
                label = f"inpainted {kind}, guidance {guidance}"
                rows.append(describe_examples(label, made.images[pick], made.masks[pick]))
    print(pd.DataFrame(rows).set_index("examples").round(3).to_string())


if __name__ == "__main__":
    main()
