"""What the widgets share: one error family (`except WidgetValueError` catches any widget's), the
handling of browser updates and callback failures, and running small kernel work on one thread."""

from __future__ import annotations

import contextlib
import warnings

import torch
import traitlets


class WidgetValueError(traitlets.TraitError, ValueError):
    """A widget property got a value it does not accept (state unchanged)."""


class WidgetTypeError(traitlets.TraitError, TypeError):
    """A widget property got a value of the wrong type (state unchanged)."""


class GuardedState:
    """Mixin for widget models: browser updates are validated whole, callback errors reach the user.

    A subclass sets ``_from_browser`` (the traits the browser may set) and, in ``__init__``,
    ``self._validators`` (trait name -> function that returns the checked value or raises).
    """

    _from_browser: tuple[str, ...] = ()

    def set_state(self, sync_data: dict) -> None:
        """Browser -> kernel: reject unknown keys and bad values whole, with a warning; keep state."""
        try:
            for name, value in sync_data.items():
                if name not in self._from_browser:
                    raise WidgetValueError(f"{name!r} cannot be set from the browser")
                self._validators[name](value)
            super().set_state(sync_data)
        except (traitlets.TraitError, ValueError, TypeError) as err:
            self._report(f"rejected a browser update: {err}")
            self.send_state([k for k in sync_data if k in self.keys])  # put the view back in sync

    def _report(self, message: str) -> None:
        """Show ``message`` in the widget's status line and warn (a kernel log alone goes unseen)."""
        self.error = message
        warnings.warn(f"{type(self).__name__}: {message}", UserWarning, stacklevel=3)

    def _guard(self, fn) -> None:
        """Run a kernel callback; show a failure in the widget (and warn) instead of losing it in a log."""
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - any failure must reach the user
            self._report(f"{type(err).__name__}: {err}")
        else:
            self.error = ""


@contextlib.contextmanager
def one_torch_thread():
    """Run the block on one intra-op torch thread, then restore the caller's setting (process-wide).

    Widget callbacks work on small tensors (a stroke's box, one display-sized item): there extra
    threads cost more in hand-offs than they save, and on a busy machine waiting for a descheduled
    worker made them ~10-50x slower (measured: a 1024x1024 stroke, a 303x384 inpaint).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
