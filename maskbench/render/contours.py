"""Inner boundaries of masks and label maps, for drawing outlines over images."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from maskbench._checks import DTypeError, ShapeError, check_tensor, describe

__all__ = ["contours"]


def contours(mask: torch.Tensor) -> torch.Tensor:
    """Inner boundary pixels of a mask or label map.

    A pixel is on the contour when it is set (True / a non-zero label) and at least one of its
    4 neighbours is not the same (False / another label) or lies outside the image. The
    outlines are one pixel thick and 8-connected, and lie inside the objects they outline.

    Args:
        mask: ``(..., H, W)`` bool mask or integer label map (leading dimensions are a batch).

    Returns:
        bool tensor of ``mask``'s shape and device.

    >>> m = torch.zeros(5, 5, dtype=torch.bool); m[1:4, 1:4] = True
    >>> contours(m).int().tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 0, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
    """
    check_tensor(mask, "mask")
    if mask.ndim < 2:
        raise ShapeError(
            f"mask: expected (..., H, W) with at least 2 dimensions; got {describe(mask)}."
            + (" For a single row use `mask[None]`." if mask.ndim == 1 else "")
        )
    if mask.is_floating_point() or mask.is_complex():
        raise DTypeError(
            f"mask: expected a bool mask or integer labels; got {describe(mask)}. "
            f"Threshold a weight first, e.g. `contours(mask >= 0.5)`."
        )
    x = mask.long()  # bool / any int -> one comparable dtype; F.pad needs a real tensor
    h, w = x.shape[-2:]
    flat = x.reshape(-1, 1, h, w)
    # Outside the image counts as background (0) so objects touching the border are closed.
    padded = F.pad(flat, (1, 1, 1, 1), value=0)
    centre = padded[..., 1:-1, 1:-1]
    differs = (
        (padded[..., :-2, 1:-1] != centre)
        | (padded[..., 2:, 1:-1] != centre)
        | (padded[..., 1:-1, :-2] != centre)
        | (padded[..., 1:-1, 2:] != centre)
    )
    return (differs & (centre != 0)).reshape(mask.shape)
