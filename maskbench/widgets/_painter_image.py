"""The Painter's image at any size: a memory check before anything is allocated.

(Its display proxy comes from the image pyramid: :func:`maskbench.render.proxy.pyramid_proxy`.)

:func:`check_memory` decides whether a Painter of a given size fits: the bytes it will hold (labels,
the image pyramid's uint8 copy and its levels) against the memory available now (cgroup limit, then
``psutil`` if installed, else ``/proc/meminfo``'s MemAvailable, else ``os.sysconf`` free pages; and
``RLIMIT_AS`` if set: :func:`maskbench.widgets._memory.available_memory`, shared with the Tuner and
the Viewer). Too big: a :class:`~maskbench.widgets._memory.WidgetMemoryError` naming the size.
"""

from __future__ import annotations

from maskbench.widgets import _memory
from maskbench.widgets._memory import available_memory

__all__ = ["painter_bytes", "available_memory", "check_memory"]

_WORK_BYTES = 128 << 20  # the proxy's float work on a pyramid level (<= 4x a 1448^2 proxy's pixels, 4 channels)


def painter_bytes(shape: tuple[int, int], channels: int) -> int:
    """Bytes a Painter holds for an ``(H, W)`` image of ``channels`` uint8 channels: the label map (1
    byte per pixel), the image pyramid's uint8 copy and its coarser levels (4/3 of the copy), plus the
    display proxy's work. Strokes and the undo history work on boxes and are not counted."""
    h, w = shape
    return h * w + (h * w * channels * 4) // 3 + _WORK_BYTES


def check_memory(shape: tuple[int, int], channels: int, name: str = "image") -> None:
    """Raise :class:`~maskbench.widgets._memory.WidgetMemoryError` (a ``WidgetValueError``) naming the
    size when a Painter on it would not fit in memory (:func:`maskbench.widgets._memory.check_memory`)."""
    h, w = shape
    _memory.check_memory(
        painter_bytes(shape, channels),
        widget="Painter",
        subject=f"a {h}x{w} image with {channels} channel(s)",
        parts=[("labels", h * w), ("a uint8 image pyramid", h * w * channels * 4 // 3)],
        fix=f"paint a crop or a downsampled copy, e.g. `image[:{h // 2}, :{w // 2}]` or `image[::2, ::2]` (numpy).",
        name=name,
        room=available_memory(),  # looked up here: tests patch this module's name
    )
