"""Row spans: the machinery behind the paint rasterisers' bounded time and memory.

Work is done per (segment or edge, image row) pair; pairs are made in chunks and accumulated into
row bands of the output window, so temporary memory is bounded whatever the input's size. Also the
one per-pixel capsule rule (shared with the browser preview) and the analytic row section of a
capsule. Used by :mod:`maskbench.kernels.paint`; pure torch.
"""

from __future__ import annotations

import torch

# Work is done per (segment or edge, image row) pair. Pairs are generated in chunks of at most
# PAIR_CHUNK, and rows are accumulated in bands of at most BAND_ELEMS window pixels, so temporary
# memory stays bounded (tens of MB) whatever the number of points or the size of the brush.
PAIR_CHUNK = 1 << 18
BAND_ELEMS = 1 << 22


def chunks(counts: torch.Tensor, limit: int):
    """Split consecutive items so each run's summed ``counts`` is at most ``limit`` (each count <= limit)."""
    ends = counts.cumsum(0)
    start, n = 0, counts.shape[0]
    while start < n:
        base = int(ends[start - 1]) if start else 0
        stop = int(torch.searchsorted(ends, base + limit, right=True))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def row_pairs(lo: torch.Tensor, counts: torch.Tensor, device):
    """For items with rows ``[lo, lo + count)``: (item index, row) of every pair, on ``device``."""
    total = int(counts.sum())
    item = torch.repeat_interleave(torch.arange(counts.shape[0]), counts, output_size=total)
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts, output_size=total)
    rows = lo[item] + (torch.arange(total) - first)
    return item.to(device), rows.to(device)


def banded(r0, r1, bw, ylo, yhi, device, accumulate):
    """Run ``accumulate(band, b0, item_ids, rows)`` over row bands of the window, chunked pairs.

    ``band`` is a ``(rows, bw + 1)`` int32 buffer the callback scatters into; returned per band.
    """
    band_rows = max(1, min(PAIR_CHUNK, BAND_ELEMS // (bw + 1)))
    for b0 in range(r0, r1, band_rows):
        b1 = min(r1, b0 + band_rows)
        lo, hi = ylo.clamp(min=b0), yhi.clamp(max=b1)
        counts = (hi - lo).clamp_min(0)
        ids = counts.nonzero()[:, 0]
        band = torch.zeros((b1 - b0, bw + 1), dtype=torch.int32, device=device)
        lo, counts = lo[ids], counts[ids]
        for s, e in chunks(counts, PAIR_CHUNK):
            item, rows = row_pairs(lo[s:e], counts[s:e], device)
            accumulate(band, b0, ids[s:e].to(device)[item], rows)
        yield b0, b1, band


def scatter(band: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor) -> None:
    band.view(-1).scatter_add_(0, rows * band.shape[1] + cols, values)


def pixel_rule(ar, ac, br, bc, y, x, r2):
    """The per-pixel capsule rule, exactly as the browser preview computes it (float64)."""
    dr, dc = br - ar, bc - ac
    yr, xc = y - ar, x - ac
    t = ((yr * dr + xc * dc) * (1.0 / (dr * dr + dc * dc).clamp_min(1e-12))).clamp(0.0, 1.0)
    er, ec = yr - t * dr, xc - t * dc
    return er * er + ec * ec <= r2


def stroke_pixels(seg, ylo, xlo, bw, area, window_box, r2):
    """Every (segment, pixel of its box) pair through :func:`_pixel_rule`; OR into the window."""
    r0, r1, c0, c1 = window_box
    dev, total = seg.device, int(area.sum())
    item = torch.repeat_interleave(torch.arange(area.shape[0]), area, output_size=total)
    k = torch.arange(total) - torch.repeat_interleave(area.cumsum(0) - area, area, output_size=total)
    rows, cols = ylo[item] + k // bw[item], xlo[item] + k % bw[item]
    item, rows, cols = item.to(dev), rows.to(dev), cols.to(dev)
    ar, ac, br, bc = seg[item].unbind(1)
    hit = pixel_rule(ar, ac, br, bc, rows.to(seg.dtype), cols.to(seg.dtype), r2)
    window = torch.zeros((r1 - r0, c1 - c0), dtype=torch.bool, device=dev)
    window.view(-1)[((rows - r0) * (c1 - c0) + cols - c0)[hit]] = True
    return window


def capsule_row_span(y, ar, ac, br, bc, radius):
    """Columns ``[lo, hi]`` (floats) of row ``y`` within ``radius`` of segment a->b; lo > hi if none.

    The capsule is convex, so its row section is one interval: the hull of the sections of its
    three convex pieces (the two end discs and the rectangle between them).
    """
    inf = torch.full_like(y, float("inf"))
    lo, hi = inf.clone(), -inf
    r2 = radius * radius
    for pr, pc in ((ar, ac), (br, bc)):
        q = r2 - (y - pr) * (y - pr)
        s = q.clamp_min(0).sqrt()
        lo = torch.where(q >= 0, torch.minimum(lo, pc - s), lo)
        hi = torch.where(q >= 0, torch.maximum(hi, pc + s), hi)
    dr, dc = br - ar, bc - ac
    length2 = dr * dr + dc * dc
    length = length2.sqrt()
    yr = y - ar
    safe_dc = torch.where(dc == 0, torch.ones_like(dc), dc)
    safe_dr = torch.where(dr == 0, torch.ones_like(dr), dr)
    # 0 <= t <= 1 along the segment
    t0, t1 = -yr * dr / safe_dc, (length2 - yr * dr) / safe_dc
    along = yr * dr
    t_ok = (dc != 0) | ((along >= 0) & (along <= length2))
    t_lo = torch.where(dc != 0, torch.minimum(t0, t1), -inf)
    t_hi = torch.where(dc != 0, torch.maximum(t0, t1), inf)
    # |perpendicular distance| <= radius
    p0, p1 = (yr * dc - radius * length) / safe_dr, (yr * dc + radius * length) / safe_dr
    p_ok = (dr != 0) | ((yr * dc).abs() <= radius * length)
    p_lo = torch.where(dr != 0, torch.minimum(p0, p1), -inf)
    p_hi = torch.where(dr != 0, torch.maximum(p0, p1), inf)
    r_lo, r_hi = ac + torch.maximum(t_lo, p_lo), ac + torch.minimum(t_hi, p_hi)
    rect = t_ok & p_ok & (length2 > 0) & (r_lo <= r_hi)
    lo = torch.where(rect, torch.minimum(lo, r_lo), lo)
    hi = torch.where(rect, torch.maximum(hi, r_hi), hi)
    return lo, hi
