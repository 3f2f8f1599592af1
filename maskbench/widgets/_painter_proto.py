"""The Painter's wire protocol: display proxies (image, labels) out, validated edit messages in.

Browser -> kernel, ``model.send(content, undefined, buffers)``:
    ``{"type": "edit", "tool": "brush"|"eraser", "label", "radius", "n", "id", "t0"}`` + one
    little-endian Float32 buffer of ``n`` ``(row, col)`` pairs in full-resolution image coordinates;
    ``{"type": "edit", "tool": "lasso", "label", "n", ...}`` + the polygon's vertices the same way;
    ``{"type": "edit", "tool": "fill", "label", "row", "col", ...}``;
    ``{"type": "undo"|"redo"|"clear"|"hello"}`` (``hello``: a new view asks for the full labels).
Kernel -> browser: ``{"type": "patch", "id", "y", "x", "h", "w", "done"}`` + one uint8 buffer of
``h * w`` proxy labels (a large box comes in row bands; ``done`` marks the last), or
``{"type": "reject", "id", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from maskbench._checks import describe
from maskbench.render import image_to_rgba, label_palette, parse_color

__all__ = ["TOOLS", "Edit", "Rejected", "parse_edit", "parse_classes", "proxy_box", "proxy_labels", "display_rgba"]

TOOLS = ("brush", "eraser", "fill", "lasso")
MAX_POINTS = 1 << 18
MAX_RADIUS = 4096.0


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


def proxy_box(shape: tuple[int, int], size: tuple[int, int], r0: int, r1: int, c0: int, c1: int):
    """Proxy ``(y0, y1, x0, x1)`` covering image box ``[r0, r1) x [c0, c1)`` (blocks overlap by one)."""
    (h, w), (dh, dw) = shape, size
    y0, y1 = max(0, r0 * dh // h - 1), min(dh, -(-r1 * dh // h) + 1)
    x0, x1 = max(0, c0 * dw // w - 1), min(dw, -(-c1 * dw // w) + 1)
    return y0, y1, x0, x1


def proxy_labels(full: torch.Tensor, size: tuple[int, int], rows=None, cols=None) -> torch.Tensor:
    """Display proxy of ``full`` (H, W): each proxy pixel is the max label in the block it covers.

    Block ``j`` spans image rows ``[floor(j H / dh), ceil((j + 1) H / dh))`` (the bins of adaptive
    pooling), so any box of the proxy can be computed on its own: ``rows``/``cols`` are proxy
    ``(start, stop)`` ranges (default: all).
    """
    (h, w), (dh, dw) = full.shape, size
    rows, cols = rows or (0, dh), cols or (0, dw)

    def index(n, dn, lo, hi):
        j = torch.arange(lo, hi)
        start, stop = (j * n) // dn, -((-(j + 1) * n) // dn)
        k = int((stop - start).max()) if hi > lo else 1
        return torch.minimum(start[:, None] + torch.arange(k), stop[:, None] - 1), k

    ri, kr = index(h, dh, *rows)
    ci, kc = index(w, dw, *cols)
    # separable max: rows first (over the columns the box needs), then columns
    c_lo, c_hi = int(ci.min()), int(ci.max()) + 1
    strip = full[:, c_lo:c_hi].index_select(0, ri.reshape(-1)).view(ri.shape[0], kr, c_hi - c_lo).amax(dim=1)
    return strip.index_select(1, (ci - c_lo).reshape(-1)).view(ri.shape[0], ci.shape[0], kc).amax(dim=2)


def display_rgba(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The image's RGBA display proxy: area-average the image first, then convert with image_to_rgba.

    Cheaper than ``downsample_rgba(image_to_rgba(image), size)`` on big images (one pass over the C
    input channels instead of building, widening and averaging a full-size RGBA copy). Clamping to
    [0, 1] and NaN -> 0 then apply to the averages: a NaN pixel darkens its whole proxy pixel.
    """
    image = image.detach()
    image_to_rgba(image[..., :1, :1])  # validates shape and dtype with image_to_rgba's messages
    if tuple(image.shape[-2:]) != tuple(size):
        x = image.unsqueeze(0) if image.ndim == 2 else image
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        x = torch.nn.functional.adaptive_avg_pool2d(x[None], size)[0]
        image = x[0] if image.ndim == 2 else x
    return image_to_rgba(image).cpu()


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
