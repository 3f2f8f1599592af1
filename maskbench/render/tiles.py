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

Additions to the protocol text (nothing in it changed): :func:`label_dtype` (the dtype a layer of
label tiles declares), :meth:`ImagePyramid.level` (a whole level; a widget's display proxy comes from one:
:func:`maskbench.render.proxy.pyramid_proxy`).
"""

from __future__ import annotations

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
from maskbench.kernels._threads import run_shares, shares
from maskbench.render.pixels import image_to_rgba

__all__ = [
    "TILE",
    "level_count",
    "level_shape",
    "tile_grid",
    "tile_box",
    "ImagePyramid",
    "label_tile",
    "label_dtype",
    "value_tile",
]

#: Tile side in level pixels.
TILE = 256
_BAND = 32  # rows of the output handled at once when building a level (keeps the uint16 sums in cache)


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
    h, w = _shape(shape_hw)
    n = 1
    while max(_level_shape(h, w, n - 1)) > TILE:
        n += 1
    return n


def _check_level(h: int, w: int, level) -> int:
    return check_int(level, "level", min_value=0, max_value=level_count((h, w)) - 1)


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


def _half(src: np.ndarray) -> np.ndarray:
    """One level down: ``(H, W, C)`` uint8 -> ``(ceil(H/2), ceil(W/2), C)``, 2x2 mean rounded half up.

    Exact integer sums in uint16, a band of rows at a time, one channel at a time (numpy's inner
    loop then runs along a row, not over 3 channels: ~2x faster at 8192^2 RGB). Big images are cut
    into row ranges counted on up to ``torch.get_num_threads()`` threads (numpy releases the GIL in
    its loops): 8192^2 RGB, three levels, 2 threads: 260-277 -> 158-173 ms here.
    """
    h, w, c = src.shape
    h2, w2 = h // 2, w // 2
    out = np.empty(((h + 1) // 2, (w + 1) // 2, c), np.uint8)
    parts = shares(h2 // _BAND) if h2 * w >= _THREADED_PIXELS else 1
    if parts > 1:
        cuts = [((h2 // _BAND) * i // parts) * _BAND for i in range(parts)] + [h2]
        run_shares(lambda a, b: _half_rows(src, out, a, b), cuts)
    else:
        _half_rows(src, out, 0, h2)
    if w % 2:  # the last column: 2x1 blocks
        col = src[0 : 2 * h2 : 2, w - 1].astype(np.uint16) + src[1 : 2 * h2 : 2, w - 1] + 1
        out[:h2, w2] = col >> 1
    if h % 2:  # the last row: 1x2 blocks (and the 1x1 corner)
        row = src[h - 1, 0 : 2 * w2 : 2].astype(np.uint16) + src[h - 1, 1 : 2 * w2 : 2] + 1
        out[h2, :w2] = row >> 1
        if w % 2:
            out[h2, w2] = src[h - 1, w - 1]
    return out


_THREADED_PIXELS = 1 << 21  # below this many source pixels one thread (a pool's hand-off costs more)


def _half_rows(src: np.ndarray, out: np.ndarray, r_lo: int, r_hi: int) -> None:
    """Rows ``[r_lo, r_hi)`` of ``_half(src)`` (whole 2x2 blocks only) into ``out``."""
    w, c = src.shape[1], src.shape[2]
    w2 = w // 2
    for r in range(r_lo, r_hi, _BAND):
        re = min(r_hi, r + _BAND)
        pair = src[2 * r : 2 * re].reshape(re - r, 2, w, c)
        rows = pair[:, 0].astype(np.uint16)
        rows += pair[:, 1]
        for ch in range(c):
            acc = rows[:, 0 : 2 * w2 : 2, ch] + rows[:, 1 : 2 * w2 : 2, ch]
            acc += 2
            acc >>= 2
            out[r:re, :w2, ch] = acc


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    """A torch view of ``a`` (a copy only when numpy's strides are negative, which torch cannot view)."""
    return torch.from_numpy(np.ascontiguousarray(a) if any(st < 0 for st in a.strides) else a)


def _as_hwc_uint8(image) -> np.ndarray:
    """The image as ONE ``(H, W, C)`` uint8 numpy array, C in 1/3/4 (a uint8 HWC input is not copied)."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
            raise ShapeError(
                f"image: expected a numpy (H, W) or (H, W, C) array with C in 1, 3, 4; got {describe(image)}. "
                f"Pick the channels to show, e.g. `image[..., :3]`.",
                name="image",
            )
        if image.dtype == np.uint8:
            return image if image.ndim == 3 else image[..., None]
        if image.dtype.kind not in "biuf":
            raise DTypeError(f"image: expected uint8, bool or floating values; got {describe(image)}.", name="image")
        x = _from_numpy(image)
        x = x.movedim(-1, 0) if x.ndim == 3 else x
    elif isinstance(image, torch.Tensor):
        x = image.detach()
    else:
        raise ArgumentTypeError(
            f"image: expected a torch.Tensor (C, H, W) or a numpy array (H, W, C); got {describe(image)}. "
            f"Convert it with maskbench.as_tensor(image).",
            name="image",
        )
    if x.ndim in (2, 3) and x.numel() == 0:
        raise ShapeError(f"image: expected a non-empty image; got {describe(x)}.", name="image")
    image_to_rgba(x[..., :1, :1])  # shape and dtype errors, worded like image_to_rgba's
    x = x.unsqueeze(0) if x.ndim == 2 else x
    if x.dtype == torch.uint8 and x.device.type == "cpu" and x.permute(1, 2, 0).is_contiguous():
        return x.permute(1, 2, 0).numpy()  # already (H, W, C) in memory: a reference, no copy
    c, h, w = x.shape
    out = np.empty((h, w, c), np.uint8)
    for r in range(0, h, _BAND // 2):  # small bands: the float temporaries stay in cache
        band = x[:, r : r + _BAND // 2]
        if band.dtype == torch.bool:
            band = band.to(torch.uint8) * 255
        elif band.is_floating_point():  # image_to_rgba's arithmetic, in place on a band copy
            band = band.float().nan_to_num(nan=0.0).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        band = band.cpu().numpy()
        for ch in range(c):  # one channel at a time: numpy's inner loop runs along a row (~4x a permute copy)
            out[r : r + _BAND // 2, :, ch] = band[ch]
    return out


def _to_rgba(px: np.ndarray) -> np.ndarray:
    """``(h, w, C)`` uint8, C in 1/3/4 -> ``(h, w, 4)`` uint8 RGBA (opaque unless C is 4)."""
    if px.shape[-1] == 4:
        return np.array(px, order="C")
    out = np.empty((*px.shape[:2], 4), np.uint8)
    c = px.shape[-1]
    for ch in range(3):  # one channel at a time: ~4x faster than `out[..., :3] = px` (a 3-long inner loop)
        out[..., ch] = px[..., ch if c == 3 else 0]
    out[..., 3] = 255
    return out


class ImagePyramid:
    """An image's tile pyramid: level 0 kept as ONE uint8 ``(H, W, C)`` array, coarser levels built lazily.

    Args:
        image: torch ``(H, W)`` / ``(C, H, W)`` (float in [0, 1], uint8 or bool; C in 1/3/4), or a
            numpy ``(H, W)`` / ``(H, W, C)`` array. Floats are converted like
            :func:`~maskbench.render.image_to_rgba` (NaN -> 0, clamped, rounded). A uint8 input whose
            ``(H, W, C)`` layout is contiguous on the CPU (a numpy HWC array, or a torch view of one)
            is referenced, not copied: changing it in place changes level-0 tiles, not the levels
            already built. Make a new pyramid for a new image.

    Level ``k >= 1`` is the 2x2 mean of level ``k - 1`` (rounded half up), built on first use and
    kept (all of them add a third of level 0's bytes). ``tile`` is cheap (a 256x256 copy).

    >>> p = ImagePyramid(torch.rand(3, 600, 300))
    >>> p.shape, p.levels, p.tile(0, 2, 1).shape, p.tile(1, 0, 0).shape
    ((600, 300), 3, (88, 44, 4), (256, 150, 4))
    """

    def __init__(self, image) -> None:
        self._levels: list[np.ndarray] = [_as_hwc_uint8(image)]
        self.shape: tuple[int, int] = tuple(self._levels[0].shape[:2])
        self.levels: int = level_count(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of every level built so far (level 0 included, even when it is the caller's array)."""
        return sum(level.nbytes for level in self._levels)

    def level(self, level: int) -> np.ndarray:
        """Level ``level`` as ``(h, w, C)`` uint8 (built, and every level above it, on first use)."""
        level = _check_level(*self.shape, level)
        while len(self._levels) <= level:
            self._levels.append(_half(self._levels[-1]))
        return self._levels[level]

    @property
    def channels(self) -> int:
        """The image's own channels, 1 (grey), 3 (RGB) or 4 (RGBA): what :meth:`pixels` gives."""
        return int(self._levels[0].shape[-1])

    def tile(self, level: int, row: int, col: int) -> np.ndarray:
        """Tile ``(row, col)`` of ``level``: ``(h, w, 4)`` uint8 RGBA, a new array (never a view)."""
        return _to_rgba(self._crop(level, row, col))

    def pixels(self, level: int, row: int, col: int) -> np.ndarray:
        """Tile ``(row, col)`` of ``level`` in the image's own channels, ``(h, w, channels)`` uint8, a new
        array: what a browser turns into RGBA itself (a grey image moves a quarter of RGBA's bytes, RGB 3/4)."""
        return np.array(self._crop(level, row, col), order="C")  # always a copy, even of a contiguous crop

    def _crop(self, level: int, row: int, col: int) -> np.ndarray:
        r0, r1, c0, c1 = tile_box(self.shape, level, row, col)
        return self.level(level)[r0:r1, c0:c1]


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
