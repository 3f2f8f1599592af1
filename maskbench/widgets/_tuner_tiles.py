"""The ThresholdTuner's tile layers past its display proxy (issue 12's level-of-detail protocol).

Level ``k`` is the current image downsampled by ``s = 2**k`` (``maskbench.render.tiles``):

======  =====================================================================================
layer   a tile of level k
======  =====================================================================================
prob    the probabilities at each block's top-left pixel (``value_tile``, float32): real input
        values, so the browser's ``p > t`` per frame is the kernel's mask at those pixels
image   ``ImagePyramid`` of the image under the overlay (uint8 in the image's own 1 / 3 / 4 channels:
        the browser makes RGBA; only with an image)
target  the ground truth at the same pixels (``label_tile(..., reduce="nearest")``, 0 / 1); the
        browser draws its outline from a tile and its neighbours (only with a target)
mask    the kernel's cleaned mask at the same pixels (only while clean-up is on; its version
        moves with every recompute, so the browser never shows a mask of another threshold)
======  =====================================================================================

Every layer samples the same pixel of a block, so at every level the tiles agree pixel for pixel.
The pyramid is built once per image; it also gives the image's display proxy (a level about the
proxy's size, area-averaged down: no full-size float copy of a uint8 image).
"""

from __future__ import annotations

import torch

from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import label_tile, value_tile
from maskbench.widgets._tiles import TileLayer, TileServer

__all__ = ["TunerTiles"]


class TunerTiles(TileServer):
    """The Tuner's tile server (a mixin of ThresholdTuner): its layers, per image, rebuilt on a new item."""

    _pyramid: ImagePyramid | None = None

    def _tiles_for_item(self, image: torch.Tensor | None) -> None:
        """A new image shown: its pyramid (or none), then republish (new versions drop stale tiles)."""
        self._pyramid = None if image is None else ImagePyramid(image)

    def _tiles_after_recompute(self) -> None:
        """A new mask: with clean-up, the "mask" layer gets a new version; without, it is gone."""
        if self._tiles_cleaned():
            self._bump_tile_layer("mask")
        elif "mask" in self._tiles_info.get("layers", {}):
            self._publish_tiles(keep_versions=True)

    def _tiles_cleaned(self) -> bool:
        return self.min_size > 1 or self.fill_holes or self.opening_radius > 0

    def _tile_layers(self) -> dict[str, TileLayer]:
        i = self.index
        p, tgt = self._p[i], self._target_item(i)
        layers = {"prob": TileLayer(lambda k, r, c: value_tile(p, k, r, c), "float32", 1)}
        if self._pyramid is not None:
            layers["image"] = TileLayer(self._pyramid.pixels, "uint8", self._pyramid.channels)  # RGBA in the browser
        if tgt is not None:
            layers["target"] = TileLayer(lambda k, r, c: label_tile(tgt, k, r, c, reduce="nearest"), "uint8", 1)
        if self._mask_full is not None and self._tiles_cleaned():
            mask = self._mask_full  # this recompute's mask (a new tensor each time: never edited in place)
            layers["mask"] = TileLayer(lambda k, r, c: label_tile(mask, k, r, c, reduce="nearest"), "uint8", 1)
        return layers
