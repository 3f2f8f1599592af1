"""The Viewer's tile layers past its display proxy (issue 12's level-of-detail protocol), per batch item.

Each layer serves 256 x 256 tiles of a power-of-two pyramid (``maskbench.render.tiles``); level k is
the item downsampled by ``s = 2**k``:

======  =====================================================================================
layer   a tile of level k
======  =====================================================================================
image   ``ImagePyramid`` of the item: uint8 in its own 1 / 3 / 4 channels (the browser makes RGBA), each
        level the 2x2 area mean of the one below
mask    the mask at each block's top-left pixel (``label_tile(..., reduce="nearest")``): labels
        or bool as they are, weights as ``round(255 * w)`` (a mask pixel is ``>= 128``)
edges   ``render.contours`` of that level's mask (1 on a contour): computed on the tile plus a
        one-pixel halo, so the tiles of a level put together equal the contours of the level
result  the current mode's masked image: ``inpaint`` from one full-resolution inpaint per item
        (computed when its first tile is asked, then a pyramid like ``image``); the other modes
        per tile on the block's top-left pixels, so every level-0 tile is exactly ``apply_mask``'s
        pixels (the browser composes keep / remove / mean itself from image and mask tiles)
======  =====================================================================================
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from maskbench.kernels._casting import accumulation_dtype
from maskbench.render import contours, image_to_rgba
from maskbench.render.proxy import proxy_level
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import label_tile, level_shape, tile_box, value_tile
from maskbench.widgets._memory import WidgetMemoryError
from maskbench.widgets._viewer_core import check_result_memory, keep_of, masked

__all__ = ["ItemTiles", "ViewerTiles", "mean_fill", "proxy_tile"]

_BAND = 1 << 20  # elements per band of rows in mean_rgba (a few MB of temporaries)


def mean_fill(image: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``mean`` mode's fill at full resolution, ``(C,)`` in the image's dtype: the per-channel mean of
    the pixels outside ``keep`` (``apply_mask(image, ~keep, fill="mean")``'s value; 0 when there are
    none), summed in bands of rows so that no full-size float copy is made."""
    c, h, w = image.shape
    acc = accumulation_dtype(image.dtype)
    num = torch.zeros(c, dtype=acc, device=image.device)
    den = torch.zeros((), dtype=torch.int64, device=image.device)
    band = max(1, _BAND // max(1, c * w))
    for r in range(0, h, band):
        out = ~keep[r : r + band]
        num += torch.where(out, image[:, r : r + band], 0).sum((1, 2), dtype=acc)
        den += out.sum()
    return (num / den.clamp_min(1)).to(image.dtype)


class ItemTiles:
    """The tile layers of one batch item: ``image`` (C, H, W) and its ``mask`` (H, W) of ``kind``
    bool / weight / labels (see the module docstring for what each layer's tiles hold)."""

    def __init__(self, image: torch.Tensor, mask: torch.Tensor, kind: str, mask_dtype: str = "uint8") -> None:
        self.image, self.mask, self.kind, self.mask_dtype = image, mask, kind, mask_dtype
        self.shape = (int(image.shape[-2]), int(image.shape[-1]))
        self._pyramid: ImagePyramid | None = None
        self._results: dict[tuple, ImagePyramid] = {}  # (mode, fill) -> pyramid of a full-size result
        self._mean: torch.Tensor | None = None
        self._pending: tuple | None = None  # (key, Future) of a full-resolution result being computed
        self.result_seconds: float | None = None  # how long the last full-resolution result took
        self.refused: str | None = None  # why the full-resolution result was not computed (memory)

    @property
    def pyramid(self) -> ImagePyramid:
        """The image's pyramid (built on the first image tile: one uint8 copy, none for HWC uint8)."""
        if self._pyramid is None:
            self._pyramid = ImagePyramid(self.image)  # references a (C, H, W) view of HWC uint8 pixels
        return self._pyramid

    def proxy(self, size: tuple[int, int]) -> torch.Tensor:
        """The ``(C, dh, dw)`` display proxy from the pyramid (cheaper than averaging the full image
        again, and no full-size float copy): level :func:`~maskbench.render.proxy.proxy_level` (the
        coarsest still at least the proxy's size, as for the Painter and the Tuner), area-averaged to
        the size unless it is that size (8192^2 -> 1024^2). uint8 for a uint8 image, else float in [0, 1]."""
        size = tuple(size)
        level = proxy_level(self.shape, size)
        exact = level_shape(self.shape, level) == size
        px = torch.from_numpy(self.pyramid.level(level)).permute(2, 0, 1)
        if exact and self.image.dtype == torch.uint8:
            return px
        x = px.float() / 255
        if not exact:
            x = F.adaptive_avg_pool2d(x[None], size)[0]
        if self.image.dtype == torch.uint8:
            return (x * 255.0).round().to(torch.uint8)
        return x.to(self.image.dtype) if self.image.is_floating_point() else x

    # -- sampling --------------------------------------------------------------------------------
    def _sample(self, t: torch.Tensor, level: int, row: int, col: int, halo: int = 0):
        """``t`` (..., H, W) at the top-left pixel of each 2**level block of tile (row, col), with up to
        ``halo`` level pixels around it (fewer at the image's edge); returns (tile, top, left) where
        (top, left) is where the tile starts inside the returned array."""
        s = 1 << level
        hk, wk = level_shape(self.shape, level)
        r0, r1, c0, c1 = tile_box(self.shape, level, row, col)
        a0, a1, b0, b1 = max(0, r0 - halo), min(hk, r1 + halo), max(0, c0 - halo), min(wk, c1 + halo)
        return t[..., a0 * s : a1 * s : s, b0 * s : b1 * s : s], r0 - a0, c0 - b0

    # -- layers ----------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        """The image's own channels (1, 3 or 4): image and result tiles travel in them (the browser makes RGBA)."""
        return int(self.image.shape[0]) if self.image.ndim == 3 else 1

    def own_channels(self, rgba: np.ndarray) -> np.ndarray:
        """``(h, w, 4)`` RGBA pixels in the image's channels (grey: R; RGB: RGB), a contiguous array."""
        return rgba if self.channels == 4 else np.ascontiguousarray(rgba[..., : self.channels])

    def image_tile(self, level: int, row: int, col: int) -> np.ndarray:
        return self.pyramid.pixels(level, row, col)

    def mask_tile(self, level: int, row: int, col: int) -> np.ndarray:
        if self.kind == "weight":
            w = value_tile(self.mask, level, row, col)
            return np.rint(np.clip(w, 0.0, 1.0) * 255.0).astype(np.uint8)
        tile = label_tile(self.mask, level, row, col, reduce="nearest")
        return tile.astype(np.uint8 if self.mask_dtype == "uint8" else np.uint16, copy=False)

    def edges_tile(self, level: int, row: int, col: int) -> np.ndarray:
        lab, top, left = self._sample(self.mask, level, row, col, halo=1)
        lab = lab >= 0.5 if self.kind == "weight" else lab
        r0, r1, c0, c1 = tile_box(self.shape, level, row, col)
        edges = contours(lab)[top : top + r1 - r0, left : left + c1 - c0]
        return edges.to(torch.uint8).cpu().numpy()

    def result_tile(self, mode: str, fill: float, level: int, row: int, col: int) -> np.ndarray:
        """Tile of the masked image in ``mode`` (``mean``: the full-resolution mean colour), in the image's channels."""
        if mode == "inpaint":
            return self._full_result(mode, fill).pixels(level, row, col)
        x, _, _ = self._sample(self.image, level, row, col)
        m, _, _ = self._sample(self.mask, level, row, col)
        keep = keep_of(m, self.kind)
        if mode == "mean":
            out = torch.where(keep, self.mean()[:, None, None], x)
        else:
            w = m[None, None].to(x.dtype) if self.kind == "weight" else None
            out = masked(x[None], keep[None, None], w, mode, fill)[0]
        if not out.is_floating_point() and out.dtype != torch.uint8:
            out = out.float()
        return self.own_channels(image_to_rgba(out).cpu().numpy())

    def mean(self) -> torch.Tensor:
        """:func:`mean_fill` of this item (computed once)."""
        if self._mean is None:
            self._mean = mean_fill(self.image, keep_of(self.mask, self.kind))
        return self._mean

    def _full_result(self, mode: str, fill: float) -> ImagePyramid:
        """The full-resolution result of ``mode`` as a pyramid, computed here once (the float result
        is dropped as soon as its uint8 pyramid exists)."""
        key = (mode, fill)
        if key not in self._results:
            self._results = {key: self._compute(mode, fill)}  # one kept: the current mode's
        return self._results[key]

    def full_result_async(self, mode: str, fill: float, done) -> ImagePyramid | None:
        """The full-resolution result when it is ready, else None: its computation is started on a
        background thread (once) and ``done()`` is called there when it is stored (a whole 8192^2
        inpaint takes seconds: the kernel keeps answering tile requests meanwhile)."""
        key = (mode, fill)
        if key in self._results:
            return self._results[key]
        if self.refused is not None:
            return None
        if self._pending is None or self._pending[0] != key:
            try:  # ~6 image sizes at once: not where the memory is not there (then the proxy's stands in)
                check_result_memory(self.image[None], mode)
            except WidgetMemoryError as err:
                self.refused = str(err)
                return None

            def run() -> None:
                pyramid = self._compute(mode, fill)
                if self._pending is not None and self._pending[0] == key:
                    self._results = {key: pyramid}
                    done()

            self._pending = (key, _executor().submit(run))
        return None

    def _compute(self, mode: str, fill: float) -> ImagePyramid:
        t0 = time.perf_counter()
        keep = keep_of(self.mask, self.kind)
        out = masked(self.image[None], keep[None, None], None, mode, fill)[0]
        pyramid = ImagePyramid(out)
        self.result_seconds = time.perf_counter() - t0
        return pyramid


def proxy_tile(rgba: np.ndarray, shape: tuple[int, int], level: int, row: int, col: int) -> np.ndarray:
    """Tile (level, row, col) of a ``shape`` image drawn from its ``(dh, dw, 4)`` display proxy: the
    proxy pixel under each block's top-left pixel (a stand-in until the full-resolution tile exists)."""
    s = 1 << level
    r0, r1, c0, c1 = tile_box(shape, level, row, col)
    dh, dw = rgba.shape[:2]
    rows = (np.arange(r0, r1) * s * dh) // shape[0]
    cols = (np.arange(c0, c1) * s * dw) // shape[1]
    return np.ascontiguousarray(rgba[rows[:, None], cols[None, :]])


_worker: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _worker
    if _worker is None:
        _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskbench-viewer-tiles")
    return _worker


def _on_kernel_thread(fn) -> None:
    """Run ``fn`` on the kernel's event loop (comm messages are sent from there), or now without one."""
    try:
        from IPython import get_ipython

        loop = getattr(getattr(get_ipython(), "kernel", None), "io_loop", None)
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        loop = None
    if loop is None:
        fn()
    else:
        loop.add_callback(fn)


class ViewerTiles:
    """The Viewer's side of the tile protocol (a mixin before ``TileServer``): its layers are the
    shown item's :class:`ItemTiles`; a new item bumps every layer's version, a new mode or fill the
    ``result`` layer's (``Viewer._on_result_inputs``)."""

    def _mask_dtype(self) -> str:
        return "uint16" if self._mask_kind == "labels" and len(self._classes) >= 256 else "uint8"

    def _item_tiles(self, index: int | None = None) -> ItemTiles:
        """The tile layers of batch item ``index`` (default: the shown one); one item is kept."""
        index = self.index if index is None else index
        if self._tiles is None or self._tiles[0] != index:
            self._tiles = (
                index,
                ItemTiles(self._x[index], self._mask_item(index), self._mask_kind, self._mask_dtype()),
            )
        return self._tiles[1]

    def _tile_layers(self) -> dict:
        """image, mask, edges (contours) and result tiles of the shown item (built on first use)."""
        from maskbench.widgets._tiles import TileLayer

        dtype, channels = self._mask_dtype(), self._item_tiles().channels  # image / result: the image's own channels
        return {
            "image": TileLayer(lambda *key: self._item_tiles().image_tile(*key), "uint8", channels),
            "mask": TileLayer(lambda *key: self._item_tiles().mask_tile(*key), dtype, 1),
            "edges": TileLayer(lambda *key: self._item_tiles().edges_tile(*key), "uint8", 1),
            "result": TileLayer(self._result_tile, "uint8", channels),
        }

    def _result_tile(self, level: int, row: int, col: int) -> np.ndarray:
        """The result layer; inpaint from the full-resolution result once it is computed (in the
        background: until then the display proxy's inpaint, upsampled, then a new version)."""
        tiles = self._item_tiles()
        if self.mode != "inpaint":
            return tiles.result_tile(self.mode, self.fill, level, row, col)
        index = self.index

        def ready() -> None:
            def bump() -> None:
                if self.index == index and self.mode == "inpaint":
                    self._bump_tile_layer("result")

            _on_kernel_thread(bump)

        pyramid = tiles.full_result_async("inpaint", 0.0, ready)
        if pyramid is not None:
            return pyramid.pixels(level, row, col)
        refused = None if tiles.refused is None else f"inpaint tiles show the display proxy's inpaint: {tiles.refused}"
        if refused is not None and self.error != refused:  # said once in the status line; the proxy's inpaint stays
            self.error = refused
        return tiles.own_channels(proxy_tile(self._display_result(), tiles.shape, level, row, col))

    def _on_custom_msg(self, _widget, content, buffers) -> None:
        self._handle_tiles_message(content, buffers)

    def _send_mean_full(self) -> None:
        """mean mode: the full-resolution mean colour the browser fills mask pixels of tiles with."""
        if self.mode == "mean":
            self._mean_full = image_to_rgba(self._item_tiles().mean()[:, None, None]).reshape(4).cpu().numpy()

    def _new_item(self) -> None:
        """A new batch item: its proxies, then new tile versions (the browser drops the old tiles)."""
        self._refresh_item()
        self._publish_tiles()  # every layer a new version
        self._send_mean_full()
