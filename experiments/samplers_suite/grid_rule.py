"""The data-aware default on the 25-mode grid at 10 and 20 NFE, for six samples of 512 examples
and two of 4,096 (means over 3 noise draws and 3 reference sets of 20,000 exact samples).

    OMP_NUM_THREADS=2 python experiments/samplers_suite/grid_rule.py
"""

import torch, numpy as np
from medgen.analytic import grid_mixture_2d
from medgen.diffusion.defaults import data_stats, sample_default
from medgen.evaluate.sliced import sliced_wasserstein_1

torch.set_num_threads(1)
G = grid_mixture_2d(std=0.1, dtype=torch.float64)
n = 20000
refs = [G.sample(n, generator=torch.Generator().manual_seed(1 + i)) for i in range(3)]
sw = lambda x: np.mean([sliced_wasserstein_1(x, r) for r in refs])
print(
    "floor",
    np.mean([sw(G.sample(n, generator=torch.Generator().manual_seed(10 + i))) for i in range(3)]),
)
for ds in (7, 8, 9, 3, 11, 12):
    st = data_stats(G.sample(512, generator=torch.Generator().manual_seed(ds)))
    out = []
    for nfe in (10, 20):
        out.append(
            np.mean(
                [
                    sw(
                        sample_default(
                            G.denoiser,
                            torch.randn(
                                n,
                                2,
                                generator=torch.Generator().manual_seed(zs),
                                dtype=torch.float64,
                            ),
                            nfe,
                            data=st,
                        )
                    )
                    for zs in range(3)
                ]
            )
        )
    print(ds, np.round(out, 4))
print("4096 examples")
for ds in (11, 8):
    st = data_stats(G.sample(4096, generator=torch.Generator().manual_seed(ds)))
    print(
        ds,
        np.round(
            [
                np.mean(
                    [
                        sw(
                            sample_default(
                                G.denoiser,
                                torch.randn(
                                    n,
                                    2,
                                    generator=torch.Generator().manual_seed(zs),
                                    dtype=torch.float64,
                                ),
                                10,
                                data=st,
                            )
                        )
                        for zs in range(3)
                    ]
                )
            ],
            4,
        ),
    )
