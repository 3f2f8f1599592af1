"""Benchmark inputs: blobby masks from ``synthetic_scene`` and ``rand() > 0.5`` masks.

``synthetic_scene`` draws every shape on the CPU (seconds per 512x512 scene, more with 21 classes,
and much more on a loaded machine), so a batch is built from at most two drawn scenes: the others
are their rotations and flips, and large sizes are upsampled from a smaller drawn scene (nearest
for labels and masks, bilinear for the image and probabilities). The masks stay blobby (large
coherent regions with smooth boundaries), which is what the timings need. Results are cached.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import torch
import torch.nn.functional as F

import maskbench as mb

_MAX_DRAWN = 256  # largest scene drawn for real; bigger sizes are upsampled from it


def size_text(*shape: int) -> str:
    return "x".join(str(s) for s in shape)


def _variants(t: torch.Tensor, batch: int) -> torch.Tensor:
    """(n, ..., H, W) -> (batch, ..., H, W): the n drawn images, then rotated/flipped copies."""
    n = t.shape[0]
    out = []
    for i in range(batch):
        x, k = t[i % n], i // n
        x = torch.rot90(x, k % 4, dims=(-2, -1))
        out.append(x.flip(-1) if (k // 4) % 2 else x)
    return torch.stack(out)


def _resize(t: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if t.shape[-1] == size:
        return t
    if mode == "nearest":  # labels and masks: never blend ids
        x = t.unsqueeze(1) if t.ndim == 3 else t
        y = F.interpolate(x.to(torch.float32), size=(size, size), mode="nearest")
        y = y.squeeze(1) if t.ndim == 3 else y
        return y.to(t.dtype)
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)


@functools.cache
def _drawn(size: int, num_classes: int, count: int) -> mb.Scene:
    return mb.synthetic_scene(size, num_classes=num_classes, batch=count, seed=0)


@functools.lru_cache(maxsize=8)
def scene(batch: int, size: int, *, num_classes: int = 3) -> SimpleNamespace:
    """Square scenes on the CPU: ``image (B, 3, S, S)``, ``labels (B, S, S)`` int64,
    ``mask (B, S, S)`` bool (``labels > 0``) and ``probs (B, S, S)`` float32 in [0, 1].

    Move them with ``.to(device)``; treat them as read-only (they are cached).
    """
    drawn = min(size, _MAX_DRAWN)
    base = _drawn(drawn, num_classes, min(batch, 2))
    image = _resize(_variants(base.image, batch), size, "bilinear").clamp_(0, 1).contiguous()
    labels = _resize(_variants(base.labels, batch), size, "nearest").contiguous()
    probs = _resize(_variants(base.probs, batch)[:, None], size, "bilinear")[:, 0].clamp_(0, 1).contiguous()
    return SimpleNamespace(image=image, labels=labels, mask=labels > 0, probs=probs)


def rand_mask(*shape: int, seed: int = 0) -> torch.Tensor:
    """The other kind: ``torch.rand(shape) > 0.5`` (salt-and-pepper, every pixel independent)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) > 0.5


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen)


def randint(high: int, *shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=gen)
