"""Does the diffused data's skew at sigma_max tell which problems need a higher sigma_max?

Per problem: n exact examples (the benchmark's data draw), their diameter D and leading
covariance axes (`data_stats`, up to 8); along each axis the third central moment m3 and variance
v of the projections; printed: the largest standardized skew |m3| / v^1.5 of the data, and of
p(x; sigma) at sigma = D and 2 D (noise adds no third moment: |m3| / (v + sigma^2)^1.5).

    OMP_NUM_THREADS=1 python experiments/samplers_suite/skew_at_sigma_max.py > skew.txt
"""

import sys

import torch

sys.path.insert(0, "benchmarks")
from medgen.analytic.suite import make_problem
from medgen.diffusion.defaults import data_stats
from samplers_suite import samples_for

F64 = torch.float64
seeds = [*range(48), 10210, 10160, 10153, 10149]
for s in seeds:
    p = make_problem(s)
    mix = p.mixture.to(F64)
    n = samples_for(p, 1000, 2_000_000)
    x = mix.sample(n, generator=torch.Generator().manual_seed(100))
    st = data_stats(x)
    D = st.diameter
    c = x - x.mean(0)
    # the leading axes of the sample covariance, up to 8
    axes = st.axes[:8]
    proj = c @ axes.T
    var = proj.pow(2).mean(0)
    m3 = proj.pow(3).mean(0)
    skew0 = (m3.abs() / var.pow(1.5)).max().item()
    skew1 = (m3.abs() / (var + D**2).pow(1.5)).max().item()
    skew2 = (m3.abs() / (var + 4 * D**2).pow(1.5)).max().item()
    print(
        s,
        p.name[:40],
        f"skew data {skew0:.2f}  at 1 diameter {skew1:.4f}  at 2: {skew2:.4f}",
        flush=True,
    )
