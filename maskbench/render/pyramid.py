"""The image pyramid of the level-of-detail tiles (issue 12): level 0 as one uint8 ``(H, W, C)`` array,
coarser levels (2x2 means, rounded half up) built on first use; the level geometry is ``render.tiles``'.
"""

from __future__ import annotations

import numpy as np
import torch

from maskbench._checks import ArgumentTypeError, DTypeError, ShapeError, describe
from maskbench.kernels._threads import run_shares, shares
from maskbench.render.pixels import image_to_rgba
from maskbench.render.tiles import _check_level, _from_numpy, level_count, tile_box

__all__ = ["ImagePyramid"]

_BAND = 32  # rows of the output handled at once when building a level (keeps the uint16 sums in cache)


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
