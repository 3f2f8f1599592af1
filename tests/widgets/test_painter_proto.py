"""The Painter's helpers: display proxies, undo history, and the JS preview rules vs the kernels."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench import DTypeError, ShapeError
from maskbench.kernels.paint import polygon_mask, stroke_mask
from maskbench.render import downsample_rgba, image_to_rgba
from maskbench.render.proxy import max_proxy as proxy_labels
from maskbench.render.proxy import max_proxy_box
from maskbench.render.proxy import rgba_proxy as display_rgba
from maskbench.widgets._history import History, decode_runs, encode_runs


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(61, 90),
        torch.rand(3, 61, 90),
        torch.randint(0, 256, (1, 61, 90), dtype=torch.uint8),
        torch.rand(61, 90) > 0.5,
        torch.rand(4, 61, 90),
    ],
    ids=["grey", "rgb", "uint8", "bool", "rgba"],
)
def test_display_rgba_matches_render_path(image):
    """Averaging before quantising differs from downsample_rgba(image_to_rgba(.)) by rounding only."""
    got = display_rgba(image, (20, 31))
    ref = downsample_rgba(image_to_rgba(image), (20, 31))
    assert got.shape == (20, 31, 4) and got.dtype == torch.uint8
    assert (got.int() - ref.int()).abs().max() <= 1
    assert torch.equal(display_rgba(image, (61, 90)), image_to_rgba(image))  # no resize: exact


def test_display_rgba_validates_like_image_to_rgba():
    with pytest.raises(ShapeError, match="image: expected"):
        display_rgba(torch.rand(2, 8, 8), (4, 4))
    with pytest.raises(DTypeError, match="image: expected a floating image"):
        display_rgba(torch.zeros(8, 8, dtype=torch.int32), (4, 4))
    nan = torch.rand(8, 8)
    nan[0, 0] = float("nan")
    out = display_rgba(nan, (4, 4))
    assert out[0, 0, :3].tolist() == [0, 0, 0] and out[0, 0, 3] == 255  # the NaN pixel's block is drawn black
    assert out[1:, 1:, :3].float().mean() > 50


def test_history_memory_is_bounded():
    hist = History(max_steps=1000, max_bytes=50_000)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        old = torch.randint(0, 4, (40, 40), dtype=torch.uint8, generator=g)  # incompressible noise
        hist.push(0, 0, old, old ^ 1)
        assert hist.nbytes <= 50_000 or len(hist) == 1
    assert 1 <= len(hist) < 30
    big = History(max_steps=5)
    for i in range(9):
        big.push(0, 0, torch.zeros(2, 2, dtype=torch.uint8), torch.full((2, 2), i, dtype=torch.uint8))
    assert len(big) == 5


@given(st.lists(st.integers(0, 3), min_size=0, max_size=60), st.integers(1, 6))
def test_rle_round_trip(values, w):
    n = len(values) - len(values) % w
    t = torch.tensor(values[:n], dtype=torch.uint8).view(-1, w) if n else torch.zeros((0, w), dtype=torch.uint8)
    assert torch.equal(decode_runs(*encode_runs(t), tuple(t.shape)), t)


# ---------------------------------------------------------------- display proxy
def proxy_reference(full, dh, dw):
    h, w = full.shape
    out = np.zeros((dh, dw), np.uint8)
    for j in range(dh):
        for i in range(dw):
            r0, r1 = (j * h) // dh, -(-(j + 1) * h // dh)
            c0, c1 = (i * w) // dw, -(-(i + 1) * w // dw)
            out[j, i] = full[r0:r1, c0:c1].max()
    return out


@given(st.integers(1, 30), st.integers(1, 30), st.data())
def test_proxy_labels_is_block_max(h, w, data):
    dh, dw = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    full = torch.randint(0, 4, (h, w), dtype=torch.uint8)
    ref = proxy_reference(full.numpy(), dh, dw)
    np.testing.assert_array_equal(proxy_labels(full, (dh, dw)).numpy(), ref)
    y0, x0 = data.draw(st.integers(0, dh - 1)), data.draw(st.integers(0, dw - 1))
    y1, x1 = data.draw(st.integers(y0 + 1, dh)), data.draw(st.integers(x0 + 1, dw))
    np.testing.assert_array_equal(proxy_labels(full, (dh, dw), (y0, y1), (x0, x1)).numpy(), ref[y0:y1, x0:x1])


@given(st.integers(1, 40), st.integers(1, 40), st.data())
def test_proxy_box_covers_every_block_touching_the_box(h, w, data):
    dh, dw = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    r0, c0 = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    r1, c1 = data.draw(st.integers(r0 + 1, h)), data.draw(st.integers(c0 + 1, w))
    y0, y1, x0, x1 = max_proxy_box((h, w), (dh, dw), r0, r1, c0, c1)
    for j in range(dh):
        if (j * h) // dh < r1 and -(-(j + 1) * h // dh) > r0:
            assert y0 <= j < y1
    for i in range(dw):
        if (i * w) // dw < c1 and -(-(i + 1) * w // dw) > c0:
            assert x0 <= i < x1


# ---------------------------------------------------------------- browser preview == kernel
STATIC = Path(__file__).resolve().parents[2] / "maskbench" / "widgets" / "static"
# the pure helpers live in painter_core.js (imported from its file, so its relative imports resolve)
JS = STATIC / "painter_core.js" if (STATIC / "painter_core.js").exists() else STATIC / "painter.js"
NODE_SCRIPT = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const P = await import(pathToFileURL(process.argv[1]).href);
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map(({ kind, h, w, pts, radius }) => {
  const labels = new Uint8Array(h * w);
  if (kind === "stroke") P.rasterStroke(labels, w, h, pts, radius, 1);
  else P.rasterPolygon(labels, w, h, pts, 1);
  return Array.from(labels);
});
process.stdout.write(JSON.stringify(out));
"""


def test_browser_preview_rules_match_the_kernels():
    """The JS preview (at proxy = full resolution) paints the same pixels as the kernel."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js not found: the JS/kernel agreement check did not run")
    g = torch.Generator().manual_seed(5)
    cases = []
    for i in range(40):
        n = int(torch.randint(1 if i % 2 == 0 else 3, 7, (1,), generator=g))
        pts = (torch.rand(n, 2, generator=g) * 30 - 4).to(torch.float32)
        if i % 4 == 1:
            pts = pts.round()  # vertices on pixel centres: the tie-breaking rules must agree
        cases.append({"kind": "stroke" if i % 2 == 0 else "polygon", "h": 19, "w": 23,
                      "pts": pts.reshape(-1).tolist(), "radius": float(torch.rand(1, generator=g) * 5)})  # fmt: skip
    run = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT, str(JS)], input=json.dumps(cases),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    for case, got in zip(cases, json.loads(run.stdout)):
        pts = torch.tensor(case["pts"], dtype=torch.float32).view(-1, 2)
        if case["kind"] == "stroke":
            ref = stroke_mask((19, 23), pts, case["radius"])
        else:
            ref = polygon_mask((19, 23), pts)
        np.testing.assert_array_equal(np.array(got).reshape(19, 23), ref.numpy().astype(int), err_msg=str(case))
