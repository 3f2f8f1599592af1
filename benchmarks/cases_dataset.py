"""sweep_dataset over synthetic 512x512 pairs: vs torchmetrics per batch, and a 2-worker LocalCluster vs in process.

The dataset is a ``Subset`` of a ``TensorDataset`` of 16 distinct 512x512 pairs (two drawn scenes,
rotated and flipped; or ``rand() > 0.5`` masks) repeated to the row's length: items are views, so
loading costs what a real in-memory dataset costs, and torch's classes pickle to Dask workers by
reference. Both candidates of a row read the same items through a ``DataLoader``.

torchmetrics materialises an ``(N pixels, 256)`` comparison per batch (seconds per 512x512 image
on a loaded 2-core machine), so its row runs on the first 40 items; the cluster row on 400 (issue 15
asks for 2,000: a full pass of that is minutes per candidate on this 2-core machine, so the committed
table reports per-image rates from 400, which a longer run does not change). --quick: 8 items of
128x128 (a smoke run).
"""

from __future__ import annotations

import logging
import time

import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

import maskbench as mb
from benchmarks._case import measure, wanted
from benchmarks._data import rand, rand_mask, scene, size_text
from benchmarks._timing import Row

OPERATIONS = ("sweep_dataset (256 thresholds)", "sweep_dataset on a 2-worker LocalCluster")
NUM_THRESHOLDS = 256
BATCH = 8


def sizes(quick: bool) -> tuple[int, int, int]:
    """(image side, items for the torchmetrics row, items for the cluster row)."""
    return (128, 8, 8) if quick else (512, 40, 400)


try:
    from torchmetrics.classification import BinaryPrecisionRecallCurve
except ImportError:  # pragma: no cover - torchmetrics is a test extra
    BinaryPrecisionRecallCurve = None


def pairs(kind: str, n: int, size: int) -> Subset:
    """``n`` items ``(probs (S, S) float32, target (S, S) bool)`` cycling over 16 distinct pairs."""
    if kind == "blobby":
        sc = scene(16, size)
        probs, target = sc.probs, sc.mask
    else:
        probs, target = rand(16, size, size, seed=5), rand_mask(16, size, size, seed=6)
    return Subset(TensorDataset(probs, target), [i % 16 for i in range(n)])


def torchmetrics_pass(dataset: Subset, device: torch.device):
    """The peer: ``BinaryPrecisionRecallCurve(thresholds=256)`` updated once per batch of the same loader."""
    metric = BinaryPrecisionRecallCurve(thresholds=NUM_THRESHOLDS).to(device)
    for probs, target in DataLoader(dataset, batch_size=BATCH):
        metric.update(probs.to(device), target.to(device).long())
    return metric.compute()


def _rows(kind: str, device: torch.device, quick: bool, client) -> list[Row]:
    side, n_peer, n = sizes(quick)
    dev = None if device.type == "cpu" else device
    rows: list[Row] = []
    reps = None if quick else (1, 0)  # a full pass takes seconds (torchmetrics: minutes)

    def ours(dataset):
        return mb.sweep_dataset(dataset, thresholds=NUM_THRESHOLDS, batch_size=BATCH, device=dev, progress=False)

    if wanted(OPERATIONS[0], "dataset"):
        few = pairs(kind, n_peer, side)
        baselines = {}
        if BinaryPrecisionRecallCurve is not None:
            label = f"torchmetrics BinaryPrecisionRecallCurve(thresholds={NUM_THRESHOLDS}), update per batch"
            baselines[label] = lambda: torchmetrics_pass(few, device)
        else:
            baselines["torchmetrics: not installed"] = lambda: ours(few)
        out = measure(
            OPERATIONS[0],
            f"{n_peer} x {size_text(side, side)}",
            kind,
            key="dataset_sweep",
            ours=lambda: ours(few),
            baselines=baselines,
            check_sync=False,
            syncs_documented=True,
            reps_warmup=reps,
            device=device,
            quick=quick,
        )
        for r in out:
            r.note = (
                f"{n_peer / r.ours_s:.0f} images/s (pooled + per-image counts) vs {n_peer / r.baseline_s:.1f} "
                f"images/s (pooled only); batch {BATCH}, the same DataLoader items"
            )
        rows += out
    if client is not None and wanted(OPERATIONS[1], "dataset", "dask"):
        client_run, started = client
        many = pairs(kind, n, side)

        def on_cluster():
            return mb.sweep_dataset(
                many, thresholds=NUM_THRESHOLDS, batch_size=BATCH, device=dev, client=client_run, progress=False
            )

        out = measure(
            OPERATIONS[1],
            f"{n} x {size_text(side, side)}",
            kind,
            key="dataset_dask",
            ours=on_cluster,
            baselines={"sweep_dataset in process": lambda: ours(many)},
            check_sync=False,
            syncs_documented=True,
            reps_warmup=reps,
            device=device,
            quick=quick,
        )
        for r in out:
            r.note = (
                f"ratio < 1 = the cluster's overhead: {n / r.ours_s:.0f} vs {n / r.baseline_s:.0f} images/s "
                f"in process; cluster start-up {started:.1f} s (not timed); 2 worker processes x 1 thread, "
                f"so no speed-up is expected on 2 cores"
            )
        rows += out
    return rows


def cases(device: torch.device, quick: bool) -> list[Row]:
    client = None
    if wanted(OPERATIONS[1], "dataset", "dask"):
        try:
            import distributed
        except ImportError:  # pragma: no cover - the dask extra
            distributed = None
        if distributed is not None:
            t0 = time.perf_counter()
            cluster = distributed.LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
            )
            client = (distributed.Client(cluster), time.perf_counter() - t0)
    try:
        rows: list[Row] = []
        for kind in ("blobby", "rand>0.5"):
            rows += _rows(kind, device, quick, client)
        return rows
    finally:
        if client is not None:
            client[0].close()
            cluster.close()
