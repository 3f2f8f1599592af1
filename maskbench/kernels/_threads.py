"""One shared pool of helper threads for CPU kernels that split work torch runs on one thread.

torch's ops and numpy's loops release the GIL, so a Python thread per share runs them side by
side. The pool is made on first use; its size caps how many shares run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

import torch

MAX_THREADS = 4
_POOL: list[ThreadPoolExecutor] = []
T = TypeVar("T")


def pool() -> ThreadPoolExecutor:
    """The shared helper threads (made on first use)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="maskbench-cpu"))
    return _POOL[0]


def shares(total: int, at_least: int = 1) -> int:
    """How many shares to split ``total`` items into: torch's thread count, at most ``MAX_THREADS``,
    with at least ``at_least`` items per share (1 means: run it inline)."""
    return max(1, min(torch.get_num_threads(), MAX_THREADS, total // max(1, at_least)))


def run_shares(fn: Callable[[int, int], T], cuts: Sequence[int]) -> list[T]:
    """``fn(cuts[i], cuts[i + 1])`` for each range: the first on this thread, the rest on the pool,
    in order. Exceptions propagate (after every share has finished)."""
    ranges = list(zip(cuts[:-1], cuts[1:]))
    futures = [pool().submit(fn, a, b) for a, b in ranges[1:]]
    try:
        first = fn(*ranges[0])
    finally:
        wait(futures)  # no share outlives the call, even when one fails
    return [first, *(f.result() for f in futures)]
