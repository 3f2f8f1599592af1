"""Binary morphology on bool masks: dilate, erode, opening, closing (square or disk footprints).

Masks are bool tensors ``(..., H, W)``: ``(H, W)``, ``(B, H, W)``, ``(B, 1, H, W)`` or any other
leading dims; every ``(H, W)`` slice is processed independently and the output has the input's
shape and dtype.

Footprints (``radius`` r >= 0):

* ``"square"``: the ``(2r+1) x (2r+1)`` square (8-connected, chessboard distance <= r).
* ``"disk"``: the pixels with ``dy**2 + dx**2 <= r**2``, exactly ``skimage.morphology.disk(r)``.

Border handling is scikit-image's default (``mode="ignore"``, 0.23+): pixels outside the image
never count. Dilation treats the outside as False, erosion as True, so an object touching the
border is not eaten from the border side. Both match ``skimage.morphology.binary_dilation`` /
``binary_erosion`` (and ``scipy.ndimage`` with ``border_value=0`` / ``1``) exactly.

Implementation: shifted in-place ORs of bool slices. A square is separable (a 1-D window along
rows, then along columns, each widened by doubling: O(log r) passes); a disk is the OR over its
rows ``dy`` of row-shifted horizontal windows (O(r) passes). Erosion is the dual
``~dilate(~mask)``. Out-of-image pixels are never read, which is exactly the "outside is False
for dilation, True for erosion" rule. No host syncs, no float copies of the mask.

Connected components, ``remove_small_objects``, ``fill_holes`` and ``hysteresis_threshold`` live
in :mod:`maskbench.kernels.components`.
"""

from __future__ import annotations

import math

import torch

from maskbench._checks import check_bool_mask, check_choice, check_int

__all__ = [
    "dilate",
    "erode",
    "opening",
    "closing",
    "footprint_mask",
]

FOOTPRINTS = ("square", "disk")
MAX_RADIUS = 1 << 15  # footprint radius cap in pixels (a larger one is a mistake)


def footprint_mask(radius: int, kind: str = "square", *, device: torch.device | str | None = None) -> torch.Tensor:
    """The footprint used by :func:`dilate` and :func:`erode`, as a bool ``(2r+1, 2r+1)`` tensor.

    Args:
        radius: int >= 0.
        kind: ``"square"`` or ``"disk"`` (``dy**2 + dx**2 <= radius**2``, like
            ``skimage.morphology.disk``).
        device: where to create it.

    Example:
        >>> footprint_mask(2, "disk").int()
        tensor([[0, 0, 1, 0, 0],
                [0, 1, 1, 1, 0],
                [1, 1, 1, 1, 1],
                [0, 1, 1, 1, 0],
                [0, 0, 1, 0, 0]], dtype=torch.int32)
    """
    check_int(radius, "radius", min_value=0, max_value=MAX_RADIUS)
    check_choice(kind, "footprint", FOOTPRINTS)
    d = torch.arange(-radius, radius + 1, device=device)
    if kind == "square":
        return torch.ones(2 * radius + 1, 2 * radius + 1, dtype=torch.bool, device=device)
    return d[:, None] ** 2 + d[None, :] ** 2 <= radius * radius


def _or_shifted(out: torch.Tensor, x: torch.Tensor, shift: int, dim: int) -> None:
    """``out[i] |= x[i - shift]`` along ``dim`` wherever ``i - shift`` is inside (in place).

    Out-of-image positions are simply never read: that is the whole border rule (see module doc).
    """
    size = x.shape[dim]
    if abs(shift) >= size:
        return
    if shift >= 0:
        dst, src = out.narrow(dim, shift, size - shift), x.narrow(dim, 0, size - shift)
    else:
        dst, src = out.narrow(dim, 0, size + shift), x.narrow(dim, -shift, size + shift)
    torch.logical_or(dst, src, out=dst)


def _widen(x: torch.Tensor, have: int, want: int, dim: int) -> torch.Tensor:
    """From window-OR of half-width ``have`` along ``dim`` to half-width ``want`` (>= have).

    Doubling: a window of half-width ``a`` shifted by ``+-b`` (``b <= a``) covers half-width
    ``a + b`` without gaps, so reaching ``want`` takes O(log want) passes.
    """
    while have < want:
        step = min(max(have, 1), want - have)
        wider = x.clone()  # keeps the centre, needed only for the first step from have == 0
        _or_shifted(wider, x, step, dim)
        _or_shifted(wider, x, -step, dim)
        x, have = wider, have + step
    return x


def _dilate_disk(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Disk dilation of ``(N, H, W)``: OR over rows ``dy`` of row-shifted horizontal windows.

    Row ``dy`` of the disk spans ``|dx| <= isqrt(r^2 - dy^2)``; the horizontal windows only widen
    as ``|dy|`` shrinks, so each is grown from the previous one.
    """
    out = torch.zeros_like(x)
    row, half_width = x, 0
    for dy in range(radius, -1, -1):
        target = math.isqrt(radius * radius - dy * dy)
        row, half_width = _widen(row, half_width, target, dim=2), target
        _or_shifted(out, row, dy, dim=1)
        _or_shifted(out, row, -dy, dim=1)
    return out


def _dilate_impl(mask: torch.Tensor, radius: int, kind: str) -> torch.Tensor:
    if radius == 0 or mask.numel() == 0:
        return mask.clone()
    x = mask.reshape(-1, *mask.shape[-2:])
    if kind == "square":  # separable: rows, then columns
        out = _widen(_widen(x, 0, radius, dim=2), 0, radius, dim=1)
    else:
        out = _dilate_disk(x, radius)
    return out.reshape(mask.shape)


def _check(mask: object, radius: object, kind: object) -> None:
    check_bool_mask(mask, "mask")
    check_int(radius, "radius", min_value=0, max_value=MAX_RADIUS)
    check_choice(kind, "footprint", FOOTPRINTS)


def dilate(mask: torch.Tensor, *, radius: int = 1, footprint: str = "square") -> torch.Tensor:
    """Binary dilation: True where any pixel of the footprint centred there is True.

    Args:
        mask: bool ``(..., H, W)``, e.g. ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``.
        radius: footprint radius r >= 0 (0 returns a copy).
        footprint: ``"square"`` ((2r+1)^2) or ``"disk"`` (``dy**2 + dx**2 <= r**2``).

    Returns:
        bool tensor of ``mask``'s shape. Outside the image counts as False (scikit-image's
        ``binary_dilation`` default). Syncs: none.

    Example:
        >>> m = torch.zeros(5, 5, dtype=torch.bool); m[2, 2] = True
        >>> dilate(m, radius=1, footprint="disk").int()
        tensor([[0, 0, 0, 0, 0],
                [0, 0, 1, 0, 0],
                [0, 1, 1, 1, 0],
                [0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    _check(mask, radius, footprint)
    return _dilate_impl(mask, radius, footprint)


def erode(mask: torch.Tensor, *, radius: int = 1, footprint: str = "square") -> torch.Tensor:
    """Binary erosion: True where every in-image pixel of the footprint centred there is True.

    Args:
        mask: bool ``(..., H, W)``.
        radius: footprint radius r >= 0 (0 returns a copy).
        footprint: ``"square"`` or ``"disk"``.

    Returns:
        bool tensor of ``mask``'s shape. Outside the image counts as True (scikit-image's
        ``binary_erosion`` default, ``mode="ignore"``): an all-True mask stays all True and
        objects touching the border are not eroded from the border side. Syncs: none.

    Example:
        >>> m = torch.ones(3, 4, dtype=torch.bool); m[0, 0] = False
        >>> erode(m).int()
        tensor([[0, 0, 1, 1],
                [0, 0, 1, 1],
                [1, 1, 1, 1]], dtype=torch.int32)
    """
    _check(mask, radius, footprint)
    return ~_dilate_impl(~mask, radius, footprint)


def opening(mask: torch.Tensor, *, radius: int = 1, footprint: str = "square") -> torch.Tensor:
    """Erosion then dilation: removes specks and thin bridges narrower than the footprint.

    Args:
        mask: bool ``(..., H, W)``.
        radius: footprint radius r >= 0.
        footprint: ``"square"`` or ``"disk"``.

    Returns:
        bool tensor of ``mask``'s shape, equal to ``skimage.morphology.binary_opening`` (border
        rules of :func:`erode` and :func:`dilate`). Syncs: none.

    Example:
        >>> m = torch.zeros(5, 6, dtype=torch.bool); m[1:4, 1:4] = True; m[0, 5] = True
        >>> opening(m).int()
        tensor([[0, 0, 0, 0, 0, 0],
                [0, 1, 1, 1, 0, 0],
                [0, 1, 1, 1, 0, 0],
                [0, 1, 1, 1, 0, 0],
                [0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    _check(mask, radius, footprint)
    return _dilate_impl(~_dilate_impl(~mask, radius, footprint), radius, footprint)


def closing(mask: torch.Tensor, *, radius: int = 1, footprint: str = "square") -> torch.Tensor:
    """Dilation then erosion: fills gaps and holes smaller than the footprint.

    Args:
        mask: bool ``(..., H, W)``.
        radius: footprint radius r >= 0.
        footprint: ``"square"`` or ``"disk"``.

    Returns:
        bool tensor of ``mask``'s shape, equal to ``skimage.morphology.binary_closing`` (border
        rules of :func:`dilate` and :func:`erode`). Syncs: none.

    Example:
        >>> m = torch.ones(5, 5, dtype=torch.bool); m[2, 2] = False
        >>> bool(closing(m).all())
        True
    """
    _check(mask, radius, footprint)
    return ~_dilate_impl(~_dilate_impl(mask, radius, footprint), radius, footprint)
