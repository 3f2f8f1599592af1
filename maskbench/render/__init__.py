"""Tensors -> pixels: RGBA images, class palettes, overlays, contours, display proxies and
level-of-detail tiles.

Pure functions (torch in, ``uint8`` RGBA torch tensors out, on the input's device); no widget or
Jupyter imports, so scripts can render masks to files without the notebook stack. The widgets in
``maskbench.widgets`` use these to build what they send to the browser.
"""

from __future__ import annotations

from maskbench.render.colors import OKABE_ITO, colorize_labels, label_palette, overlay, parse_color
from maskbench.render.contours import contours
from maskbench.render.pixels import display_size, downsample_labels, downsample_rgba, image_to_rgba
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import label_tile, value_tile

__all__ = [
    "ImagePyramid",
    "OKABE_ITO",
    "colorize_labels",
    "contours",
    "display_size",
    "downsample_labels",
    "downsample_rgba",
    "image_to_rgba",
    "label_palette",
    "label_tile",
    "overlay",
    "parse_color",
    "value_tile",
]
