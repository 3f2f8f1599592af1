"""label_components / remove_small_objects / fill_holes vs scikit-image and scipy, per image.

The 2048^2 single-image rows are issue 11's sizes (the Tuner's clean-up at real sizes): the baseline
is what a user would call on the CPU (scikit-image), the peer scipy.ndimage.
"""

from __future__ import annotations

import scipy.ndimage as ndi
import skimage.measure
import skimage.morphology
import torch

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import rand_mask, scene, size_text
from benchmarks._timing import Row

OPERATIONS = (
    "label_components",
    "remove_small_objects (min_size=64)",
    "remove_small_objects(fill_holes(m))",
)
MIN_SIZE = 64


def cases(device: torch.device, quick: bool) -> list[Row]:
    if not wanted(*OPERATIONS, "morpholog", "components"):
        return []
    batch, size = (2, 64) if quick else (4, 512)
    rows: list[Row] = []
    for kind in ("blobby", "rand>0.5"):
        mask = scene(batch, size).mask if kind == "blobby" else rand_mask(batch, size, size, seed=5)
        images = [a for a in mask.numpy()]  # scikit-image labels 3-D arrays as volumes: one call per image
        mask = mask.to(device)
        shape = size_text(batch, size, size)
        note = "scikit-image runs on the CPU" if device.type != "cpu" else ""
        if wanted(OPERATIONS[0], "components", "label"):
            rows += measure(
                OPERATIONS[0],
                shape,
                kind,
                key="label",
                ours=lambda: mb.label_components(mask),
                baselines={
                    "skimage.measure.label per image": lambda: [
                        skimage.measure.label(a, connectivity=1) for a in images
                    ]
                },
                note=note,
                syncs_documented=True,
                device=device,
                quick=quick,
            )
        if wanted(OPERATIONS[1], "small"):
            # ours keeps objects of >= MIN_SIZE pixels; skimage 0.26's max_size removes <= max_size
            rows += measure(
                OPERATIONS[1],
                shape,
                kind,
                key="remove_small",
                ours=lambda: mb.remove_small_objects(mask, min_size=MIN_SIZE),
                baselines={
                    f"skimage.morphology.remove_small_objects(max_size={MIN_SIZE - 1}) per image": lambda: [
                        skimage.morphology.remove_small_objects(a, max_size=MIN_SIZE - 1) for a in images
                    ]
                },
                note=note,
                syncs_documented=True,
                device=device,
                quick=quick,
            )
    rows += _real_size(device, quick)
    return rows


def _real_size(device: torch.device, quick: bool) -> list[Row]:
    """One 2048^2 image (issue 11): labelling and the Tuner's clean-up, vs scikit-image and scipy."""
    size = 128 if quick else 2048
    rows: list[Row] = []
    for kind in ("blobby", "rand>0.5"):
        mask = scene(1, size).mask[0] if kind == "blobby" else rand_mask(size, size, seed=7)
        a = mask.numpy()
        mask = mask.to(device)
        shape = size_text(size, size)
        if wanted(OPERATIONS[0], "components", "label"):
            rows += measure(
                OPERATIONS[0],
                shape,
                kind,
                key="label_2048",
                ours=lambda: mb.label_components(mask),
                baselines={"skimage.measure.label": lambda: skimage.measure.label(a, connectivity=1)},
                peer=("scipy.ndimage.label", lambda: ndi.label(a)),
                syncs_documented=True,
                device=device,
                quick=quick,
                slow=True,
            )
        if wanted(OPERATIONS[2], "small", "fill"):
            rows += measure(
                OPERATIONS[2],
                shape,
                kind,
                key="cleanup_2048",
                ours=lambda: mb.remove_small_objects(mb.fill_holes(mask), min_size=MIN_SIZE),
                baselines={
                    "scipy binary_fill_holes + skimage remove_small_objects": lambda: (
                        skimage.morphology.remove_small_objects(ndi.binary_fill_holes(a), max_size=MIN_SIZE - 1)
                    )
                },
                syncs_documented=True,
                device=device,
                quick=quick,
                slow=True,
            )
    return rows
