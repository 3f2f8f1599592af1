"""Private helpers of ``maskbench.kernels.threshold``: batched per-image histograms and searches.

``Hist`` bins every image of a ``(..., H, W)`` batch into its own [min, max] range exactly as
``numpy.histogram`` does, with flat ``bincount``s of image-offset bin indices (``index_add_`` off
CPU), without a Python loop over images and without host syncs off CPU (``_binning`` holds the
counting: cache-sized blocks and a fast path for finite images on CPU).
"""

from __future__ import annotations

import math

import torch

from maskbench._checks import ShapeError, check_int, check_real, describe
from maskbench.kernels import _binning
from maskbench.kernels._binning import Grid, exact_counts, finite_range, per_value_counts
from maskbench.kernels._fast_binning import fast_pass

_INF = float("inf")
MAX_BINS = 1 << 20  # histogram bins per image (a bigger number is a mistake, not a histogram)


def _as_flat(x: torch.Tensor, name: str) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype, torch.dtype]:
    """``(..., H, W)`` -> ``(N, H*W)`` (a view where possible); batch shape; out dtype; working dtype."""
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
    return x.detach().reshape(-1, x.shape[-2] * x.shape[-1]), tuple(x.shape[:-2]), out, work


def as_work(x: torch.Tensor, name: str) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype, bool]:
    """``(..., H, W)`` -> ``(N, H*W)`` in the working float dtype; batch shape; out dtype; is a copy."""
    flat, batch, out, work = _as_flat(x, name)
    owned = flat.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()  # reshape copied
    if flat.dtype != work:
        flat, owned = flat.to(work), True
    return flat, batch, out, owned


def wide_float(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def rcumsum(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-1).cumsum(-1).flip(-1)


class Hist:
    """Flat per-image histogram: counts ``(N, bins)``, centres ``(N, bins)`` and the flags.

    Counts are numpy.histogram's (``_binning`` says how, and which path runs where).
    """

    def __init__(self, x: torch.Tensor, bins: int, *, sums: bool = False) -> None:
        bins = check_int(bins, "bins", min_value=1, max_value=MAX_BINS)
        flat, self.batch, self.out_dtype, work = _as_flat(x, "x")
        dev = flat.device
        per_value = x.dtype in (torch.uint8, torch.int8) and bins >= 256
        fast = None  # CPU: ranges and counts in one pass over cache-sized blocks (_fast_binning)
        if _binning.FAST and dev.type == "cpu" and not sums and not per_value and flat.shape[0]:
            fast = fast_pass(flat, bins, work)  # None: NaN/inf pixels or a degenerate range
        lo, hi, _ = finite_range(flat, work) if fast is None else (fast.lo, fast.hi, True)
        self.empty = lo > hi  # no finite pixel
        self.const = lo == hi
        self.value = lo
        self.length = torch.full_like(lo, bins, dtype=torch.int64)  # bins that can hold pixels
        wide = wide_float(dev) if sums else None  # Li's per-bin sums of x - min
        if per_value:
            # one bin per value from the image minimum, as scikit-image's bincount: bin k holds the
            # value min + k; bins past max - min stay empty (self.length says how many count)
            self.counts, self.sums = per_value_counts(flat, lo, bins, wide)
            self.length = (hi - lo).to(torch.int64) + 1
            self.step = torch.ones_like(lo)
            self.centres = lo[:, None] + torch.arange(bins, device=dev, dtype=work)
            self.edges0 = lo
            return
        # numpy's range: [v - 0.5, v + 0.5] for a constant image, [0, 1] for an empty one
        lo_e = torch.where(self.const, lo - 0.5, torch.where(self.empty, 0.0, lo))
        hi_e = torch.where(self.const, hi + 0.5, torch.where(self.empty, 1.0, hi))
        span = hi_e - lo_e  # numpy's norm_denom
        step = span / bins
        # degenerate ranges (wider than the dtype's max, or below bins * its tiniest normal) get
        # a finite, positive step: no NaN below, whatever the pixels
        step = torch.where(torch.isfinite(step), step, hi_e / bins - lo_e / bins)
        step = step.clamp_min(torch.finfo(work).tiny)
        k = torch.arange(bins + 1, device=dev, dtype=work)
        edges = k * step[:, None] + lo_e[:, None]  # numpy.linspace's arithmetic
        edges[:, -1] = hi_e
        self.step, self.edges0 = step, lo_e
        self.centres = (edges[:, :-1] + edges[:, 1:]) / 2
        # f = trunc((x - lo) / (hi - lo) * bins), numpy's formula in the image's dtype; a constant
        # image gets (x - v) / FLT_MAX = 0 and is moved to numpy's bin below (_move_const)
        big = torch.finfo(work).max
        sub = torch.where(self.const, lo, lo_e)[:, None]
        div = torch.where(self.const | ~torch.isfinite(span), big, span)[:, None]
        grid = Grid(bins, sub, div, bins, torch.where(self.const, big, step)[:, None], lo_e[:, None])
        if fast is not None:
            counts = fast.finish(grid)
        else:
            counts, self.sums = exact_counts(flat, grid, work, wide)
            if sums:
                self.sums = self._move_const(self.sums, lo_e, span)
        self.counts = self._move_const(counts, lo_e, span)

    def valid(self, idx_count: int) -> torch.Tensor:
        """``(N, idx_count)`` bool: split index ``i`` (threshold at bin ``i``) leaves pixels above it."""
        i = torch.arange(idx_count, device=self.length.device)
        return i < self.length[:, None] - 1

    def _move_const(self, counts: torch.Tensor, lo_e: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """A constant image's pixels (counted in bin 0) move to numpy's bin of ``v`` in ``[v - 0.5, v + 0.5]``:
        ``bins // 2``, or the one below where ``v - 0.5`` rounds up (e.g. float32 0.016189719)."""
        n, bins = counts.shape
        v, col = self.value, lo_e[:, None]
        rows = torch.arange(n, device=v.device)
        k = Grid(bins, col, span[:, None], bins, self.step[:, None], col).numpy_bin(v, (v - lo_e) / span * bins, rows)
        moved = (torch.arange(bins, device=counts.device) == k[:, None]) * counts[:, :1]
        return torch.where(self.const[:, None], moved, counts)

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
