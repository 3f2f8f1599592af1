"""label_components / remove_small_objects vs scikit-image, per image."""

from __future__ import annotations

import skimage.measure
import skimage.morphology
import torch

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import rand_mask, scene, size_text
from benchmarks._timing import Row

OPERATIONS = ("label_components", "remove_small_objects (min_size=64)")
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
    return rows
