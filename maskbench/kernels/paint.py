"""Rasterisers for painting: brush strokes, polygons and flood fill, as pure torch functions.

Coordinates are ``(row, col)`` floats with pixel centres on integers: pixel ``(r, c)`` is the
square ``[r - 0.5, r + 0.5) x [c - 0.5, c + 0.5)``, so the image spans ``[-0.5, H - 0.5]`` (the
convention of ``skimage.draw``). A pixel belongs to a shape when its *centre* does.

The output size of each function is fixed (``(H, W)``), but the work is restricted to the shape's
bounding box, which depends on the data: reading it is one GPU->CPU sync per call (said in each
docstring). That keeps a brush stroke on a 4096 x 4096 image proportional to the stroke, not the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import DTypeError, ShapeError, check_int, check_labels, check_tensor, describe

__all__ = ["stroke_mask", "polygon_mask", "flood_fill_mask", "stroke_window", "polygon_window"]

# Largest number of (segment, pixel) pairs evaluated at once: bounds temporary memory (~4 bytes each).
_PAIR_BUDGET = 1 << 21


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"shape: expected (H, W) as two ints; got {describe(shape)}.") from None
    if h < 0 or w < 0:
        raise ShapeError(f"shape: expected non-negative (H, W); got ({h}, {w}).")
    return h, w


def _check_points(points: torch.Tensor, name: str) -> torch.Tensor:
    check_tensor(points, name, ndim=2)
    if points.shape[1] != 2:
        raise ShapeError(f"{name}: expected (N, 2) (row, col) coordinates; got {describe(points)}.")
    if points.dtype == torch.bool or points.is_complex():
        raise DTypeError(f"{name}: expected float (or integer) coordinates; got {describe(points)}.")
    return points


def _host_points(points: torch.Tensor, name: str) -> list[list[float]]:
    # The one sync: bounding boxes decide which windows to compute.
    host = points.detach().to("cpu", torch.float64)
    finite = torch.isfinite(host).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name}: expected finite coordinates; got {host[bad].tolist()} at index {bad}.")
    return host.tolist()


def _clip(a, b, lo_r, hi_r, lo_c, hi_c):
    """Liang-Barsky: the part ``[t0, t1]`` of segment a->b inside the rectangle, or None."""
    t0, t1 = 0.0, 1.0
    dr, dc = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dr, a[0] - lo_r), (dr, hi_r - a[0]), (-dc, a[1] - lo_c), (dc, hi_c - a[1])):
        if p == 0:
            if q < 0:
                return None
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    return (t0, t1) if t0 <= t1 else None


def _segment_boxes(pts: list[list[float]], radius: float, h: int, w: int) -> list[tuple]:
    """``(ar, ac, br, bc, r0, r1, c0, c1)`` per piece of the stroke that touches the image.

    Segments are clipped to the image grown by the radius, then cut into pieces a few radii long:
    the union of collinear pieces' capsules is the segment's capsule, and short pieces keep each
    box close to the painted area (a long diagonal segment's box would be mostly empty).
    """
    segs = [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)] or [(pts[0], pts[0])]
    piece = max(4.0 * radius, 16.0)
    boxes = []
    for a, b in segs:
        span = _clip(a, b, -radius - 1, h + radius, -radius - 1, w + radius)
        if span is None:
            continue
        d = (b[0] - a[0], b[1] - a[1])
        k = max(1, math.ceil(math.hypot(*d) * (span[1] - span[0]) / piece))
        at = [span[0] + (span[1] - span[0]) * j / k for j in range(k + 1)]
        ends = [(a[0] + d[0] * t, a[1] + d[1] * t) for t in at]
        if span == (0.0, 1.0):  # keep the given endpoints exact
            ends[0], ends[-1] = tuple(a), tuple(b)
        for p, q in zip(ends[:-1], ends[1:]):
            r0 = max(0, math.ceil(min(p[0], q[0]) - radius))
            r1 = min(h, math.floor(max(p[0], q[0]) + radius) + 1)
            c0 = max(0, math.ceil(min(p[1], q[1]) - radius))
            c1 = min(w, math.floor(max(p[1], q[1]) + radius) + 1)
            if r0 < r1 and c0 < c1:
                boxes.append((p[0], p[1], q[0], q[1], r0, r1, c0, c1))
    return boxes


def _batches(boxes: list, budget: int = _PAIR_BUDGET) -> list[list]:
    """Split boxes into runs whose padded size (count x max height x max width) fits the budget."""
    batches, current, mh, mw = [], [], 0, 0
    for box in boxes:
        bh, bw = max(mh, box[5] - box[4]), max(mw, box[7] - box[6])
        if current and (len(current) + 1) * bh * bw > budget:
            batches.append(current)
            current, bh, bw = [], box[5] - box[4], box[7] - box[6]
        current.append(box)
        mh, mw = bh, bw
    if current:
        batches.append(current)
    return batches


def _capsules(a: torch.Tensor, b: torch.Tensor, h: int, w: int, radius: float) -> torch.Tensor:
    """(K, h, w) bool: pixel centres within ``radius`` of segment a[k]->b[k] (window coordinates)."""
    dev = a.device
    py = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1)
    px = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w)
    ar, ac = a[:, 0].view(-1, 1, 1), a[:, 1].view(-1, 1, 1)
    dr, dc = (b[:, 0] - a[:, 0]).view(-1, 1, 1), (b[:, 1] - a[:, 1]).view(-1, 1, 1)
    inv_length2 = 1.0 / (dr * dr + dc * dc).clamp_min(1e-12)  # a point is a zero-length segment
    yr, xc = py - ar, px - ac  # (K, h, 1) and (K, 1, w): cheap before broadcasting
    t = ((yr * dr) * inv_length2 + (xc * dc) * inv_length2).clamp(0.0, 1.0)
    er = yr - t * dr
    ec = xc - t * dc
    return (er * er + ec * ec) <= radius * radius


def stroke_window(shape, points, radius, name="points"):
    """Rasterise a stroke; returns ``(r0, c0, window)`` with the (bool) bbox window, or None if empty."""
    h, w = _check_shape(shape)
    _check_points(points, name)
    radius = float(radius)
    if not radius >= 0 or radius == float("inf"):
        raise ValueError(f"radius: expected a finite number >= 0; got {radius}.")
    if points.shape[0] == 0 or h == 0 or w == 0:
        return None
    boxes = _segment_boxes(_host_points(points, name), radius, h, w)
    if not boxes:
        return None
    R0, R1 = min(bx[4] for bx in boxes), max(bx[5] for bx in boxes)
    C0, C1 = min(bx[6] for bx in boxes), max(bx[7] for bx in boxes)
    dev = points.device
    trash = (R1 - R0) * (C1 - C0)  # padded pixels outside a piece's own box land here
    flat = torch.zeros(trash + 1, dtype=torch.uint8, device=dev)
    for batch in _batches(boxes):
        mh = max(bx[5] - bx[4] for bx in batch)
        mw = max(bx[7] - bx[6] for bx in batch)
        # box-relative coordinates (made in float64 on the host) keep float32 precise on big images
        rel = torch.tensor([[ar - r0, ac - c0, br - r0, bc - c0] for ar, ac, br, bc, r0, _, c0, _ in batch], device=dev)
        hit = _capsules(rel[:, :2].float(), rel[:, 2:].float(), mh, mw, radius)
        meta = torch.tensor([bx[4:] for bx in batch], device=dev)
        r0, r1, c0, c1 = (meta[:, i].view(-1, 1, 1) for i in range(4))
        rows = r0 + torch.arange(mh, device=dev).view(1, mh, 1)
        cols = c0 + torch.arange(mw, device=dev).view(1, 1, mw)
        inside = (rows < r1) & (cols < c1)
        index = torch.where(inside, (rows - R0) * (C1 - C0) + (cols - C0), trash)
        flat.scatter_reduce_(0, index.reshape(-1), (hit & inside).reshape(-1).to(torch.uint8), reduce="amax")
    return R0, C0, flat[:trash].view(R1 - R0, C1 - C0).bool()


def stroke_mask(shape: Sequence[int], points: torch.Tensor, radius: float) -> torch.Tensor:
    """Pixels covered by a round brush dragged along a polyline (a chain of capsules).

    A pixel is painted when its centre lies within ``radius`` of a segment ``points[i] ->
    points[i + 1]`` (a single point paints a disc). Points outside the image are fine: the stroke
    is clipped. Work and memory are proportional to the stroke's bounding box, not the image.

    Args:
        shape: ``(H, W)`` of the output.
        points: ``(N, 2)`` float ``(row, col)`` coordinates, pixel centres on integers; any device.
        radius: brush radius in pixels (``>= 0``; a brush of diameter ``d`` has radius ``d / 2``).

    Returns:
        ``(H, W)`` bool on ``points.device``.

    Raises:
        ShapeError: ``points`` is not ``(N, 2)``. ValueError: NaN/Inf points or a negative radius.

    Syncs: once, to read the points and place the bounding boxes (the output size is fixed).

    >>> stroke_mask((5, 7), torch.tensor([[2.0, 1.0], [2.0, 5.0]]), 1.0).int()
    tensor([[0, 0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 1, 1],
            [0, 1, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    h, w = _check_shape(shape)
    out = torch.zeros((h, w), dtype=torch.bool, device=points.device if isinstance(points, torch.Tensor) else None)
    hit = stroke_window((h, w), points, radius)
    if hit is not None:
        r0, c0, window = hit
        out[r0 : r0 + window.shape[0], c0 : c0 + window.shape[1]] = window
    return out


def polygon_window(shape, vertices, name="vertices"):
    """Even-odd fill; returns ``(r0, c0, window)`` for the bbox, or None when nothing is inside."""
    h, w = _check_shape(shape)
    _check_points(vertices, name)
    if vertices.shape[0] < 3 or h == 0 or w == 0:
        return None
    host = _host_points(vertices, name)
    rows = [v[0] for v in host]
    cols = [v[1] for v in host]
    # pixel centres inside the vertices' closed bounding box
    r0, r1 = max(0, math.ceil(min(rows))), min(h, math.floor(max(rows)) + 1)
    c0, c1 = max(0, math.ceil(min(cols))), min(w, math.floor(max(cols)) + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    bh, bw = r1 - r0, c1 - c0
    dev = vertices.device
    fdt = torch.float32 if dev.type == "mps" else torch.float64  # float64 keeps edge cases exact
    v = vertices.detach().to(fdt)
    ar, ac = v[:, 0:1], v[:, 1:2]  # (E, 1)
    br, bc = v.roll(-1, 0)[:, 0:1], v.roll(-1, 0)[:, 1:2]
    y = torch.arange(r0, r1, device=dev, dtype=fdt).view(1, bh)
    crosses = (ar > y) != (br > y)  # half-open rule: horizontal edges never cross
    denom = torch.where(br == ar, torch.ones_like(br), br - ar)
    x_cross = (bc - ac) * (y - ar) / denom + ac  # (E, bh): where each edge meets row y
    # pixel col c counts a crossing when c < x_cross: that is the first ceil(x - c0) window columns
    k = torch.where(crosses, (x_cross - c0).ceil().clamp(0, bw), torch.zeros_like(x_cross)).long()
    hist = torch.zeros((bh, bw + 1), dtype=torch.int32, device=dev)
    hist.scatter_add_(1, k.t().contiguous(), crosses.t().to(torch.int32).contiguous())
    right = hist.flip(1).cumsum(1, dtype=torch.int32).flip(1)  # crossings with k >= j
    return r0, c0, (right[:, 1:] % 2) == 1


def polygon_mask(shape: Sequence[int], vertices: torch.Tensor) -> torch.Tensor:
    """Pixels inside a closed polygon by the even-odd rule (a self-crossing lasso leaves holes).

    The polygon is closed automatically (last vertex joins the first). A pixel is inside when its
    centre is, by crossing numbers (the ``pnpoly`` rule: an edge counts for row ``y`` when it spans
    ``y`` half-open, and for the pixel when the crossing lies strictly right of its centre). Work is
    ``O(E * bbox_rows + bbox_pixels)``, vectorised, never ``O(E * H * W)``.

    Args:
        shape: ``(H, W)`` of the output.
        vertices: ``(N, 2)`` float ``(row, col)``, pixel centres on integers. Fewer than 3 give an
            empty mask.

    Returns:
        ``(H, W)`` bool on ``vertices.device``.

    Syncs: once, to read the vertices' bounding box.

    >>> polygon_mask((5, 5), torch.tensor([[0.5, 0.5], [0.5, 3.5], [3.5, 3.5], [3.5, 0.5]])).int()
    tensor([[0, 0, 0, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 1, 1, 1, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    h, w = _check_shape(shape)
    out = torch.zeros((h, w), dtype=torch.bool, device=vertices.device if isinstance(vertices, torch.Tensor) else None)
    hit = polygon_window((h, w), vertices)
    if hit is not None:
        r0, c0, window = hit
        out[r0 : r0 + window.shape[0], c0 : c0 + window.shape[1]] = window
    return out


def _run_fill(reached: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Spread ``reached`` along each row to the whole horizontal run of ``region`` it touches."""
    h, w = region.shape
    left = torch.zeros_like(region)
    left[:, 1:] = region[:, :-1]
    starts = (region & ~left).reshape(-1)
    # run id per pixel (only read where region); float32 cumsum is exact below 2**24 and much
    # faster than an integer one on CPU
    run = starts.to(torch.float32).cumsum(0).long()
    hit = torch.zeros(h * w + 1, dtype=torch.uint8, device=region.device)
    hit.scatter_reduce_(0, run, reached.reshape(-1).to(torch.uint8), reduce="amax")
    return region & (hit[run].view(h, w) > 0)


def flood_fill_mask(labels: torch.Tensor, row: int, col: int, *, connectivity: int = 1) -> torch.Tensor:
    """The connected region of pixels equal to ``labels[row, col]`` that contains ``(row, col)``.

    What a paint bucket fills. Each round spreads the filled pixels along whole runs of the region,
    first in rows then in columns (plus one diagonal step for ``connectivity=2``), so convex
    regions finish in a few rounds and winding ones in about one round per turn.

    Args:
        labels: ``(H, W)`` integer or bool map; any device.
        row, col: the seed pixel (ints inside the image).
        connectivity: 1 = edge neighbours (4-connected), 2 = also diagonal (8-connected).

    Returns:
        ``(H, W)`` bool on ``labels.device``; always True at the seed.

    Work per round is proportional to the filled region's bounding rows and columns, so a small
    fill on a large image stays cheap.

    Syncs: three per round, to read the region's extent and test whether it stopped growing (the
    number of rounds depends on the region's shape).

    >>> lab = torch.tensor([[1, 1, 0, 1], [0, 1, 0, 1], [1, 1, 0, 0]])
    >>> flood_fill_mask(lab, 0, 0).int()
    tensor([[1, 1, 0, 0],
            [0, 1, 0, 0],
            [1, 1, 0, 0]], dtype=torch.int32)
    """
    check_tensor(labels, "labels", ndim=2)
    if labels.dtype != torch.bool:
        check_labels(labels, "labels")
    h, w = labels.shape
    check_int(row, "row", min_value=0, max_value=max(h - 1, 0))
    check_int(col, "col", min_value=0, max_value=max(w - 1, 0))
    check_int(connectivity, "connectivity", min_value=1, max_value=2)
    if h == 0 or w == 0:
        raise ShapeError(f"labels: expected a non-empty (H, W) map to seed ({row}, {col}); got {describe(labels)}.")
    region = labels == labels[row, col]
    reached = torch.zeros_like(region)
    reached[row, col] = True
    r0, r1 = row, row + 1
    while True:
        # rows r0-1 .. r1 (one more each side for diagonal steps), whole width
        r0, r1 = max(r0 - 1, 0), min(r1 + 1, h)
        band, sub = region[r0:r1], reached[r0:r1]
        grown = _run_fill(_diagonal_step(sub, band) if connectivity == 2 else sub, band)
        changed = not torch.equal(grown, sub)  # sync: did the rows grow anything?
        reached[r0:r1] = grown
        cols = _extent(grown.any(0))  # sync: which columns to spread in
        c0, c1 = max(cols[0] - 1, 0), min(cols[1] + 1, w)
        band, sub = region[:, c0:c1].t().contiguous(), reached[:, c0:c1].t().contiguous()
        grown = _run_fill(_diagonal_step(sub, band) if connectivity == 2 else sub, band)
        changed |= not torch.equal(grown, sub)
        reached[:, c0:c1] = grown.t()
        if not changed:
            return reached
        r0, r1 = _extent(grown.any(0))


def _extent(flags: torch.Tensor) -> tuple[int, int]:
    """First and one-past-last True index of a 1-D bool tensor (it has at least one True)."""
    where = flags.nonzero()[:, 0].cpu()
    return int(where[0]), int(where[-1]) + 1


def _diagonal_step(reached: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    grown = reached.clone()
    grown[1:, 1:] |= reached[:-1, :-1]
    grown[1:, :-1] |= reached[:-1, 1:]
    grown[:-1, 1:] |= reached[1:, :-1]
    grown[:-1, :-1] |= reached[1:, 1:]
    return grown & region
