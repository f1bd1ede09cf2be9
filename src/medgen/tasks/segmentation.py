"""From an anomaly map to a lesion mask: a threshold, then an optional clean-up of the mask.

Unsupervised anomaly segmentation thresholds the map and, in the comparisons of the field
(Baur et al. 2021), cleans the binary mask up before Dice is taken. Two clean-ups, each chosen
on dev together with its threshold (`choose_segmentation`), so a method is scored at its best:

* "fill": enclosed holes filled. A ring-enhancing lesion (bright rim, dark necrotic core) has a
  residual that is high on the rim and on the core but passes through zero where the intensity
  crosses the tissue's, so the thresholded map is a ring with a gap inside; filling makes it one
  region, as the lesion is.
* "region": filled, then only the connected region with the largest summed map kept (the most
  anomalous one). For a scan with one lesion it removes scattered false alarms; on scans with
  several lesions it would miss all but one, so it is chosen only where dev Dice says so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from medgen.tasks.metrics import Segmenter, above, best_threshold, mean_dice


def filled(amap: NDArray[Any], threshold: float) -> NDArray[np.bool_]:
    """map > threshold with its holes filled (background not 4-connected to the image edge)."""
    return np.asarray(ndimage.binary_fill_holes(amap > threshold), bool)


def most_anomalous_region(amap: NDArray[Any], threshold: float) -> NDArray[np.bool_]:
    """The filled mask's connected region (8-connected) with the largest sum of map values."""
    mask = filled(amap, threshold)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count <= 1:
        return mask
    mass = ndimage.sum_labels(amap, labels, index=np.arange(1, count + 1))
    return np.asarray(labels == int(np.argmax(mass)) + 1, bool)


CLEANUPS: dict[str, Segmenter] = {"none": above, "fill": filled, "region": most_anomalous_region}
AUTO = "auto"  # the clean-up with the best dev Dice


class Segmentation(NamedTuple):
    """How one method's maps become masks: the clean-up, its threshold, their Dice on dev."""

    cleanup: str
    threshold: float
    dev_dice: float

    def masks(self, maps: NDArray[Any]) -> NDArray[np.bool_]:
        """(N, H, W) lesion masks of (N, H, W) maps."""
        segment = CLEANUPS[self.cleanup]
        return np.stack([segment(m, self.threshold) for m in np.asarray(maps)])

    def dice(self, maps: NDArray[Any], truths: NDArray[Any]) -> float:
        """Mean Dice over slices of these masks against the truth masks."""
        return mean_dice(maps, truths, self.threshold, CLEANUPS[self.cleanup])


def choose_segmentation(
    dev_maps: NDArray[Any], dev_truths: NDArray[Any], cleanup: str = AUTO
) -> Segmentation:
    """Each clean-up's best threshold on dev (anomalous slices); the best of them when `cleanup`
    is "auto", else the named one. Ties go to the simpler clean-up (CLEANUPS' order)."""
    names = list(CLEANUPS) if cleanup == AUTO else [cleanup]
    best: Segmentation | None = None
    for name in names:
        threshold = best_threshold(dev_maps, dev_truths, segment=CLEANUPS[name])
        found = Segmentation(name, threshold, 0.0)
        found = found._replace(dev_dice=found.dice(dev_maps, dev_truths))
        if best is None or found.dev_dice > best.dev_dice:
            best = found
    assert best is not None
    return best
