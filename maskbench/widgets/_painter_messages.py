"""The Painter's custom messages both ways (the protocol is in :mod:`._painter_proto`).

A mixin of :class:`maskbench.widgets.painter.Painter`: nothing raised here reaches the comm; a bad
message is warned about, shown in the widget and answered with a ``reject`` so the view drops its
preview.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from maskbench._checks import ArgumentError, short_repr
from maskbench.render.proxy import max_proxy, max_proxy_box
from maskbench.widgets._painter_proto import MAX_SPANS, Rejected, _is_int, parse_edit

__all__ = ["BrowserMessages"]

_PATCH_BYTES = 4 * 1024 * 1024  # proxy patches larger than this go in row bands


class BrowserMessages:
    def _on_msg(self, _widget, content, buffers) -> None:
        """Browser -> kernel custom messages; nothing raised here reaches the caller (the comm)."""
        if self._handle_tiles_message(content, buffers):  # {type: "tiles"}: answered (or refused) there
            return None
        if not isinstance(content, dict):
            return self._reject(None, f"message: expected an object; got {type(content).__name__}")
        kind, edit_id = content.get("type"), content.get("id")
        if not (edit_id is None or (_is_int(edit_id) and abs(edit_id) < 2**53)):
            edit_id = None  # echoed back to the browser: only a JSON-safe int or nothing
        try:
            if kind == "hello":
                return self._send_full()
            if kind in ("undo", "redo", "clear"):
                return getattr(self, kind)()
            if kind == "pick":
                return self._browser_pick(content)
            if kind != "edit":
                raise Rejected(
                    f"message type: expected 'edit', 'pick', 'undo', 'redo', 'clear', 'hello' or 'tiles'; got {short_repr(kind)}"
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

    def _browser_pick(self, content) -> None:
        h, w = self.image_shape
        row, col = content.get("row"), content.get("col")
        if not (_is_int(row) and _is_int(col) and 0 <= row < h and 0 <= col < w):
            raise Rejected(f"pick: expected ints inside the {h}x{w} image; got ({short_repr(row)}, {short_repr(col)})")
        self.pick_at(row, col)

    def _browser_edit(self, content, buffers, edit_id) -> None:
        edit = parse_edit(content, buffers, tuple(self.image_shape), len(self.class_names))
        try:
            if edit.tool == "fill":
                self._fill(edit.row, edit.col, edit.label, edit_id)
            elif edit.tool == "lasso":
                self._polygon(edit.points, edit.label, edit_id, max_spans=MAX_SPANS)
            else:
                erase = edit.tool == "eraser"
                label = 0 if erase else edit.label
                self._stroke(edit.points, edit.radius, label, edit_id, max_spans=MAX_SPANS, erase=erase)
        except ArgumentError as err:  # over the work cap of one message: nothing was computed
            raise Rejected(str(err)) from None

    def _send_patch(self, r0, r1, c0, c1, edit_id, versions=None) -> None:
        """The changed box's proxy labels (in row bands); the last message also carries the labels tile
        versions ``versions = (old, new)`` and, for a small box, its full-resolution labels."""
        with self.hold_sync():
            self.can_undo, self.can_redo = self._history.can_undo, self._history.can_redo
            if edit_id is not None:
                self.error = ""
        extra, full = {}, []
        if versions is not None:
            extra, full = self._full_patch(r0, r1, c0, c1)
            extra.update({"from": versions[0], "version": versions[1]})
        if r1 <= r0 or c1 <= c0:
            self.send({"type": "patch", "id": edit_id, "y": 0, "x": 0, "h": 0, "w": 0, "done": True})
            return
        y0, y1, x0, x1 = max_proxy_box(tuple(self.image_shape), self._proxy_size, r0, r1, c0, c1)
        band = max(1, _PATCH_BYTES // max(1, x1 - x0))
        for y in range(y0, y1, band):
            ye = min(y1, y + band)
            patch = max_proxy(self._full, self._proxy_size, (y, ye), (x0, x1)).numpy()
            head = {"type": "patch", "id": edit_id, "y": y, "x": x0, "h": ye - y, "w": x1 - x0, "done": ye == y1}
            last = ye == y1
            self.send(
                {**head, **extra} if last else head,
                [memoryview(np.ascontiguousarray(patch)).cast("B")] + (full if last else []),
            )

    def _send_full(self) -> None:
        self._labels = max_proxy(self._full, self._proxy_size)
