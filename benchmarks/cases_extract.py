"""extract_classes (21 classes) vs a loop of boolean indexing per class."""

from __future__ import annotations

import torch

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import randint, scene, size_text
from benchmarks._timing import Row

OPERATIONS = ("extract_classes", "extract_classes drop_ignored=False", "class_stats")
NUM_CLASSES = 21


def per_class_loop(image: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """What people write: one boolean index per class, plus coords and per-class statistics."""
    hwc = image.permute(0, 2, 3, 1)  # (B, H, W, C): a boolean (B, H, W) index gives (N, C) rows
    values, coords, counts, means, stds = [], [], [], [], []
    for k in range(num_classes):
        m = labels == k
        v = hwc[m]
        values.append(v)
        coords.append(m.nonzero())
        counts.append(v.shape[0])
        means.append(v.mean(0))
        stds.append(v.std(0, correction=0))
    return torch.cat(values), torch.cat(coords), counts, torch.stack(means), torch.stack(stds)


def per_class_stats_loop(image: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """The statistics alone, written the usual way: a boolean index, mean and std per class."""
    hwc = image.permute(0, 2, 3, 1)
    counts, means, stds = [], [], []
    for k in range(num_classes):
        v = hwc[labels == k]
        counts.append(v.shape[0])
        means.append(v.mean(0))
        stds.append(v.std(0, correction=0))
    return counts, torch.stack(means), torch.stack(stds)


def cases(device: torch.device, quick: bool) -> list[Row]:
    if not wanted(*OPERATIONS):
        return []
    batch, size = (2, 64) if quick else (4, 512)
    rows: list[Row] = []
    for kind in ("blobby", "rand>0.5"):
        if kind == "blobby":
            sc = scene(batch, size, num_classes=NUM_CLASSES)
            image, labels = sc.image, sc.labels
        else:  # the multi-class analogue of rand() > 0.5: every pixel an independent class
            image, labels = scene(batch, size).image, randint(NUM_CLASSES, batch, size, size)
        image, labels = image.to(device), labels.to(device)
        shape = size_text(batch, 3, size, size)

        def loop() -> object:
            return per_class_loop(image, labels, NUM_CLASSES)

        rows += measure(
            OPERATIONS[0],
            shape,
            kind,
            key="extract_classes",
            ours=lambda: mb.extract_classes(image, labels, num_classes=NUM_CLASSES),
            baselines={f"per-class loop ({NUM_CLASSES} x labels == k, index, nonzero, mean, std)": loop},
            note="values, coords, counts, mean, std; syncs once (N depends on the labels)",
            syncs_documented=True,
            device=device,
            quick=quick,
        )
        rows += measure(
            OPERATIONS[1],
            shape,
            kind,
            key="extract_classes_nosync",
            ours=lambda: mb.extract_classes(image, labels, num_classes=NUM_CLASSES, drop_ignored=False),
            baselines={"per-class loop": loop},
            note="the sync-free variant (N = B*H*W)",
            device=device,
            quick=quick,
        )
        rows += measure(
            OPERATIONS[2],
            shape,
            kind,
            key="class_stats",
            ours=lambda: mb.class_stats(image, labels, num_classes=NUM_CLASSES),
            baselines={
                "per-class loop": loop,
                "per-class stats loop (labels == k, index, mean, std)": lambda: per_class_stats_loop(
                    image, labels, NUM_CLASSES
                ),
            },
            note="counts, mean, std only (no per-pixel grouping): issue 11's extract_classes >= 5x target",
            device=device,
            quick=quick,
        )
    return rows
