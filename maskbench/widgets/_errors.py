"""The widgets' error classes: one family, so `except WidgetValueError` catches any widget's."""

from __future__ import annotations

import traitlets


class WidgetValueError(traitlets.TraitError, ValueError):
    """A widget property got a value it does not accept (state unchanged)."""


class WidgetTypeError(traitlets.TraitError, TypeError):
    """A widget property got a value of the wrong type (state unchanged)."""
