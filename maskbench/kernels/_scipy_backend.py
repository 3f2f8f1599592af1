"""CPU backend of :mod:`maskbench.kernels.components`: ``scipy.ndimage.label`` instead of the torch loop.

On CPU, scipy's two-pass union-find labelling is much faster than the iterative torch kernel
(which exists for accelerators, where it runs without leaving the device). Both number the
components of each ``(H, W)`` image in raster order of their first pixel, restarting at 1 per
image, exactly as ``skimage.measure.label``: the results are identical (tested).

A batch ``(N, H, W)`` is labelled in one call with a 3-D structure that has no links along the
batch axis, then each image's labels are shifted to start at 1. scipy is imported lazily, so the
kernels import torch only.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["label_nhw", "remove_small_nhw", "fill_holes_nhw", "hysteresis_nhw"]


def _structure(connectivity: int) -> np.ndarray:
    from scipy import ndimage

    s = np.zeros((3, 3, 3), dtype=bool)
    s[1] = ndimage.generate_binary_structure(2, connectivity)  # nothing joins neighbouring images
    return s


def _label(fg: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """Global labels of a bool ``(N, H, W)`` array (raster order over the batch) and their count."""
    from scipy import ndimage

    # int64, not int32: every caller indexes or counts with the labels, and numpy casts an int32 index array to
    # int64 first (a copy twice the labels' size): remove_small_objects at 2048^2 102 -> 74 ms, labelling itself
    # costs the same (57 vs 58 ms), the peak memory is no higher (the cast's copy was that size)
    labels = np.empty(fg.shape, dtype=np.int64)
    total = ndimage.label(fg, structure=_structure(connectivity), output=labels)
    return labels, int(total)


def _numpy(mask: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(mask.detach().numpy())


def label_nhw(fg: torch.Tensor, connectivity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels int64 (N, H, W), count int64 (N,))``, numbered from 1 in each image."""
    labels, _ = _label(_numpy(fg), connectivity)
    n = labels.shape[0]
    top = labels.reshape(n, -1).max(axis=1, initial=0).astype(np.int64)  # each image's last label
    before = np.maximum.accumulate(np.concatenate([[0], top[:-1]]))  # labels used by earlier images
    count = np.maximum(top - before, 0)
    out = labels  # int64 already, and ours
    if n > 1:  # image i holds labels before[i] + 1...: shift them to 1..., background to <= 0 -> 0
        out -= before[:, None, None]
        np.maximum(out, 0, out=out)
    return torch.from_numpy(out), torch.from_numpy(count)


def remove_small_nhw(fg: torch.Tensor, min_size: int, connectivity: int) -> torch.Tensor:
    """Keep the components of ``(N, H, W)`` with at least ``min_size`` pixels."""
    labels, _ = _label(_numpy(fg), connectivity)
    sizes = np.bincount(labels.reshape(-1))
    keep = sizes >= min_size
    keep[0] = False  # background
    return torch.from_numpy(keep[labels])


def fill_holes_nhw(mask: torch.Tensor, connectivity: int) -> torch.Tensor:
    """``mask | holes`` for ``(N, H, W)``: background components that touch no image border."""
    m = _numpy(mask)
    labels, total = _label(~m, connectivity)
    leaks = np.zeros(total + 1, dtype=bool)
    for edge in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        leaks[edge] = True
    leaks[0] = True  # label 0 is the mask itself
    return torch.from_numpy(m | ~leaks[labels])


def hysteresis_nhw(above_low: torch.Tensor, above_high: torch.Tensor, connectivity: int) -> torch.Tensor:
    """Components of ``above_low`` ``(N, H, W)`` that hold a pixel of ``above_high``."""
    labels, total = _label(_numpy(above_low), connectivity)
    seeded = np.zeros(total + 1, dtype=bool)
    seeded[labels[_numpy(above_high)]] = True
    seeded[0] = False
    return torch.from_numpy(seeded[labels])
