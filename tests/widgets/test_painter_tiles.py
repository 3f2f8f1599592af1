"""The Painter as a tile server (issue 12): "image" pyramid tiles and "labels" max tiles, a labels
version bumped on every change of the mask, and patches carrying the versions and the exact
full-resolution labels of the changed box."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from maskbench.kernels.paint import stroke_mask
from maskbench.render import image_to_rgba
from maskbench.render.tiles import TILE, label_tile, tile_grid
from maskbench.widgets import _painter_tiles
from maskbench.widgets._tiles import tile_from_reply
from maskbench.widgets.painter import Painter

CLASSES = ("background", "cell", "nucleus")


def make(image, **kwargs):
    p = Painter(image, classes=CLASSES, **kwargs)
    p.sent = []
    p.send = lambda content, buffers=None: p.sent.append((content, buffers))
    return p


def request(p, keys, rid=5):
    p.sent.clear()
    p._on_msg(p, {"type": "tiles", "id": rid, "keys": keys}, [])
    (content, buffers), *rest = p.sent
    assert not rest and content["type"] == "tiles" and content["id"] == rid
    return content, buffers


def tile_array(meta, buf):
    assert meta["dtype"] == "uint8"
    return tile_from_reply(meta, buf)


def test_tiles_info_lists_image_and_labels():
    p = make(torch.rand(3, 600, 300))
    info = p._tiles_info
    assert info["tile"] == TILE and info["shape"] == [600, 300] and info["levels"] == 3
    assert info["layers"]["image"] == {"dtype": "uint8", "channels": 3, "version": info["layers"]["image"]["version"]}
    assert info["layers"]["labels"]["dtype"] == "uint8" and info["layers"]["labels"]["channels"] == 1


def test_image_tiles_are_the_image_pixels_at_level_0_and_block_means_above():
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, 520, 300), dtype=torch.uint8, generator=g)
    p = make(img)
    content, buffers = request(p, [["image", 0, 2, 1], ["image", 1, 0, 0]])
    assert [t["level"] for t in content["tiles"]] == [0, 1] and content["dropped"] == 0
    assert content["tiles"][0]["channels"] == 3 == p._tiles_info["layers"]["image"]["channels"]  # RGB: 3/4 of RGBA
    t0 = tile_array(content["tiles"][0], buffers[0])
    assert np.array_equal(t0, image_to_rgba(img)[512:520, 256:300, :3].numpy())
    t1 = tile_array(content["tiles"][1], buffers[1]).astype(int)
    ref = img[:, :512, :300].double().view(3, 256, 2, 150, 2).mean((2, 4))  # 2x2 means, rounded half up
    assert np.abs(t1 - np.floor(ref.permute(1, 2, 0).numpy() + 0.5)).max() == 0
    grey = make(torch.rand(300, 300))
    content, buffers = request(grey, [["image", 0, 1, 1]])
    assert content["tiles"][0]["channels"] == 1 and len(bytes(buffers[0])) == 44 * 44


def test_label_tiles_follow_edits_and_their_version_is_bumped():
    p = make(torch.rand(700, 600))
    v0 = p._labels_version()
    pts = torch.tensor([[300.0, 10.0], [310.0, 590.0]])
    p.paint_stroke(pts, radius=1.5, label=2)
    v1 = p._labels_version()
    assert v1 > v0 and p._tiles_info["layers"]["labels"]["version"] == v1
    ref = stroke_mask((700, 600), pts, 1.5).to(torch.uint8) * 2
    for level in range(p._tiles_info["levels"]):
        rows, cols = tile_grid((700, 600), level)
        keys = [["labels", level, r, c] for r in range(rows) for c in range(cols)]
        content, buffers = request(p, keys)
        for meta, buf in zip(content["tiles"], buffers):
            assert meta["version"] == v1
            want = label_tile(ref, level, meta["row"], meta["col"], reduce="max")
            assert np.array_equal(tile_array(meta, buf), want), meta
    p.undo()
    assert p._labels_version() > v1
    content, buffers = request(p, [["labels", 0, 1, 0]])
    assert not tile_array(content["tiles"][0], buffers[0]).any()


def test_patch_carries_versions_and_the_full_resolution_box():
    p = make(torch.rand(400, 500))
    before = p._labels_version()
    pts = np.array([[100.0, 100.0], [103.5, 140.25]], dtype="<f4")
    p.sent.clear()
    p._on_msg(
        p, {"type": "edit", "tool": "brush", "label": 1, "radius": 4.0, "n": 2, "id": 3}, [memoryview(pts.tobytes())]
    )
    (content, buffers), *_ = [s for s in p.sent if s[0]["type"] == "patch"]
    assert content["done"] and content["from"] == before and content["version"] == p._labels_version() > before
    assert content["full"] is True
    r0, c0, h, w = content["box"]
    box = np.frombuffer(bytes(buffers[1]), np.uint8).reshape(h, w)
    assert np.array_equal(box, p.mask[r0 : r0 + h, c0 : c0 + w].numpy())
    assert int(p.mask.sum()) == int(box.sum())  # the box holds the whole stroke


def test_no_change_no_version_and_big_boxes_go_without_full_labels(monkeypatch):
    p = make(torch.rand(300, 300))
    v = p._labels_version()
    p.sent.clear()
    p.erase_stroke([(10, 10), (20, 20)], radius=2)  # nothing to erase
    assert p._labels_version() == v and all("version" not in c for c, _ in p.sent)
    monkeypatch.setattr(_painter_tiles, "FULL_PATCH_PIXELS", 100)
    p.clear()
    p.fill_at(5, 5, label=1)  # the whole image: 90000 pixels > 100
    patch = [c for c, _ in p.sent if c["type"] == "patch"][-1]
    assert patch["version"] == p._labels_version() > v and patch["full"] is False and patch["box"] == [0, 0, 300, 300]


def test_bad_tile_requests_are_answered_not_raised(recwarn):
    p = make(torch.rand(300, 300))
    content, buffers = request(p, [["labels", 9, 0, 0]])
    assert content["tiles"] == [] and "level" in content["error"] and buffers == []
    content, _ = request(p, [["mask", 0, 0, 0]])
    assert "layer" in content["error"]
    assert p.mask.sum() == 0


def test_numpy_hwc_uint8_image_is_referenced_by_the_pyramid():
    img = np.zeros((300, 400, 3), np.uint8)
    p = make(img)
    assert np.shares_memory(p._pyramid.level(0), img)  # no copy of the user's array


_NODE_RASTER = r"""
import { paintTileOp } from "./maskbench/widgets/static/painter_dom.js";
const cases = JSON.parse(process.argv[1]);
const out = cases.map(({ op, k, row, col, h, w }) => {
  const labels = new Uint8Array(h * w);
  paintTileOp(labels, w, h, k, row * 256, col * 256, op);
  return Array.from(labels);
});
process.stdout.write(JSON.stringify(out));
"""


def _node_tiles(cases):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js not found")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [node, "--input-type=module", "-e", _NODE_RASTER, json.dumps(cases)], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_native_zoom_preview_is_the_kernels_stroke_and_lasso_pixel_for_pixel():
    """paintTileOp (the browser's preview in a level-0 label tile) against the kernel's rasterisers on
    the same Float32 points: brush strokes small (per-pixel path) and long (analytic row spans), one
    point discs, integer and half-integer radii (ties), lassos; tiles inside and across the shape."""
    g = np.random.default_rng(0)
    shape = (700, 900)
    cases, refs = [], []
    for i in range(24):
        n = int(g.integers(1, 60 if i % 3 else 400))
        start = g.uniform([0, 0], shape)
        pts = (start + np.cumsum(g.normal(0, 3 if i % 2 else 9, (n, 2)), axis=0)).astype("<f4")
        pts = np.clip(pts, -0.5, np.array(shape) - 0.5).astype("<f4")
        if i % 4 == 0:
            pts = np.round(pts).astype("<f4")  # integer points: exact ties on the radius
        tool = "lasso" if i % 5 == 4 and n >= 3 else "brush"
        radius = float([0.5, 1.0, 2.5, 4.0, 7.3, 16.0][i % 6])
        t = torch.from_numpy(pts.astype(np.float32))
        if tool == "lasso":
            from maskbench.kernels.paint import polygon_mask

            ref = polygon_mask(shape, t)
        else:
            ref = stroke_mask(shape, t, radius)
        r, c = int(np.clip(pts[0, 0], 0, shape[0] - 1)) // 256, int(np.clip(pts[0, 1], 0, shape[1] - 1)) // 256
        h, w = min(256, shape[0] - r * 256), min(256, shape[1] - c * 256)
        op = {"kind": "lasso" if tool == "lasso" else "stroke", "image": pts.reshape(-1).astype(float).tolist(),
              "radius": radius, "value": 1}  # fmt: skip
        cases.append({"op": op, "k": 0, "row": r, "col": c, "h": h, "w": w})
        refs.append(ref[r * 256 : r * 256 + h, c * 256 : c * 256 + w])
    got = _node_tiles(cases)
    for case, ref, labels in zip(cases, refs, got):
        js = np.array(labels, np.uint8).reshape(case["h"], case["w"]).astype(bool)
        assert np.array_equal(js, ref.numpy()), (
            case["op"]["kind"],
            case["op"]["radius"],
            int((js != ref.numpy()).sum()),
        )
