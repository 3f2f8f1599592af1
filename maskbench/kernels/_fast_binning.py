"""CPU fast path of ``_histogram.Hist``'s counts: numpy's bins with one re-check per few thousand pixels.

numpy's bin of a pixel ``x`` is the number of inner edges ``e[k] <= x`` (k = 1 .. bins-1): its
index ``trunc(f)``, ``f = (x - lo) / (hi - lo) * bins``, is re-checked against the two edges
around it, and ``f`` is never off by a whole bin. So a pixel far enough from every edge is in
bin ``trunc(F)`` for any close enough ``F``. Here each pixel gets ``g = fl(fl(x * a) + b)``
(``a = bins / span``, ``b = delta - lo * a``: two exactly rounded passes, so the value can be
computed again bit for bit), clamped into ``[2 delta, bins - 1/2]``, and is counted at
``trunc(g)`` with one ``bincount`` per block. ``delta`` (``fast_bound``) exceeds the rounding of
``g`` plus the distance of numpy's edges from their ideal places, so only pixels with
``frac(g) < 2 delta`` can be in another bin: per column of a ``(_CHUNK, W)`` view of each block
the smallest ``frac(g)`` is kept, and the pixels of the flagged columns (a few per thousand) are
re-checked as numpy does at the end (``FastPass.finish``). The clamp keeps pixels at an image's
minimum and maximum (no edge can move them: there is none below bin 0 or above bin bins - 1)
out of that re-check: saturated images do not pay for it.

Where each block holds one image and bins fit in bytes, batches of up to ``_KEEP_BYTES`` pixels
keep every ``trunc(g)`` as a byte: ``bincount`` (one thread in torch) counts the images on threads,
and the re-check reads each suspect's counted bin back instead of computing ``g`` again (so there
``g`` may be one fused multiply-add: one rounding, inside the bound). Images up to ``_NUMPY_PIXELS``
of such batches go through numpy, whole images per thread, which also lists the pixels with
``frac(g) < 2 delta`` exactly (no per-column minima: ~8x fewer pixels to re-check).

Large images have their range taken just before their blocks are counted (the image is then
still in cache for the counting pass); small ones in one vectorised pass. An image holding NaN
or +-inf, or a range too narrow or wide for the bound, stops the pass (``fast_pass`` returns
None) and the caller uses ``_binning.exact_counts``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from maskbench.kernels._binning import _INF, Grid, _row_aminmax, _scratch, _view, blocks, numpy_bin
from maskbench.kernels._threads import run_shares, shares

_CHUNK = 8  # pixels to re-check are looked for per chunk of this many pixels
_MAX_DELTA = 0.05  # a wider re-check window (huge |lo| / span) goes to exact_counts
_KEEP_BYTES = 1 << 26  # images of up to this many pixels in all keep their bins for counting on threads
# kept images up to this size go through numpy on threads (at 2048^2 torch's pass was faster: 54-66
# against 79-80 ms for 4 images)
_NUMPY_PIXELS = 1 << 20


def _unit(work: torch.dtype) -> float:
    return 2.0**-53 if work == torch.float64 else 2.0**-24


def fast_bound(lo: torch.Tensor, hi: torch.Tensor, span: torch.Tensor, bins: int, work: torch.dtype) -> torch.Tensor:
    """``(N,)`` float64 ``delta``: a pixel with ``frac(g) >= 2 delta`` is in numpy's bin ``trunc(g)``.

    In units of a bin (``F = (x - lo) / span * bins``), with ``u`` the unit roundoff of ``work``
    and ``r = max(|lo|, |hi|) / span``: numpy's edge ``e[k] = k * step + lo`` (three roundings,
    ``step = span / bins``; one more if numpy's linspace runs in float64) is within
    ``u bins (3 + r)`` of ``F = k``; ``g = fl(fl(x * a) + b)`` with ``a``, ``b`` rounded to ``work``
    (``b`` from two float64 roundings) is within ``u bins (5 r + 1.01) + 2 u`` of ``F + delta``.
    With ``delta`` above their sum, ``frac(g) >= 2 delta`` puts ``F`` more than the edge error
    inside bin ``trunc(g)``. ``r >= 1/2``, so ``8 r + 6`` covers ``6 r + 4.01`` with room.
    """
    u = _unit(work)
    ratio = torch.maximum(lo.abs(), hi.abs()) / span
    return (u * bins) * (8 * ratio + 6) + 4 * u


def _row_scalars(lo: float, hi: float, span: float, bins: int, work: torch.dtype) -> tuple[float, float, float] | None:
    """One image's ``(a, b, delta)`` (the float64 arithmetic of ``_group_scalars``), or None."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if span == 0:  # constant: every pixel at g = 0 (bin 0, moved by Hist), nothing to re-check
        return 0.0, 0.0, 0.0
    u = _unit(work)
    delta = (u * bins) * (8 * (max(abs(lo), abs(hi)) / span) + 6) + 4 * u
    if not (math.isfinite(span) and span >= bins * torch.finfo(work).tiny * 2**24 and delta < _MAX_DELTA):
        return None
    a = bins / span
    return a, delta - lo * a, delta


def _group_scalars(lo: torch.Tensor, hi: torch.Tensor, bins: int, work: torch.dtype):
    """``(a, b, delta)`` float64 ``(N,)`` of many images (``lo``, ``hi`` in ``work``), or None."""
    span = (hi - lo).double()  # rounded in `work`, as numpy's norm_denom
    lo64, hi64 = lo.double(), hi.double()
    const = span == 0
    delta = fast_bound(lo64, hi64, span, bins, work)
    normal = torch.isfinite(span) & (span >= bins * torch.finfo(work).tiny * 2**24) & (delta < _MAX_DELTA)
    if not bool((torch.isfinite(lo64) & torch.isfinite(hi64) & (const | normal)).all()):
        return None
    a = torch.where(const, 0.0, bins / span)
    return a, torch.where(const, 0.0, delta - lo64 * a), torch.where(const, 0.0, delta)


class FastPass:
    """The counting pass over ``(N, P)`` CPU images: ``ok``, ``lo``, ``hi``, and ``finish(grid)`` for the counts.

    One thread issues the ops (each runs on torch's intra-op threads), except for kept batches of
    images up to ``_NUMPY_PIXELS`` (``_count_on_threads``): there whole images are shared out among
    ``_threads`` and each runs numpy's single-threaded loops (they release the GIL; no parallel
    region per op, which on 2 cores costs more than these cache-sized ops), then its ``bincount``
    (one thread in torch). 16x512^2 Otsu, interleaved with the torch pass here: 21-24 against
    24-32 ms. Sharing blocks among threads with torch ops was measured slower: keeping every op
    under torch's grain size takes 4x the op calls, and the threads then wait on the GIL.
    """

    def __init__(self, flat: torch.Tensor, bins: int, work: torch.dtype) -> None:
        n, p = flat.shape
        dev = flat.device
        self.flat, self.bins, self.work = flat, bins, work
        self.parts = parts = blocks(n, p, dev)
        self.fused = parts[0][1] - parts[0][0] == 1  # one image per block: take each range when it comes
        self.ok = True
        self.kept: torch.Tensor | None = None  # (N, P) bins of every pixel, where kept for counting on threads
        self.hits: torch.Tensor | None = None  # flat indices of the pixels to re-check, where found exactly
        # per image (fused: filled as each image's blocks come): range, a and b (float64; rounded to
        # `work` where used), 2 delta rounded up
        self.ranges, self.a, self.b, self.twice = [(0.0, 0.0)] * n, [0.0] * n, [0.0] * n, [0.0] * n
        if not self.fused:
            lo, hi = (t.to(work) for t in _row_aminmax(flat))
            scalars = _group_scalars(lo, hi, bins, work)
            if scalars is None:
                self.ok = False
                return
            self.lo, self.hi, (a, b, delta) = lo, hi, scalars
            self.twice = (2 * (1 + 2**-20) * delta).tolist()
            self.a_w, self.b_w = a.to(work)[:, None], b.to(work)[:, None]
        self.window = [0.0] * len(parts)  # per block: the clamp floor and the re-check window
        self.counts = torch.zeros(n * bins, dtype=torch.int64, device=dev)
        rows_max = max(r1 - r0 for r0, r1, _, _ in parts)
        self.offsets = torch.arange(rows_max, device=dev, dtype=torch.int32)[:, None] * bins
        width = -(-max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in parts) // _CHUNK)
        width = -(-width // _CHUNK) * _CHUNK  # a multiple of _CHUNK, for the first level in _suspects
        # smallest frac(g) per column; columns past a block's width stay +inf (equal blocks: none, and
        # no fill: a fresh 2 MB buffer's fill costs more than the blocks' amin)
        sizes = {(r1 - r0) * (c1 - c0) // _CHUNK for r0, r1, c0, c1 in parts}
        self.lowest = torch.empty((len(parts), width), dtype=work, device=dev)
        if sizes != {width}:
            self.lowest.fill_(_INF)
        # groups: the blocks of one image (fused) or of whole rows
        starts = [k for k, part in enumerate(parts) if part[2] == 0] + [len(parts)]
        self._count([range(k0, k1) for k0, k1 in zip(starts[:-1], starts[1:])])
        if self.fused and self.ok:
            self.lo, self.hi = torch.tensor(self.ranges, dtype=work, device=dev).unbind(-1)
            self.a_w = torch.tensor(self.a, dtype=torch.float64).to(work)[:, None]
            self.b_w = torch.tensor(self.b, dtype=torch.float64).to(work)[:, None]

    def _range(self, r: int) -> bool:
        """Image ``r``'s range and scalars (fused mode); False if it holds NaN/inf or is degenerate."""
        lo_t, hi_t = self.flat[r].aminmax()
        lo_t, hi_t = lo_t.to(self.work), hi_t.to(self.work)
        lo, hi, span = torch.stack([lo_t, hi_t, hi_t - lo_t]).tolist()
        scalars = _row_scalars(lo, hi, span, self.bins, self.work)
        if scalars is None:
            return False
        self.ranges[r] = lo, hi
        self.a[r], self.b[r] = scalars[0], scalars[1]
        self.twice[r] = 2 * (1 + 2**-20) * scalars[2]
        return True

    def _count(self, groups: list[range]) -> None:
        """Count the blocks of ``groups`` (their counts, ``lowest`` rows and windows)."""
        flat, bins, work, parts, dev = self.flat, self.bins, self.work, self.parts, self.flat.device
        # one image per block and <= 256 bins: bincount reads bytes (its min/max passes and its loop
        # are ~1/6 cheaper), and trunc(g) is written straight into them. bincount runs on one
        # thread: up to _KEEP_BYTES of images keep their bytes, counted at the end on threads
        n, p = flat.shape
        small_bins = self.fused and bins <= 256
        kept = torch.empty(n, p, dtype=torch.uint8) if small_bins and n * p <= _KEEP_BYTES and shares(n) > 1 else None
        if kept is not None and flat.dtype == work and p <= _NUMPY_PIXELS:
            self._count_on_threads(groups, kept)
            return
        g_buf = _scratch(parts, work, dev)
        x_buf = _scratch(parts, work, dev) if flat.dtype != work else None
        i_buf = _scratch(parts, torch.int32, dev)
        u_buf = _scratch(parts, torch.uint8, dev) if small_bins and kept is None else None
        views: dict[tuple[int, int], tuple] = {}  # scratch views per block shape (op calls cost here)
        lowest = self.lowest.unbind(0)
        width = self.lowest.shape[1]
        singles = []  # (image, counts) of one-image blocks, added up at the end
        for grp in groups:
            r0 = parts[grp[0]][0]
            if self.fused:
                if not self._range(r0):
                    self.ok = False
                    return
                a_k, b_k = self.a[r0], self.b[r0]
                b_t = torch.tensor(b_k, dtype=work)
            for k in grp:
                r0, r1, c0, c1 = parts[k]
                rows, cols = r1 - r0, c1 - c0
                if (rows, cols) not in views:
                    w = rows * cols // _CHUNK
                    g = _view(g_buf, rows, cols)
                    views[rows, cols] = (
                        None if x_buf is None else _view(x_buf, rows, cols),
                        g,
                        _view(i_buf, rows, cols),
                        None if u_buf is None or rows > 1 else _view(u_buf, rows, cols),
                        g.view(-1)[: w * _CHUNK].view(_CHUNK, w),
                        w,
                    )
                x_v, g_v, i_v, u_v, chunks, w = views[rows, cols]
                if not self.fused:
                    a_k, b_k = self.a_w[r0:r1], self.b_w[r0:r1]
                self.window[k] = window = max(self.twice[r0:r1])
                block = flat[r0:r1, c0:c1]
                if kept is not None and x_v is None:  # one fused multiply-add (finish reads the bins back)
                    g = torch.add(b_t, block, alpha=a_k, out=g_v)
                else:
                    g = torch.mul(block if x_v is None else x_v.copy_(block), a_k, out=g_v)
                    g.add_(b_k)
                g.clamp_(window, bins - 0.5)
                if rows > 1:
                    idx = i_v.copy_(g)  # trunc(g): g > 0
                    idx.add_(self.offsets[:rows])
                    self.counts[r0 * bins : r1 * bins] += torch.bincount(idx.view(-1), minlength=rows * bins)
                elif kept is not None:  # counted at the end
                    kept[r0:r1, c0:c1].copy_(g)
                else:  # values < bins: no offsets; trunc(g) straight into bytes where they fit (one pass less)
                    small = i_v.copy_(g) if u_v is None else u_v.copy_(g)
                    singles.append((r0, torch.bincount(small.view(-1), minlength=bins)))
                g.frac_()
                torch.amin(chunks, 0, out=lowest[k] if w == width else lowest[k][:w])
        self.kept = kept
        if kept is not None:
            k = shares(n)

            def count_rows(r0: int, r1: int) -> torch.Tensor:
                return torch.stack([torch.bincount(kept[r], minlength=bins) for r in range(r0, r1)])

            self.counts.view(n, bins).copy_(torch.cat(run_shares(count_rows, [n * i // k for i in range(k + 1)])))
        if singles:
            at, c = zip(*singles)
            self.counts.view(-1, bins).index_add_(0, torch.tensor(at, device=dev), torch.stack(c))

    def _count_on_threads(self, groups: list[range], kept: torch.Tensor) -> None:
        """The kept-bytes pass with numpy, whole images per thread (torch's per-op thread hand-offs cost
        more than these cache-sized ops): range, ``g`` (two roundings), clamp, bins, ``frac(g)`` and the
        pixels with ``frac(g) < 2 delta`` (``self.hits``: finish re-checks those), then each image's
        ``bincount``."""
        flat, bins, parts = self.flat.numpy(), self.bins, self.parts
        dt = flat.dtype.type
        kept_np = kept.numpy()
        images = [(parts[grp[0]][0], list(grp)) for grp in groups]
        failed = []
        hits = [np.empty(0, np.int64)] * len(self.ranges)

        def run(i0: int, i1: int) -> list:
            g = np.empty(flat.shape[1], flat.dtype)
            t = np.empty_like(g)
            near = np.empty(g.shape, bool)
            out = []
            for r, blocks_of in images[i0:i1]:
                img = flat[r]
                lo, hi = img.min(), img.max()
                with np.errstate(over="ignore", invalid="ignore"):  # inf / NaN spans: _row_scalars says no
                    span = hi - lo  # rounded in the image's dtype, as numpy's histogram
                scalars = _row_scalars(float(lo), float(hi), float(span), bins, self.work)
                if scalars is None or failed:
                    failed.append(r)
                    return out
                a, b, delta = scalars
                self.ranges[r], self.a[r], self.b[r] = (float(lo), float(hi)), a, b
                self.twice[r] = window = 2 * (1 + 2**-20) * delta
                np.multiply(img, dt(a), out=g)
                np.add(g, dt(b), out=g)
                np.clip(g, dt(window), dt(bins - 0.5), out=g)
                np.copyto(kept_np[r], g, casting="unsafe")  # trunc(g): g > 0
                np.subtract(g, np.trunc(g, out=t), out=g)  # frac(g)
                for k in blocks_of:
                    self.window[k] = window
                # the pixels to re-check, exactly (no per-column minima: ~8x fewer than _suspects finds)
                hits[r] = np.flatnonzero(np.less(g, dt(window), out=near)) + r * flat.shape[1]
                out.append((r, torch.bincount(kept[r], minlength=bins)))
            return out

        k = shares(len(images))
        done = [c for share in run_shares(run, [len(images) * i // k for i in range(k + 1)]) for c in share]
        if failed:
            self.ok = False
            return
        self.kept, self.hits = kept, torch.from_numpy(np.concatenate(hits))
        at, c = zip(*done)
        self.counts.view(-1, bins).index_copy_(0, torch.tensor(at), torch.stack(c))

    def finish(self, grid: Grid) -> torch.Tensor:
        """``(N, bins)`` counts: the pixels to re-check (``hits``, or the flagged columns) re-checked as numpy
        does, and moved."""
        flat, bins, work = self.flat, self.bins, self.work
        p = flat.shape[1]
        floor = torch.tensor(self.window, dtype=work, device=flat.device)
        blk, at = (None, self.hits) if self.hits is not None else _suspects(self.parts, p, self.lowest, floor)
        counts = self.counts
        if at.numel():
            rows = at // p
            x = flat.view(-1).index_select(0, at) if flat.is_contiguous() else flat[rows, at % p]
            x = x.to(work)
            # per image a, b and numpy's grid, gathered in one go
            t = torch.cat([self.a_w, self.b_w, grid.sub, grid.div, grid.step, grid.lo], 1).index_select(0, rows)
            if self.kept is not None:  # the bins they were counted in
                counted = self.kept.view(-1).index_select(0, at).long()
            else:  # g again, with the block's roundings bit for bit
                g = torch.mul(x, t[:, 0]).add_(t[:, 1])
                counted = torch.maximum(g, floor.index_select(0, blk)).clamp_(max=bins - 0.5).long()
            f = (x - t[:, 2]) / t[:, 3] * grid.scale
            moved = numpy_bin(x, f, t[:, 4], t[:, 5], bins)
            base = rows * bins
            one = torch.ones_like(base)
            counts.index_add_(0, torch.cat([base + counted, base + moved]), torch.cat([-one, one]))
        return counts.view(flat.shape[0], bins)


def fast_pass(flat: torch.Tensor, bins: int, work: torch.dtype) -> FastPass | None:
    """The counting pass over ``(N, P)`` CPU images, or None where an image holds NaN/inf or its
    range is degenerate for the bound (then ``_binning.finite_range`` and ``exact_counts``)."""
    run = FastPass(flat, bins, work)
    return run if run.ok else None


def _suspects(parts: list, p: int, lowest: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block and flat index (into ``(N, p)``) of the pixels to re-check: all pixels of the flagged
    columns of each block's ``(_CHUNK, W)`` view, and the few past ``_CHUNK * W``."""
    dev = lowest.device
    sizes = [(r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in parts]
    # per block: the width of its (_CHUNK, W) view and the flat index of its first pixel (a
    # block's pixels are consecutive in (N, p))
    info = torch.tensor([(n // _CHUNK, r0 * p + c0) for n, (r0, _, c0, _) in zip(sizes, parts)], device=dev)
    # nonzero scans slowly: first the columns of a (_CHUNK, W / _CHUNK) view of `lowest` (one
    # vectorised min), then only the flagged ones (columns past a block's width hold +inf)
    nb, width = lowest.shape
    coarse = lowest.view(nb, _CHUNK, width // _CHUNK).amin(1)
    b, k = (coarse < window[:, None]).nonzero(as_tuple=True)
    col = (torch.arange(_CHUNK, device=dev) * (width // _CHUNK) + k[:, None]).view(-1)
    b = b[:, None].expand(-1, _CHUNK).reshape(-1)
    keep = (lowest.view(-1).index_select(0, b * width + col) < window.index_select(0, b)).nonzero().view(-1)
    b, col = b.index_select(0, keep), col.index_select(0, keep)
    first = info.index_select(0, b)
    at = (torch.arange(_CHUNK, device=dev) * first[:, :1] + (col + first[:, 1])[:, None]).view(-1)
    b = b[:, None].expand(-1, _CHUNK).reshape(-1)
    tails = [
        (i, r0 * p + c0 + q)
        for i, (n, (r0, _, c0, _)) in enumerate(zip(sizes, parts))
        for q in range(n // _CHUNK * _CHUNK, n)
    ]
    if tails:
        tb, tq = torch.tensor(tails, device=dev).unbind(-1)
        b, at = torch.cat([b, tb]), torch.cat([at, tq])
    return b, at
