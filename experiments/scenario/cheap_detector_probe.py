"""One detector seed on the uniform and default worlds of `benchmarks/scenario.py --data SCEN`:
training seconds, test recall by location and the error summary. Run it with a copy of the
patched src whose defaults were changed to the variant measured (PYTHONPATH=COPY/src).

    python experiments/scenario/cheap_detector_probe.py SCEN OUT
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, "benchmarks")
from medgen.data.store import open_dataset
from medgen.detect import detector_config, train_detector
from scenario import error_summary, predictions, recall_by_location

torch.set_num_threads(1)
scen, work = Path(sys.argv[1]), Path(sys.argv[2])
for world in ("uniform", "default"):
    store = open_dataset(scen / world)
    out = work / f"cheap-{world}"
    summary = train_detector(
        store.root, out, detector_config(3000, 0), overwrite=True, log=lambda _: None
    )
    table = predictions(store, out, store.split("test").index.to_numpy())
    seconds = round(summary["segmentation"]["seconds"], 1)
    print(world, "seconds", summary["seconds"], "segmentation", seconds)
    print(recall_by_location(table).round(3).to_string())
    print({k: round(float(v), 3) for k, v in error_summary(table).items()}, flush=True)
