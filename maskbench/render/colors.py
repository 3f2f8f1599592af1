"""Class colours: palettes, colour parsing, colourised label maps and overlays.

The overlay formula is integer arithmetic so the browser (``viewer.js``'s ``blendOverlay``) can
reproduce it bit for bit: with ``a = floor(opacity * alpha_k + 0.5)`` for the class colour
``(r_k, g_k, b_k, alpha_k)``, each channel becomes ``(base * (255 - a) + colour * a + 127) // 255``.
"""

from __future__ import annotations

import colorsys
import functools
import math
import re
from collections.abc import Sequence

import torch

from maskbench._checks import (
    ArgumentError,
    DTypeError,
    ShapeError,
    check_int,
    check_labels,
    check_number,
    check_tensor,
    describe,
    short_repr,
)

__all__ = ["OKABE_ITO", "parse_color", "label_palette", "colorize_labels", "overlay"]

# Okabe & Ito (2008), colour-blind safe; black is left out (it vanishes on dark images).
OKABE_ITO: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),  # orange
    (86, 180, 233),  # sky blue
    (0, 158, 115),  # bluish green
    (240, 228, 66),  # yellow
    (0, 114, 178),  # blue
    (213, 94, 0),  # vermillion
    (204, 121, 167),  # reddish purple
)
_HEX = re.compile(r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def parse_color(color: str | Sequence[int | float]) -> tuple[int, int, int, int]:
    """Read a colour as an ``(r, g, b, a)`` tuple of ints in [0, 255].

    Accepts ``"#rgb"``, ``"#rgba"``, ``"#rrggbb"``, ``"#rrggbbaa"`` (the ``#`` is optional) and
    3- or 4-sequences: all ints are read as 0-255; any float makes the whole tuple 0-1 floats.

    >>> parse_color("#ff8000"), parse_color("#0f08"), parse_color((0, 128, 255)), parse_color((1.0, 0.5, 0.0))
    ((255, 128, 0, 255), (0, 255, 0, 136), (0, 128, 255, 255), (255, 128, 0, 255))
    """
    if isinstance(color, str):
        match = _HEX.match(color.strip())
        if match is None:
            raise _color_error(color)
        digits = match.group(1)
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        values = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        return tuple(values + [255])[:4]  # type: ignore[return-value]
    if isinstance(color, (tuple, list)) and len(color) in (3, 4):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in color):
            if all(0 <= v <= 255 for v in color):
                return tuple(list(color) + [255])[:4]  # type: ignore[return-value]
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in color):
            if all(0.0 <= v <= 1.0 for v in color):
                return tuple(int(math.floor(v * 255 + 0.5)) for v in list(color) + [1.0])[:4]  # type: ignore[return-value]
    raise _color_error(color)


def _color_error(color: object) -> ArgumentError:
    expected = "'#rrggbb', '#rgb', '#rrggbbaa', 3/4 ints in [0, 255] or 3/4 floats in [0, 1]"
    return ArgumentError(
        f"color: expected {expected}; got {short_repr(color)}. E.g. '#ff8000' or (255, 128, 0).",
        name="color",
        expected=expected,
        got=short_repr(color),
    )


@functools.lru_cache(maxsize=16)
def _palette_rows(n: int) -> tuple[tuple[int, int, int, int], ...]:
    rows: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)]
    seen = {(0, 0, 0)}
    for rgb in OKABE_ITO:
        if len(rows) == n:
            break
        rows.append((*rgb, 255))
        seen.add(rgb)
    i = 0
    while len(rows) < n:
        # Golden-ratio hue steps with cycling saturation/value: neighbours in id look different.
        hue = (0.12 + i * 0.618033988749895) % 1.0
        sat = (0.85, 0.55, 0.95, 0.7)[i % 4]
        val = (0.95, 0.8, 0.65, 1.0)[(i // 4) % 4]
        rgb = tuple(int(c * 255 + 0.5) for c in colorsys.hsv_to_rgb(hue, sat, val))
        i += 1
        if rgb not in seen:  # uint8 rounding may repeat a colour after many ids: skip it
            seen.add(rgb)
            rows.append((*rgb, 255))
    return tuple(rows[:n])


def label_palette(n: int) -> torch.Tensor:
    """``n`` class colours as an ``(n, 4)`` uint8 RGBA table.

    Row 0 (background) is transparent ``(0, 0, 0, 0)``. Rows 1-7 are the Okabe-Ito colour-blind
    safe colours (black left out), later rows step the hue by the golden ratio. All rows differ
    in RGB and none is black.

    >>> label_palette(3).tolist()
    [[0, 0, 0, 0], [230, 159, 0, 255], [86, 180, 233, 255]]
    """
    check_int(n, "n", min_value=1, max_value=1 << 16)
    return torch.tensor(_palette_rows(n), dtype=torch.uint8)


def _check_palette(palette: torch.Tensor) -> torch.Tensor:
    check_tensor(palette, "palette", ndim=2)
    if palette.shape[1] != 4 or palette.dtype != torch.uint8 or palette.shape[0] == 0:
        raise ShapeError(f"palette: expected (K, 4) uint8 RGBA from label_palette(K); got {describe(palette)}.")
    return palette


def colorize_labels(labels: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Look up each label's colour: ``(...)`` integer labels -> ``(..., 4)`` uint8 RGBA.

    Labels must lie in ``[0, K)`` for a ``(K, 4)`` palette (checked on CPU; on other devices
    out-of-range ids are clamped rather than read back). A bool mask is read as labels 0 / 1.

    >>> colorize_labels(torch.tensor([[0, 2]]), label_palette(3)).tolist()
    [[[0, 0, 0, 0], [86, 180, 233, 255]]]
    """
    check_tensor(labels, "labels")
    _check_palette(palette)
    if labels.dtype == torch.bool:
        labels = labels.to(torch.uint8)
    check_labels(labels, "labels", num_classes=palette.shape[0])
    table = palette.to(labels.device)
    return table[labels.long().clamp(0, palette.shape[0] - 1)]


def overlay(rgba: torch.Tensor, labels: torch.Tensor, palette: torch.Tensor, *, opacity: float = 0.5) -> torch.Tensor:
    """Blend class colours over ``(H, W, 4)`` uint8 pixels.

    Args:
        rgba: ``(H, W, 4)`` uint8 (from :func:`image_to_rgba`); its alpha is kept.
        labels: ``(H, W)`` integer labels in ``[0, K)`` (or bool), each drawn in its palette
            colour; or a floating ``(H, W)`` weight in [0, 1], drawn in ``palette[1]`` with the
            opacity scaled by the weight.
        palette: ``(K, 4)`` uint8; a colour's alpha scales the opacity (alpha 0 = not drawn).
        opacity: in [0, 1]; 0 returns ``rgba`` unchanged, 1 paints the class colours solid.

    Returns:
        ``(H, W, 4)`` uint8. Per channel, with ``a = floor(opacity * alpha * weight + 0.5)``:
        ``(base * (255 - a) + colour * a + 127) // 255`` (exact integer maths, as in the browser).

    >>> px = torch.full((1, 2, 4), 100, dtype=torch.uint8)
    >>> overlay(px, torch.tensor([[0, 1]]), label_palette(2), opacity=0.5)[0].tolist()
    [[100, 100, 100, 100], [165, 130, 50, 100]]
    """
    check_tensor(rgba, "rgba", ndim=3)
    if rgba.shape[-1] != 4 or rgba.dtype != torch.uint8:
        raise ShapeError(f"rgba: expected (H, W, 4) uint8 pixels; got {describe(rgba)}.")
    check_tensor(labels, "labels", ndim=2)
    _check_palette(palette)
    if tuple(labels.shape) != tuple(rgba.shape[:2]):
        raise ShapeError(
            f"labels: expected {tuple(rgba.shape[:2])} to match rgba {describe(rgba)}; got {describe(labels)}."
        )
    opacity = check_number(opacity, "opacity", min=0.0, max=1.0)
    table = palette.to(rgba.device)
    if labels.is_floating_point():
        if palette.shape[0] < 2:
            raise ShapeError(f"palette: a weight overlay draws palette[1]; got {describe(palette)}.")
        weight = labels.to(torch.float64).nan_to_num(nan=0.0).clamp(0.0, 1.0).unsqueeze(-1)
        colour = table[1].view(1, 1, 4).expand(*labels.shape, 4)
        a = torch.floor(opacity * table[1, 3].double() * weight + 0.5).to(torch.int32)
    elif labels.is_complex():
        raise DTypeError(f"labels: expected integer labels or a float weight; got {describe(labels)}.")
    else:
        colour = colorize_labels(labels, palette)
        a = torch.floor(opacity * colour[..., 3:].double() + 0.5).to(torch.int32)
    base = rgba.to(torch.int32)
    mixed = (base[..., :3] * (255 - a) + colour[..., :3].to(torch.int32) * a + 127) // 255
    return torch.cat([mixed, base[..., 3:]], dim=-1).to(torch.uint8)
