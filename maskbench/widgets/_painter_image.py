"""The Painter's image at any size: its display proxy without full-size temporaries, and a memory check.

A Painter on an 8192x8192 RGB uint8 image (192 MiB) must not build a float copy of it (768 MiB) to
average it down to a 1024-pixel proxy. :func:`area_rgba_proxy` averages in two stages:

1. Integer blocks ``(fr, fc)`` (``H / dh`` when that is an integer, else about half of it) are summed in row bands of ~16 MiB of float32
   (each band converted on its own; the column sums are one small matmul per band), giving the sums
   and pixel counts of a grid about 1-2x the proxy's size.
2. That grid is area-averaged to ``(dh, dw)`` as ``pool(sums) / pool(counts)``: every proxy pixel is
   the exact mean of the whole blocks its bin overlaps: an integer ratio (e.g. 8192 -> 1024) gives
   exactly ``adaptive_avg_pool2d``'s bins; otherwise a bin is widened to whole half-bin blocks (a
   blur of at most ~1.5 bins where ``adaptive_avg_pool2d`` averages 1-2 bins' worth of rows).

Temporaries: one band plus the block grid (<= 4 proxy sizes x C floats), whatever the image's size.

:func:`check_memory` decides whether a Painter of a given size fits: the bytes it will hold (labels,
the image pyramid's uint8 copy and its levels) against the memory available now (cgroup limit, then
``psutil`` if installed, else ``/proc/meminfo``'s MemAvailable, else ``os.sysconf`` free pages; and
``RLIMIT_AS`` if set). Too big: a :class:`~maskbench.widgets._common.WidgetValueError` naming the size.
"""

from __future__ import annotations

import os
import resource

import numpy as np
import torch
import torch.nn.functional as F

from maskbench.render import image_to_rgba
from maskbench.widgets._common import WidgetValueError

__all__ = ["area_rgba_proxy", "painter_bytes", "available_memory", "check_memory"]

_BAND_BYTES = 16 << 20  # float32 bytes of one band of rows (a cache-friendly size; the only large temporary)


def _float32(x: torch.Tensor) -> torch.Tensor:
    """A float32 copy in ``x``'s memory layout; numpy's uint8 -> float32 cast is ~4x faster than torch's."""
    if x.dtype in (torch.uint8, torch.bool):
        return torch.from_numpy(x.numpy().astype(np.float32))
    return x.to(torch.float32)


def _block_sums(x: torch.Tensor, fr: int, fc: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C, H, W)`` any dtype -> float32 sums ``(C, Hb, Wb)`` of ``fr x fc`` blocks, and their pixel counts ``(Hb, Wb)``."""
    c, h, w = x.shape
    hb, wb = -(-h // fr), -(-w // fc)
    channels_last = c > 1 and x.stride(0) == 1  # a numpy (H, W, C) array seen channels first: keep its layout
    pool = torch.zeros(fc * c, c)  # column k * c + ch of a block row -> channel ch
    pool.view(fc, c, c)[:] = torch.eye(c)
    sums = torch.empty((c, hb, wb), dtype=torch.float32)
    step = max(fr, _BAND_BYTES // (4 * w * c) // fr * fr)  # rows per band, whole blocks
    for r0 in range(0, h, step):
        band = x[:, r0 : r0 + step]
        r = band.shape[1]
        pad_r, pad_c = -r % fr, -w % fc  # edge blocks: zero padding adds nothing (the counts say what was real)
        rb = (r + pad_r) // fr
        if channels_last:
            band = _float32(band.permute(1, 2, 0))  # (r, W, C) float
            if pad_r or pad_c:
                band = F.pad(band, (0, 0, 0, pad_c, 0, pad_r))
            cols = band.view(rb * fr, wb, fc * c) @ pool  # (r, Wb, C) column sums: one small matmul
            sums[:, r0 // fr : r0 // fr + rb] = cols.view(rb, fr, wb, c).sum(1).permute(2, 0, 1)
        else:
            band = _float32(band)  # (C, r, W) float
            if pad_r or pad_c:
                band = F.pad(band, (0, pad_c, 0, pad_r))
            cols = band.view(c, rb * fr, wb, fc) @ torch.ones(fc)
            sums[:, r0 // fr : r0 // fr + rb] = cols.view(c, rb, fr, wb).sum(2)
    rows = torch.full((hb,), fr, dtype=torch.float32)
    rows[-1] = h - fr * (hb - 1)
    cols_n = torch.full((wb,), fc, dtype=torch.float32)
    cols_n[-1] = w - fc * (wb - 1)
    return sums, rows[:, None] * cols_n[None, :]


def area_rgba_proxy(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(dh, dw, 4)`` uint8 RGBA: the area mean of ``image`` (see the module doc), converted like
    :func:`maskbench.render.image_to_rgba` (float read as [0, 1], NaN -> 0, bool -> 0/255).

    Args:
        image: ``(H, W)`` or ``(C, H, W)``, C in 1, 3, 4; uint8, bool or floating; any strides (a
            numpy ``(H, W, C)`` array moved channels first is read in its own layout, no copy).
        size: ``(dh, dw)`` with ``dh <= H`` and ``dw <= W``.

    >>> area_rgba_proxy(torch.tensor([[0, 255, 10, 20]], dtype=torch.uint8), (1, 2))[..., 0].tolist()
    [[128, 15]]
    """
    x = image.detach().cpu()
    x = x.unsqueeze(0) if x.ndim == 2 else x
    (h, w), (dh, dw) = x.shape[-2:], size
    if (h, w) == (dh, dw):
        return image_to_rgba(x)
    # an exact ratio: blocks = bins; else blocks of about half a bin (the grid stays <= (2 dh, 2 dw))
    fr = h // dh if h % dh == 0 else -(-h // (2 * dh))
    fc = w // dw if w % dw == 0 else -(-w // (2 * dw))
    sums, counts = _block_sums(x, fr, fc)
    if tuple(counts.shape) != (dh, dw):
        sums = F.adaptive_avg_pool2d(sums[None], (dh, dw))[0]  # bin means of block sums ...
        counts = F.adaptive_avg_pool2d(counts[None, None], (dh, dw))[0, 0]  # ... over bin means of counts
    mean = sums / counts
    if x.dtype == torch.uint8:
        mean = mean.div_(255)
    return image_to_rgba(mean)  # bool means are in [0, 1] already


def painter_bytes(shape: tuple[int, int], channels: int) -> int:
    """Bytes a Painter holds for an ``(H, W)`` image of ``channels`` uint8 channels: the label map (1
    byte per pixel), the image pyramid's uint8 copy and its coarser levels (4/3 of the copy), plus one
    band of proxy work. Strokes and the undo history work on boxes and are not counted."""
    h, w = shape
    return h * w + (h * w * channels * 4) // 3 + 2 * _BAND_BYTES


def _cgroup_room() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return int(limit) - int(f.read().strip())
    except (OSError, ValueError):
        return None


def available_memory() -> tuple[int | None, str]:
    """Bytes this process may still allocate, and where the number came from (None: unknown)."""
    found: list[tuple[int, str]] = []
    room = _cgroup_room()
    if room is not None:
        found.append((room, "the cgroup's memory.max"))
    try:
        import psutil

        found.append((int(psutil.virtual_memory().available), "psutil's available memory"))
    except ImportError:
        try:
            with open("/proc/meminfo") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
            found.append((kib * 1024, "/proc/meminfo MemAvailable"))
        except (OSError, StopIteration, ValueError):
            try:
                found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "os.sysconf free pages"))
            except (OSError, ValueError, AttributeError):
                pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/status") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
            found.append((soft - kib * 1024, "RLIMIT_AS minus this process's address space"))
        except (OSError, StopIteration, ValueError):
            pass
    return min(found) if found else (None, "unknown")


def check_memory(shape: tuple[int, int], channels: int, name: str = "image") -> None:
    """Raise :class:`WidgetValueError` naming the size when a Painter on it would not fit in memory."""
    need = painter_bytes(shape, channels)
    room, source = available_memory()
    if room is None or need <= room:
        return
    h, w = shape
    gib = 1 << 30
    raise WidgetValueError(
        f"{name}: a {h}x{w} image with {channels} channel(s) needs about {need / gib:.1f} GiB in the Painter "
        f"(labels {h * w / gib:.1f} GiB + a uint8 image pyramid {h * w * channels * 4 / 3 / gib:.1f} GiB); "
        f"only {max(room, 0) / gib:.1f} GiB are available ({source}). Free memory, or paint a crop or a "
        f"downsampled copy, e.g. `image[:{h // 2}, :{w // 2}]` or `image[::2, ::2]` (numpy).",
        name=name,
    )
