"""ThresholdTuner: pick a threshold for a probability map by eye and by the numbers.

The browser gets, once per image, a display proxy of the probabilities and the confusion counts at
every step of the slider's grid (``_tuner_core.grid_counts``, one pass; on large images just after the
widget opens, from a background thread: ``_tuner_counts``), and on every slider
movement blends the overlay and computes IoU / Dice / precision / recall / area from those counts
itself, in the next animation frame (no kernel round trip; the values equal the kernel's for that
threshold exactly). The kernel receives the threshold on release (throttled, at most every ~100 ms
while dragging, when clean-up is on: only full resolution can answer then) and does the
authoritative work at full resolution with maskbench's kernels: ``threshold``, clean-up (``opening``,
``remove_small_objects``, ``fill_holes``), metrics against the target (``confusion_counts``, the
counts behind ``iou`` / ``dice`` / ``precision`` / ``recall``), automatic methods
(``auto_threshold``) and the IoU/Dice-vs-threshold curve (``threshold_sweep``).

The image zooms and pans like the Painter's (wheel about the cursor, drag, ``+`` ``-`` ``0``/``f`` and
arrows on the focused image, a Fit button). Past the proxy's resolution the browser asks for 256x256
tiles of the region in view (issue 12's level-of-detail protocol, ``_tuner_tiles.py``): float32
probabilities it thresholds itself in every frame (``p > t`` on real values, as the kernel does),
the image, the target and, with clean-up on, the kernel's cleaned mask; exact up to native pixels.
"""

from __future__ import annotations

import time

import anywidget
import torch
import traitlets

from maskbench.kernels.threshold import THRESHOLD_METHODS
from maskbench.render import display_size
from maskbench.render.proxy import nearest_proxy, probability_proxy, pyramid_proxy
from maskbench.widgets import _frontend
from maskbench.widgets import _tuner_core as core
from maskbench.widgets._common import (
    BatchIndex,
    BoundedInt,
    Choice,
    Flag,
    GuardedState,
    StatusText,
    UnitFloat,
    WidgetTypeError,
    WidgetValueError,
    max_display_value,
)
from maskbench.widgets._transport import ArrayTrait, pack_bits
from maskbench.widgets._tuner_counts import DEFER_PIXELS, GridCounts
from maskbench.widgets._tuner_dataset import DatasetMode
from maskbench.widgets._tuner_tiles import TunerTiles

__all__ = ["ThresholdTuner", "METHODS", "TunerValueError", "TunerTypeError"]

#: "manual" (the slider) or an automatic method of ``maskbench.THRESHOLD_METHODS``.
METHODS = ("manual", *THRESHOLD_METHODS)
_MAX_RADIUS = 64
_FROM_BROWSER = ("threshold", "method", "index", "min_size", "fill_holes", "opening_radius", "opacity", "show_target",
                 "dataset_item", "dataset_metric")  # fmt: skip


#: Old names of the widget errors (one family for every widget now).
TunerValueError = WidgetValueError
TunerTypeError = WidgetTypeError


def _logits_hint(tuner) -> str:
    if not getattr(tuner, "_logits", False):
        return ""
    return (" With logits=True the threshold is still a probability (the tuner works on "
            "sigmoid(logits)): for a logit z use float(torch.sigmoid(torch.tensor(z))).")  # fmt: skip


class ThresholdTuner(GridCounts, TunerTiles, DatasetMode, GuardedState, anywidget.AnyWidget):
    """A threshold slider with a live overlay, histogram, metrics, IoU/Dice curve and clean-up.

    Args:
        probs: ``(H, W)`` or a batch ``(B, H, W)`` of floating probabilities in [0, 1] (any device).
        image: optional ``(C, H, W)`` or ``(B, C, H, W)`` image (C in 1, 3, 4; float in [0, 1] or
            uint8) drawn under the overlay; by default the probabilities are drawn as grey.
        target: optional bool ground truth ``(H, W)`` or ``(B, H, W)``: enables the metrics, the
            split histogram and the IoU/Dice curve.
        logits: ``probs`` holds logits; a sigmoid is applied. The threshold, the slider, the
            histogram and the curve are then all in probability units (``probs > t`` is
            ``logits > log(t / (1 - t))``).
        threshold: starting threshold in [0, 1]; a pixel is in the mask when ``p > threshold``
            (maskbench's convention: foreground is strictly above the threshold). The slider moves
            on a grid of steps of 0.001 (:data:`~maskbench.widgets._tuner_core.GRID`); Python, the
            number field and the methods may set any value.
        method: ``"manual"`` or an automatic method (``"otsu"``, ``"li"``, ``"yen"``,
            ``"triangle"``, ``"mean"``, ``"isodata"``) that sets the threshold per image.
        min_size, fill_holes, opening_radius: clean-up applied after thresholding, in this
            order: ``opening(radius=opening_radius)``, ``remove_small_objects(min_size=min_size)``,
            ``fill_holes`` (each skipped when 0 / False).
        max_display: long side of the browser's display proxy (the kernel keeps full resolution).
        index: batch item shown.
        opacity: overlay opacity in [0, 1] (blended in the browser).
        show_target: outline the target on the overlay.

    ``tuner.mask`` is the cleaned bool mask of the current image at full resolution, ``tuner.masks``
    that of every image ``(B, H, W)`` (with an automatic method, each image gets its own value),
    ``tuner.metrics`` the current image's results after clean-up (``threshold``, ``foreground``
    = share of pixels in the mask, ``cleaned``, and with a target ``iou``, ``dice``,
    ``precision``, ``recall`` with maskbench's ``empty=1.0`` convention), ``tuner.sweep`` the
    current image's :class:`maskbench.SweepResult` (before clean-up) at the slider's grid.
    :meth:`from_sweep` opens a whole dataset's :class:`maskbench.DatasetSweep` (dataset mode). A bad assignment raises
    :class:`~maskbench.widgets._common.WidgetValueError` / ``WidgetTypeError`` and changes nothing.
    Inputs too large for the memory available raise :class:`~maskbench.widgets._memory.WidgetMemoryError`
    naming their size, before anything image-sized is allocated.

    Example:
        >>> import maskbench
        >>> from maskbench.widgets import ThresholdTuner
        >>> scene = maskbench.synthetic_scene(32, num_classes=2)
        >>> tuner = ThresholdTuner(scene.probs, image=scene.image, target=scene.mask)
        >>> tuner.apply_method("otsu") == float(maskbench.threshold_otsu(scene.probs))
        True
        >>> bool((tuner.mask == (scene.probs > tuner.threshold)).all()), sorted(tuner.metrics)
        (True, ['cleaned', 'dice', 'foreground', 'iou', 'precision', 'recall', 'threshold'])
    """

    _from_browser = _FROM_BROWSER

    # One ES module: the pure helpers (tuner_core.js, also imported by node tests) + the widget.
    _esm = _frontend.esm("tuner")
    _css = _frontend.css("tuner")

    #: the threshold, a probability in [0, 1]: a pixel is in the mask when ``p > threshold``
    threshold = UnitFloat(0.5, what="a probability", hint=_logits_hint, tensors=True).tag(sync=True)
    #: "manual" (the slider) or an automatic method that sets the threshold per image
    method = Choice("manual", choices=METHODS).tag(sync=True)
    #: the batch item shown
    index = BatchIndex(0, size=lambda t: t._p.shape[0]).tag(sync=True)
    #: clean-up: remove objects smaller than this many pixels (0 or 1: off)
    min_size = BoundedInt(0, low=0, high=lambda t: t._p.shape[-2] * t._p.shape[-1] + 1).tag(sync=True)
    #: clean-up: fill holes in the mask
    fill_holes = Flag(False).tag(sync=True)
    #: clean-up: morphological opening radius in pixels (0: off)
    opening_radius = BoundedInt(0, low=0, high=_MAX_RADIUS).tag(sync=True)
    #: overlay opacity in [0, 1] (blended in the browser)
    opacity = UnitFloat(0.5).tag(sync=True)
    #: outline the target on the overlay
    show_target = Flag(True).tag(sync=True)
    metrics = traitlets.Dict().tag(sync=True)  # kernel -> browser: results for metrics["threshold"]
    best = traitlets.Dict().tag(sync=True)  # best IoU / Dice thresholds of the current image
    error = StatusText("").tag(sync=True)  # the last rejected update or failed recompute
    batch_size = traitlets.Int(1, read_only=True).tag(sync=True)
    _methods = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _full_size = traitlets.List(traitlets.Int()).tag(sync=True)
    _compute_ms = traitlets.Float(0.0).tag(sync=True)  # the last recompute's kernel time, shown in the status
    _probs = ArrayTrait()  # (dh, dw) float32, or uint8 round(p * 255) for large proxies
    _image = ArrayTrait()  # (dh, dw, 4) uint8 RGBA, or None: the browser draws the probs as grey
    _hist = ArrayTrait()  # (1 | 2, HIST_BINS) int32 counts; 2 rows = target False / True
    _curve = ArrayTrait()  # (3, T) float32: thresholds, IoU, Dice; None without a target
    _grid = ArrayTrait()  # (T,) float64: the slider's values (the thresholds of _counts)
    _counts = ArrayTrait()  # (T, 4) int32: tp, fp, fn, tn of p > grid[j] for the current image
    _target_edges = ArrayTrait()  # packed bits of the target's outline at display size
    _mask = ArrayTrait()  # packed bits of the cleaned mask at display size, for metrics["threshold"]

    def __init__(
        self,
        probs: torch.Tensor,
        *,
        image: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        logits: bool = False,
        threshold: float = 0.5,
        method: str = "manual",
        min_size: int = 0,
        fill_holes: bool = False,
        opening_radius: int = 0,
        max_display: int = 1024,
        index: int = 0,
        opacity: float = 0.5,
        show_target: bool = True,
        channels_last: bool | None = None,
        _dataset=None,
    ) -> None:
        p, batched = core.probs_input(probs, logits=logits)  # no copy yet: the memory check comes first
        self._p, self._batched, self._logits = p, batched, logits
        self._x = core.prepare_image(image, p, batched, channels_last=channels_last)
        self._t = core.prepare_target(target, p, batched)
        max_display = max_display_value(max_display)
        self._display = display_size(p.shape[-2], p.shape[-1], max_display)
        self._max_display = max_display
        start = dict(threshold=threshold, method=method, index=index, min_size=min_size, fill_holes=fill_holes,
                     opening_radius=opening_radius, opacity=opacity, show_target=show_target)  # fmt: skip
        traits = self.traits()
        start = {k: traits[k].validate(self, v) for k, v in start.items()}  # fail before the widget exists
        core.check_tuner_memory(p, self._x, self._t, logits=logits, display=self._display,
                                cleanup=start["min_size"] > 1 or start["fill_holes"],
                                opening=start["opening_radius"] > 0)  # fmt: skip
        self._p = p = core.probs_values(p, logits=logits, batched=batched)  # the sigmoid of logits; values checked
        self._method_value: float | None = None
        self._sweep = None
        self._mask_full: torch.Tensor | None = None
        self._counts_t: torch.Tensor | None = None
        self._positives: int | None = None
        self._loading = True
        self._init_counts()
        super().__init__()
        self._grid_t = core.GRID if _dataset is None else self._start_dataset(_dataset)
        with self.hold_sync():
            self._grid = self._grid_t.numpy()
            self.set_trait("batch_size", p.shape[0])
            self._methods = list(METHODS)
            self._full_size = [int(p.shape[-2]), int(p.shape[-1])]
            for name, value in start.items():
                setattr(self, name, value)
        self._loading = False
        self._load_item(defer=_dataset is None and p.shape[-2] * p.shape[-1] >= DEFER_PIXELS)
        self.observe(self._on_threshold, names=["threshold"])
        self.observe(self._on_method, names=["method"])
        self.observe(lambda _: self._guard(self._load_item), names=["index"])
        self.observe(lambda _: self._guard(self._recompute), names=["min_size", "fill_holes", "opening_radius"])
        self.on_msg(lambda _, content, buffers: self._handle_tiles_message(content, buffers))

    # -- public API --------------------------------------------------------------------------------
    @property
    def mask(self) -> torch.Tensor:
        """Cleaned bool mask ``(H, W)`` of the current image at full resolution (a copy)."""
        return self._mask_full.clone()

    @mask.setter
    def mask(self, value: object) -> None:
        raise AttributeError(
            "mask: the tuner's mask is derived from the threshold and the clean-up options; set "
            "tuner.threshold (or edit a mask by hand with maskbench.widgets.Painter)."
        )

    @property
    def masks(self) -> torch.Tensor:
        """Cleaned bool masks ``(B, H, W)`` of every image (``(1, H, W)`` for one image).

        With ``method="manual"`` every image uses ``threshold``; with an automatic method each
        image gets the method's value for that image (the current one equals ``threshold``). Checked
        against the memory available first (the whole batch is thresholded and cleaned at once).
        """
        import maskbench

        core.check_masks_memory(self._p, cleanup=self.min_size > 1 or self.fill_holes,
                                opening=self.opening_radius > 0)  # fmt: skip
        value = self.threshold if self.method == "manual" else self._auto_values(self._p)
        return self._clean(maskbench.threshold(self._p, value))

    @property
    def sweep(self):
        """:class:`maskbench.SweepResult` of the current image (None without a target).

        On an image of at least :data:`DEFER_PIXELS` pixels the counts behind it (and the ``best``
        trait, the histogram and the curve) are computed in a background thread just after the widget
        is built: this waits for them."""
        self._counts_ready.wait()
        return self._sweep

    @property
    def logits(self) -> bool:
        """Whether ``probs`` were logits (the tuner works on their sigmoid)."""
        return self._logits

    def apply_method(self, name: str) -> float:
        """Move the threshold to method ``name``'s value for the current image; returns it."""
        if self.method == name:
            self._on_method({"new": name})  # the same method again: re-apply it
        else:
            self.method = name  # validated; the observer moves the threshold
        return self.threshold

    # -- computation -------------------------------------------------------------------------------
    def _auto_values(self, p: torch.Tensor) -> torch.Tensor:
        import maskbench

        return maskbench.auto_threshold(p, method=self.method).clamp(0, 1)

    def _clean(self, mask: torch.Tensor) -> torch.Tensor:
        return core.clean_mask(mask, min_size=self.min_size, fill_holes=self.fill_holes,
                               opening_radius=self.opening_radius)  # fmt: skip

    def _target_item(self, i: int) -> torch.Tensor | None:
        return None if self._t is None else self._t[i if self._t.shape[0] > 1 else 0]

    def _load_item(self, defer: bool = False) -> None:
        """A new image: proxies, histogram and sweep once; the method's value; then the mask.

        ``defer``: the grid counts and what comes from them (histogram, curve, ``best``) are left to
        :meth:`_deferred_counts` in a background thread; meanwhile the metrics are counted at full
        resolution (the same numbers) and the browser shows the kernel's (it has no counts yet).
        """
        with self._lock:
            self._item_token += 1
            i = self.index
            p, tgt = self._p[i], self._target_item(i)
            if defer:
                self._counts_ready.clear()
                self._counts_t = self._positives = self._sweep = None
            else:
                self._set_counts(core.grid_counts(p, tgt, self._grid_t), p, tgt)
            x = None if self._x is None else self._x[i if self._x.shape[0] > 1 else 0]
            size = self._display
            self._tiles_for_item(x)  # the image's pyramid: its tiles, and the proxy from a level near its size
            with self.hold_sync():
                self._probs = probability_proxy(p, size).cpu().numpy()
                self._image = None if x is None else pyramid_proxy(self._pyramid, size).numpy()
                edges = None if tgt is None else core.outline(nearest_proxy(tgt, size))
                self._target_edges = None if edges is None else pack_bits(edges.cpu().numpy())
                self._publish_counts(p, tgt)
                if self.method != "manual":
                    self._method_value = float(self._auto_values(p))
                    self._loading = True  # the threshold observer must not recompute: done just below
                    try:
                        self.threshold = self._method_value
                    finally:
                        self._loading = False
                self._recompute()
                self._publish_tiles()  # new versions: the browser drops the last item's tiles
        if defer:
            self._start_deferred_counts()

    def _curve_and_best(self):
        """The IoU / Dice curve ``(3, T)`` and the best thresholds: the image's, or pooled in dataset mode."""
        s = self._sweep if self._dataset is None else self._pooled_sweep()
        if s is None:
            return None, {}
        best, curves = {}, [s.iou(), s.dice()]
        for name, curve in zip(("iou", "dice"), curves):
            j = int(curve.argmax())  # SweepResult.best's rule (the first maximum), as a grid position
            best[name], best[f"{name}_threshold"] = float(curve[j]), float(self._grid_t[j])  # the slider's value
        return torch.stack([self._grid_t.to(curves[0]), *curves]).float().cpu().numpy(), best

    def _recompute(self) -> None:
        """The authoritative mask and metrics for the current image and threshold.

        Without clean-up, on the grid, the metrics are read from the image's grid counts (the same
        numbers ``maskbench.threshold`` + counting give, already there); otherwise they are counted.
        """
        with self._lock:
            self._recompute_locked()

    def _recompute_locked(self) -> None:
        import maskbench

        start = time.perf_counter()
        i, t = self.index, self.threshold
        mask = self._clean(maskbench.threshold(self._p[i], t))
        cleaned = self.min_size > 1 or self.fill_holes or self.opening_radius > 0
        tgt = self._target_item(i)
        j = None if cleaned or self._counts_t is None else core.grid_index(self._grid_t, t)
        if j is not None:
            values = core.metrics_from_counts(*(int(c) for c in self._counts_t[j]), target=tgt is not None)
        else:
            values = core.mask_metrics(mask, tgt, self._positives)
        metrics = {"threshold": t, **values, "cleaned": cleaned}
        self._mask_full = mask
        with self.hold_sync():
            self._mask = core.packed_proxy(mask, self._display)
            self._tiles_after_recompute()
            self._compute_ms = (time.perf_counter() - start) * 1000
            self.metrics = metrics
            self._dataset_after_recompute()

    def _on_threshold(self, change) -> None:
        if self._loading:
            return
        if self.method != "manual" and change["new"] != self._method_value:
            self.method = "manual"  # the slider moved away from the method's value
        self._guard(self._recompute)

    def _on_method(self, change) -> None:
        if self._loading or change["new"] == "manual":
            return

        def move() -> None:
            self._method_value = float(self._auto_values(self._p[self.index]))
            if self.threshold == self._method_value:
                return  # nothing changes
            self.threshold = self._method_value  # its observer recomputes

        self._guard(move)
