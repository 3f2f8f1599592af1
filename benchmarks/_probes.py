"""Checks that run once next to the timings: host syncs on CUDA, and copies made of a mask."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode


def sync_free(fn: Callable[[], object], device: torch.device) -> bool | None:
    """Whether ``fn()`` runs under ``torch.cuda.set_sync_debug_mode("error")`` (None off CUDA)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        fn()
        return True
    except RuntimeError as err:
        if "synchroniz" in str(err).lower():  # "called a synchronizing CUDA operation"
            return False
        raise
    finally:
        torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.synchronize(device)


_CONVERSIONS = {"_to_copy", "to", "copy_", "_copy_from", "type_as"}


class _MaskCopies(TorchDispatchMode):
    """Records every dtype conversion whose source shares storage with the mask."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.ptr = mask.untyped_storage().data_ptr()
        self.numel = mask.numel()
        self.copies: list[tuple[torch.dtype, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in _CONVERSIONS and isinstance(out, torch.Tensor) and out.numel() >= self.numel:
            src = args[1] if name == "copy_" else args[0]
            if isinstance(src, torch.Tensor) and src.untyped_storage().data_ptr() == self.ptr:
                if out.dtype not in (torch.bool, torch.uint8):  # a uint8 view is the mask itself
                    self.copies.append((out.dtype, out.numel() * out.element_size()))
        return out


def mask_copies(fn: Callable[[], object], mask: torch.Tensor) -> list[tuple[torch.dtype, int]]:
    """Full-size copies of ``mask`` into a wider dtype made while ``fn()`` runs: ``[(dtype, bytes)]``."""
    mode = _MaskCopies(mask)
    with mode:
        fn()
    return mode.copies


def describe_copies(copies: list[tuple[torch.dtype, int]], mask: torch.Tensor) -> str:
    if not copies:
        return "no wider copy of the mask"
    parts = [f"{str(d).replace('torch.', '')} ({n // mask.numel()} B/px)" for d, n in copies]
    return "mask copied to " + ", ".join(parts)
