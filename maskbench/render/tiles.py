"""Level-of-detail tiles (issue 12): a power-of-two pyramid cut into 256 x 256 tiles.

Level ``k`` is the full image downsampled by ``2**k`` (``ceil(H / 2**k) x ceil(W / 2**k)``); level 0
is the image itself; the last level is the first whose long side fits in one tile. Each level is
cut into a grid of :data:`TILE`-sized tiles; tiles on the bottom/right edge are smaller. The
protocol that carries them to the browser is in ``maskbench/widgets/_tiles.py`` and ``static/tiles.js``.

=====================  ===================================  ======================================
function               for                                  how a level-``k`` pixel is made
=====================  ===================================  ======================================
:class:`ImagePyramid`  images (grey/RGB/RGBA, float/uint8)  2x2 mean of level ``k - 1`` (rounded
                                                            half up; levels built lazily, kept)
:func:`label_tile`     label maps, bool masks (edited: no   ``"max"``: the largest label of its
                       pyramid is kept, each tile is        ``2**k`` block; ``"nearest"``: the
                       computed from the full map)          block's top-left pixel
:func:`value_tile`     probabilities (float)                the block's top-left pixel (exact)
=====================  ===================================  ======================================

Edge blocks that stick out of the image use the pixels they have (a 2x2 mean over a 1x2 edge
block is the mean of those 2). Tiles come back as numpy arrays on the CPU (what the widgets send).

The image pyramid is :class:`maskbench.render.pyramid.ImagePyramid` (how its levels are built);
this module holds the level geometry and the label / value tiles.

Additions to the protocol text (nothing in it changed): :func:`label_dtype` (the dtype a layer of
label tiles declares), :meth:`ImagePyramid.level` (a whole level; a widget's display proxy comes from one:
:func:`maskbench.render.proxy.pyramid_proxy`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from maskbench._checks import (
    ArgumentTypeError,
    CastError,
    DTypeError,
    ShapeError,
    check_choice,
    check_int,
    describe,
)

__all__ = [
    "TILE",
    "level_count",
    "level_shape",
    "tile_grid",
    "tile_box",
    "label_tile",
    "label_dtype",
    "value_tile",
]

#: Tile side in level pixels.
TILE = 256


def _shape(shape_hw) -> tuple[int, int]:
    if not (isinstance(shape_hw, (tuple, list, torch.Size)) and len(shape_hw) == 2):
        raise ShapeError(f"shape_hw: expected an (H, W) pair; got {shape_hw!r}.", name="shape_hw")
    return check_int(shape_hw[0], "shape_hw[0]", min_value=1), check_int(shape_hw[1], "shape_hw[1]", min_value=1)


def _level_shape(h: int, w: int, level: int) -> tuple[int, int]:
    s = 1 << level
    return -(-h // s), -(-w // s)


def level_count(shape_hw) -> int:
    """Number of levels: 0 .. n-1, the last being the first whose long side is at most :data:`TILE`.

    >>> level_count((256, 256)), level_count((257, 100)), level_count((8192, 8192)), level_count((1, 1))
    (1, 2, 6, 1)
    """
    return _count(*_shape(shape_hw))


@functools.lru_cache(maxsize=64)
def _count(h: int, w: int) -> int:
    """level_count of a validated shape (kept: a tile request looks it up once per key)."""
    n = 1
    while max(_level_shape(h, w, n - 1)) > TILE:
        n += 1
    return n


def _check_level(h: int, w: int, level) -> int:
    return check_int(level, "level", min_value=0, max_value=_count(h, w) - 1)


def level_shape(shape_hw, level: int) -> tuple[int, int]:
    """``(ceil(H / 2**level), ceil(W / 2**level))``.

    >>> level_shape((1000, 513), 1), level_shape((1000, 513), 2)
    ((500, 257), (250, 129))
    """
    h, w = _shape(shape_hw)
    return _level_shape(h, w, _check_level(h, w, level))


def tile_grid(shape_hw, level: int) -> tuple[int, int]:
    """``(rows, cols)`` of tiles at ``level``: ``ceil(level_shape / TILE)``.

    >>> tile_grid((1000, 513), 0), tile_grid((1000, 513), 2)
    ((4, 3), (1, 1))
    """
    lh, lw = level_shape(shape_hw, level)
    return -(-lh // TILE), -(-lw // TILE)


def tile_box(shape_hw, level: int, row: int, col: int) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)`` of tile ``(row, col)`` in level-``level`` pixels, clipped at the edge.

    >>> tile_box((1000, 513), 0, 3, 2)
    (768, 1000, 512, 513)
    """
    lh, lw = level_shape(shape_hw, level)
    rows, cols = -(-lh // TILE), -(-lw // TILE)
    row = check_int(row, "row", min_value=0, max_value=rows - 1)
    col = check_int(col, "col", min_value=0, max_value=cols - 1)
    return row * TILE, min(lh, (row + 1) * TILE), col * TILE, min(lw, (col + 1) * TILE)


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    """A torch view of ``a`` (a copy only when numpy's strides are negative, which torch cannot view)."""
    return torch.from_numpy(np.ascontiguousarray(a) if any(st < 0 for st in a.strides) else a)


def _as_map(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = _from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(
            f"{name}: expected an (H, W) torch.Tensor or numpy array; got {describe(x)}.", name=name
        )
    if x.ndim != 2 or x.numel() == 0:
        raise ShapeError(f"{name}: expected a non-empty (H, W) map; got {describe(x)}.", name=name)
    return x.detach()


def label_dtype(labels) -> str:
    """The dtype :func:`label_tile` returns for ``labels``: ``"uint8"`` for bool/uint8 maps, else ``"uint16"``.

    >>> label_dtype(torch.zeros(2, 2, dtype=torch.bool)), label_dtype(torch.zeros(2, 2, dtype=torch.int64))
    ('uint8', 'uint16')
    """
    x = _as_map(labels, "labels")
    if x.is_floating_point() or x.is_complex():
        raise DTypeError(
            f"labels: expected an integer or bool map; got {describe(x)}. Use value_tile for floating values.",
            name="labels",
        )
    return "uint8" if x.dtype in (torch.bool, torch.uint8) else "uint16"


def _region(x: torch.Tensor, level, row, col) -> tuple[torch.Tensor, int]:
    """The full-resolution pixels under tile ``(row, col)`` of ``level``, and the block side ``2**level``."""
    shape = tuple(x.shape)
    r0, r1, c0, c1 = tile_box(shape, level, row, col)
    s = 1 << level
    return x[r0 * s : min(shape[0], r1 * s), c0 * s : min(shape[1], c1 * s)], s


def _block_max(region: torch.Tensor, s: int) -> torch.Tensor:
    """Max over ``s x s`` blocks (edge blocks: the pixels they have); rows first, then columns (any device)."""
    if s == 1:
        return region
    n, m = region.shape
    nf, mf = n // s, m // s
    parts = [region[: nf * s].reshape(nf, s, m).amax(dim=1)] if nf else []
    if n % s:
        parts.append(region[nf * s :].amax(dim=0, keepdim=True))
    rows = torch.cat(parts) if len(parts) > 1 else parts[0]
    parts = [rows[:, : mf * s].reshape(-1, mf, s).amax(dim=2)] if mf else []
    if m % s:
        parts.append(rows[:, mf * s :].amax(dim=1, keepdim=True))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def _block_max_numpy(region: np.ndarray, s: int) -> np.ndarray:
    """:func:`_block_max` for CPU data, single-threaded numpy: the rows of each block by one
    ``maximum.reduce`` (contiguous rows), then the columns by halving ``log2(s)`` times (the last odd
    column stands alone, as the edge block's own max). Measured at 8192^2 under load: torch's
    multi-threaded ``amax`` had ~60 ms medians (stalled workers) where this stays at 0.2-24 ms."""
    if s == 1:
        return region
    n, m = region.shape
    nf = n // s
    parts = [np.maximum.reduce(region[: nf * s].reshape(nf, s, m), axis=1)] if nf else []
    if n % s:
        parts.append(region[nf * s :].max(axis=0, keepdims=True))
    out = np.concatenate(parts) if len(parts) > 1 else parts[0]
    while s > 1:
        w2 = out.shape[1] // 2
        half = np.maximum(out[:, 0 : 2 * w2 : 2], out[:, 1 : 2 * w2 : 2])
        out = np.concatenate([half, out[:, 2 * w2 :]], axis=1) if out.shape[1] % 2 else half
        s //= 2
    return out


def label_tile(labels, level: int, row: int, col: int, *, reduce: str = "max") -> np.ndarray:
    """Tile ``(row, col)`` of ``level`` of a label map, computed from the full map (no stale pyramid).

    Args:
        labels: ``(H, W)`` integer or bool map (torch, any device, or numpy).
        level, row, col: the tile (see :func:`tile_grid`).
        reduce: ``"max"``: the largest label of each ``2**level`` block (one-pixel strokes stay
            visible: the Painter); ``"nearest"``: the block's top-left pixel.

    Returns:
        ``(h, w)`` numpy array, dtype :func:`label_dtype` (``uint8`` for bool/uint8 maps, else
        ``uint16``; bool becomes 0/1).

    Raises:
        CastError: if the tile holds a label outside ``[0, 65535]`` (uint16 tiles).

    >>> lab = torch.tensor([[0, 0, 0, 2], [0, 1, 0, 0]])
    >>> label_tile(lab, 0, 0, 0).tolist()
    [[0, 0, 0, 2], [0, 1, 0, 0]]
    """
    x = _as_map(labels, "labels")
    dtype = label_dtype(x)
    check_choice(reduce, "reduce", ("max", "nearest"))
    region, s = _region(x, level, row, col)
    if region.dtype == torch.bool:
        region = region.view(torch.uint8)
    if reduce == "nearest":
        out = region[::s, ::s].cpu().numpy()
    elif region.device.type == "cpu":
        out = _block_max_numpy(region.numpy(), s)
    else:
        out = _block_max(region, s).cpu().numpy()
    if dtype == "uint16" and out.size and (out.min() < 0 or out.max() > 65535):
        raise CastError(
            f"labels: tile ({level}, {row}, {col}) holds labels in [{out.min()}, {out.max()}]; tiles carry labels "
            f"in [0, 65535]. Relabel the map (e.g. torch.unique(labels, return_inverse=True)).",
            name="labels",
        )
    return out.astype(dtype)  # always a new array (never a view of the caller's map)


def value_tile(values, level: int, row: int, col: int) -> np.ndarray:
    """Tile ``(row, col)`` of ``level`` of an ``(H, W)`` floating map (probabilities): ``(h, w)`` float32.

    Each tile pixel is the top-left pixel of its ``2**level`` block, a real input value, so a
    threshold applied to the tile is exactly the full-resolution mask sampled at those pixels.

    >>> probs = torch.rand(600, 600)
    >>> t = value_tile(probs, 1, 0, 1)
    >>> t.shape, t.dtype.name, bool((t == probs[0:512:2, 512::2].numpy()).all())
    ((256, 44), 'float32', True)
    """
    x = _as_map(values, "values")
    if not x.is_floating_point():
        raise DTypeError(
            f"values: expected a floating (H, W) map (probabilities); got {describe(x)}. "
            f"Use label_tile for labels, or values.float().",
            name="values",
        )
    region, s = _region(x, level, row, col)
    return region[::s, ::s].to(torch.float32).cpu().numpy().copy()
