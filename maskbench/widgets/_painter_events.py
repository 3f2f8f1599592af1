"""The Painter's edits as events: timing (``timed_edit``), ``on_edit``, :meth:`from_painter`, and the mask's
files (``save`` / ``load``) (a mixin).

Every change of the mask bumps ``mask_version`` (in ``Painter._commit``) and calls the ``on_edit``
callbacks with a small summary; the labels themselves stay in the kernel (``painter.mask``).
"""

from __future__ import annotations

import functools
import time

from maskbench._checks import describe
from maskbench.widgets._common import WidgetTypeError, one_torch_thread

__all__ = ["EditEvents", "timed_edit"]


def timed_edit(method):
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


class EditEvents:
    @classmethod
    def from_painter(cls, old, image=None, **overrides):
        """A new Painter that carries on from ``old``: its mask, image, classes and colours, settings.

        Re-running ``painter = Painter(image)`` starts from an empty mask and the old annotations are
        gone from view; ``painter = Painter.from_painter(painter)`` keeps them (the undo history
        starts afresh). ``image`` and keyword arguments of :class:`Painter` override what is carried.
        """
        if not isinstance(old, EditEvents):
            raise WidgetTypeError(f"old: expected a Painter; got {describe(old)}.", name="old")
        kwargs = {
            **old._options,
            "mask": old.mask,
            "classes": dict(zip(old.class_names, old.class_colors)),
            "brush_size": old.brush_size,
            "opacity": old.opacity,
            **overrides,
        }
        new = cls(old._source if image is None else image, **kwargs)
        with new.hold_sync():
            for name in ("tool", "fill_mode", "paint_over", "class_visible", "active_class"):
                setattr(new, name, getattr(old, name))
        return new

    def on_edit(self, callback, *, remove: bool = False) -> None:
        """Call ``callback(edit)`` after every change of the mask (``remove=True`` unregisters it).

        ``edit`` is a small dict: ``kind`` (``"brush"``, ``"eraser"``, ``"fill"``, ``"lasso"``, ``"undo"``,
        ``"redo"``, ``"load"``, ``"clear"``), ``label`` (painted label or None), ``box`` (``(r0, r1, c0,
        c1)``, the changed rows and columns, half-open), ``pixels`` (how many changed) and ``version``
        (the new ``mask_version``). Read ``painter.mask`` for the labels. A callback that raises does
        not stop the edit: its error is shown in the widget (and warned), never raised into the comm.
        """
        if not callable(callback):
            raise WidgetTypeError(f"callback: expected a callable; got {describe(callback)}.", name="callback")
        if remove:
            self._edit_callbacks = [c for c in self._edit_callbacks if c != callback]  # == : bound methods
        else:
            self._edit_callbacks = [*self._edit_callbacks, callback]

    def _notify(self, summary: dict) -> None:
        for callback in self._edit_callbacks:
            try:
                callback(dict(summary))
            except Exception as err:  # noqa: BLE001 - shown in the widget, not raised into the comm
                name = getattr(callback, "__name__", type(callback).__name__)
                self._report(f"on_edit callback {name} failed: {type(err).__name__}: {err}")

    def save(self, path) -> None:
        """Write the label map with :func:`maskbench.save_mask` (``.png`` or ``.npy``)."""
        from maskbench.io import save_mask

        save_mask(path, self._full)

    def load(self, path) -> None:
        """Load a label map with :func:`maskbench.load_mask` (validated; one undoable step)."""
        from maskbench.io import load_mask

        self.mask = load_mask(path)
