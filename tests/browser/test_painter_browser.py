"""The Painter in a real JupyterLab + Chromium: mouse and keyboard edits reach the kernel's mask.

Screen -> image positions are computed here from the canvas box and the fit rule (the proxy is
centred and scaled to fit the stage), independently of the widget's own transform, and the kernel's
mask is compared with ``stroke_mask`` / ``polygon_mask`` / ``flood_fill_mask`` of the same gesture.
Latencies are appended to tests/browser/_artifacts/latency.jsonl (no timing asserts).
"""

from __future__ import annotations

import json
import statistics

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SETUP = """import json, time, torch
from maskbench.widgets import Painter
from maskbench.kernels.paint import flood_fill_mask, polygon_mask, stroke_mask

def check(painted, *, radius=None, strokes=(), polygon=None, tol=0.75):
    # painted pixels vs the kernel rasteriser of the same gestures, with a band of `tol` pixels
    m = p.mask
    shape = tuple(m.shape)
    if polygon is not None:
        exact = polygon_mask(shape, torch.tensor(polygon))
        outer, inner = exact, exact
    else:
        exact, outer, inner = (torch.zeros(shape, dtype=torch.bool) for _ in range(3))
        for pts in strokes:
            t = torch.tensor(pts, dtype=torch.float32)
            exact |= stroke_mask(shape, t, radius)
            outer |= stroke_mask(shape, t, radius + tol)
            inner |= stroke_mask(shape, t, max(radius - tol, 0))
    return json.dumps({
        "labels": sorted(m.unique().tolist()),
        "outside": int((painted(m) & ~outer).sum()), "missing": int((inner & ~painted(m)).sum()),
        "diff": int((painted(m) != exact).sum()), "n": int(painted(m).sum()),
    })
"""

FUNCTIONAL = [
    SETUP,
    """yy, xx = torch.meshgrid(torch.linspace(0, 1, 1024), torch.linspace(0, 1, 1024), indexing="ij")
img = torch.stack([0.25 + 0.5 * xx, 0.3 + 0.4 * yy, 0.6 - 0.3 * xx])
p = Painter(img, classes=["background", "cell", "nucleus"], brush_size=20)
lat = []
p.observe(lambda ch: lat.append(ch["new"]), "last_edit_latency_ms")
p""",
]

SCREENSHOT = """from scipy import ndimage
from skimage import data, filters, measure, morphology, segmentation
coins = data.coins()
blobs = morphology.closing(coins > filters.threshold_otsu(coins), morphology.disk(2))
blobs = segmentation.clear_border(morphology.remove_small_objects(ndimage.binary_fill_holes(blobs), max_size=150))
regions = torch.from_numpy(measure.label(blobs))
demo_mask = torch.where(regions > 0, 1 + (regions % 3 == 0).long(), 0)
demo = Painter(torch.from_numpy(coins), mask=demo_mask, brush_size=9, opacity=0.55,
               classes={"background": None, "coin": "#E69F00", "dark coin": "#56B4E9"})
demo"""


class View:
    """Where the image is drawn: the fit rule applied to the canvas box (not read from the widget)."""

    def __init__(self, page, index: int, shape: tuple[int, int], proxy: tuple[int, int]):
        self.widget = page.locator(".mb-painter").nth(index)
        self.canvas = self.widget.locator("canvas.mb-canvas")
        self.canvas.scroll_into_view_if_needed()
        self.box = self.canvas.bounding_box()
        (self.h, self.w), (self.dh, self.dw) = shape, proxy
        self.scale = min(self.box["width"] / self.dw, self.box["height"] / self.dh)
        self.tx = (self.box["width"] - self.dw * self.scale) / 2
        self.ty = (self.box["height"] - self.dh * self.scale) / 2

    def screen(self, row: float, col: float) -> tuple[int, int]:
        """Integer page coordinates near image (row, col)."""
        sx = self.tx + (col + 0.5) * self.dw / self.w * self.scale
        sy = self.ty + (row + 0.5) * self.dh / self.h * self.scale
        return round(self.box["x"] + sx), round(self.box["y"] + sy)

    def image(self, x: float, y: float, view: tuple[float, float, float] | None = None) -> list[float]:
        """Image (row, col) under page point (x, y), for the fit view or an explicit (scale, tx, ty)."""
        scale, tx, ty = view or (self.scale, self.tx, self.ty)
        px, py = (x - self.box["x"] - tx) / scale, (y - self.box["y"] - ty) / scale
        return [py * self.h / self.dh - 0.5, px * self.w / self.dw - 0.5]


def drag(page, widget, points, acks: int, steps: int = 12) -> None:
    """Press at points[0], move through the rest, release; wait for the kernel's answer."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for pt in points[1:]:
        page.mouse.move(*pt, steps=steps)
    page.mouse.up()
    wait_acks(page, widget, acks)


def wait_acks(page, widget, n: int) -> None:
    """Wait until the view got the kernel's answer to its n-th edit."""
    page.wait_for_function(
        "([el, n]) => Number(el.dataset.acks || 0) >= n", arg=[widget.element_handle(), n], timeout=30_000, polling=5
    )


def keys(widget, *names: str) -> None:
    """Give the widget the keyboard (click the empty right end of its legend), then press keys."""
    legend = widget.locator(".mb-legend")
    legend.click(position={"x": legend.bounding_box()["width"] - 4, "y": 4})
    for name in names:
        widget.page.keyboard.press(name)


def kernel(lab, page, code: str) -> dict:
    return json.loads(lab.run_code(page, code).splitlines()[-1])


def test_painter_tools_in_the_browser(lab) -> None:
    page = lab.open(FUNCTIONAL + [SCREENSHOT], "painter")
    widget = page.locator(".mb-painter").first
    page.wait_for_function("() => [...document.querySelectorAll('.mb-painter')].every(e => e.dataset.ready === '1')")
    view = View(page, 0, (1024, 1024), (1024, 1024))
    shown = [float(v) for v in widget.get_attribute("data-view").split(",")]
    assert abs(shown[0] - view.scale) < 1e-6 and abs(shown[1] - view.tx) < 1e-6  # the drawn transform is the fit

    # 1. a horizontal brush stroke: painted pixels == stroke_mask of the same path, nowhere else
    a, b = view.screen(300, 200), view.screen(300, 700)
    drag(page, widget, [a, b], acks=1)
    pts = [view.image(*a), view.image(*b)]
    got = kernel(lab, page, f"s1 = p.mask\nprint(check(lambda m: m == 1, radius=10.0, strokes=[{pts}]))")
    assert got["labels"] == [0, 1] and got["outside"] == 0 and got["missing"] == 0, got
    assert got["diff"] <= 0.01 * got["n"] and got["n"] > 8000, got

    # 2. eraser (key E), vertically across the stroke
    keys(widget, "e")
    view = View(page, 0, (1024, 1024), (1024, 1024))
    c, d = view.screen(250, 450), view.screen(350, 450)
    drag(page, widget, [c, d], acks=2)
    epts = [view.image(*c), view.image(*d)]
    code = (
        f"s2 = p.mask\nerased = stroke_mask(s2.shape, torch.tensor({epts}), 10.0)\n"
        f"print(json.dumps({{'tool': p.tool, 'kept_outside_eraser': bool(torch.equal(s2[~erased], s1[~erased])), "
        f"'left_in_core': int((s2.bool() & stroke_mask(s2.shape, torch.tensor({epts}), 9.25)).sum()), "
        f"'erased': int((s1.bool() & ~s2.bool()).sum())}}))"
    )
    got = kernel(lab, page, code)
    assert got["tool"] == "eraser" and got["kept_outside_eraser"], got
    assert got["left_in_core"] == 0 and got["erased"] > 300, got

    # 3. undo / redo from the keyboard (the widget must have focus: click its legend first)
    keys(widget, "Control+z")
    assert kernel(lab, page, "print(json.dumps([bool(torch.equal(p.mask, s1)), p.can_redo]))") == [True, True]
    keys(widget, "Control+Shift+z")
    assert kernel(lab, page, "print(json.dumps(bool(torch.equal(p.mask, s2))))") is True
    keys(widget, "Control+z", "Control+y")
    assert kernel(lab, page, "print(json.dumps(bool(torch.equal(p.mask, s2))))") is True

    # 4. switch class with a key, then flood fill inside a ring drawn from Python
    ring = "[(600, 100), (600, 300), (800, 300), (800, 100), (600, 100)]"
    lab.run_code(page, f"p.paint_stroke({ring}, radius=4, label=1)\nbefore_fill = p.mask")
    keys(widget, "2", "f")
    view = View(page, 0, (1024, 1024), (1024, 1024))
    seed = view.screen(700, 200)
    page.mouse.click(*seed)
    wait_acks(page, widget, 3)
    r, cc = (round(v) for v in view.image(*seed))
    code = (
        f"region = flood_fill_mask(before_fill, {r}, {cc})\n"
        f"print(json.dumps({{'cls': p.active_class, 'tool': p.tool, 'region': int(region.sum()), "
        f"'filled_ok': bool((p.mask[region] == 2).all()), "
        f"'rest_same': bool(torch.equal(p.mask[~region], before_fill[~region]))}}))"
    )
    got = kernel(lab, page, code)
    assert got["cls"] == 2 and got["tool"] == "fill" and got["filled_ok"] and got["rest_same"], got
    assert 150 * 150 < got["region"] < 200 * 200, got

    # 5. lasso (key L): a right triangle with horizontal and vertical sides
    lab.run_code(page, "before_lasso = p.mask")
    keys(widget, "1", "l")
    view = View(page, 0, (1024, 1024), (1024, 1024))
    t = [view.screen(850, 500), view.screen(850, 800), view.screen(1000, 800)]
    drag(page, widget, t, acks=4)
    poly = [view.image(*q) for q in t]
    got = kernel(lab, page, f"print(check(lambda m: (m == 1) & (before_lasso != 1), polygon={poly}))")
    assert got["diff"] <= 0.01 * got["n"] and got["n"] > 10000, got

    # 6. zoom with the wheel, then paint: the pixel under the cursor stays the one painted, and a
    #    60 px drag covers 60 / scale image pixels
    lab.run_code(page, "before_zoom = p.mask")
    keys(widget, "b")
    view = View(page, 0, (1024, 1024), (1024, 1024))
    spot = view.screen(150, 850)
    target = view.image(*spot)
    page.mouse.move(*spot)
    page.mouse.wheel(0, -600)
    page.wait_for_function("() => document.querySelector('.mb-painter').dataset.zoom === 'user'")
    zoomed = [float(v) for v in widget.get_attribute("data-view").split(",")]
    assert zoomed[0] > 1.5 * view.scale
    page.mouse.click(*spot)
    wait_acks(page, widget, 5)
    start = (spot[0] - 30, spot[1] + 60)
    drag(page, widget, [start, (start[0] + 60, start[1])], acks=6)
    zpts = [view.image(*start, view=zoomed), view.image(start[0] + 60, start[1], view=zoomed)]
    code = f"print(check(lambda m: (m == 1) & (before_zoom != 1), radius=10.0, strokes=[[{target}], {zpts}]))"
    got = kernel(lab, page, code)
    assert got["outside"] == 0 and got["missing"] == 0 and got["diff"] <= 0.01 * got["n"], got
    near = f"(m == 1) & (before_zoom != 1) & stroke_mask(m.shape, torch.tensor([{target}]), 10.5)"
    dot = kernel(lab, page, f"print(check(lambda m: {near}, radius=10.0, strokes=[[{target}]]))")
    assert dot["outside"] == 0 and dot["missing"] == 0 and 250 < dot["n"] < 400, dot

    # 7. latency at 1024x1024: pointer-up -> kernel mask updated (kernel clock) and -> view updated
    lab.run_code(page, "lat.clear()")
    keys(widget, "r")  # back to the fitted view
    view = View(page, 0, (1024, 1024), (1024, 1024))
    roundtrips = []
    for i in range(15):
        row = 60 + 60 * (i % 15)
        drag(page, widget, [view.screen(row, 60), view.screen(row + 20, 360)], acks=7 + i, steps=8)
        roundtrips.append(float(widget.get_attribute("data-last-roundtrip-ms")))
    kernel_ms = kernel(lab, page, "print(json.dumps([lat, p.last_edit_ms]))")
    assert len(kernel_ms[0]) >= 14
    lab.record_latency(
        "painter", "pointer-up to kernel mask updated (median of 15)", "1024x1024", statistics.median(kernel_ms[0])
    )
    lab.record_latency(
        "painter", "pointer-up to browser showing the kernel's patch (median of 15)", "1024x1024",
        statistics.median(roundtrips),
    )  # fmt: skip

    # 8. a malformed edit is rejected with a warning and shown in the widget, mask unchanged
    out = lab.run_code(
        page, "m0 = p.mask\np._on_msg(p, {'type': 'edit', 'tool': 'pen'}, [])\nprint(torch.equal(m0, p.mask))"
    )
    assert "rejected" in out and out.splitlines()[0] == "True", out
    error = widget.locator(".mb-error")
    error.wait_for()
    assert "tool: expected one of" in error.inner_text()

    # 8b. keys on controls reach them, not the notebook (issue 13 #3): arrows move the focused Size
    #     slider; Space on a focused tool button presses it and does not start panning
    size0 = int(lab.run_code(page, "print(p.brush_size)"))
    widget.locator(".mb-slider input").first.focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowUp"):
        page.keyboard.press(key)
    eraser = widget.locator("button.mb-tool").nth(1)
    eraser.focus()
    page.keyboard.down(" ")
    assert "mb-panning" not in (widget.locator(".mb-stage").get_attribute("class") or "")
    page.keyboard.up(" ")
    assert lab.run_code(page, "print(p.brush_size, p.tool)") == f"{size0 + 3} eraser"
    fit = widget.get_attribute("data-view")
    keys(widget, "+")  # zoom keys (issue 13 #3: there were none)
    page.wait_for_function("el => el.dataset.zoom === 'user'", arg=widget.element_handle())
    assert float(widget.get_attribute("data-view").split(",")[0]) > float(fit.split(",")[0])
    keys(widget, "r")
    page.wait_for_function("([el, v]) => el.dataset.view === v", arg=[widget.element_handle(), fit])

    # 9. screenshot of the demo painter (coins, two classes) and no console errors
    demo = page.locator(".mb-painter").nth(1)
    demo.scroll_into_view_if_needed()
    page.mouse.move(5, 5)
    lab.screenshot(demo, "painter")
    assert lab.console_errors(page) == []


BIG = [
    SETUP,
    """g = torch.Generator().manual_seed(0)
big = torch.rand(3, 256, 256, generator=g).repeat_interleave(16, 1).repeat_interleave(16, 2)  # 4096 x 4096
lat = []""",
    """t_open = time.time() * 1000
p = Painter(big, brush_size=48)
p.observe(lambda ch: lat.append(ch["new"]), "last_edit_latency_ms")
p""",
]


def test_painter_4096_edits_at_full_resolution(lab) -> None:
    page = lab.open(BIG, "painter_big")
    widget = page.locator(".mb-painter").first
    page.wait_for_function("() => document.querySelector('.mb-painter').dataset.ready === '1'")
    first_paint = float(widget.get_attribute("data-first-paint"))
    t_open = float(lab.run_code(page, "print(t_open)"))
    lab.record_latency("painter", "open (Painter() called) to first paint", "4096x4096", first_paint - t_open)

    view = View(page, 0, (4096, 4096), (1024, 1024))
    strokes = []
    for i in range(5):
        a, b = view.screen(500 + 600 * i, 400), view.screen(500 + 600 * i, 1900)
        drag(page, widget, [a, b], acks=i + 1)
        strokes.append([view.image(*a), view.image(*b)])
    got = kernel(lab, page, f"print(check(lambda m: m == 1, radius=24.0, strokes={strokes}, tol=1.0))")
    assert got["outside"] == 0 and got["missing"] == 0 and got["diff"] <= 0.01 * got["n"], got
    assert got["n"] > 5 * 1400 * 48, got
    lat = kernel(lab, page, "print(json.dumps(lat))")
    what = "stroke pointer-up to kernel mask updated (median of 5)"
    lab.record_latency("painter", what, "4096x4096", statistics.median(lat))
    assert lab.console_errors(page) == []


TOUCH = [
    SETUP,
    """p = Painter(torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0)), classes=["background", "cell"],
            brush_size=12)
p""",
]


def _touch(cdp, kind: str, *points: tuple[int, int]) -> None:
    """One touch event; `points` are every finger still down (CDP releases the ones left out)."""
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in
                                                                        enumerate(points)]})  # fmt: skip


def test_painter_touch_paints_with_one_finger_and_pinches_with_two(lab) -> None:
    """Issue 13 #4: a two-finger pinch painted a line and a tablet could not zoom."""
    page = lab.open(TOUCH, "painter-touch")
    widget = page.locator(".mb-painter").first
    page.wait_for_function("() => document.querySelector('.mb-painter').dataset.ready === '1'")
    view = View(page, 0, (256, 256), (256, 256))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    fit = widget.get_attribute("data-view")

    # one finger paints a stroke, as the mouse does
    (x0, y), (x1, _) = view.screen(64, 40), view.screen(64, 200)
    _touch(cdp, "touchStart", (x0, y))
    for k in range(1, 11):
        _touch(cdp, "touchMove", (x0 + (x1 - x0) * k // 10, y))
    _touch(cdp, "touchEnd")
    wait_acks(page, widget, 1)
    painted = int(lab.run_code(page, "print(int((p.mask == 1).sum()))"))
    assert painted > 1000

    # two fingers: zoom in about their midpoint and pan; nothing is painted or sent
    a, b = view.screen(30, 100), view.screen(70, 140)  # near the top: the canvas' bottom may be scrolled away
    _touch(cdp, "touchStart", a)
    _touch(cdp, "touchMove", (a[0] + 3, a[1]))
    _touch(cdp, "touchStart", (a[0] + 3, a[1]), b)
    for k in range(1, 11):
        _touch(cdp, "touchMove", (a[0] + 3 - 4 * k, a[1] - 4 * k), (b[0] + 4 * k, b[1] + 4 * k))
    _touch(cdp, "touchEnd")
    page.wait_for_function("el => el.dataset.zoom === 'user'", arg=widget.element_handle())
    assert float(widget.get_attribute("data-view").split(",")[0]) > 1.3 * float(fit.split(",")[0])
    assert lab.run_code(page, "print(int((p.mask == 1).sum()), p.can_redo)") == f"{painted} False"
    assert widget.get_attribute("data-acks") == "1"
    assert lab.console_errors(page) == []
