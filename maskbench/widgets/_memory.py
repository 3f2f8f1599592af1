"""Will a widget fit in memory? Checked before it allocates anything (issue 12 item 4).

Each widget estimates the bytes it will allocate for its inputs (the Painter:
``_painter_image.painter_bytes``, the ThresholdTuner: ``_tuner_core.tuner_bytes``, the Viewer:
``_viewer_core.viewer_bytes``) and calls :func:`check_memory` with it before its first big
allocation. :func:`available_memory` is what this process may still allocate now: the cgroup's
``memory.max`` minus its usage, then ``psutil``'s available memory if installed, else
``/proc/meminfo``'s MemAvailable, else ``os.sysconf`` free pages; and ``RLIMIT_AS`` minus this
process's address space when a limit is set (the smallest of those found). When the estimate does
not fit, a :class:`WidgetMemoryError` names the widget, the input's size, the estimate, what is
available and a fix, instead of torch's allocator error halfway through building the widget.

Only host memory is checked (the widgets' proxies, pyramids and counts live on the CPU); an input
on a GPU is not counted against it, only its host copies are.
"""

from __future__ import annotations

import os

import torch

try:
    import resource  # POSIX only: RLIMIT_AS
except ImportError:  # Windows
    resource = None

from maskbench.widgets._common import WidgetValueError

__all__ = ["GIB", "WidgetMemoryError", "available_memory", "check_memory", "gib", "size_text"]

GIB = 1 << 30


class WidgetMemoryError(WidgetValueError, MemoryError):
    """A widget's inputs need more memory than this process has available (nothing was allocated).

    A ``ValueError`` (the input is too big: pass a smaller one) and a ``MemoryError`` (so code that
    already catches out-of-memory errors catches this one too)."""


def gib(n: int | float) -> str:
    """``n`` bytes in GiB with one decimal (in MiB below 0.1 GiB, so a small number does not read as 0.0)."""
    return f"{n / GIB:.1f} GiB" if n >= GIB // 10 or n == 0 else f"{n / (1 << 20):.1f} MiB"


def size_text(x: torch.Tensor, name: str = "") -> str:
    """``"name [B x ]HxWxC dtype (1.2 GiB)"`` of a ``(B, C, H, W)`` or ``(B, H, W)`` tensor."""
    if x.ndim == 4:
        b, c, h, w = x.shape
        dims = f"{h}x{w}x{c}"
    else:
        b, h, w = x.shape
        dims = f"{h}x{w}"
    batch = f"{b} x " if b > 1 else ""
    dtype = str(x.dtype).removeprefix("torch.")
    prefix = f"{name} " if name else ""
    return f"{prefix}{batch}{dims} {dtype} ({gib(x.numel() * x.element_size())})"


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
    soft, _ = resource.getrlimit(resource.RLIMIT_AS) if resource is not None else (None, None)
    if soft is not None and soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/status") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
            found.append((soft - kib * 1024, "RLIMIT_AS minus this process's address space"))
        except (OSError, StopIteration, ValueError):
            pass
    return min(found) if found else (None, "unknown")


def check_memory(
    need: int,
    *,
    widget: str,
    subject: str,
    parts: list[tuple[str, int]],
    fix: str,
    name: str = "image",
    room: tuple[int | None, str] | None = None,
) -> None:
    """Raise :class:`WidgetMemoryError` when ``need`` bytes do not fit in :func:`available_memory`.

    The message reads ``"{name}: {subject} needs about N GiB in the {widget} ({parts}); only M GiB
    are available ({source}). Free memory, or {fix}"``: ``parts`` are the estimate's largest terms
    (label, bytes), ``room`` a ``(bytes, source)`` pair when the caller measured it already.
    """
    room_bytes, source = available_memory() if room is None else room
    if room_bytes is None or need <= room_bytes:
        return
    terms = " + ".join(f"{label} {gib(n)}" for label, n in parts if n > 0)
    raise WidgetMemoryError(
        f"{name}: {subject} needs about {gib(need)} in the {widget} ({terms}); only "
        f"{gib(max(room_bytes, 0))} are available ({source}). Free memory, or {fix}",
        name=name,
    )
