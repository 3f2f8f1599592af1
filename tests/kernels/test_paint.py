"""Rasterisers in maskbench.kernels.paint against plain references (numpy loops, scikit-image)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from skimage.draw import polygon2mask
from skimage.segmentation import flood

from maskbench import DTypeError, ShapeError
from maskbench._checks import ArgumentError
from maskbench.kernels import paint as paint_module
from maskbench.kernels.paint import flood_fill_mask, polygon_mask, polygon_window, stroke_mask, stroke_window


# ---------------------------------------------------------------- references (float64, obvious)
def stroke_reference(shape, points, radius):
    """Distance of every pixel centre to every segment; returns (mask, near-boundary pixels)."""
    h, w = shape
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    segs = list(zip(pts[:-1], pts[1:])) or [(pts[0], pts[0])]
    best = np.full((h, w), np.inf)
    for a, b in segs:
        d = b - a
        length2 = d @ d
        t = np.zeros((h, w)) if length2 == 0 else np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / length2, 0, 1)
        best = np.minimum(best, (rr - a[0] - t * d[0]) ** 2 + (cc - a[1] - t * d[1]) ** 2)
    return best <= radius**2, np.abs(best - radius**2) <= 1e-3 * max(1.0, radius**2)


def pnpoly(shape, vertices):
    h, w = shape
    v = [tuple(map(float, p)) for p in vertices]
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            inside = False
            for i in range(len(v)):
                (ar, ac), (br, bc) = v[i], v[(i + 1) % len(v)]
                if (ar > y) != (br > y) and x < (bc - ac) * (y - ar) / (br - ar) + ac:
                    inside = not inside
            out[y, x] = inside
    return out


coords = st.floats(-4, 20, allow_nan=False, width=32)


# ---------------------------------------------------------------- stroke_mask
def test_stroke_mask_doc_example_and_device(device):
    out = stroke_mask((5, 7), torch.tensor([[2.0, 1.0], [2.0, 5.0]], device=device), 1.0)
    assert out.dtype == torch.bool and out.shape == (5, 7) and out.device.type == device.type
    expected = np.zeros((5, 7), bool)
    expected[2, :] = True
    expected[1:4, 1:6] = True
    np.testing.assert_array_equal(out.cpu().numpy(), expected)


@given(
    pts=st.lists(st.tuples(coords, coords), min_size=1, max_size=6),
    radius=st.floats(0, 6, allow_nan=False),
    h=st.integers(1, 17),
    w=st.integers(1, 17),
)
def test_stroke_mask_matches_distance_reference(device, pts, radius, h, w):
    points = torch.tensor(pts, dtype=torch.float32, device=device)
    got = stroke_mask((h, w), points, radius).cpu().numpy()
    ref, near = stroke_reference((h, w), np.asarray(pts, np.float32), radius)
    np.testing.assert_array_equal(got[~near], ref[~near])


def test_stroke_mask_single_point_is_a_disc(device):
    out = stroke_mask((21, 21), torch.tensor([[10.0, 10.0]], device=device), 4.0).cpu().numpy()
    rr, cc = np.mgrid[0:21, 0:21]
    np.testing.assert_array_equal(out, (rr - 10) ** 2 + (cc - 10) ** 2 <= 16)
    assert out.sum() == 49  # the classic r=4 digital disc


def test_stroke_mask_radius_zero_draws_the_centre_line(device):
    out = stroke_mask((5, 9), torch.tensor([[2.0, 1.0], [2.0, 7.0]], device=device), 0.0).cpu()
    assert out.sum() == 7 and out[2, 1:8].all()


def test_stroke_mask_empty_and_outside(device):
    assert not stroke_mask((8, 8), torch.zeros((0, 2), device=device), 3).any()
    outside = torch.tensor([[-20.0, -20.0], [-20.0, 40.0]], device=device)
    assert not stroke_mask((8, 8), outside, 3).any()
    # a stroke crossing the image is clipped, not dropped
    across = torch.tensor([[4.0, -50.0], [4.0, 50.0]], device=device)
    assert stroke_mask((8, 8), across, 0.5).cpu()[4].all()


def test_stroke_mask_long_stroke_many_batches(device):
    # long zig-zag: exercises the batching of padded windows against the reference
    t = torch.linspace(0, 1, 60, dtype=torch.float64)
    pts = torch.stack([40 + 35 * torch.sin(t * 20), t * 150 - 5], 1).float()
    got = stroke_mask((80, 140), pts.to(device), 2.5).cpu().numpy()
    ref, near = stroke_reference((80, 140), pts.numpy(), 2.5)
    np.testing.assert_array_equal(got[~near], ref[~near])


def test_stroke_mask_integer_points_accepted(device):
    out = stroke_mask((5, 5), torch.tensor([[2, 2]], device=device), 1)
    assert out.cpu().sum() == 5


def test_stroke_mask_errors(device):
    with pytest.raises(ShapeError, match=r"points: expected \(N, 2\).*\(3, 3\)"):
        stroke_mask((8, 8), torch.zeros((3, 3), device=device), 1)
    with pytest.raises(ValueError, match=r"points: expected finite.*index 1"):
        stroke_mask((8, 8), torch.tensor([[1.0, 1.0], [float("nan"), 2.0]], device=device), 1)
    with pytest.raises(ValueError, match="radius"):
        stroke_mask((8, 8), torch.zeros((1, 2), device=device), -1)
    with pytest.raises(ShapeError, match="shape"):
        stroke_mask((8,), torch.zeros((1, 2), device=device), 1)
    with pytest.raises(DTypeError, match="points"):
        stroke_mask((8, 8), torch.zeros((1, 2), dtype=torch.bool, device=device), 1)
    with pytest.raises(DTypeError, match="points"):
        stroke_mask((8, 8), [[1.0, 1.0]], 1)


# ---------------------------------------------------------------- polygon_mask
def test_polygon_mask_square(device):
    sq = torch.tensor([[0.5, 0.5], [0.5, 3.5], [3.5, 3.5], [3.5, 0.5]], device=device)
    out = polygon_mask((5, 5), sq)
    assert out.device.type == device.type
    assert out.cpu()[1:4, 1:4].all() and out.cpu().sum() == 9


@given(
    verts=st.lists(st.tuples(coords, coords), min_size=3, max_size=7),
    h=st.integers(1, 15),
    w=st.integers(1, 15),
)
def test_polygon_mask_matches_pnpoly(device, verts, h, w):
    vertices = torch.tensor(verts, dtype=torch.float64, device=device)
    got = polygon_mask((h, w), vertices).cpu().numpy()
    np.testing.assert_array_equal(got, pnpoly((h, w), verts))


@given(verts=st.lists(st.tuples(st.integers(-2, 12), st.integers(-2, 12)), min_size=3, max_size=6))
def test_polygon_mask_integer_vertices_pnpoly(device, verts):
    # integer vertices put pixel centres exactly on edges and vertices: the half-open rule decides
    got = polygon_mask((11, 11), torch.tensor(verts, device=device)).cpu().numpy()
    np.testing.assert_array_equal(got, pnpoly((11, 11), verts))


def test_polygon_mask_agrees_with_skimage_on_generic_polygons(device):
    # star-shaped (angle-sorted) polygons are simple, where every fill rule agrees; generic
    # float vertices put no pixel centre exactly on an edge
    rng = np.random.default_rng(3)
    for _ in range(12):
        n = rng.integers(3, 12)
        angle = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(3, 18, n)
        verts = np.stack([15 + radius * np.sin(angle), 14 + radius * np.cos(angle)], 1)
        got = polygon_mask((30, 30), torch.tensor(verts, device=device)).cpu().numpy()
        np.testing.assert_array_equal(got, polygon2mask((30, 30), verts))
        assert got.any()


def test_polygon_mask_even_odd_star_has_a_hole(device):
    star = [(20 + 18 * math.sin(k * 4 * math.pi / 5), 20 + 18 * math.cos(k * 4 * math.pi / 5)) for k in range(5)]
    out = polygon_mask((41, 41), torch.tensor(star, device=device)).cpu()
    assert not out[20, 20]  # the pentagon in the middle is crossed twice: even-odd leaves it empty
    assert out[20, 35]  # the tip at (20, 38) is filled
    np.testing.assert_array_equal(out.numpy(), pnpoly((41, 41), star))


def test_polygon_mask_degenerate(device):
    assert not polygon_mask((6, 6), torch.tensor([[1.0, 1.0], [4.0, 4.0]], device=device)).any()
    assert not polygon_mask((6, 6), torch.zeros((0, 2), device=device)).any()
    assert not polygon_mask((6, 6), torch.tensor([[1.0, 1.0], [1.0, 4.0], [1.0, 5.0]], device=device)).any()
    assert not polygon_mask((6, 6), torch.tensor([[-9.0, -9.0], [-9.0, -2.0], [-2.0, -9.0]], device=device)).any()
    full = torch.tensor([[-1.0, -1.0], [-1.0, 7.0], [7.0, 7.0], [7.0, -1.0]], device=device)
    assert polygon_mask((6, 6), full).all()
    with pytest.raises(ValueError, match="vertices: expected finite"):
        polygon_mask((6, 6), torch.tensor([[0.0, 0.0], [1.0, float("inf")], [2.0, 0.0]], device=device))


# ---------------------------------------------------------------- flood_fill_mask
@given(
    data=st.data(),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    k=st.integers(1, 3),
    connectivity=st.sampled_from([1, 2]),
)
def test_flood_fill_matches_skimage(device, data, h, w, k, connectivity):
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=h * w, max_size=h * w))).reshape(h, w)
    r, c = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    got = flood_fill_mask(torch.tensor(labels, dtype=torch.uint8, device=device), r, c, connectivity=connectivity)
    assert got.dtype == torch.bool and got.device.type == device.type and bool(got[r, c])
    np.testing.assert_array_equal(got.cpu().numpy(), flood(labels, (r, c), connectivity=connectivity))
    # the torch path (accelerators) agrees too: on CPU flood_fill_mask takes scipy's
    region = torch.tensor(labels == labels[r, c], device=device)
    torch_path = paint_module._flood_torch(region, r, c, connectivity)
    np.testing.assert_array_equal(torch_path.cpu().numpy(), flood(labels, (r, c), connectivity=connectivity))


def test_flood_fill_on_cpu_is_one_compiled_pass(monkeypatch):
    """A 2048^2 background fill took 0.5-0.9 s in the torch loop on CPU; scipy's labelling is one pass."""
    lab = torch.zeros(2048, 2048, dtype=torch.uint8)
    lab[500:700, 300:900] = 1
    lab[1000:1010, :] = 2  # a wall: the fill stops there
    monkeypatch.setattr(paint_module, "_flood_torch", lambda *a: pytest.fail("the torch loop ran on CPU"))
    got = flood_fill_mask(lab, 0, 0)
    want = torch.zeros_like(got)
    want[:1000] = True
    want[500:700, 300:900] = False
    assert torch.equal(got, want)


def test_flood_fill_serpentine_and_bool(device):
    # a serpentine corridor turns at every wall: many rounds of row/column spreading
    wall = np.zeros((31, 20), dtype=bool)
    for i, r in enumerate(range(1, 31, 2)):
        wall[r, :] = True
        wall[r, -1 if i % 2 == 0 else 0] = False
    got = flood_fill_mask(torch.tensor(wall, device=device), 0, 0).cpu().numpy()
    np.testing.assert_array_equal(got, ~wall)
    one_row = flood_fill_mask(torch.tensor(wall, device=device), 1, 5).cpu().numpy()
    np.testing.assert_array_equal(one_row, flood(wall, (1, 5), connectivity=1))


def test_flood_fill_diagonal_connectivity(device):
    lab = torch.eye(5, dtype=torch.int64, device=device)
    assert flood_fill_mask(lab, 0, 0, connectivity=1).cpu().sum() == 1
    assert flood_fill_mask(lab, 0, 0, connectivity=2).cpu().sum() == 5
    assert flood_fill_mask(lab, 0, 1, connectivity=1).cpu().sum() == 10  # upper triangle


def test_flood_fill_errors(device):
    lab = torch.zeros((4, 5), dtype=torch.uint8, device=device)
    with pytest.raises(ValueError, match=r"row: expected an int <= 3"):
        flood_fill_mask(lab, 4, 0)
    with pytest.raises(ValueError, match=r"col: expected an int >= 0"):
        flood_fill_mask(lab, 0, -1)
    with pytest.raises(TypeError, match="row: expected an int"):
        flood_fill_mask(lab, 1.5, 0)
    with pytest.raises(DTypeError, match="labels: expected an integer label map"):
        flood_fill_mask(lab.float(), 0, 0)
    with pytest.raises(ShapeError, match=r"labels: expected 2 dimensions; got \(1, 4, 5\)"):
        flood_fill_mask(lab[None], 0, 0)
    with pytest.raises(ValueError, match="connectivity"):
        flood_fill_mask(lab, 0, 0, connectivity=3)


# ---------------------------------------------------------------- work and memory bounds (issue 10 #9, #10)
def pixel_rule(shape, points, radius):
    """The per-pixel capsule rule of the browser preview (painter_core.js rasterStroke), in float64."""
    h, w = shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w), bool)
    for i in range(max(1, len(pts) - 1)):
        (ar, ac), (br, bc) = pts[i], pts[i + 1] if len(pts) > 1 else pts[i]
        y0, y1 = max(0, math.ceil(min(ar, br) - radius)), min(h, math.floor(max(ar, br) + radius) + 1)
        x0, x1 = max(0, math.ceil(min(ac, bc) - radius)), min(w, math.floor(max(ac, bc) + radius) + 1)
        dr, dc = br - ar, bc - ac
        inv = 1 / max(dr * dr + dc * dc, 1e-12)
        t = np.clip(((yy - ar) * dr + (xx - ac) * dc) * inv, 0, 1)
        er, ec = yy - ar - t * dr, xx - ac - t * dc
        out |= (er * er + ec * ec <= radius * radius) & (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
    return out


@pytest.mark.parametrize("path", ["spans", "spans, tiny chunks", "pixels"])
def test_stroke_spans_equal_the_pixel_rule_on_random_strokes(monkeypatch, path):
    """Row spans of the capsule union == the per-pixel rule (ties included: integer points and radii)."""
    import maskbench.kernels.paint as paint

    small, ratio = (1 << 30, 1 << 30) if path == "pixels" else (0, 0)
    monkeypatch.setattr(paint, "_SMALL_STROKE", small)
    monkeypatch.setattr(paint, "_PIXELS_PER_SPAN", ratio)
    if path == "spans, tiny chunks":  # many bands and pair chunks
        monkeypatch.setattr(paint._row_spans, "PAIR_CHUNK", 16)
        monkeypatch.setattr(paint._row_spans, "BAND_ELEMS", 200)
    g = torch.Generator().manual_seed(0)
    for i in range(40 if "tiny" in path else 150):
        h, w = (int(v) for v in torch.randint(1, 50, (2,), generator=g))
        n = int(torch.randint(1, 10, (1,), generator=g))
        pts = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([h + 10.0, w + 10.0]) - 5
        radius = float(torch.rand(1, generator=g) * 9)
        if i % 3 == 0:
            pts, radius = pts.round(), float(round(radius))
        elif i % 3 == 1:
            pts, radius = (pts * 2).round() / 2, round(radius * 2) / 2
        got = stroke_mask((h, w), pts, radius).numpy()
        np.testing.assert_array_equal(got, pixel_rule((h, w), pts.numpy(), radius), err_msg=f"case {i}")


def test_stroke_work_is_rows_not_brush_area(monkeypatch):
    """A 256-px brush over 40 points: one span per segment and row (<= 40 x 257), same pixels as the rule."""
    import maskbench.kernels.paint as paint

    monkeypatch.setattr(paint, "_PIXELS_PER_SPAN", 0)  # the span path (the per-pixel one is for small boxes)
    g = torch.Generator().manual_seed(1)
    pts = torch.rand(40, 2, generator=g) * 300
    window = stroke_window((300, 300), pts, 128.0, max_spans=40 * 300)  # the old cost: 40 x 257^2 pixels
    full = torch.zeros(300, 300, dtype=torch.bool)
    r0, c0, win = window
    full[r0 : r0 + win.shape[0], c0 : c0 + win.shape[1]] = win
    np.testing.assert_array_equal(full.numpy(), pixel_rule((300, 300), pts.numpy(), 128.0))
    with pytest.raises(ArgumentError, match=r"stroke: needs \d+ row spans, over the limit of 100"):
        stroke_window((300, 300), pts, 128.0, max_spans=100)
    with pytest.raises(ArgumentError, match=r"polygon: needs \d+ row spans, over the limit of 10"):
        polygon_window((300, 300), pts, max_spans=10)


@pytest.mark.parametrize("tiny_chunks", [False, True])
def test_polygon_scanline_equals_skimage_on_many_vertices(monkeypatch, tiny_chunks):
    import maskbench.kernels.paint as paint

    if tiny_chunks:
        monkeypatch.setattr(paint._row_spans, "PAIR_CHUNK", 50)
        monkeypatch.setattr(paint._row_spans, "BAND_ELEMS", 500)
    t = torch.linspace(0, 2 * math.pi, 5001, dtype=torch.float64)[:-1]
    radius = 40 + 8 * torch.sin(7 * t)
    verts = torch.stack([50.37 + radius * torch.sin(t), 52.21 + radius * torch.cos(t)], 1)  # no centre on a vertex
    got = polygon_mask((101, 105), verts).numpy()
    np.testing.assert_array_equal(got, polygon2mask((101, 105), verts.numpy()))


PEAK_SCRIPT = """
import resource, sys, math, torch
from maskbench.kernels.paint import polygon_window
n = 1 << 18  # the Painter's MAX_POINTS: one valid 2 MiB lasso message
t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)[:-1]
verts = torch.stack([2048 + 2000 * torch.sin(t), 2048 + 2000 * torch.cos(t)], 1).float()
polygon_window((64, 64), verts[:3] * 0.01)  # warm up torch's allocator paths
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r0, c0, window = polygon_window((4096, 4096), verts)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024, int(window.sum()))
"""


def test_largest_lasso_needs_bounded_memory():
    """Issue 10 #9: a MAX_POINTS lasso on a 4096^2 image took ~8 GB (vertices x rows float64 tables)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    grown_mb, area = (int(v) for v in run.stdout.split())
    assert grown_mb < 400, f"peak RSS grew by {grown_mb} MB"
    assert abs(area - math.pi * 2000**2) < 0.001 * math.pi * 2000**2  # and it is the disc it should be
