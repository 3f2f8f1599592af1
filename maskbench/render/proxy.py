"""Display proxies: what a widget sends to the browser instead of a full-resolution tensor.

A proxy has the size :func:`~maskbench.render.display_size` gives (long side <= ``max_display``).
One builder per kind of data, so every widget shows the same pixels for the same input:

=====================  ==================================  ======================================
function               for                                 how a proxy pixel is made
=====================  ==================================  ======================================
:func:`rgba_proxy`     images (grey, RGB, RGBA; float/u8)  area average, then ``image_to_rgba``
:func:`nearest_proxy`  any (H, W) map: probabilities,      the source pixel nearest its centre
                       bool masks, labels                  (values stay real input values)
:func:`max_proxy`      label maps being painted            the largest label in its block (thin
                                                           strokes stay visible)
:func:`weight_proxy`   weights in [0, 1]                   area average, quantised to 0..255
:func:`probability_proxy`  probabilities                   nearest; float32 when small, else
                                                           uint8 ``round(p * 255)``
:func:`pyramid_proxy`  big images (from their tile         :func:`rgba_proxy` of the coarsest level
                       pyramid: no full-size float copy)   still at least the proxy's size
=====================  ==================================  ======================================

Pure torch, on the input's device; no widget imports (``render`` never imports ``widgets``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from maskbench._checks import ShapeError, check_int, check_tensor, describe
from maskbench.render.pixels import _nearest_sample, image_to_rgba
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import level_count, level_shape

__all__ = [
    "FLOAT_PROXY_PIXELS",
    "rgba_proxy",
    "nearest_proxy",
    "max_proxy",
    "max_proxy_box",
    "weight_proxy",
    "probability_proxy",
    "proxy_level",
    "pyramid_proxy",
]

#: Up to this many proxy pixels, :func:`probability_proxy` keeps float32 (else uint8).
FLOAT_PROXY_PIXELS = 512 * 512


def _size(size) -> tuple[int, int]:
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ShapeError(f"size: expected a (height, width) pair; got {size!r}.", name="size")
    return check_int(size[0], "size[0]", min_value=1), check_int(size[1], "size[1]", min_value=1)


def rgba_proxy(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An image's ``(dh, dw, 4)`` uint8 RGBA display proxy: area-average first, then :func:`image_to_rgba`.

    Cheaper than ``downsample_rgba(image_to_rgba(image), size)`` on big images (one pass over the C
    input channels instead of building, widening and averaging a full-size RGBA copy); the two
    differ by rounding only (at most 1). Clamping to [0, 1] and NaN -> 0 apply to the averages: a
    NaN pixel darkens its whole proxy pixel. Same-size input is converted exactly.

    Args:
        image: ``(H, W)``, ``(1, H, W)``, ``(3, H, W)`` or ``(4, H, W)``; floating in [0, 1], uint8 or bool.
        size: ``(dh, dw)``.

    >>> rgba_proxy(torch.tensor([[0.0, 1.0]]), (1, 1)).tolist()
    [[[128, 128, 128, 255]]]
    """
    check_tensor(image, "image", ndim=(2, 3))
    image = image.detach()
    image_to_rgba(image[..., :1, :1])  # validates shape and dtype with image_to_rgba's messages
    size = _size(size)
    if tuple(image.shape[-2:]) != size:
        x = image.unsqueeze(0) if image.ndim == 2 else image
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        x = F.adaptive_avg_pool2d(x[None], size)[0]
        image = x[0] if image.ndim == 2 else x
    return image_to_rgba(image)


def nearest_proxy(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` -> ``size`` by picking the pixel nearest each output pixel's centre (values kept).

    >>> nearest_proxy(torch.arange(16).view(4, 4), (2, 2)).tolist()
    [[5, 7], [13, 15]]
    """
    check_tensor(x, "x", ndim=2)
    size = _size(size)
    h, w = x.shape
    if (h, w) == size:
        return x
    return _nearest_sample(x, size)


def max_proxy_box(shape: tuple[int, int], size: tuple[int, int], r0: int, r1: int, c0: int, c1: int):
    """Proxy ``(y0, y1, x0, x1)`` covering image box ``[r0, r1) x [c0, c1)`` of :func:`max_proxy`
    (blocks overlap by one pixel, so one more each side)."""
    (h, w), (dh, dw) = shape, size
    y0, y1 = max(0, r0 * dh // h - 1), min(dh, -(-r1 * dh // h) + 1)
    x0, x1 = max(0, c0 * dw // w - 1), min(dw, -(-c1 * dw // w) + 1)
    return y0, y1, x0, x1


def max_proxy(labels: torch.Tensor, size: tuple[int, int], rows=None, cols=None) -> torch.Tensor:
    """Display proxy of a label map: each proxy pixel is the largest label in the block it covers.

    Block ``j`` spans image rows ``[floor(j H / dh), ceil((j + 1) H / dh))`` (the bins of adaptive
    pooling), so any box of the proxy can be computed on its own: ``rows`` / ``cols`` are proxy
    ``(start, stop)`` ranges (default: all). A painted label never disappears when shrunk.

    >>> max_proxy(torch.tensor([[0, 0, 0, 2], [0, 1, 0, 0]]), (1, 2)).tolist()
    [[1, 2]]
    """
    check_tensor(labels, "labels", ndim=2)
    (h, w), (dh, dw) = labels.shape, _size(size)
    rows, cols = rows or (0, dh), cols or (0, dw)
    dev = labels.device

    def index(n, dn, lo, hi):
        j = torch.arange(lo, hi, device=dev)
        start, stop = (j * n) // dn, -((-(j + 1) * n) // dn)
        k = -(-n // dn) + 1  # the longest block (a bound: no host sync needed)
        return torch.minimum(start[:, None] + torch.arange(k, device=dev), stop[:, None] - 1), k

    ri, kr = index(h, dh, *rows)
    ci, kc = index(w, dw, *cols)
    # separable max: rows first (over the columns the box needs), then columns
    c_lo, c_hi = cols[0] * w // dw, min(w, -(-cols[1] * w // dw))
    strip = labels[:, c_lo:c_hi].index_select(0, ri.reshape(-1)).view(ri.shape[0], kr, c_hi - c_lo).amax(dim=1)
    return strip.index_select(1, (ci - c_lo).reshape(-1)).view(ri.shape[0], ci.shape[0], kc).amax(dim=2)


def weight_proxy(weights: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` weights in [0, 1] -> ``(dh, dw)`` uint8 ``round(area mean * 255)``.

    >>> weight_proxy(torch.tensor([[0.0, 1.0]]), (1, 1)).tolist()
    [[128]]
    """
    check_tensor(weights, "weights", ndim=2)
    if not weights.is_floating_point():
        raise ShapeError(f"weights: expected floating weights in [0, 1]; got {describe(weights)}.", name="weights")
    w = F.interpolate(weights[None, None].float(), size=_size(size), mode="area")[0, 0]
    return (w.clamp(0, 1) * 255).round().to(torch.uint8)


def probability_proxy(probs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Display proxy of one ``(H, W)`` probability map: float32 up to :data:`FLOAT_PROXY_PIXELS`
    proxy pixels, else uint8 ``round(p * 255)`` (a quarter of the bytes).

    Nearest sampling (not area averaging): every proxy pixel is a real probability, so a browser's
    thresholded preview is the full-resolution mask sampled at those pixels.

    >>> probability_proxy(torch.tensor([[0.25, 0.75]]), (1, 2)).tolist()
    [[0.25, 0.75]]
    """
    p = nearest_proxy(probs, size)
    if size[0] * size[1] <= FLOAT_PROXY_PIXELS:
        return p.to(torch.float32)
    return (p.float() * 255).round_().to(torch.uint8)


def proxy_level(shape_hw, size) -> int:
    """The coarsest pyramid level still at least ``size`` ``(dh, dw)`` in both dims (0 when none is).

    >>> proxy_level((8192, 8192), (1024, 1024)), proxy_level((5000, 3000), (1024, 614)), proxy_level((100, 80), (400, 320))
    (3, 2, 0)
    """
    dh, dw = _size(size)
    k = 0
    while k + 1 < level_count(shape_hw) and all(a >= b for a, b in zip(level_shape(shape_hw, k + 1), (dh, dw))):
        k += 1
    return k


def pyramid_proxy(pyramid: ImagePyramid, size) -> torch.Tensor:
    """``(dh, dw, 4)`` uint8 RGBA display proxy: :func:`rgba_proxy` of level
    :func:`proxy_level` (at most ~4x the proxy's pixels, so no full-size float copy is made).

    Within rounding of ``rgba_proxy`` of the full image when the sizes are a power of two apart (the
    levels are rounded 2x2 means); otherwise each proxy pixel averages that level's pixels.

    >>> pyramid_proxy(ImagePyramid(torch.full((3, 64, 48), 200, dtype=torch.uint8)), (8, 6)).shape
    torch.Size([8, 6, 4])
    """
    level = pyramid.level(proxy_level(pyramid.shape, size))
    return rgba_proxy(torch.from_numpy(level).permute(2, 0, 1), size)  # (C, h, w) view of (h, w, C)
