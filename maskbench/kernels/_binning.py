"""Per-image histogram counts for ``_histogram.Hist``: numpy's bins, in cache-sized blocks on CPU.

A pixel ``x`` of an image with range ``[lo, hi]`` goes where ``numpy.histogram`` puts it: first
``i = trunc((x - lo) / (hi - lo) * bins)`` in the image's float dtype, then one bin down where
``x < edges[i]`` and one up where ``x >= edges[i + 1]``, with ``edges[k] = k * step + lo`` (numpy.linspace's
arithmetic). Two ways to the same counts:

* ``exact_counts`` re-checks every pixel against its two edges. Device-agnostic and sync-free;
  NaN and +-inf pixels are ignored. Used off CPU, for images holding NaN/inf, and for Li's sums.
* ``_fast_binning.fast_pass`` (CPU, finite pixels) re-checks only the few pixels within a
  rounding bound of an edge (a few per thousand); see that module.

On CPU the pixels go through in blocks of ``_BLOCK`` whose scratch buffers stay in cache, so the
passes run at cache speed, and no full-size temporary is allocated (fresh multi-MB buffers cost
page faults, which dominate on CPU). Off CPU there is one block: the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from maskbench.kernels._counting import bincount_fixed

_INF = float("inf")
_BLOCK = 1 << 17  # pixels per block on CPU
_ROW_LOOP_MIN, _ROW_LOOP_MAX = 1 << 14, 4096  # finite_range: one aminmax per image for images this large
FAST = True  # tests turn the CPU fast path (_fast_binning) off to compare it with exact_counts


def blocks(n: int, p: int, device: torch.device, size: int | None = None) -> list[tuple[int, int, int, int]]:
    """``(row0, row1, col0, col1)`` blocks of at most ``size`` of the ``(N, P)`` pixels: whole rows,
    or one row in equal pieces. By default each of torch's threads gets a cache-sized share (fewer
    parallel regions, which stall when the machine is busy)."""
    size = size or _BLOCK * max(1, torch.get_num_threads())
    if device.type != "cpu" or n * p <= size:
        return [(0, n, 0, p)]
    if p <= size:
        rows = size // p
        return [(r, min(r + rows, n), 0, p) for r in range(0, n, rows)]
    pieces = -(-p // size)
    cuts = [p * i // pieces for i in range(pieces + 1)]
    return [(r, r + 1, c0, c1) for r in range(n) for c0, c1 in zip(cuts[:-1], cuts[1:])]


def _view(buf: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """A contiguous ``(rows, cols)`` view at the start of a flat scratch buffer."""
    return buf[: rows * cols].view(rows, cols)


def _scratch(parts: list, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.empty(max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in parts), dtype=dtype, device=device)


def _load(block: torch.Tensor, buf: torch.Tensor, ignored: float) -> torch.Tensor:
    """The block in ``buf``'s dtype with NaN and +-inf replaced by ``ignored``."""
    a = _view(buf, *block.shape)
    if not block.is_floating_point():
        return a.copy_(block)
    if block.dtype == a.dtype:
        return torch.nan_to_num(block, nan=ignored, posinf=ignored, neginf=ignored, out=a)
    return a.copy_(block).nan_to_num_(nan=ignored, posinf=ignored, neginf=ignored)


def finite_range(flat: torch.Tensor, work: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Per image minimum and maximum of the finite pixels (``inf``, ``-inf`` if none); no NaN/inf anywhere.

    The third value is only ever True on CPU (it is known there without a device sync).
    """
    if not flat.is_floating_point():  # every pixel of an integer image counts
        lo, hi = _row_aminmax(flat)
        return lo.to(work), hi.to(work), flat.device.type == "cpu"
    if flat.device.type == "cpu":
        lo, hi = (t.to(work) for t in _row_aminmax(flat))  # NaN or +-inf if the image has any
        if bool((torch.isfinite(lo) & torch.isfinite(hi)).all()):
            return lo, hi, True
    parts = blocks(*flat.shape, flat.device)
    buf = _scratch(parts, work, flat.device)
    lo = torch.full((flat.shape[0],), _INF, dtype=work, device=flat.device)
    hi = torch.full_like(lo, -_INF)
    for r0, r1, c0, c1 in parts:
        a = _load(flat[r0:r1, c0:c1], buf, _INF)  # ignored pixels: +inf for the minimum...
        torch.minimum(lo[r0:r1], a.amin(-1), out=lo[r0:r1])
        a.nan_to_num_(posinf=-_INF)  # ...and -inf for the maximum
        torch.maximum(hi[r0:r1], a.amax(-1), out=hi[r0:r1])
    return lo, hi, False


def _row_aminmax(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row minimum and maximum in one pass over the pixels.

    On CPU ``aminmax(dim=-1)`` is ~3x slower than ``amin`` + ``amax`` (two passes), while a whole-row
    ``aminmax`` is one vectorised pass: for large images, one call per image is the fastest.
    """
    if flat.device.type != "cpu" or flat.shape[1] < _ROW_LOOP_MIN or flat.shape[0] > _ROW_LOOP_MAX:
        return flat.amin(-1), flat.amax(-1)
    pairs = [row.aminmax() for row in flat]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


@dataclass
class Grid:
    """Per-image ``(N, 1)`` columns of numpy's binning: ``f = (x - sub) / div * scale``, edges ``k * step + lo``.

    A constant image gets ``div = step = FLT_MAX``: its pixels stay in bin 0 (``Hist`` moves them).
    """

    bins: int
    sub: torch.Tensor
    div: torch.Tensor
    scale: float
    step: torch.Tensor
    lo: torch.Tensor

    def numpy_bin(self, x: torch.Tensor, f: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """numpy's bin (int64) of pixels ``x`` with scaled values ``f`` in images ``rows`` (1-D, finite)."""
        step, lo = self.step.view(-1).index_select(0, rows), self.lo.view(-1).index_select(0, rows)
        return numpy_bin(x, f, step, lo, self.bins)


def numpy_bin(x: torch.Tensor, f: torch.Tensor, step: torch.Tensor, lo: torch.Tensor, bins: int) -> torch.Tensor:
    """numpy's bin (int64) of pixels ``x`` with scaled values ``f``: ``trunc(f)`` re-checked against
    the edges ``k * step + lo`` around it (1-D, finite; ``step``, ``lo`` per pixel)."""
    i = f.trunc().clamp_(0, bins - 1)
    down = (x < i * step + lo).to(f.dtype)
    up = (x >= (i + 1) * step + lo).to(f.dtype)
    return (i - down + up).clamp_(max=bins - 1).long()


def exact_counts(
    flat: torch.Tensor, grid: Grid, work: torch.dtype, weights_dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(N, bins)`` counts (and per-bin sums of ``x - sub`` if ``weights_dtype``), every pixel re-checked."""
    n, dev, bins = flat.shape[0], flat.device, grid.bins
    parts = blocks(*flat.shape, dev)
    a_buf, t_buf, e_buf = (_scratch(parts, work, dev) for _ in range(3))
    slots = bins + 1  # per image: ignored pixels, then the bins
    counts = torch.zeros(n * slots, dtype=torch.int64, device=dev)
    if weights_dtype is not None:
        w_buf = _scratch(parts, weights_dtype, dev)
        totals = torch.zeros(n * slots, dtype=weights_dtype, device=dev)
    itype = torch.int64 if work == torch.float64 else torch.int32  # same element size: cast in place
    rows_max = max(r1 - r0 for r0, r1, _, _ in parts)
    exact = rows_max * slots <= 2 ** (53 if work == torch.float64 else 24)  # offsets exact in a float
    offsets = torch.arange(rows_max, device=dev, dtype=work if exact else itype)[:, None] * slots + 1
    for r0, r1, c0, c1 in parts:
        rows, cols = r1 - r0, c1 - c0
        a = _load(flat[r0:r1, c0:c1], a_buf, -_INF)  # ignored pixels: -inf, they end in slot 0
        t = torch.sub(a, grid.sub[r0:r1], out=_view(t_buf, rows, cols))
        if weights_dtype is not None:  # ignored pixels weigh 0
            w = _view(w_buf, rows, cols).copy_(t).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        t.div_(grid.div[r0:r1]).mul_(grid.scale)
        t.clamp_(0.0, bins - 1).trunc_()  # the maximum (numpy: index bins -> bins - 1); -inf -> 0
        # One step down where x < edges[i], then up where x >= edges[i + 1] (comparisons written as
        # 0/1 floats: no bool or int conversions). Ignored pixels (-inf) go down to -1 (slot 0);
        # valid ones never do (x >= edges[0]).
        step, lo = grid.step[r0:r1], grid.lo[r0:r1]
        e = torch.mul(t, step, out=_view(e_buf, rows, cols)).add_(lo)
        t.sub_(torch.lt(a, e, out=e))
        torch.add(t, 1, out=e).mul_(step).add_(lo)
        t.add_(torch.ge(a, e, out=e)).clamp_(max=bins - 1)  # numpy never steps past the last bin
        idx = t.view(itype)
        if exact:
            idx.copy_(t.add_(offsets[:rows]))
        else:
            idx.copy_(t).add_(offsets[:rows])
        part = slice(r0 * slots, r1 * slots)
        counts[part] += bincount_fixed(idx.view(-1), rows * slots)
        if weights_dtype is not None:
            totals[part] += bincount_fixed(idx.view(-1), rows * slots, w.view(-1))
    counts = counts.view(n, slots)[:, 1:]
    return counts, None if weights_dtype is None else totals.view(n, slots)[:, 1:]


def per_value_counts(
    flat: torch.Tensor, lo: torch.Tensor, bins: int, weights_dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """8-bit integer images: ``(N, bins)`` counts of the values ``lo + k`` (and sums of ``x - lo``)."""
    n, dev = flat.shape[0], flat.device
    parts = blocks(*flat.shape, dev)
    i_buf = _scratch(parts, torch.int32, dev)
    base = torch.arange(n, device=dev, dtype=torch.int32) * bins - lo.to(torch.int32)  # value -> slot
    counts = torch.zeros(n * bins, dtype=torch.int64, device=dev)
    if weights_dtype is not None:
        w_buf = _scratch(parts, weights_dtype, dev)
        totals = torch.zeros(n * bins, dtype=weights_dtype, device=dev)
        lo_w = lo.to(weights_dtype)[:, None]
    for r0, r1, c0, c1 in parts:
        rows, cols = r1 - r0, c1 - c0
        block = flat[r0:r1, c0:c1]
        idx = _view(i_buf, rows, cols).copy_(block).add_((base[r0:r1] - r0 * bins)[:, None]).view(-1)
        part = slice(r0 * bins, r1 * bins)
        counts[part] += bincount_fixed(idx, rows * bins)
        if weights_dtype is not None:
            w = torch.sub(block, lo_w[r0:r1], out=_view(w_buf, rows, cols))
            totals[part] += bincount_fixed(idx, rows * bins, w.view(-1))
    return counts.view(n, bins), None if weights_dtype is None else totals.view(n, bins)
