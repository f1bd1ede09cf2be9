"""How much faster does the VAE decoder run with a channels-last input on this CPU?

The latent diffusion model decodes every sample with the reference autoencoder's decoder, and
on a CPU that decode costs more than the 20 sampling steps in the latent space (the compare
chapter's per-condition rows: 56 s of decoding against 25 s of sampling, one thread).
`VAEDecoder.forward` hands the network a channels-last latent, so oneDNN runs each convolution in
that layout. The peer is the same decoder on the contiguous (NCHW) latent, in the same run, on
the same weights and latents; the table gives the median of the repeats, their ratio, and the
largest difference between the two outputs (float rounding only).

    python benchmarks/decoder_layout.py [--batch 100] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from medgen.reference.zoo import reference_folder
from medgen.train.generate import open_run


def timed(run: object, repeats: int) -> float:
    """Median seconds of `repeats` calls of `run`, after one call that warms oneDNN up."""
    run()  # type: ignore[operator]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vae = open_run(reference_folder("autoencoder")).eval().float()
    z = torch.randn(args.batch, *vae.latent_shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = vae.decoder(z)  # the decoder as it runs: channels-last inside
        peer = vae.decoder.net(z)  # the same network on the NCHW latent
        gap = float((ours - peer).abs().max())
        seconds = {
            "contiguous (NCHW) input": timed(lambda: vae.decoder.net(z), args.repeats),
            "channels-last input (medgen)": timed(lambda: vae.decoder(z), args.repeats),
        }
    peer_s = seconds["contiguous (NCHW) input"]
    print(
        f"autoencoder decoder, {args.batch} latents {tuple(vae.latent_shape)}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    print(f"{'layout':32} {'ms/image':>9} {'speed-up':>9}")
    for name, s in seconds.items():
        print(f"{name:32} {1000 * s / args.batch:9.2f} {peer_s / s:8.2f}x")
    print(f"largest output difference: {gap:.2e}")


if __name__ == "__main__":
    main()
