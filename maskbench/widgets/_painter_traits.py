"""The Painter's per-class traits (colours, visibility) and its "paint over" rule, shared by every tool.

``class_colors`` and ``class_visible`` hold one entry per class and may be set from the browser (the
legend's colour pickers and eye buttons), so each validates its whole list: a bad update leaves the
palette as it was (see :class:`maskbench.widgets._common.GuardedState`).
"""

from __future__ import annotations

import torch
import traitlets

from maskbench._checks import short_repr
from maskbench.render import parse_color
from maskbench.widgets._common import WidgetTypeError, WidgetValueError

__all__ = ["FILL_MODES", "ClassColors", "ClassVisible", "paint_target", "hex_colors", "palette_with"]

#: ``contiguous``: the paint bucket fills the connected region under the click; ``global``: every pixel
#: with the clicked label (napari's ``contiguous`` on / off).
FILL_MODES = ("contiguous", "global")


def paint_target(paint_over: int, erase: bool, active: int) -> int | None:
    """The only label an edit may change, or None (any label): the "paint over" rule of every tool.

    ``paint_over`` -1: every label. ``k >= 0``: paint only over pixels labelled ``k`` (0: only the
    background, napari's *preserve labels*). The eraser with ``paint_over == 0`` would erase nothing,
    so it removes only the active class then (as napari does); with ``k > 0`` it removes only ``k``.

    >>> paint_target(-1, False, 2), paint_target(0, False, 2), paint_target(0, True, 2), paint_target(3, True, 2)
    (None, 0, 2, 3)
    """
    if paint_over < 0:
        return None
    return active if erase and paint_over == 0 else paint_over


def hex_colors(palette: torch.Tensor) -> list[str]:
    """``"#rrggbb"`` of each row of a ``(K, 4)`` uint8 palette (alpha left out)."""
    return ["#{:02x}{:02x}{:02x}".format(*row[:3]) for row in palette.tolist()]


def palette_with(palette: torch.Tensor, colors: list[str]) -> torch.Tensor:
    """A copy of ``palette`` with RGB from ``colors`` (validated ``"#rrggbb"``); alphas kept."""
    out = palette.clone()
    out[:, :3] = torch.tensor([parse_color(c)[:3] for c in colors], dtype=torch.uint8)
    return out


def _per_class(trait, obj, value, what: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise WidgetTypeError(f"{trait.name}: expected a list of {what}; got {short_repr(value)}.", name=trait.name)
    k = obj._num_classes
    if len(value) != k:
        raise WidgetValueError(
            f"{trait.name}: expected one entry per class ({k}); got {len(value)}: {short_repr(value)}.",
            name=trait.name,
        )
    return list(value)


class ClassColors(traitlets.TraitType):
    """One ``"#rrggbb"`` colour per class (any colour :func:`maskbench.render.parse_color` reads is
    accepted and normalised; alpha comes from the palette). Label 0 stays transparent."""

    default_value: list = []
    info_text = 'a list of "#rrggbb" colours, one per class'

    def validate(self, obj, value):
        out = []
        for i, colour in enumerate(_per_class(self, obj, value, '"#rrggbb" colours')):
            try:
                r, g, b, _ = parse_color(colour)
            except (ValueError, TypeError):
                raise WidgetValueError(
                    f'{self.name}[{i}]: expected a colour like "#e69f00"; got {short_repr(colour)}.', name=self.name
                ) from None
            out.append(f"#{r:02x}{g:02x}{b:02x}")
        return out


class ClassVisible(traitlets.TraitType):
    """One ``True`` / ``False`` per class: hidden classes are not drawn (the mask keeps them)."""

    default_value: list = []
    info_text = "a list of bools, one per class"

    def validate(self, obj, value):
        out = _per_class(self, obj, value, "True / False")
        for i, v in enumerate(out):
            if not isinstance(v, bool):
                raise WidgetTypeError(f"{self.name}[{i}]: expected True or False; got {short_repr(v)}.", name=self.name)
        return out
