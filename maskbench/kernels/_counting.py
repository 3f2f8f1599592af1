"""Counting helpers shared by the kernels: fixed-size, sync-free histograms of integer codes."""

from __future__ import annotations

import torch

__all__ = ["bincount_fixed"]


def bincount_fixed(
    index: torch.Tensor, size: int, weights: torch.Tensor | None = None, *, use_bincount: bool | None = None
) -> torch.Tensor:
    """``sum(weights[index == i])`` (or the count) for every ``i < size``, for a flat ``index`` in ``[0, size)``.

    ``torch.bincount`` reads the maximum on the host (a sync on CUDA) and has a data-dependent
    size under torch.compile, so off CPU the values are scatter-added into a fixed buffer.
    Counts are int64; sums have ``weights``' dtype.

    >>> bincount_fixed(torch.tensor([0, 2, 2]), 4)
    tensor([1, 0, 2, 0])
    >>> bincount_fixed(torch.tensor([0, 2, 2]), 4, torch.tensor([0.5, 1.0, 2.0]), use_bincount=False)
    tensor([0.5000, 0.0000, 3.0000, 0.0000])
    """
    if use_bincount is None:
        use_bincount = index.device.type == "cpu" and not torch.compiler.is_compiling()
    if use_bincount:
        out = torch.bincount(index, weights, minlength=size)
        return out if weights is None else out.to(weights.dtype)
    if weights is None:
        weights = torch.ones((), dtype=torch.int64, device=index.device).expand(index.numel())
    return torch.zeros(size, dtype=weights.dtype, device=index.device).index_add_(0, index, weights)
