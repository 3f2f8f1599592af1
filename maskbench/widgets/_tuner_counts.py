"""The ThresholdTuner's grid counts (``_tuner_core.grid_counts``) and what the browser gets from them.

A mixin of :class:`maskbench.widgets.tuner.ThresholdTuner`. The counts of ``p > grid[j]`` at every
step of the slider's grid give the browser's slider metrics (``_counts``), the histogram, the
IoU/Dice curve and ``best``. On an image of at least :data:`DEFER_PIXELS` pixels the widget opens
without them (~0.7 s at 8192^2 on one thread): they are counted in a background thread
:data:`DEFER_DELAY_S` after the widget is built (stepping aside while tile requests come:
``TileServer.step_aside``), and published under the widget's lock unless the item changed
meanwhile. Until then the kernel counts its metrics at full resolution (the same numbers) and the
browser, which has no counts, shows the kernel's; ``sweep`` waits for them.
"""

from __future__ import annotations

import threading

import torch

from maskbench.widgets import _tuner_core as core

__all__ = ["GridCounts", "DEFER_PIXELS", "DEFER_DELAY_S"]

#: Images of at least this many pixels open without their grid counts: the counts (the browser's
#: slider metrics), histogram, IoU/Dice curve and ``best`` follow from a background thread
#: DEFER_DELAY_S after the widget is built, so the first paint does not wait ~1 s for them.
DEFER_PIXELS = 1 << 24
#: Seconds between the widget's construction and the deferred counts: the first paint has the CPU first
#: (the Painter's warm-up delay; a browser open at 8192^2 takes ~0.6-1 s).
DEFER_DELAY_S = 1.0


class GridCounts:
    """The counts' state: ``_counts_t`` (T, 4), ``_positives``, ``_sweep``; set by one thread at a time."""

    def _init_counts(self) -> None:
        self._lock = threading.RLock()  # the item's counts and their traits: the main thread or the deferred one
        self._counts_ready = threading.Event()
        self._item_token = 0  # a new item (or a new load) makes a pending deferred count stale

    def _start_deferred_counts(self) -> None:
        timer = threading.Timer(DEFER_DELAY_S, self._deferred_counts, args=(self._item_token,))
        timer.name, timer.daemon = "maskbench-tuner-counts", True
        timer.start()

    def _set_counts(self, counts: torch.Tensor, p: torch.Tensor, tgt: torch.Tensor | None) -> None:
        import maskbench

        self._counts_t = counts.cpu()
        self._positives = None if tgt is None else int(counts[0, 0] + counts[0, 2])
        self._sweep = None
        if tgt is not None:
            tp, fp, fn, tn = counts.unbind(1)
            self._sweep = maskbench.SweepResult(
                thresholds=self._grid_t.to(p.device, p.dtype), tp=tp, fp=fp, fn=fn, tn=tn
            )
        self._counts_ready.set()

    def _publish_counts(self, p: torch.Tensor, tgt: torch.Tensor | None) -> None:
        """The count-derived traits (None / {} while the counts are pending)."""
        counts = self._counts_t
        curve, best = (None, {}) if counts is None else self._curve_and_best()
        uniform = self._grid_t is core.GRID  # the histogram's bin edges are grid values
        if counts is None:
            self._hist = None
        else:
            self._hist = (
                core.histogram_from_counts(counts, tgt is not None) if uniform else core.probability_histogram(p, tgt)
            )
        self._counts = None if counts is None else counts.to(torch.int32).numpy()
        self._curve = curve
        self.best = best

    def _deferred_counts(self, token: int) -> None:
        """The background half of a deferred load: the grid counts, then their traits (unless stale)."""
        try:
            with self._lock:
                if token != self._item_token:
                    return
                i = self.index
            p, tgt = self._p[i], self._target_item(i)
            # the long part, without the lock, stepping aside while the user pans / zooms (tile requests)
            counts = core.grid_counts(p, tgt, self._grid_t, between_chunks=self.step_aside)
            with self._lock:
                if token != self._item_token:
                    return  # another item (or load) since: its own counts are there
                self._set_counts(counts, p, tgt)
                with self.hold_sync():
                    self._publish_counts(p, tgt)
        except Exception as exc:  # noqa: BLE001 - a background failure is shown, not lost in a thread
            self._report(f"grid counts: {type(exc).__name__}: {exc}")
        finally:
            self._counts_ready.set()
