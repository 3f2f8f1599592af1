"""The Painter's image at any size: a memory check before anything is allocated.

(Its display proxy comes from the image pyramid: :func:`maskbench.render.tiles.pyramid_proxy`.)

:func:`check_memory` decides whether a Painter of a given size fits: the bytes it will hold (labels,
the image pyramid's uint8 copy and its levels) against the memory available now (cgroup limit, then
``psutil`` if installed, else ``/proc/meminfo``'s MemAvailable, else ``os.sysconf`` free pages; and
``RLIMIT_AS`` if set). Too big: a :class:`~maskbench.widgets._common.WidgetValueError` naming the size.
"""

from __future__ import annotations

import os
import resource

from maskbench.widgets._common import WidgetValueError

__all__ = ["painter_bytes", "available_memory", "check_memory"]

_WORK_BYTES = 128 << 20  # the proxy's float work on a pyramid level (<= 4x a 1448^2 proxy's pixels, 4 channels)


def painter_bytes(shape: tuple[int, int], channels: int) -> int:
    """Bytes a Painter holds for an ``(H, W)`` image of ``channels`` uint8 channels: the label map (1
    byte per pixel), the image pyramid's uint8 copy and its coarser levels (4/3 of the copy), plus the
    display proxy's work. Strokes and the undo history work on boxes and are not counted."""
    h, w = shape
    return h * w + (h * w * channels * 4) // 3 + _WORK_BYTES


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
