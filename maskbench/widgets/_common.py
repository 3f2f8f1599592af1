"""What the widgets share: one error family, typed traits, the guard on browser updates, helpers.

* Errors: :class:`WidgetValueError` / :class:`WidgetTypeError` are maskbench errors
  (``MaskbenchError`` + ``ValueError`` / ``TypeError``) and ``traitlets.TraitError`` s, so
  ``except ValueError``, ``except maskbench.MaskbenchError`` and traitlets' own handling all work.
* Typed traits (lonboard's ``_layer.py`` style): each synced option is a ``traitlets`` trait whose
  ``validate`` does the whole check (numbers through :func:`maskbench._checks.check_number`), so a
  Python assignment and a browser update are checked by the same code. Bounds that depend on the
  widget (batch size, number of classes) are read from the widget through a callable.
* :class:`GuardedState`: one whitelist of the traits the browser may set; a bad browser update is
  rejected whole, warned about, shown in the widget, and the view is put back in sync.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Sequence

import torch
import traitlets

from maskbench._checks import ArgumentError, ArgumentTypeError, MaskbenchError, check_number, short_repr
from maskbench.widgets._transport import MAX_MESSAGE_BYTES

__all__ = [
    "warn_browser",
    "WidgetValueError",
    "WidgetTypeError",
    "MAX_DISPLAY",
    "max_display_value",
    "image_from_user",
    "UnitFloat",
    "FiniteFloat",
    "Flag",
    "BoundedInt",
    "BatchIndex",
    "Choice",
    "StatusText",
    "GuardedState",
    "one_torch_thread",
]


def warn_browser(message: str) -> None:
    """Warn about a bad message from the browser, with a throwaway warning registry.

    ``warnings.warn`` remembers every distinct text in the caller's ``__warningregistry__``, so a
    flood of bad browser messages (each naming its own bad value) would grow the kernel's memory.
    """
    warnings.warn_explicit(message, UserWarning, __file__, 0, module=__name__, registry={})


#: The largest ``max_display``: an RGBA display proxy of that long side must fit in one message.
MAX_DISPLAY = math.isqrt(MAX_MESSAGE_BYTES // 4)


class WidgetValueError(ArgumentError, traitlets.TraitError):
    """A widget property or message got a value it does not accept (state unchanged)."""


class WidgetTypeError(ArgumentTypeError, traitlets.TraitError):
    """A widget property or message got a value of the wrong Python type (state unchanged)."""


def _as_widget_error(err: MaskbenchError) -> traitlets.TraitError:
    cls = WidgetTypeError if isinstance(err, TypeError) else WidgetValueError
    return cls(str(err), name=err.name, expected=err.expected, got=err.got)


def widget_number(value: object, name: str, *, integer: bool = False) -> int | float:
    """:func:`check_number` (finite; ``10**400`` rejected, not ``OverflowError``) with widget errors."""
    try:
        return check_number(value, name, integer=integer)
    except (ArgumentError, ArgumentTypeError) as err:
        raise _as_widget_error(err) from None


def max_display_value(value: object) -> int:
    """``max_display``: the long side of a widget's display proxy, an int in ``[1, MAX_DISPLAY]``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_DISPLAY:
        raise WidgetValueError(
            f"max_display: expected an int in [1, {MAX_DISPLAY}]; got {value}: a {value}x{value} RGBA proxy "
            f"would be {4 * value * value} bytes, over the {MAX_MESSAGE_BYTES}-byte message limit; "
            f"use max_display <= {MAX_DISPLAY}.",
            name="max_display",
        )
    value = widget_number(value, "max_display", integer=True)
    if value < 1:
        raise WidgetValueError(f"max_display: expected an int in [1, {MAX_DISPLAY}]; got {value}.", name="max_display")
    return value


_CHANNELS = (1, 3, 4)


def image_from_user(image: object, name: str = "image", *, channels_last: bool | None = None, max_ndim: int = 3):
    """What users have -> a channels-first tensor: ``(H, W)``, ``(C, H, W)`` (or ``(B, C, H, W)``).

    Accepts torch tensors (channels first: ``(C, H, W)``), numpy arrays (channels last, numpy's and
    PIL's habit: ``(H, W, C)``), PIL images and DLPack/array-likes; uint8, bool or floating values
    (floating is read as [0, 1]). Torch tensors are channels first; other arrays channels last,
    unless only their first dim can be a channel count (1, 3 or 4), as in ``tensor.numpy()`` of a
    ``(3, H, W)`` image. ``channels_last=`` overrides both (e.g. a torch ``(H, W, 3)`` tensor).
    Errors name ``name`` (the user's argument), not an internal tensor.
    """
    from maskbench._checks import DTypeError, ShapeError, describe
    from maskbench.io import as_tensor

    if channels_last is not None and not isinstance(channels_last, bool):
        raise WidgetTypeError(f"channels_last: expected True, False or None; got {short_repr(channels_last)}.")
    torch_first = isinstance(image, torch.Tensor) or type(image).__module__.startswith("PIL.")
    try:
        x = as_tensor(image)
    except MaskbenchError:
        x = None
    if x is None or x.is_complex():
        raise WidgetTypeError(
            f"{name}: expected a torch.Tensor, numpy array or PIL image (uint8 or float in [0, 1]); got "
            f"{describe(image) if x is None else describe(x)}.",
            name=name,
        )
    if not 2 <= x.ndim <= max_ndim:
        want = "(H, W), (C, H, W) or (H, W, C)" + (", or a batch of them" if max_ndim == 4 else "")
        raise ShapeError(f"{name}: expected {want}; got {describe(x)}.", name=name)
    if x.ndim >= 3:
        first, last = x.shape[-3] in _CHANNELS, x.shape[-1] in _CHANNELS
        if type(image).__module__.startswith("PIL."):
            channels_last = False  # as_tensor already gives PIL images channels first
        elif channels_last is None:  # torch: channels first; arrays: last unless only the first end fits
            channels_last = False if torch_first else (last or not first)
        if channels_last:
            x = x.movedim(-1, -3)
        if x.shape[-3] not in _CHANNELS:
            raise ShapeError(
                f"{name}: expected 1, 3 or 4 channels; got {describe(x)} "
                f"({'channels last' if channels_last else 'channels first'}). "
                f"Pick the channels to show, e.g. `image[..., :3]` (numpy) or `image[:3]` (torch), or pass channels_last.",
                name=name,
            )
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.bool)):
        raise DTypeError(
            f"{name}: expected uint8 or floating values in [0, 1]; got {describe(x)}. "
            f"Rescale it, e.g. `image.astype('float32') / image.max()` (numpy) or `image.float() / image.max()`.",
            name=name,
        )
    if x.numel() == 0:
        raise ShapeError(f"{name}: expected a non-empty image; got {describe(x)}.", name=name)
    return x


def _resolve(bound, obj):
    return bound(obj) if callable(bound) else bound


class UnitFloat(traitlets.Float):
    """A number in [0, 1] (opacity, threshold), stored as a Python float.

    Ints and numpy floats are accepted; ``bool``, strings, NaN, +-Inf and numbers too large for a
    float are rejected. ``what`` names the quantity in messages (``"a probability"``); ``hint(obj)``
    adds a fix to an out-of-range message; ``tensors=True`` also accepts a one-element tensor (e.g.
    ``maskbench.threshold_otsu(probs)``; reading it is one host sync, fine for a Python assignment).
    """

    def __init__(self, default_value=0.5, *, what: str = "a number", hint: Callable | None = None, tensors=False, **kw):
        super().__init__(default_value, **kw)
        self.what, self.hint, self.tensors = what, hint, tensors

    def validate(self, obj, value):
        if self.tensors and isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
            value = value.item()
        value = float(widget_number(value, self.name))
        if not 0.0 <= value <= 1.0:
            extra = self.hint(obj) if self.hint is not None else ""
            raise WidgetValueError(
                f"{self.name}: expected {self.what} in [0, 1]; got {value}.{extra}", name=self.name, got=repr(value)
            )
        return value


class FiniteFloat(traitlets.Float):
    """Any finite number (a fill value), stored as a Python float; ``bool``, NaN and +-Inf are rejected.

    Whether the widget's data can hold the number (a uint8 image cannot hold 0.5) is checked by the
    widget's cross-validator (``@traitlets.validate``), which runs after this.
    """

    def validate(self, obj, value):
        return float(widget_number(value, self.name))


class Flag(traitlets.Bool):
    """``True`` or ``False`` exactly (``1``, ``"yes"`` or ``None`` are rejected; numpy bools accepted)."""

    def validate(self, obj, value):
        if type(value).__name__ == "bool_":
            value = bool(value)
        if not isinstance(value, bool):
            raise WidgetTypeError(f"{self.name}: expected True or False; got {short_repr(value)}.", name=self.name)
        return value


class BoundedInt(traitlets.Int):
    """A Python int (not ``bool``, not ``1.0``) in ``[low, high]``; ``high`` may be ``high(widget)``.

    ``what`` names the quantity in messages (``"a label"``, ``"a diameter"``); ``unit`` follows the
    range (``"image pixels"``).
    """

    def __init__(self, default_value=0, *, low: int = 0, high=None, what: str = "an int", unit: str = "", **kw):
        super().__init__(default_value, **kw)
        self.low, self.high, self.what, self.unit = low, high, what, unit

    def _range_text(self, obj) -> str:
        high = _resolve(self.high, obj)
        unit = f" {self.unit}" if self.unit else ""
        return f"[{self.low}, {high}]{unit}" if high is not None else f">= {self.low}"

    def validate(self, obj, value):
        value = widget_number(value, self.name, integer=True)
        high = _resolve(self.high, obj)
        if value < self.low or (high is not None and value > high):
            raise WidgetValueError(
                f"{self.name}: expected {self.what} in {self._range_text(obj)}; got {value}.", name=self.name
            )
        return value


class BatchIndex(BoundedInt):
    """The batch item shown: an int in ``[0, B - 1]`` where ``B`` is ``size(widget)``."""

    def __init__(self, default_value=0, *, size: Callable, **kw):
        super().__init__(default_value, low=0, high=lambda obj: size(obj) - 1, **kw)
        self.size = size

    def validate(self, obj, value):
        value = widget_number(value, self.name, integer=True)
        b = self.size(obj)
        if not 0 <= value < b:
            raise WidgetValueError(
                f"{self.name}: expected an int in [0, {b - 1}] for a batch of {b}; got {value}.", name=self.name
            )
        return value


class Choice(traitlets.Unicode):
    """One string of a fixed set; ``choices`` may be ``choices(widget)`` (e.g. modes a mask allows).

    ``why(widget, value)`` may explain a rejection (``"'weighted' needs a floating mask"``).
    """

    def __init__(self, default_value: str, *, choices, why: Callable | None = None, **kw):
        super().__init__(default_value, **kw)
        self.choices, self.why = choices, why

    def validate(self, obj, value):
        choices: Sequence[str] = tuple(_resolve(self.choices, obj))
        if not isinstance(value, str) or value not in choices:
            extra = self.why(obj, value) if self.why is not None and isinstance(value, str) else ""
            raise WidgetValueError(
                f"{self.name}: expected one of {', '.join(map(repr, choices))}; got {short_repr(value)}"
                f"{f' ({extra})' if extra else ''}.",
                name=self.name,
                got=short_repr(value),
            )
        return value


class StatusText(traitlets.Unicode):
    """The widget's status line: the last error ("" when fine). The browser may only clear it."""


class GuardedState:
    """Mixin for widget models: browser updates are validated whole, callback errors reach the user.

    ``_from_browser`` is the one whitelist of traits the browser may set; everything else (shapes,
    class names, proxies, results) is kernel -> browser only. Each whitelisted trait validates
    itself (a typed trait above, plus any ``@traitlets.validate`` cross-validator of the widget).
    """

    _from_browser: tuple[str, ...] = ()

    def set_state(self, sync_data: dict) -> None:
        """Browser -> kernel: reject unknown keys and bad values whole, with a warning; keep state."""
        try:
            if not isinstance(sync_data, dict):
                raise WidgetTypeError(f"state: expected an object; got {short_repr(sync_data)}")
            traits = self.traits()
            for name, value in sync_data.items():
                if name not in self._from_browser:
                    raise WidgetValueError(f"{short_repr(name)} cannot be set from the browser", name=str(name)[:80])
                if isinstance(traits[name], StatusText) and value != "":
                    raise WidgetValueError(f"{name}: the browser may only clear it; got {short_repr(value)}", name=name)
                traits[name]._validate(self, value)
            super().set_state(sync_data)
        except (traitlets.TraitError, ValueError, TypeError, OverflowError) as err:
            self._report(f"rejected a browser update: {err}")
            keys = [k for k in sync_data if k in self.keys] if isinstance(sync_data, dict) else []
            if keys:
                self.send_state(keys)  # put the view back in sync

    def _report(self, message: str) -> None:
        """Show ``message`` in the widget's status line and warn (a kernel log alone goes unseen)."""
        message = message if len(message) <= 2000 else message[:1985] + "... (truncated)"
        self.error = message
        warn_browser(f"{type(self).__name__}: {message}")

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
