"""The shared helper threads of CPU kernels (``kernels/_threads.py``)."""

from __future__ import annotations

import threading

import pytest
import torch

from maskbench.kernels import _threads


def test_run_shares_returns_each_range_in_order_and_runs_the_first_here():
    where = {}

    def work(a: int, b: int) -> list[int]:
        where[a] = threading.current_thread()
        return list(range(a, b))

    assert _threads.run_shares(work, [0, 3, 4, 9]) == [[0, 1, 2], [3], [4, 5, 6, 7, 8]]
    assert where[0] is threading.current_thread()
    assert where[3] is not threading.current_thread() and where[4] is not threading.current_thread()
    assert _threads.run_shares(work, [2, 5]) == [[2, 3, 4]]  # one share: no hand-off


def test_a_failing_share_raises_after_every_share_has_finished():
    done = threading.Event()

    def work(a: int, b: int) -> int:
        if a == 0:
            raise ValueError("share 0")
        done.wait(5)  # still running when share 0 fails
        return a

    timer = threading.Timer(0.2, done.set)
    timer.start()
    with pytest.raises(ValueError, match="share 0"):
        _threads.run_shares(work, [0, 1, 2])
    assert done.is_set()  # run_shares waited for share 1 before raising


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_shares_follow_torch_threads_and_the_cap(monkeypatch, threads):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert _threads.shares(100) == min(threads, _threads.MAX_THREADS)
    assert _threads.shares(1) == 1
    assert _threads.shares(100, at_least=60) == 1
    assert _threads.shares(0) == 1
