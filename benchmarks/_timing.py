"""Timing helpers: median of repetitions after warm-up, device-aware, plus copy bandwidth."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(
    fn: Callable[[], object], *, device: torch.device, reps: int = 7, warmup: int = 2, min_time: float = 0.0
) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    start_all = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start_all) < min_time:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * reps:
            break
    return statistics.median(times)


def compare(
    fns: dict[str, Callable[[], object]], *, device: torch.device, reps: int = 7, warmup: int = 2
) -> dict[str, float]:
    """Median seconds of each candidate, timed in rotation (one rep of each, then the next rep).

    Interleaving makes load from other processes on a shared machine hit every candidate alike, so
    the ratios stay meaningful even when the absolute times drift.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def copy_bandwidth(device: torch.device, *, nbytes: int = 256 * 1024 * 1024) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write counted)."""
    n = nbytes // 4
    src = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    t = median_seconds(lambda: dst.copy_(src), device=device, reps=10, warmup=3)
    return 2 * src.numel() * src.element_size() / t


@dataclass
class Row:
    operation: str
    size: str
    ours_s: float
    baseline_s: float | None = None
    baseline: str = ""
    peer_s: float | None = None
    peer: str = ""
    bytes_moved: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)
    masks: str = ""  # "blobby" (synthetic_scene), "rand>0.5", or what else the inputs are
    key: str = ""  # stable id the targets in __main__ refer to
    sync_free: bool | None = None  # CUDA only: ran under set_sync_debug_mode("error") without a sync
    syncs_documented: bool = False  # the kernel's docstring says it syncs (so "no" is expected)

    @property
    def peer_ratio(self) -> float | None:
        """Speed-up of maskbench over the peer library (> 1 means maskbench is faster)."""
        return None if self.peer_s is None else self.peer_s / self.ours_s

    @property
    def ratio(self) -> float | None:
        """Speed-up of maskbench over the baseline (> 1 means maskbench is faster)."""
        return None if self.baseline_s is None else self.baseline_s / self.ours_s


def fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"
