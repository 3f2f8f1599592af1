"""The Painter's wire protocol: validated edit messages in (display proxies: :mod:`maskbench.render.proxy`).

Browser -> kernel, ``model.send(content, undefined, buffers)``:
    ``{"type": "edit", "tool": "brush"|"eraser", "label", "radius", "n", "id", "t0"}`` + one
    little-endian Float32 buffer of ``n`` ``(row, col)`` pairs in full-resolution image coordinates;
    ``{"type": "edit", "tool": "lasso", "label", "n", ...}`` + the polygon's vertices the same way;
    ``{"type": "edit", "tool": "fill", "label", "row", "col", ...}``;
    ``{"type": "pick", "row", "col"}``: make the label at that full-resolution pixel the active class;
    ``{"type": "undo"|"redo"|"clear"|"hello"}`` (``hello``: a new view asks for the full labels);
    ``{"type": "tiles", ...}``: level-of-detail tiles (:mod:`maskbench.widgets._tiles`, layers "image"
    and "labels": :mod:`maskbench.widgets._painter_tiles`).
    Edits honour the ``paint_over`` and ``fill_mode`` traits (synced before the edit, on the same comm).
Kernel -> browser: ``{"type": "patch", "id", "y", "x", "h", "w", "done"}`` + one uint8 buffer of
``h * w`` proxy labels (a large box comes in row bands; ``done`` marks the last; the last band of a
change also has ``from`` / ``version``, the labels tile versions before and after, ``box: [r0, c0, h, w]``
the changed full-resolution box, and ``full``: True when a second buffer of its ``h * w`` labels follows), or
``{"type": "reject", "id", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from maskbench._checks import describe
from maskbench.render import label_palette, parse_color

__all__ = ["TOOLS", "MAX_POINTS", "MAX_RADIUS", "MAX_SPANS", "Edit", "Rejected", "parse_edit", "parse_classes"]

TOOLS = ("brush", "eraser", "fill", "lasso")
MAX_POINTS = 1 << 18
MAX_RADIUS = 4096.0
#: Work cap of one stroke or lasso message: (segment or edge, image row) spans, ~1-2 s of kernel time at
#: most. A 4096-px brush dragged over ~1000 points of a 4096^2 image fits; a hostile message does not.
MAX_SPANS = 1 << 23


class Rejected(ValueError):
    """A malformed message from the browser: warned about, shown in the widget, state unchanged."""


@dataclass(frozen=True)
class Edit:
    tool: str
    label: int
    points: torch.Tensor | None = None
    radius: float = 0.0
    row: int = 0
    col: int = 0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_edit(content: dict, buffers: list, shape: tuple[int, int], num_classes: int) -> Edit:
    """Validate an ``edit`` message; raises :class:`Rejected` saying what was wrong."""
    tool = content.get("tool")
    if tool not in TOOLS:
        raise Rejected(f"tool: expected one of {', '.join(TOOLS)}; got {tool!r}")
    label = content.get("label", 0)
    if not _is_int(label) or not 0 <= label < num_classes:
        raise Rejected(f"label: expected an int in [0, {num_classes - 1}]; got {label!r}")
    h, w = shape
    if tool == "fill":
        row, col = content.get("row"), content.get("col")
        if not (_is_int(row) and _is_int(col) and 0 <= row < h and 0 <= col < w):
            raise Rejected(f"fill seed: expected ints inside the {h}x{w} image; got ({row!r}, {col!r})")
        return Edit(tool, label, row=row, col=col)
    points = _points(content, buffers, shape)
    if tool == "lasso":
        return Edit(tool, label, points=points)
    radius = content.get("radius")
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 <= radius <= MAX_RADIUS:
        raise Rejected(f"radius: expected a number in [0, {MAX_RADIUS:g}]; got {radius!r}")
    return Edit(tool, label, points=points, radius=float(radius))


def _points(content: dict, buffers: list, shape: tuple[int, int]) -> torch.Tensor:
    n = content.get("n")
    if not _is_int(n) or not 1 <= n <= MAX_POINTS:
        raise Rejected(f"n: expected the number of points in [1, {MAX_POINTS}]; got {n!r}")
    if len(buffers) != 1:
        raise Rejected(f"points: expected one Float32 buffer; got {len(buffers)} buffers")
    raw = bytes(buffers[0])
    if len(raw) != 8 * n:
        raise Rejected(f"points: {n} (row, col) Float32 pairs need {8 * n} bytes; got {len(raw)}")
    pts = torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(n, 2).copy())
    h, w = shape
    inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= h - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= w - 0.5)
    if not bool(inside.all()):  # NaN fails every comparison, so it lands here too
        bad = int((~inside).nonzero()[0, 0])
        raise Rejected(
            f"points: expected finite (row, col) in [-0.5, {h - 0.5}] x [-0.5, {w - 0.5}]; "
            f"got {pts[bad].tolist()} at index {bad}"
        )
    return pts


def parse_classes(classes, error=ValueError) -> tuple[list[str], torch.Tensor]:
    """Class names and their (K, 4) palette from a list of names or a dict name -> colour."""
    if isinstance(classes, Mapping):
        names = [str(k) for k in classes]
        palette = label_palette(max(len(names), 1)).clone()
        for i, colour in enumerate(classes.values()):
            if colour is not None:
                palette[i] = torch.tensor(parse_color(colour), dtype=torch.uint8)
    elif isinstance(classes, Sequence) and not isinstance(classes, str):
        names = [str(k) for k in classes]
        palette = label_palette(max(len(names), 1))
    else:
        raise error(f"classes: expected a list of names or a dict name -> colour; got {describe(classes)}.")
    if not 2 <= len(names) <= 256:
        raise error(f"classes: expected 2 to 256 classes (label 0 is the background); got {len(names)}.")
    palette[0, 3] = 0  # label 0 is "nothing painted": never drawn over the image
    return names, palette
