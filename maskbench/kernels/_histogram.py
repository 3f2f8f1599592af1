"""Private helpers of ``maskbench.kernels.threshold``: batched per-image histograms and searches.

``Hist`` bins every image of a ``(..., H, W)`` batch into its own [min, max] range with one flat
``bincount`` (``index_add_`` off CPU), without a Python loop over images and without host syncs.
"""

from __future__ import annotations

import math

import torch

from maskbench._checks import ShapeError, check_int, check_real, describe
from maskbench.kernels._counting import bincount_fixed

_INF = float("inf")


def as_work(x: torch.Tensor, name: str) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype, bool]:
    """``(..., H, W)`` -> ``(N, H*W)`` in the working float dtype; batch shape; out dtype; is a copy."""
    check_real(x, name)
    if x.ndim < 2 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ShapeError(
            f"{name}: expected (..., H, W) images with H, W >= 1; got {describe(x)}."
            + (f" For a 1-D signal use {name}[None]." if x.ndim == 1 else "")
        )
    if x.is_floating_point():
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        out = x.dtype
    else:
        work = torch.float64 if x.dtype in (torch.int32, torch.int64) else torch.float32
        out = work
    batch = tuple(x.shape[:-2])
    flat = x.detach().reshape(-1, x.shape[-2] * x.shape[-1])
    owned = flat.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()  # reshape copied
    if flat.dtype != work:
        flat, owned = flat.to(work), True
    return flat, batch, out, owned


def wide_float(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def rcumsum(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-1).cumsum(-1).flip(-1)


class Hist:
    """Flat per-image histogram: counts ``(N, bins)``, centres ``(N, bins)`` and the flags."""

    def __init__(self, x: torch.Tensor, bins: int, *, sums: bool = False) -> None:
        bins = check_int(bins, "bins", min_value=1)
        flat, self.batch, self.out_dtype, owned = as_work(x, "x")
        n = flat.shape[0]
        # Few full-size buffers, mostly updated in place (fresh multi-MB buffers cost page faults,
        # which dominate on CPU). Ignored pixels become +inf for the minimum...
        if owned:
            a = flat.nan_to_num_(nan=_INF, posinf=_INF, neginf=_INF)
        else:
            a = flat.nan_to_num(nan=_INF, posinf=_INF, neginf=_INF)
        lo = a.amin(-1)
        hi = a.nan_to_num_(posinf=-_INF, neginf=-_INF).amax(-1)  # ...and -inf for the maximum
        self.empty = lo > hi  # no finite pixel
        self.const = lo == hi
        self.value = lo
        # numpy's range: [v - 0.5, v + 0.5] for a constant image, [0, 1] for an empty one
        self.length = torch.full_like(lo, bins, dtype=torch.int64)  # bins that can hold pixels
        if x.dtype in (torch.uint8, torch.int8) and bins >= 256:
            self._per_value(a, lo, hi, bins, sums)
            return
        lo_e = torch.where(self.const, lo - 0.5, torch.where(self.empty, 0.0, lo))
        hi_e = torch.where(self.const, hi + 0.5, torch.where(self.empty, 1.0, hi))
        span = hi_e - lo_e  # numpy's norm_denom
        step = span / bins
        # degenerate ranges (wider than the dtype's max, or below bins * its tiniest normal) get
        # a finite, positive step: no NaN below, whatever the pixels
        step = torch.where(torch.isfinite(step), step, hi_e / bins - lo_e / bins)
        step = step.clamp_min(torch.finfo(a.dtype).tiny)
        k = torch.arange(bins + 1, device=a.device, dtype=a.dtype)
        edges = k * step[:, None] + lo_e[:, None]  # numpy.linspace's arithmetic
        edges[:, -1] = hi_e
        # bin = trunc((x - lo) / (hi - lo) * bins), numpy's formula in the image's dtype; a constant
        # image gets (x - v) / FLT_MAX = 0 here and is moved to bin bins // 2 in _fold
        t = a.sub(torch.where(self.const, lo, lo_e)[:, None])  # ignored pixels: -inf
        if sums:  # per-bin sums of x - min in float64, for Li's class means (ignored pixels: 0)
            weights = t.to(wide_float(a.device), copy=True).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0).view(-1)
        big = torch.finfo(a.dtype).max
        t.div_(torch.where(self.const | ~torch.isfinite(span), big, span)[:, None]).mul_(bins)
        t.clamp_(0.0, bins - 1).trunc_()  # the maximum (numpy: index bins -> bins - 1); -inf -> 0
        # numpy re-checks each value against the edges: (x - lo) / span * bins can round across an
        # edge (0.6 - 0.4 = 0.19999...). One step down where x < edges[i], then up where
        # x >= edges[i + 1], with the edges recomputed by linspace's arithmetic (i * step + lo), in
        # float buffers (comparisons written as 0/1 floats: no bool or int conversions).
        # Ignored pixels (-inf) go down to -1 (slot 0); valid ones never do (x >= edges[0] = lo).
        step_col, lo_col = step[:, None], lo_e[:, None]
        e = torch.mul(t, step_col).add_(lo_col)
        t.sub_(torch.lt(a, e, out=e))
        e = torch.add(t, 1, out=e).mul_(step_col).add_(lo_col)
        t.add_(torch.ge(a, e, out=e))
        del e
        # numpy never steps past the last bin; constant images keep bin 0 (moved in _fold)
        t.clamp_(max=torch.where(self.const, 0, bins - 1).to(t.dtype)[:, None])
        idx = t.view(torch.int64 if t.dtype == torch.float64 else torch.int32)
        idx.copy_(t)  # exact small integers, cast in place (same element size)
        slots = bins + 1  # per image: ignored pixels, then the bins
        idx.add_((torch.arange(n, device=a.device, dtype=idx.dtype) * slots + 1)[:, None])
        idx = idx.view(-1)
        self.counts = self._fold(bincount_fixed(idx, n * slots).view(n, slots), bins)
        if sums:
            self.sums = self._fold(bincount_fixed(idx, n * slots, weights).view(n, slots), bins)
        self.step = step
        self.centres = (edges[:, :-1] + edges[:, 1:]) / 2
        self.edges0 = lo_e

    def _per_value(self, a: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int, sums: bool) -> None:
        """8-bit integer images: one bin per value from the image minimum, as scikit-image's bincount.

        Bin ``k`` holds the value ``min + k``; bins past ``max - min`` stay empty (``self.length``
        says how many count), and the methods never pick a threshold there.
        """
        n = a.shape[0]
        t = a.sub_(lo[:, None])  # exact small integers (no ignored pixels in integer images)
        if sums:
            weights = t.to(wide_float(a.device), copy=True).view(-1)
        idx = t.view(torch.int32)
        idx.copy_(t)
        idx.add_((torch.arange(n, device=a.device, dtype=idx.dtype) * bins)[:, None])
        idx = idx.view(-1)
        self.counts = bincount_fixed(idx, n * bins).view(n, bins)
        if sums:
            self.sums = bincount_fixed(idx, n * bins, weights).view(n, bins)
        self.length = (hi - lo).to(torch.int64) + 1
        self.step = torch.ones_like(lo)
        self.centres = lo[:, None] + torch.arange(bins, device=a.device, dtype=a.dtype)
        self.edges0 = lo

    def valid(self, idx_count: int) -> torch.Tensor:
        """``(N, idx_count)`` bool: split index ``i`` (threshold at bin ``i``) leaves pixels above it."""
        i = torch.arange(idx_count, device=self.length.device)
        return i < self.length[:, None] - 1

    def _fold(self, slots: torch.Tensor, bins: int) -> torch.Tensor:
        """Slots -> bins (slot 0 holds the ignored pixels); a constant image moves to bin bins // 2."""
        out = slots[:, 1:]
        return torch.where(self.const[:, None], out.roll(bins // 2, -1), out)

    def at(self, idx: torch.Tensor) -> torch.Tensor:
        """The centre of bin ``idx`` (``(N,)``) of each image."""
        return self.centres.gather(-1, idx.reshape(-1, 1)).squeeze(-1)

    def finish(self, t: torch.Tensor, extra: tuple[int, ...] = ()) -> torch.Tensor:
        """Apply the constant/empty conventions and restore the batch shape."""
        cond = (lambda m: m[:, None]) if extra else (lambda m: m)
        t = torch.where(cond(self.const), cond(self.value).to(t.dtype), t)
        t = torch.where(cond(self.empty), math.nan, t)
        return t.to(self.out_dtype).reshape(self.batch + extra)


def smallest_gap(value: torch.Tensor, occupied: torch.Tensor) -> torch.Tensor:
    """Smallest difference between the values of consecutive occupied bins (inf if none)."""
    k = torch.arange(value.shape[-1], device=value.device)
    last = torch.where(occupied, k, -1).cummax(-1).values  # last occupied bin <= k
    prev = torch.nn.functional.pad(last, (1, 0), value=-1)[:, :-1]  # last occupied bin < k
    gap = value - value.gather(-1, prev.clamp_min(0))
    return torch.where(occupied & (prev >= 0), gap, _INF).amin(-1)


def multiotsu_dp(var: torch.Tensor, k: int) -> torch.Tensor:
    """Best ``k`` increasing cut indices for ``sum var[class]`` by dynamic programming."""
    n = var.shape[-1]
    i = torch.arange(n, device=var.device)
    below = i[:, None] < i[None, :]  # cut i before end j
    shifted = torch.nn.functional.pad(var[:, 1:, :], (0, 0, 0, 1))  # shifted[i, j] = var[i+1, j]
    best = var[:, 0, :]  # best[j]: classes 0..m cover bins 0..j
    choices = []
    for _ in range(k - 1):
        cand = (best[:, :, None] + shifted).masked_fill(~below, -_INF)
        best, arg = cand.max(1)
        choices.append(arg)
    last = (best[:, :-1] + var[:, 1:, n - 1]).argmax(-1)
    cuts = [last]
    for arg in reversed(choices):
        cuts.append(arg.gather(-1, cuts[-1][:, None]).squeeze(-1))
    return torch.stack(cuts[::-1], -1)
