"""Painter: paint a label mask over an image with brush, eraser, flood fill and lasso, in the notebook.

The truth is a full-resolution ``(H, W)`` uint8 label map in the kernel. The browser gets the image
once as an RGBA display proxy (long side <= ``max_display``) and paints every frame on its own proxy
label canvas; when the pointer goes up it sends one compact edit (a stroke's points as a Float32
buffer in full-resolution image coordinates, a polygon, or a fill seed). The kernel validates it,
rasterises it at full resolution with :mod:`maskbench.kernels.paint`, records undo, and sends back
only the changed box of the display-proxy labels, so what the browser shows is the kernel's truth.

Coordinates are ``(row, col)`` with pixel centres on integers (see :mod:`maskbench.kernels.paint`).
A display-proxy pixel shows the largest label among the image pixels it covers, so thin strokes stay
visible when a 4096-pixel image is shown at 1024.

Every change of the mask bumps the observable ``mask_version`` trait and calls the ``on_edit``
callbacks with a small summary (the mask itself stays in the kernel: read ``painter.mask``).
"""

from __future__ import annotations

import anywidget
import numpy as np
import torch
import traitlets

from maskbench._checks import (
    ShapeError,
    check_int,
    check_labels,
    check_number,
    check_tensor,
    describe,
    short_repr,
)
from maskbench.kernels.paint import flood_fill_mask, polygon_window, stroke_window
from maskbench.render import display_size
from maskbench.render.proxy import max_proxy
from maskbench.widgets import _frontend
from maskbench.widgets._common import (
    BoundedInt,
    Choice,
    GuardedState,
    StatusText,
    UnitFloat,
    WidgetTypeError,
    WidgetValueError,
    image_from_user,
    max_display_value,
)
from maskbench.widgets._history import History
from maskbench.widgets._painter_events import EditEvents, timed_edit
from maskbench.widgets._painter_image import check_memory
from maskbench.widgets._painter_messages import BrowserMessages
from maskbench.widgets._painter_proto import MAX_RADIUS, TOOLS, parse_classes
from maskbench.widgets._painter_tiles import PainterTiles
from maskbench.widgets._painter_traits import (
    FILL_MODES,
    ClassColors,
    ClassVisible,
    hex_colors,
    paint_target,
    palette_with,
)
from maskbench.widgets._tiles import TileServer
from maskbench.widgets._transport import ArrayTrait

__all__ = ["Painter", "TOOLS", "FILL_MODES", "PainterValueError", "WidgetValueError", "WidgetTypeError"]


#: Old name of the widget value error (one family for every widget now).
PainterValueError = WidgetValueError
#: What the browser may set; everything else (shape, class names, proxies, undo flags) is kernel -> browser.
_FROM_BROWSER = (
    "tool",
    "active_class",
    "brush_size",
    "opacity",
    "error",
    "fill_mode",
    "paint_over",
    "class_colors",
    "class_visible",
    "_view_version",
)


class Painter(PainterTiles, TileServer, EditEvents, BrowserMessages, GuardedState, anywidget.AnyWidget):
    """Paint class labels over an image; every tool is also a method (for notebooks and tests).

    Args:
        image: grey ``(H, W)``, a torch ``(C, H, W)`` (C in 1, 3, 4), a numpy ``(H, W, C)`` or a PIL
            image; floating in [0, 1] or uint8.
        mask: an existing ``(H, W)`` label map to correct (torch or numpy integer labels < number of
            classes, or a bool mask); painting starts from it. To rebuild a Painter without losing
            what was painted, pass ``mask=painter.mask`` or use :meth:`Painter.from_painter`.
        classes: class names (label ``i`` is ``classes[i]``; 0 is the background the eraser paints),
            or a dict name -> colour (``"#rrggbb"`` or an RGB tuple; ``None`` for the default).
        max_display: long side of the display proxy sent to the browser (the kernel always edits at
            full resolution).
        brush_size: brush diameter in image pixels (default: the long side / 64).
        opacity: overlay opacity in [0, 1].
        history_bytes: memory budget of the undo history: up to 200 steps are kept while their
            (run-length encoded) boxes fit, oldest dropped first, the newest always.
        channels_last: only for an array whose first and last dims could both be channels (e.g.
            ``(3, 8, 4)``): True reads it ``(H, W, C)``; by default torch is channels first, numpy last.

    >>> p = Painter(torch.zeros(32, 48), classes=["background", "cell", "nucleus"])
    >>> p.paint_stroke([(10, 5), (10, 30)], radius=2.0)
    >>> p.fill_polygon([(20, 2), (20, 12), (30, 12), (30, 2)], label=2)
    >>> p.mask.shape, int(p.mask_of("cell").sum()), int(p.mask_of(2).sum())
    (torch.Size([32, 48]), 138, 100)
    >>> p.undo(); int(p.mask_of("nucleus").sum())
    0

    Correct an existing mask, and follow every change:

    >>> q = Painter(torch.zeros(32, 48), mask=p.mask, classes=["background", "cell", "nucleus"])
    >>> q.on_edit(lambda edit: print(edit["kind"], edit["label"], edit["pixels"], edit["version"]))
    >>> q.paint_over = 0                         # paint only over the background (preserve labels)
    >>> q.fill_at(0, 0, label=2)                 # the background region around (0, 0)
    fill 2 1398 1
    >>> q.mask_version, int(q.mask_of("cell").sum())
    (1, 138)
    """

    _esm = _frontend.esm("painter")
    _css = _frontend.css("painter")

    _image = ArrayTrait()
    _labels = ArrayTrait()
    _palette = ArrayTrait()
    _from_browser = _FROM_BROWSER

    #: ``[H, W]`` of the image (read-only)
    image_shape = traitlets.List(traitlets.Int(), read_only=True).tag(sync=True)
    #: class names; label ``i`` is ``class_names[i]`` (read-only)
    class_names = traitlets.List(traitlets.Unicode(), read_only=True).tag(sync=True)
    #: the browser's tool: one of ``TOOLS``
    tool = Choice("brush", choices=TOOLS).tag(sync=True)
    #: the label the brush, fill and lasso paint
    active_class = BoundedInt(1, low=0, high=lambda p: p._num_classes - 1, what="a label").tag(sync=True)
    #: brush diameter in image pixels
    brush_size = BoundedInt(16, low=1, high=int(MAX_RADIUS), what="a diameter", unit="image pixels").tag(sync=True)
    #: overlay opacity in [0, 1]
    opacity = UnitFloat(0.5).tag(sync=True)
    #: the paint bucket: ``"contiguous"`` (the connected region under the click) or ``"global"`` (every
    #: pixel with the clicked label)
    fill_mode = Choice("contiguous", choices=FILL_MODES).tag(sync=True)
    #: the only label brush, eraser, lasso and fill may change: -1 every label (default), 0 only the
    #: background (napari's *preserve labels*; the eraser then removes only the active class), k only k
    paint_over = BoundedInt(-1, low=-1, high=lambda p: p._num_classes - 1, what="a label or -1 (every label)").tag(
        sync=True
    )
    #: ``"#rrggbb"`` per class (the legend's colour pickers set it; label 0 is never drawn)
    class_colors = ClassColors().tag(sync=True)
    #: True / False per class: hidden classes are not drawn (the legend's eye buttons; the mask keeps them)
    class_visible = ClassVisible().tag(sync=True)
    #: bumped on every change of the mask (edit, undo, redo, load, clear): observe it to follow edits
    mask_version = traitlets.Int(0, read_only=True).tag(sync=True)
    #: the mask_version the view has drawn, echoed by the browser: marimo re-runs cells on browser updates only
    _view_version = BoundedInt(0, low=0, high=lambda w: w.mask_version, what="a mask version").tag(sync=True)
    #: the last rejected edit or update ("" when fine; the browser may clear it)
    error = StatusText("").tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    #: how long the kernel took to apply the last paint/fill/polygon edit (rasterise, record, send), in ms
    last_edit_ms = traitlets.Float(0.0).tag(sync=True)
    #: browser pointer-up to kernel mask updated for the last browser edit (same-host clocks), in ms
    last_edit_latency_ms = traitlets.Float(0.0).tag(sync=True)

    def __init__(
        self,
        image: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        classes=("background", "foreground"),
        max_display: int = 1024,
        brush_size: int | None = None,
        opacity: float = 0.5,
        history_bytes: int = 64 * 1024 * 1024,
        channels_last: bool | None = None,
    ) -> None:
        source = image
        image = image_from_user(image, "image", channels_last=channels_last)
        names, palette = parse_classes(classes, WidgetValueError)
        h, w = image.shape[-2:]
        dh, dw = display_size(h, w, max_display_value(max_display))
        check_memory((h, w), 1 if image.ndim == 2 else image.shape[0])
        self._num_classes = len(names)
        traits = self.traits()
        start = {
            "brush_size": max(1, round(max(h, w) / 64)) if brush_size is None else brush_size,
            "opacity": opacity,
            "class_colors": hex_colors(palette),
            "class_visible": [True] * len(names),
        }
        start = {k: traits[k].validate(self, v) for k, v in start.items()}  # fail before the widget exists
        # numpy's zeros come from calloc: pages cost time and memory only where edits write (torch memsets)
        self._full = torch.from_numpy(np.zeros((h, w), np.uint8))
        self._proxy_size = (dh, dw)
        self._history = History(max_bytes=history_bytes)
        # from_painter() rebuilds from these: a reference to the user's image, not a copy
        self._source, self._options = source, {"max_display": max_display, "channels_last": channels_last}
        self._edit_callbacks: list = []
        super().__init__(**start)
        self.set_trait("image_shape", [h, w])
        self.set_trait("class_names", names)
        self.active_class = 1
        proxy = self._init_tiles(image, (dh, dw))  # the image pyramid (tiles) and the display proxy from it
        if mask is not None:
            try:
                self._load(mask, record=False, kind=None)
            except Exception:
                self.close()  # the comm is already open: do not leave a half-built widget behind
                raise
        with self.hold_sync():
            # tensors, not numpy arrays: traitlets compares old and new values, and `None == ndarray`
            # is an elementwise Python-object comparison (0.2 s for a 4 MB image)
            self._palette = palette
            self._image = proxy
            empty = torch.zeros((dh, dw), dtype=torch.uint8)
            self._labels = empty if mask is None else max_proxy(self._full, (dh, dw))
        self.on_msg(self._on_msg)
        self._start_warmup()  # scipy.ndimage for the paint bucket, the pyramid's coarser levels (_painter_tiles)
        self.observe(self._colors_changed, "class_colors")

    def _colors_changed(self, change) -> None:
        self._palette = palette_with(self._palette, change["new"])

    # ------------------------------------------------------------------ validation
    def _label(self, cls) -> int:
        if isinstance(cls, str):
            if cls not in self.class_names:
                raise WidgetValueError(
                    f"class: expected one of {self.class_names}; got {short_repr(cls)}.", name="class"
                )
            return self.class_names.index(cls)
        check_int(cls, "label", min_value=0, max_value=len(self.class_names) - 1)
        return cls

    # ------------------------------------------------------------------ the mask
    @property
    def mask(self) -> torch.Tensor:
        """The ``(H, W)`` uint8 label map at full resolution (a copy: editing it changes nothing)."""
        return self._full.clone()

    @mask.setter
    def mask(self, value: torch.Tensor) -> None:
        self._load(value, record=True, kind="load")

    def mask_of(self, cls: int | str) -> torch.Tensor:
        """``(H, W)`` bool: where class ``cls`` (a name or a label) is painted."""
        return self._full == self._label(cls)

    @timed_edit
    def _load(self, value, *, record: bool, kind: str | None) -> None:
        h, w = self.image_shape
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        check_tensor(value, "mask")
        if tuple(value.shape) != (h, w):
            hint = ""
            if value.numel() == h * w and value.ndim != 2:
                hint = f" Reshape it: `mask.reshape({h}, {w})`."
            elif tuple(value.shape) == (w, h):
                hint = " It looks transposed (W, H): masks are (rows, cols)."
            raise ShapeError(f"mask: expected (H, W) = ({h}, {w}) to match the image; got {describe(value)}.{hint}")
        if value.dtype != torch.bool:
            check_labels(value, "mask", num_classes=len(self.class_names))
        new = value.detach().to("cpu", torch.uint8)
        self._commit(0, 0, new, record=record, kind=kind)

    # ------------------------------------------------------------------ tools
    @staticmethod
    def _points(points) -> torch.Tensor:
        t = points if isinstance(points, torch.Tensor) else torch.as_tensor(points, dtype=torch.float32)
        t = t.detach().cpu()
        return t.view(1, 2) if t.shape == (2,) else t

    def _radius(self, radius) -> float:
        if radius is None:
            return self.brush_size / 2
        return float(check_number(radius, "radius", min=0, max=MAX_RADIUS))

    def paint_stroke(self, points, *, label=None, radius=None) -> None:
        """Paint a round-brush stroke through ``points`` ((N, 2) (row, col)) with ``label``.

        Every tool honours ``paint_over`` (e.g. ``paint_over = 0`` leaves painted pixels alone).
        """
        label = self.active_class if label is None else self._label(label)
        self._stroke(self._points(points), self._radius(radius), label)

    def erase_stroke(self, points, *, radius=None) -> None:
        """Paint the background label 0 along ``points``."""
        self._stroke(self._points(points), self._radius(radius), 0, erase=True)

    def fill_at(self, row: int, col: int, *, label=None) -> None:
        """Fill with ``label`` the region under ``(row, col)``: its 4-connected region of equal labels
        (``fill_mode = "contiguous"``) or every pixel with that label (``"global"``)."""
        label = self.active_class if label is None else self._label(label)
        self._fill(*self._pixel(row, col), label)

    def pick_at(self, row: int, col: int) -> int:
        """Make the label under ``(row, col)`` the active class (the browser's Alt+click or ``I``); returns it."""
        row, col = self._pixel(row, col)
        self.active_class = label = int(self._full[row, col])
        return label

    def _pixel(self, row, col) -> tuple[int, int]:
        h, w = self.image_shape
        check_int(row, "row", min_value=0, max_value=h - 1)
        check_int(col, "col", min_value=0, max_value=w - 1)
        return row, col

    def fill_polygon(self, vertices, *, label=None) -> None:
        """Fill the closed polygon ``vertices`` ((N, 2) (row, col); even-odd rule) with ``label``."""
        label = self.active_class if label is None else self._label(label)
        self._polygon(self._points(vertices), label)

    @timed_edit
    def clear(self) -> None:
        """Set every pixel to the background (one undoable step)."""
        self._commit(0, 0, torch.zeros_like(self._full), kind="clear")

    @timed_edit
    def undo(self) -> None:
        step = self._history.undo()
        if step is not None:
            self._commit(step.row, step.col, step.before(), record=False, kind="undo")

    @timed_edit
    def redo(self) -> None:
        step = self._history.redo()
        if step is not None:
            self._commit(step.row, step.col, step.after(), record=False, kind="redo")

    @timed_edit
    def _stroke(self, points, radius, label, edit_id=None, max_spans=None, erase=False):
        hit = stroke_window(tuple(self._full.shape), points, radius, max_spans=max_spans)
        self._apply_window(hit, label, edit_id, kind="eraser" if erase else "brush", erase=erase)

    @timed_edit
    def _polygon(self, vertices, label, edit_id=None, max_spans=None):
        hit = polygon_window(tuple(self._full.shape), vertices, max_spans=max_spans)
        self._apply_window(hit, label, edit_id, kind="lasso")

    @timed_edit
    def _fill(self, row, col, label, edit_id=None):
        seed = int(self._full[row, col])
        target = paint_target(self.paint_over, False, self.active_class)
        if seed == label or (target is not None and seed != target):  # nothing would change
            return self._apply_window(None, label, edit_id, kind="fill")
        if self.fill_mode == "global":
            region = self._full == seed
        else:
            region = flood_fill_mask(self._full, row, col)
        rows, cols = region.any(1).nonzero()[:, 0], region.any(0).nonzero()[:, 0]
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        self._apply_window((r0, c0, region[r0:r1, c0:c1]), label, edit_id, kind="fill")

    def _apply_window(self, hit, label, edit_id, *, kind, erase=False):
        if hit is None:  # nothing inside the image: still answer the browser so it drops its preview
            self._send_patch(0, 0, 0, 0, edit_id)
            return
        r0, c0, window = hit
        old = self._full[r0 : r0 + window.shape[0], c0 : c0 + window.shape[1]]
        target = paint_target(self.paint_over, erase, self.active_class)
        if target is not None:
            window = window & (old == target)
        new = torch.where(window, torch.tensor(label, dtype=torch.uint8), old)
        self._commit(r0, c0, new, edit_id=edit_id, kind=kind, label=label)

    def _commit(self, r0, c0, new, *, record=True, edit_id=None, kind=None, label=None) -> None:
        """Write ``new`` at ``(r0, c0)``, record the step, send the changed proxy box, tell ``on_edit``.

        ``kind`` None (the initial mask) does not count as an edit.
        """
        r1, c1 = r0 + new.shape[0], c0 + new.shape[1]
        old = self._full[r0:r1, c0:c1]
        changed = not torch.equal(old, new)
        summary = None
        if changed:
            if record:
                self._history.push(r0, c0, old.clone(), new)
            if kind is not None and self._edit_callbacks:
                pixels = int((old != new).sum())
                summary = {"kind": kind, "label": label, "box": (r0, r1, c0, c1), "pixels": pixels}
            self._full[r0:r1, c0:c1] = new
        with self.hold_sync():  # mask_version goes in the same state message as can_undo / can_redo
            if changed and kind is not None:
                self.set_trait("mask_version", self.mask_version + 1)
            versions = None
            if changed:  # the labels tiles change: a new version (the patch tells the browser which)
                old_version = self._labels_version()
                self._bump_tile_layer("labels")
                versions = (old_version, self._labels_version())
            self._send_patch(r0, r1, c0, c1, edit_id, versions)
        if summary is not None:
            self._notify({**summary, "version": self.mask_version})
