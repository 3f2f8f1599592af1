"""The Painter's level-of-detail tiles (issue 12): an image pyramid and max-reduced label tiles.

A mixin of :class:`maskbench.widgets.painter.Painter` on top of
:class:`maskbench.widgets._tiles.TileServer`. Two layers:

* ``"image"``: tiles of an :class:`~maskbench.render.pyramid.ImagePyramid` in the image's C channels
  (1, 3 or 4; the browser expands them to RGBA like ``ImagePyramid.tile``) (one uint8 ``(H, W, C)``
  copy of the image, or a reference to a numpy ``(H, W, C)`` uint8 array; coarser levels are built
  in a background thread a second after the widget opens, under a lock, so a first zoom does not wait).
* ``"labels"``: :func:`~maskbench.render.tiles.label_tile` ``reduce="max"`` of the full-resolution
  label map, computed per request (never stale). Its version is bumped on every change of the mask.

Every patch message of an edit carries ``{"from": old, "version": new, "box": [r0, c0, h, w], "full"}``
and, when the changed box is small (<= :data:`FULL_PATCH_PIXELS`; ``full`` True), a second buffer with
that box's full-resolution labels: the browser keeps every cached label tile the box misses (any
level) as version ``new``, writes the labels into its level-0 tiles of version ``old`` and keeps them
as version ``new`` too, so at native zoom the kernel's result replaces the preview at once, without a
tile round trip (coarser tiles the box touches are fetched again).
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
import torch

from maskbench.render.proxy import pyramid_proxy
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import label_tile
from maskbench.widgets._tiles import TileLayer

__all__ = ["PainterTiles", "FULL_PATCH_PIXELS"]

#: Seconds between the Painter's construction and its background warm-up (see ``_start_warmup``).
WARMUP_DELAY_S = 1.0
#: The largest changed box (in full-resolution pixels) whose labels ride along with a patch message.
FULL_PATCH_PIXELS = 1 << 20


class PainterTiles:
    def _init_tiles(self, image: torch.Tensor, proxy_size: tuple[int, int]) -> torch.Tensor:
        """Build the pyramid, publish the layers; returns the RGBA display proxy from the pyramid
        (:func:`~maskbench.render.proxy.pyramid_proxy`: no full-size float copy; the levels it builds
        are the tiles of the first zoom anyway)."""
        self._pyramid = ImagePyramid(image)
        self._pyramid_lock = threading.Lock()
        self._publish_tiles()
        return pyramid_proxy(self._pyramid, proxy_size)

    def _start_warmup(self) -> None:
        """After WARMUP_DELAY_S (the widget's first paint has the CPU first), in a daemon thread: import
        scipy.ndimage (the paint bucket's CPU path; its first import takes 0.3-2 s: not on the first
        click), then build the pyramid's coarser levels (a third of level 0's bytes, ~0.2 s at 8192^2
        RGB), so a first zoom does not wait for them."""
        timer = threading.Timer(WARMUP_DELAY_S, self._warm_up)
        timer.name, timer.daemon = "maskbench-painter-warmup", True
        timer.start()

    def _warm_up(self) -> None:
        importlib.import_module("scipy.ndimage")
        for level in range(1, self._pyramid.levels):  # one level per lock: a request waits for one level at most
            self.step_aside()  # not while the user pans / zooms (TileServer.step_aside)
            with self._pyramid_lock:
                self._pyramid.level(level)

    def _tile_layers(self) -> dict[str, TileLayer]:
        return {
            "image": TileLayer(self._image_tile, "uint8", self._pyramid.channels),
            "labels": TileLayer(self._label_tile, "uint8", 1),
        }

    def _image_tile(self, level: int, row: int, col: int) -> np.ndarray:
        """The pyramid's pixels of the tile, in the image's channels (the browser makes RGBA): a view
        at 1:1 is one reply of tiles, not two, and a grey slide moves a quarter of the bytes."""
        if level == 0:  # always there: native zoom never waits for the warming thread
            return self._pyramid.pixels(0, row, col)
        with self._pyramid_lock:
            return self._pyramid.pixels(level, row, col)

    def _label_tile(self, level: int, row: int, col: int) -> np.ndarray:
        return label_tile(self._full, level, row, col, reduce="max")

    def _labels_version(self) -> int:
        return int(self._tiles_info["layers"]["labels"]["version"])

    def _full_patch(self, r0: int, r1: int, c0: int, c1: int) -> tuple[dict, list]:
        """Header fields of a change of box ``[r0, r1) x [c0, c1)``: ``box: [r0, c0, h, w]`` and ``full``
        (True: a buffer with the box's full-resolution labels follows; False: too big to send)."""
        head = {"box": [r0, c0, r1 - r0, c1 - c0], "full": False}
        if (r1 - r0) * (c1 - c0) > FULL_PATCH_PIXELS or r1 <= r0 or c1 <= c0:
            return head, []
        box = np.ascontiguousarray(self._full[r0:r1, c0:c1].numpy())
        return {**head, "full": True}, [memoryview(box).cast("B")]
