"""Undo/redo for label maps with bounded memory: each step keeps only its changed box.

A step stores the box's old and new labels run-length encoded (label maps are mostly long runs, so a
full-image step on a 4096 x 4096 map usually takes kilobytes, not 32 MB). Steps past ``max_steps``
or past the ``max_bytes`` budget are dropped oldest first; the newest step is always kept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

__all__ = ["History", "Step", "encode_runs", "decode_runs"]


def encode_runs(patch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-major runs of a 2-D tensor: ``(values, starts)`` (starts as int32 offsets).

    Not COCO RLE (that is :func:`maskbench.rle_encode`): any label values, row-major, in memory only.
    """
    flat = patch.reshape(-1)
    if flat.numel() == 0:
        return flat.clone(), torch.zeros(0, dtype=torch.int32)
    change = (flat[1:] != flat[:-1]).nonzero()[:, 0] + 1
    starts = torch.cat([torch.zeros(1, dtype=change.dtype, device=flat.device), change])
    return flat[starts].cpu(), starts.to(torch.int32).cpu()


def decode_runs(values: torch.Tensor, starts: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`encode_runs`."""
    n = shape[0] * shape[1]
    if n == 0:
        return torch.zeros(shape, dtype=values.dtype)
    ends = torch.cat([starts[1:].long(), torch.tensor([n])])
    return values.repeat_interleave(ends - starts.long()).view(shape)


@dataclass(frozen=True)
class Step:
    """One edit: the box ``[row, row + h) x [col, col + w)`` before and after."""

    row: int
    col: int
    shape: tuple[int, int]
    old: tuple[torch.Tensor, torch.Tensor]
    new: tuple[torch.Tensor, torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.old, *self.new))

    def before(self) -> torch.Tensor:
        return decode_runs(*self.old, self.shape)

    def after(self) -> torch.Tensor:
        return decode_runs(*self.new, self.shape)


class History:
    """Linear undo/redo stacks; pushing a new step clears the redo stack."""

    def __init__(self, *, max_steps: int = 200, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: deque[Step] = deque()
        self._redo: list[Step] = []
        self._bytes = 0

    def push(self, row: int, col: int, old: torch.Tensor, new: torch.Tensor) -> Step:
        step = Step(row, col, tuple(old.shape), encode_runs(old), encode_runs(new))
        self._undo.append(step)
        self._bytes += step.nbytes
        for dropped in self._redo:
            self._bytes -= dropped.nbytes
        self._redo.clear()
        while len(self._undo) > 1 and (len(self._undo) > self.max_steps or self._bytes > self.max_bytes):
            self._bytes -= self._undo.popleft().nbytes
        return step

    def undo(self) -> Step | None:
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(step)
        return step

    def redo(self) -> Step | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(step)
        return step

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def nbytes(self) -> int:
        """Bytes held by all steps (undo and redo)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._undo)
