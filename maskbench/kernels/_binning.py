"""Per-image histogram counts for ``_histogram.Hist``: numpy's bins, in cache-sized blocks on CPU.

A pixel ``x`` of an image with range ``[lo, hi]`` goes where ``numpy.histogram`` puts it: first
``i = trunc((x - lo) / (hi - lo) * bins)`` in the image's float dtype, then one bin down where
``x < edges[i]`` and one up where ``x >= edges[i + 1]``, with ``edges[k] = k * step + lo`` (numpy.linspace's
arithmetic). Two ways to the same counts:

* ``exact_counts`` re-checks every pixel against its two edges. Device-agnostic and sync-free;
  NaN and +-inf pixels are ignored. Used off CPU, for images holding NaN/inf, and for Li's sums.
* ``fast_counts`` (CPU, finite pixels) counts ``trunc(f)``, ``f = (x - lo) / (hi - lo) * bins``, and
  re-checks only the pixels whose ``f`` is within a rounding bound ``delta`` of an integer: for every
  other pixel both edge comparisons are known, so numpy's re-check cannot move it. That is a few
  pixels in a thousand instead of all of them. The re-checked set has a data-dependent size,
  which costs nothing on CPU (no device to synchronise with).

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
_CHUNK = 8  # fast_counts looks for pixels to re-check per chunk of this many pixels
FAST = True  # tests turn the CPU fast path off to compare it with exact_counts


def blocks(n: int, p: int, device: torch.device) -> list[tuple[int, int, int, int]]:
    """``(row0, row1, col0, col1)`` blocks of the ``(N, P)`` pixels: whole rows, or one row in pieces."""
    # each of torch's threads gets a cache-sized share (fewer parallel regions, which stall when
    # the machine is busy)
    size = _BLOCK * max(1, torch.get_num_threads())
    if device.type != "cpu" or n * p <= size:
        return [(0, n, 0, p)]
    if p <= size:
        rows = size // p
        return [(r, min(r + rows, n), 0, p) for r in range(0, n, rows)]
    return [(r, r + 1, c, min(c + size, p)) for r in range(n) for c in range(0, p, size)]


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
        step, lo = self.step[rows, 0], self.lo[rows, 0]
        i = f.trunc().clamp_(0, self.bins - 1)
        down = (x < i * step + lo).to(f.dtype)
        up = (x >= (i + 1) * step + lo).to(f.dtype)
        return (i - down + up).clamp_(max=self.bins - 1).long()


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


def fast_counts(flat: torch.Tensor, grid: Grid, work: torch.dtype, delta: torch.Tensor) -> torch.Tensor:
    """``(N, bins)`` counts of finite CPU images; ``delta`` ``(N, 1)``: the re-check bound on ``f``.

    A pixel with ``delta <= frac(f) <= 1 - delta`` stays in bin ``trunc(f)`` (numpy's comparisons
    with both edges are known, see ``rounding_bound``). Each block counts ``g = f + delta`` at
    ``trunc(g)`` (the same bin for those pixels) and keeps, per column of a ``(_CHUNK, W)`` view,
    the smallest ``frac(g)``; columns where it is below ``2 delta`` (some pixel within ``delta`` of
    an integer) are re-checked as numpy does, for all blocks at once, and their counts moved.
    """
    n, dev, bins = flat.shape[0], flat.device, grid.bins
    parts = blocks(*flat.shape, dev)
    delta = delta.clamp(max=0.5)  # g <= bins + 0.5: trunc(g) <= bins
    g_buf = _scratch(parts, work, dev)
    a_buf = _scratch(parts, work, dev) if flat.dtype != work else None
    i_buf = _scratch(parts, torch.int32, dev)
    slots = bins + 1  # the bins, then pixels with trunc(g) == bins (numpy's last bin, or re-checked)
    counts = torch.zeros(n * slots, dtype=torch.int64, device=dev)
    rows_max = max(r1 - r0 for r0, r1, _, _ in parts)
    offsets = torch.arange(rows_max, device=dev, dtype=torch.int32)[:, None] * slots
    width = max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in parts) // _CHUNK
    width = -(-width // _CHUNK) * _CHUNK  # a multiple of _CHUNK, for the second level in _suspects
    lowest = torch.full((len(parts), width), _INF, dtype=work, device=dev)  # smallest frac(g) per column
    for b, (r0, r1, c0, c1) in enumerate(parts):
        rows, cols = r1 - r0, c1 - c0
        block = flat[r0:r1, c0:c1]
        a = block if a_buf is None else _view(a_buf, rows, cols).copy_(block)
        g = torch.sub(a, grid.sub[r0:r1], out=_view(g_buf, rows, cols)).div_(grid.div[r0:r1])
        if grid.scale != 1:
            g.mul_(grid.scale)
        idx = _view(i_buf, rows, cols).copy_(g.add_(delta[r0:r1]))  # trunc(g): g >= 0
        if rows > 1:
            idx.add_(offsets[:rows])
        counts[r0 * slots : r1 * slots] += torch.bincount(idx.view(-1), minlength=rows * slots)
        w = rows * cols // _CHUNK
        torch.amin(g.frac_().view(-1)[: w * _CHUNK].view(_CHUNK, w), 0, out=lowest[b, :w])
    rows, cols = _suspects(parts, lowest, 2 * delta, dev)
    if rows.numel():  # numpy's re-check of the suspects: move their counts
        x = flat[rows, cols].to(work)
        f = (x - grid.sub[rows, 0]) / grid.div[rows, 0]
        if grid.scale != 1:
            f = f * grid.scale
        base = rows * slots
        one = torch.ones_like(base)
        counts.index_add_(0, base + (f + delta[rows, 0]).trunc().long(), -one)
        counts.index_add_(0, base + grid.numpy_bin(x, f, rows), one)
    counts = counts.view(n, slots)
    last = counts[:, bins - 1] + counts[:, bins]
    return torch.cat([counts[:, : bins - 1], last[:, None]], -1)


def _suspects(parts: list, lowest: torch.Tensor, window: torch.Tensor, dev: torch.device):
    """Row and column indices of the pixels to re-check: all pixels of the flagged columns of each
    block's ``(_CHUNK, W)`` view, and the few past ``_CHUNK * W``."""
    r0, r1, c0, c1 = (torch.tensor(v, device=dev) for v in zip(*parts))
    rows, cols = r1 - r0, c1 - c0
    w = rows * cols // _CHUNK
    # the block's widest window (a column may hold pixels of several images)
    span = r0[:, None] + torch.arange(int(rows.max()), device=dev)  # the rows of each block
    top = window[torch.minimum(span, r1[:, None] - 1), 0].amax(1)
    # nonzero scans slowly: first the columns of a (_CHUNK, W / _CHUNK) view of `lowest` (one
    # vectorised min), then only the flagged ones (columns past a block's width hold +inf)
    nb, width = lowest.shape
    coarse = lowest.view(nb, _CHUNK, width // _CHUNK).amin(1)
    b, k = (coarse < top[:, None]).nonzero(as_tuple=True)
    b = b.repeat_interleave(_CHUNK)
    col = (torch.arange(_CHUNK, device=dev) * (width // _CHUNK) + k[:, None]).view(-1)
    keep = lowest[b, col] < top[b]
    b, col = b[keep], col[keep]
    pos = (torch.arange(_CHUNK, device=dev) * w[b, None] + col[:, None]).view(-1)
    b = b.repeat_interleave(_CHUNK)
    tails = [
        (i, p)
        for i, (a, z, c, d) in enumerate(parts)
        for p in range((z - a) * (d - c) // _CHUNK * _CHUNK, (z - a) * (d - c))
    ]
    if tails:
        tb, tp = torch.tensor(tails, device=dev).unbind(-1)
        b, pos = torch.cat([b, tb]), torch.cat([pos, tp])
    return r0[b] + pos // cols[b], c0[b] + pos % cols[b]


def rounding_bound(lo: torch.Tensor, hi: torch.Tensor, span: torch.Tensor, bins: int, work: torch.dtype):
    """``(N,)`` bound on how far numpy's edge comparisons can move a pixel from ``trunc(f)``, in units of ``f``.

    With ``u`` the unit roundoff, ``f`` (at most three roundings) is within ``3 u bins`` of the exact
    ``F = (x - lo) / span * bins``, and the edge ``k * step + lo`` (three roundings) within
    ``u bins (2 + M / span)`` of ``k`` in those units (``M``: the largest magnitude in the image).
    So numpy moves a pixel only if ``frac(f)`` is within their sum of 0 or 1. Twice that
    covers the rounding of ``f + delta`` (``u (bins + 1)``) as well; 0.5 or more re-checks every pixel.
    """
    u = 2.0**-53 if work == torch.float64 else 2.0**-24
    m = torch.maximum(lo.abs(), hi.abs())
    return (2 * u * bins) * (6 + m / span)


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
