"""`medgen denoise` on a scan of one's own, shown: nibabel's anatomical.nii with known noise added.

Run as `python docs/own_scan.py [--out docs/own_scan]`. Adds Gaussian noise of NOISE x the
scan's head window (seed 0) to nibabel's test volume, denoises it with the shipped `pixel_prior`
through the command line as a user would (`medgen denoise pixel_prior --input noisy.nii.gz --out
denoised.nii.gz`), prints the error inside the head before and after, and writes the montage
anatomical_denoised.png of four axial slices: original, noisy, denoised, posterior std.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from nibabel.testing import data_path
from skimage.filters import threshold_otsu

from medgen.tasks.scans import head_window

NOISE = 0.08  # noise std as a share of the head window
SHOWN = 4  # axial slices in the montage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "own_scan")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    original = nib.load(Path(data_path) / "anatomical.nii")
    clean = np.asarray(original.get_fdata(), dtype=np.float32)
    low, high = head_window(clean)
    rng = np.random.default_rng(0)
    noisy = clean + rng.normal(0, NOISE * (high - low), clean.shape).astype(np.float32)
    work = Path(tempfile.mkdtemp(prefix="own_scan_"))  # the volumes; only the montage is kept
    noisy_path, denoised_path = work / "noisy.nii.gz", work / "denoised.nii.gz"
    nib.save(nib.Nifti1Image(noisy, original.affine, original.header), noisy_path)
    command = [sys.executable, "-m", "medgen", "denoise", "pixel_prior", "--input"]
    command += [str(noisy_path), "--out", str(denoised_path), "--overwrite"]
    subprocess.run(command, check=True)
    denoised = np.asarray(nib.load(denoised_path).get_fdata(), dtype=np.float32)
    spread_path = denoised_path.with_name("denoised_uncertainty.nii.gz")
    spread = np.asarray(nib.load(spread_path).get_fdata(), dtype=np.float32)
    head = clean > threshold_otsu(clean)
    for name, image in (("noisy", noisy), ("denoised", denoised)):
        rmse = float(np.sqrt(np.mean((image - clean)[head] ** 2)))
        print(
            f"{name:9s} RMSE inside the head {rmse:8.1f} ({rmse / (high - low):.3f} of the window)"
        )
    picks = np.linspace(0.3, 0.7, SHOWN) * clean.shape[2]
    columns = [("original", clean), ("noisy", noisy), ("denoised", denoised)]
    figure, axes = plt.subplots(SHOWN, 4, figsize=(8, 2.2 * SHOWN))
    for row, z in enumerate(picks.astype(int)):
        for col, (title, volume) in enumerate(columns):
            axes[row, col].imshow(np.rot90(volume[:, :, z]), cmap="gray", vmin=low, vmax=high)
            axes[0, col].set_title(title)
        axes[row, 3].imshow(np.rot90(spread[:, :, z]), cmap="magma")
        axes[0, 3].set_title("posterior std")
    for axis in axes.flat:
        axis.set_axis_off()
    figure.tight_layout()
    figure.savefig(args.out / "anatomical_denoised.png", dpi=100)
    shutil.rmtree(work)
    print(f"wrote {args.out / 'anatomical_denoised.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
