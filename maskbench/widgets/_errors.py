"""The widgets' error classes (one family, so `except WidgetValueError` catches any widget's) and
the shared handling of browser updates and callback failures."""

from __future__ import annotations

import warnings

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
