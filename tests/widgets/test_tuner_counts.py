"""The Tuner's deferred grid counts (issue 12 item 4): a large image opens without them; a background
thread adds the counts, histogram, curve and ``best`` after, equal to an undeferred Tuner's."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

import maskbench
from maskbench.widgets import _tuner_counts
from maskbench.widgets import tuner as tuner_module
from maskbench.widgets.tuner import ThresholdTuner

_COUNT_TRAITS = ("_counts", "_hist", "_curve")


def _join_counting_threads() -> None:
    for thread in threading.enumerate():
        if thread.name == "maskbench-tuner-counts":
            thread.join(timeout=30)


def _defer(monkeypatch, delay: float) -> None:
    monkeypatch.setattr(tuner_module, "DEFER_PIXELS", 1)
    monkeypatch.setattr(_tuner_counts, "DEFER_DELAY_S", delay)


@pytest.fixture(scope="module")
def scene():
    s = maskbench.synthetic_scene((40, 36), num_classes=2, batch=2, seed=5)
    return s.probs, s.image, s.mask


@pytest.mark.parametrize("with_target", [True, False])
def test_deferred_counts_equal_the_undeferred(scene, monkeypatch, with_target: bool) -> None:
    probs, image, mask = scene
    target = mask if with_target else None
    ref = ThresholdTuner(probs, image=image, target=target, threshold=0.5)
    _defer(monkeypatch, 0.5)
    tu = ThresholdTuner(probs, image=image, target=target, threshold=0.5)
    # at open: no counts yet (the browser shows the kernel's metrics), the same mask and metrics
    assert tu._counts is None and tu._hist is None and tu._curve is None and tu.best == {}
    assert torch.equal(tu.mask, ref.mask) and tu.metrics == ref.metrics
    sweep = tu.sweep  # waits for the background thread
    _join_counting_threads()
    for name in _COUNT_TRAITS:
        a, b = getattr(tu, name), getattr(ref, name)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b)), name
    assert tu.best == ref.best
    assert (sweep is None) == (ref.sweep is None)
    if sweep is not None:
        assert all(torch.equal(getattr(sweep, k), getattr(ref.sweep, k)) for k in ("tp", "fp", "fn", "tn"))
    tu.threshold = 0.25  # on the grid: the metrics now come from the counts, still the kernel's numbers
    ref.threshold = 0.25
    assert tu.metrics == ref.metrics and torch.equal(tu.mask, ref.mask)


def test_stale_deferred_counts_are_dropped(scene, monkeypatch) -> None:
    probs, image, mask = scene
    ref = ThresholdTuner(probs, target=mask, index=1)
    entered, go = threading.Event(), threading.Event()
    grid_counts = _tuner_counts.core.grid_counts

    def slow_counts(*args, **kwargs):
        if threading.current_thread().name == "maskbench-tuner-counts":
            entered.set()
            assert go.wait(30)
        return grid_counts(*args, **kwargs)

    monkeypatch.setattr(_tuner_counts.core, "grid_counts", slow_counts)
    _defer(monkeypatch, 0.0)
    tu = ThresholdTuner(probs, target=mask)
    assert entered.wait(30)  # the thread is counting item 0 ...
    tu.index = 1  # ... when item 1 is shown: its own counts, never item 0's after
    go.set()
    _join_counting_threads()
    assert np.array_equal(tu._counts, ref._counts) and np.array_equal(tu._hist, ref._hist)
    assert tu.best == ref.best and torch.equal(tu.sweep.tp, ref.sweep.tp)


def test_small_images_are_not_deferred(scene) -> None:
    probs, _, mask = scene
    assert probs[0].numel() < tuner_module.DEFER_PIXELS
    tu = ThresholdTuner(probs, target=mask)
    assert tu._counts is not None and tu.best and tu._counts_ready.is_set()


def test_a_failing_deferred_count_is_reported(scene, monkeypatch) -> None:
    probs, _, mask = scene

    def broken(*args, **kwargs):
        if threading.current_thread().name == "maskbench-tuner-counts":
            raise RuntimeError("out of memory")
        return grid_counts(*args, **kwargs)

    grid_counts = _tuner_counts.core.grid_counts
    monkeypatch.setattr(_tuner_counts.core, "grid_counts", broken)
    _defer(monkeypatch, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tu = ThresholdTuner(probs, target=mask)
        assert tu.sweep is None  # does not wait forever
        _join_counting_threads()
    assert "grid counts: RuntimeError: out of memory" in tu.error and tu._counts is None


def test_deferred_counts_step_aside_between_chunks(scene, monkeypatch) -> None:
    """The background count calls step_aside between its chunks (so a pan's tile requests come first),
    and chunked counting with that hook gives the same counts."""
    from maskbench.widgets import _tuner_core as core

    probs, image, mask = scene
    monkeypatch.setattr(core, "COUNT_CHUNK", 100)  # 40 x 36 = 1440 px: 15 chunks
    calls = []
    chunked = core.grid_counts(probs[0], mask[0], between_chunks=lambda: calls.append(1))
    assert len(calls) == 14
    monkeypatch.setattr(core, "COUNT_CHUNK", 1 << 18)
    assert torch.equal(chunked, core.grid_counts(probs[0], mask[0]))
    steps = []
    monkeypatch.setattr(ThresholdTuner, "step_aside", lambda self: steps.append(1))
    monkeypatch.setattr(core, "COUNT_CHUNK", 100)
    _defer(monkeypatch, 0.0)
    tu = ThresholdTuner(probs, image=image, target=mask, threshold=0.5)
    assert tu.sweep is not None  # waits for the background thread
    _join_counting_threads()
    assert len(steps) == 14 and tu._counts is not None
