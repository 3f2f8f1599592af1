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
"""

from __future__ import annotations

import functools
import pathlib
import time
import warnings

import anywidget
import numpy as np
import torch
import traitlets

from maskbench._checks import (
    ArgumentError,
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
from maskbench.render.proxy import max_proxy, max_proxy_box, rgba_proxy
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
    one_torch_thread,
)
from maskbench.widgets._history import History
from maskbench.widgets._painter_proto import (
    MAX_RADIUS,
    MAX_SPANS,
    TOOLS,
    Rejected,
    parse_classes,
    parse_edit,
)
from maskbench.widgets._transport import ArrayTrait

__all__ = ["Painter", "TOOLS", "PainterValueError", "WidgetValueError", "WidgetTypeError"]

_STATIC = pathlib.Path(__file__).parent / "static"
_PATCH_BYTES = 4 * 1024 * 1024  # proxy patches larger than this go in row bands


#: Old name of the widget value error (one family for every widget now).
PainterValueError = WidgetValueError
#: What the browser may set; everything else (shape, class names, proxies, undo flags) is kernel -> browser.
_FROM_BROWSER = ("tool", "active_class", "brush_size", "opacity", "error")


def _edit(method):
    """Run an edit on one intra-op thread and record how long it took in ``last_edit_ms``.

    Edits touch a stroke's bounding box, not the image: on such small tensors extra threads cost
    more in hand-offs than they save, and on a busy machine they made a 1024x1024 stroke ~10x slower.
    """

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            with one_torch_thread():
                return method(self, *args, **kwargs)
        finally:
            self.last_edit_ms = (time.perf_counter() - start) * 1000

    return run


class Painter(GuardedState, anywidget.AnyWidget):
    """Paint class labels over an image; every tool is also a method (for notebooks and tests).

    Args:
        image: grey ``(H, W)``, a torch ``(C, H, W)`` (C in 1, 3, 4), a numpy ``(H, W, C)`` or a PIL
            image; floating in [0, 1] or uint8.
        mask: optional initial ``(H, W)`` integer labels (< number of classes) or bool mask.
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
        image = image_from_user(image, "image", channels_last=channels_last)
        names, palette = parse_classes(classes, WidgetValueError)
        h, w = image.shape[-2:]
        dh, dw = display_size(h, w, max_display_value(max_display))
        self._num_classes = len(names)
        traits = self.traits()
        start = {
            "brush_size": max(1, round(max(h, w) / 64)) if brush_size is None else brush_size,
            "opacity": opacity,
        }
        start = {k: traits[k].validate(self, v) for k, v in start.items()}  # fail before the widget exists
        self._full = torch.zeros((h, w), dtype=torch.uint8)
        self._proxy_size = (dh, dw)
        self._history = History(max_bytes=history_bytes)
        super().__init__(**start)
        self.set_trait("image_shape", [h, w])
        self.set_trait("class_names", names)
        self.active_class = 1
        if mask is not None:
            try:
                self._load(mask, record=False)
            except Exception:
                self.close()  # the comm is already open: do not leave a half-built widget behind
                raise
        with self.hold_sync():
            # tensors, not numpy arrays: traitlets compares old and new values, and `None == ndarray`
            # is an elementwise Python-object comparison (0.2 s for a 4 MB image)
            self._palette = palette
            self._image = rgba_proxy(image, (dh, dw)).cpu()
            empty = torch.zeros((dh, dw), dtype=torch.uint8)
            self._labels = empty if mask is None else max_proxy(self._full, (dh, dw))
        self.on_msg(self._on_msg)

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
        self._load(value, record=True)

    def mask_of(self, cls: int | str) -> torch.Tensor:
        """``(H, W)`` bool: where class ``cls`` (a name or a label) is painted."""
        return self._full == self._label(cls)

    @_edit
    def _load(self, value, *, record: bool) -> None:
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
        self._commit(0, 0, new, record=record)

    def save(self, path) -> None:
        """Write the label map with :func:`maskbench.save_mask` (``.png`` or ``.npy``)."""
        from maskbench.io import save_mask

        save_mask(path, self._full)

    def load(self, path) -> None:
        """Load a label map with :func:`maskbench.load_mask` (validated; one undoable step)."""
        from maskbench.io import load_mask

        self.mask = load_mask(path)

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
        """Paint a round-brush stroke through ``points`` ((N, 2) (row, col)) with ``label``."""
        label = self.active_class if label is None else self._label(label)
        self._stroke(self._points(points), self._radius(radius), label)

    def erase_stroke(self, points, *, radius=None) -> None:
        """Paint the background label 0 along ``points``."""
        self._stroke(self._points(points), self._radius(radius), 0)

    def fill_at(self, row: int, col: int, *, label=None) -> None:
        """Flood fill the 4-connected region of the label under ``(row, col)`` with ``label``."""
        label = self.active_class if label is None else self._label(label)
        h, w = self.image_shape
        check_int(row, "row", min_value=0, max_value=h - 1)
        check_int(col, "col", min_value=0, max_value=w - 1)
        self._fill(row, col, label)

    def fill_polygon(self, vertices, *, label=None) -> None:
        """Fill the closed polygon ``vertices`` ((N, 2) (row, col); even-odd rule) with ``label``."""
        label = self.active_class if label is None else self._label(label)
        self._polygon(self._points(vertices), label)

    @_edit
    def clear(self) -> None:
        """Set every pixel to the background (one undoable step)."""
        self._commit(0, 0, torch.zeros_like(self._full))

    @_edit
    def undo(self) -> None:
        step = self._history.undo()
        if step is not None:
            self._commit(step.row, step.col, step.before(), record=False)

    @_edit
    def redo(self) -> None:
        step = self._history.redo()
        if step is not None:
            self._commit(step.row, step.col, step.after(), record=False)

    @_edit
    def _stroke(self, points, radius, label, edit_id=None, max_spans=None):
        hit = stroke_window(tuple(self._full.shape), points, radius, max_spans=max_spans)
        self._apply_window(hit, label, edit_id)

    @_edit
    def _polygon(self, vertices, label, edit_id=None, max_spans=None):
        hit = polygon_window(tuple(self._full.shape), vertices, max_spans=max_spans)
        self._apply_window(hit, label, edit_id)

    @_edit
    def _fill(self, row, col, label, edit_id=None):
        region = flood_fill_mask(self._full, row, col)
        rows, cols = region.any(1).nonzero()[:, 0], region.any(0).nonzero()[:, 0]
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        self._apply_window((r0, c0, region[r0:r1, c0:c1]), label, edit_id)

    def _apply_window(self, hit, label, edit_id):
        if hit is None:  # nothing inside the image: still answer the browser so it drops its preview
            self._send_patch(0, 0, 0, 0, edit_id)
            return
        r0, c0, window = hit
        old = self._full[r0 : r0 + window.shape[0], c0 : c0 + window.shape[1]]
        self._commit(r0, c0, torch.where(window, torch.tensor(label, dtype=torch.uint8), old), edit_id=edit_id)

    def _commit(self, r0, c0, new, *, record=True, edit_id=None) -> None:
        """Write ``new`` at ``(r0, c0)``, record the step, and send the changed proxy box."""
        r1, c1 = r0 + new.shape[0], c0 + new.shape[1]
        old = self._full[r0:r1, c0:c1]
        if not torch.equal(old, new):
            if record:
                self._history.push(r0, c0, old.clone(), new)
            self._full[r0:r1, c0:c1] = new
        self._send_patch(r0, r1, c0, c1, edit_id)

    # ------------------------------------------------------------------ transport
    def _send_patch(self, r0, r1, c0, c1, edit_id) -> None:
        with self.hold_sync():
            self.can_undo, self.can_redo = self._history.can_undo, self._history.can_redo
            if edit_id is not None:
                self.error = ""
        if r1 <= r0 or c1 <= c0:
            self.send({"type": "patch", "id": edit_id, "y": 0, "x": 0, "h": 0, "w": 0, "done": True})
            return
        y0, y1, x0, x1 = max_proxy_box(tuple(self.image_shape), self._proxy_size, r0, r1, c0, c1)
        band = max(1, _PATCH_BYTES // max(1, x1 - x0))
        for y in range(y0, y1, band):
            ye = min(y1, y + band)
            patch = max_proxy(self._full, self._proxy_size, (y, ye), (x0, x1)).numpy()
            head = {"type": "patch", "id": edit_id, "y": y, "x": x0, "h": ye - y, "w": x1 - x0, "done": ye == y1}
            self.send(head, [memoryview(np.ascontiguousarray(patch)).cast("B")])

    def _send_full(self) -> None:
        self._labels = max_proxy(self._full, self._proxy_size)

    def _on_msg(self, _widget, content, buffers) -> None:
        """Browser -> kernel custom messages; nothing raised here reaches the caller (the comm)."""
        if not isinstance(content, dict):
            return self._reject(None, f"message: expected an object; got {type(content).__name__}")
        kind, edit_id = content.get("type"), content.get("id")
        if not (
            edit_id is None or (isinstance(edit_id, int) and not isinstance(edit_id, bool) and abs(edit_id) < 2**53)
        ):
            edit_id = None  # echoed back to the browser: only a JSON-safe int or nothing
        try:
            if kind == "hello":
                return self._send_full()
            if kind in ("undo", "redo", "clear"):
                return getattr(self, kind)()
            if kind != "edit":
                raise Rejected(
                    f"message type: expected 'edit', 'undo', 'redo', 'clear' or 'hello'; got {short_repr(kind)}"
                )
            self._browser_edit(content, buffers or [], edit_id)
            sent = content.get("t0")
            if isinstance(sent, (int, float)) and not isinstance(sent, bool) and abs(sent) < 1e300:
                self.last_edit_latency_ms = max(0.0, time.time() * 1000 - float(sent))
        except Rejected as err:
            self._reject(edit_id, str(err))
        except Exception as err:  # noqa: BLE001 - a failed edit must reach the user, not the kernel log
            self._reject(edit_id, f"{type(err).__name__}: {err}")

    def _reject(self, edit_id, message: str) -> None:
        message = message if len(message) <= 2000 else message[:1985] + "... (truncated)"
        message = f"Painter rejected a browser edit: {message}. The mask is unchanged."
        warnings.warn(message, stacklevel=2)
        self.error = message
        self.send({"type": "reject", "id": edit_id, "message": message})

    def _browser_edit(self, content, buffers, edit_id) -> None:
        edit = parse_edit(content, buffers, tuple(self.image_shape), len(self.class_names))
        try:
            if edit.tool == "fill":
                self._fill(edit.row, edit.col, edit.label, edit_id)
            elif edit.tool == "lasso":
                self._polygon(edit.points, edit.label, edit_id, max_spans=MAX_SPANS)
            else:
                label = 0 if edit.tool == "eraser" else edit.label
                self._stroke(edit.points, edit.radius, label, edit_id, max_spans=MAX_SPANS)
        except ArgumentError as err:  # over the work cap of one message: nothing was computed
            raise Rejected(str(err)) from None
