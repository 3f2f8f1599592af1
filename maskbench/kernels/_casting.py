"""dtype rules shared by the kernels: which dtype to accumulate sums in."""

from __future__ import annotations

import torch

__all__ = ["accumulation_dtype"]


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to sum ``dtype`` values in: at least float32 (half/bfloat16 sums lose counts past 2048/256).

    float64 stays float64; integers and bool accumulate in float32 (use an integer ``sum`` for exact counts).

    >>> accumulation_dtype(torch.bfloat16), accumulation_dtype(torch.float64)
    (torch.float32, torch.float64)
    """
    return torch.promote_types(dtype, torch.float32)
