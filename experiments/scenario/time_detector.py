"""Time the detector's training phases at the standard profile's steps, 2 threads, on DATA.

python experiments/scenario/time_detector.py DATA OUT
"""

import sys
import time

import torch

from medgen.detect import detector_config, train_detector
from medgen.study.profiles import get_profile

torch.set_num_threads(2)
steps = get_profile("standard").detector_steps
marks: list[tuple[float, str]] = []
summary = train_detector(
    sys.argv[1],
    sys.argv[2],
    detector_config(steps, 0),
    overwrite=True,
    log=lambda m: marks.append((time.perf_counter(), m)),
)
for t, m in marks:
    print(f"{t - marks[0][0]:7.1f} s  {m}")
print("total", summary["seconds"], "s")
