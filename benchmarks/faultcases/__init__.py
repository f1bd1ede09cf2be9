"""medgen's fault corpus: cases that feed the real entry point a mistake, a bad value, a broken
file or a hostile filesystem, each judged clean (one line, exit code 2, nothing half-written,
nothing else touched) or failed. `benchmarks/faults.py` runs them; see `core` for a case."""

from __future__ import annotations

import dataclasses

from faultcases import configs, corrupt_files, corrupt_runs, filesystem, numeric, usage, web
from faultcases.core import AREAS, Case

# The subset tests/faults runs in CI (about a minute on one core): a few cases of every kind,
# every bug the corpus found among them.
CI = frozenset(
    {
        "usage/typo-trian",
        "usage/typo-data-mkae",
        "usage/typo-errors-taly",
        "usage/typo-lab-why_noise",
        "usage/unknown-global-option",
        "usage/unknown-train-option",
        "usage/unknown-family",
        "usage/missing-import-out",
        "usage/missing-tag-category",
        "usage/out-without-value",
        "usage/text-for-n-train",
        "usage/port-out-of-range",
        "usage/remedy-balance-above-1",
        "usage/float-for-seed",
        "config/train-lr-nan",
        "config/train-lr-huge-json",
        "config/train-batch-size-text",
        "config/train-unknown-key",
        "config/train-not-utf8",
        "config/vae-hidden-text",
        "config/diffusion-bad-sampler",
        "config/data-noise-nan",
        "config/data-unknown-location",
        "config/denoise-noise-nan",
        "config/reconstruct-accel-100",
        "config/sample-bad-format",
        "config/import-splits-over-1",
        "config/tally-unknown-group",
        "filesystem/read-only-sample",
        "filesystem/read-only-project",
        "filesystem/read-only-tally-out",
        "filesystem/file-in-way-sample",
        "filesystem/file-in-way-denoise",
        "filesystem/out-is-folder-sample",
        "filesystem/overwrite-thesis-import",
        "filesystem/overwrite-thesis-compare",
        "filesystem/overwrite-thesis-denoise",
        "filesystem/overwrite-thesis-anomaly",
        "filesystem/overwrite-thesis-reconstruct",
        "filesystem/overwrite-file-denoise",
        "filesystem/overwrite-dataset-by-denoise",
        "filesystem/overwrite-denoise-by-reconstruct",
        "filesystem/overwrite-the-current-folder",
        "filesystem/missing-train-data",
        "filesystem/empty-import-source",
        "filesystem/pipes-only-import",
        "filesystem/pipe-as-train-config",
        "filesystem/pipe-as-manifest",
        "filesystem/pipe-as-model-json",
        "filesystem/stale-tmp-dead-writer",
        "corrupt/nifti-truncated",
        "corrupt/nifti-nan-voxel",
        "corrupt/dicom-truncated",
        "corrupt/dicom-no-pixel-data",
        "corrupt/png-truncated",
        "corrupt/manifest-a-list",
        "corrupt/manifest-without-n-slices",
        "corrupt/manifest-without-arrays",
        "corrupt/manifest-version-text",
        "corrupt/manifest-n-slices-text",
        "corrupt/meta-csv-empty",
        "corrupt/images-truncated",
        "corrupt/weights-bit-flip",
        "corrupt/weights-truncated-rehashed",
        "corrupt/weights-pickle-rehashed",
        "corrupt/model-json-bad-config",
        "corrupt/model-json-config-a-list",
        "corrupt/model-json-missing",
        "corrupt/predictions-csv-duplicate-ids",
        "corrupt/project-not-a-database",
        "numeric/sample-steps-0",
        "numeric/sample-steps-huge",
        "numeric/sample-n-0",
        "numeric/sample-n-huge",
        "numeric/sample-seed-negative",
        "numeric/data-n-train-huge",
        "numeric/data-seed-negative",
        "numeric/train-budget-negative",
        "numeric/denoise-k-huge",
        "numeric/reconstruct-steps-huge",
        "numeric/compare-n-huge",
        "numeric/lab-seed-negative",
        "numeric/split-seed-negative",
        "numeric/study-workers-negative",
        "numeric/import-seed-negative",
        "web/post-without-token",
        "web/post-with-wrong-token",
        "web/post-cross-origin",
        "web/post-bad-category",
        "web/host-wrong-port",
        "web/host-foreign-name",
        "web/damaged-intermediate",
        "web/serve-on-a-taken-port",
        "web/serve-without-a-split",
    }
)


def all_cases() -> list[Case]:
    """Every case, area by area, in a fixed order."""
    found = [
        *usage.cases(),
        *configs.cases(),
        *filesystem.cases(),
        *corrupt_files.cases(),
        *corrupt_runs.cases(),
        *numeric.cases(),
        *web.cases(),
    ]
    keys = [case.key for case in found]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"duplicated case names: {', '.join(duplicated)}")
    unknown = sorted(CI - set(keys))
    if unknown:
        raise ValueError(f"the CI subset names no such case: {', '.join(unknown)}")
    return [dataclasses.replace(case, ci=case.key in CI) for case in found]


__all__ = ["AREAS", "CI", "Case", "all_cases"]
