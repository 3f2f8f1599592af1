"""threshold_sweep vs a per-threshold loop and torchmetrics; automatic thresholds vs scikit-image."""

from __future__ import annotations

import numpy as np
import skimage.filters as skf
import torch

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import rand, rand_mask, scene, size_text
from benchmarks._timing import Row

METHODS = ("otsu", "li", "yen", "triangle")
OPERATIONS = ("threshold_sweep (256 thresholds)", *(f"threshold_{m} (batched)" for m in METHODS))
NUM_THRESHOLDS = 256

try:
    from torchmetrics.classification import BinaryPrecisionRecallCurve
except ImportError:  # pragma: no cover - torchmetrics is a test extra
    BinaryPrecisionRecallCurve = None


def loop_sweep(probs: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """The naive way: threshold and count T times (``(T, 2)`` TP/FP counts, stays on device)."""
    out = torch.empty(len(thresholds), 2, dtype=torch.int64, device=probs.device)
    for j, t in enumerate(thresholds):
        pos = probs > t
        out[j, 0] = (pos & target).sum()
        out[j, 1] = (pos & ~target).sum()
    return out


def _sweep_rows(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    if kind == "blobby":
        sc = scene(batch, size)
        probs, target = sc.probs[:, None], sc.mask[:, None]
    else:
        probs, target = rand(batch, 1, size, size), rand_mask(batch, 1, size, size, seed=3)
    probs, target = probs.to(device), target.to(device)
    thresholds = torch.linspace(0, 1, NUM_THRESHOLDS, device=device)
    peer = ("torchmetrics: not installed", None)
    if BinaryPrecisionRecallCurve is not None:
        metric = BinaryPrecisionRecallCurve(thresholds=NUM_THRESHOLDS).to(device)
        target_long = target.long()

        def torchmetrics_curve() -> object:
            metric.reset()
            metric.update(probs, target_long)
            return metric.compute()

        peer = (f"torchmetrics BinaryPrecisionRecallCurve(thresholds={NUM_THRESHOLDS})", torchmetrics_curve)
    return measure(
        OPERATIONS[0],
        size_text(batch, 1, size, size),
        kind,
        key="sweep",
        ours=lambda: mb.threshold_sweep(probs, target, thresholds=NUM_THRESHOLDS),
        baselines={f"loop over {NUM_THRESHOLDS} thresholds (>, &, sum)": lambda: loop_sweep(probs, target, thresholds)},
        peer=peer,
        bytes_moved=5 * probs.numel(),
        bytes_formula="probs read (4 B/px), target read (1 B/px)",
        reps_warmup=(3, 1),
        device=device,
        quick=quick,  # the loop and torchmetrics take seconds per call
    )


def _auto_rows(batch: int, size: int, kind: str, device: torch.device, quick: bool) -> list[Row]:
    # grey images: the scene's RGB averaged (blobs on a dark, unevenly lit background) or uniform noise
    x = scene(batch, size).image.mean(1) if kind == "blobby" else rand(batch, size, size, seed=4)
    images = [a for a in x.numpy()]  # scikit-image gets numpy arrays ready (conversion not timed)
    x = x.to(device)
    rows: list[Row] = []
    for method, op in zip(METHODS, OPERATIONS[1:]):
        if not wanted(op, "threshold", "auto"):
            continue
        sk = getattr(skf, f"threshold_{method}")
        rows += measure(
            op,
            size_text(batch, size, size),
            kind,
            key=method,
            ours=lambda method=method: mb.auto_threshold(x, method=method),
            baselines={
                f"skimage.filters.threshold_{method} per image": lambda sk=sk: np.array([sk(a) for a in images])
            },
            note="scikit-image runs on the CPU" if device.type != "cpu" else "",
            device=device,
            quick=quick,
            reps_warmup=(21, 3),  # ~20-70 ms per call: more reps steady the medians on a shared machine
        )
    return rows


THRESHOLD_OP = "threshold (mask from a value)"


def _threshold_rows(batch: int, size: int, device: torch.device, quick: bool) -> list[Row]:
    """``mb.threshold(p, 0.5)`` (numpy's comparison for CPU float32) against torch's own ``p > 0.5``."""
    probs = rand(batch, size, size, seed=5).to(device)
    flat = probs.cpu().numpy()
    return measure(
        THRESHOLD_OP,
        size_text(batch, size, size),
        "rand>0.5",
        key="threshold",
        ours=lambda: mb.threshold(probs, 0.5),
        baselines={"torch probs > 0.5": lambda: probs > 0.5},
        peer=("numpy probs > 0.5 (on CPU arrays)", lambda: flat > np.float32(0.5)),
        bytes_moved=5 * probs.numel(),
        bytes_formula="probs read (4 B/px), mask written (1 B/px)",
        device=device,
        quick=quick,
    )


def cases(device: torch.device, quick: bool) -> list[Row]:
    sweep_size, auto_size = ((2, 128), (4, 64)) if quick else ((4, 1024), (16, 512))
    rows: list[Row] = []
    if wanted(THRESHOLD_OP, "threshold"):
        rows += _threshold_rows(*((2, 128) if quick else (8, 2048)), device, quick)
    for kind in ("blobby", "rand>0.5"):
        if wanted(OPERATIONS[0], "sweep"):
            rows += _sweep_rows(*sweep_size, kind, device, quick)
        rows += _auto_rows(*auto_size, kind, device, quick)
    return rows
