"""The Painter at 8192 x 8192 RGB in a real JupyterLab + Chromium (issue 12): native resolution on screen.

The image is built in the kernel (numpy): a texture (every tile differs from pixel to pixel, as a real
image does: no tile travels as one uniform pixel) with a one-pixel checkerboard over rows and columns
3900..4299, which spans the level-0 tile boundary at 4096 both ways, and a plain patch where the test
paints. The test zooms with the
wheel, reads the widget's transform (``data-view``: screen = t + scale * proxy px; the proxy is
1024 px, so scale / 8 screen px per image px) and reads canvas pixels back: every screen pixel must
show the image pixel under its centre (the checkerboard, not the proxy's grey average). It paints a
short stroke at 8x and compares the kernel's mask with ``stroke_mask`` of the points the kernel got,
and the screen (preview, then the kernel's answer) with the kernel's mask, pixel for pixel. It pans
across the tile boundary and checks the pattern stays continuous (no seam). Latencies go to
tests/browser/_artifacts/latency.jsonl (no timing asserts).
"""

from __future__ import annotations

import json
import math
import statistics

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

N = 8192
SIZE = f"{N}x{N} RGB uint8"
CHECK = (3900, 4300)  # the checkerboard's rows and columns (half-open), across the tile edge at 4096
PLAIN = (90, 110, 130)
PLAIN_BOX = (4480, 4640, 4420, 4620)  # rows, cols (half-open) of the plain patch the strokes go on

CELLS = [
    """import json, time
import numpy as np, torch
from maskbench.widgets import Painter
from maskbench.kernels.paint import stroke_mask""",
    f"""N = {N}
img = np.empty((N, N, 3), np.uint8)
y, x = np.arange(N), np.arange(N)
for ch, (fy, fx) in enumerate(((3, 7), (11, 5), (2, 13))):  # uint8 sums wrap: a texture in a fraction of a second
    img[..., ch] = (y * fy % 256).astype(np.uint8)[:, None] + (x * fx % 256).astype(np.uint8)[None, :]
r0, r1, c0, c1 = {PLAIN_BOX}
img[r0:r1, c0:c1] = {PLAIN}
a, b = {CHECK}
yy, xx = np.indices((b - a, b - a))
img[a:b, a:b] = ((1 - (yy + xx) % 2) * 255).astype(np.uint8)[..., None]  # 1-px checkerboard: white at even r + c""",
    """t_open = time.time() * 1000
p = Painter(img, classes=["background", "cell"], brush_size=6, opacity=0.5)
t_built = time.time() * 1000
lat, got_pts, delay = [], [], [0.0]
p.observe(lambda ch: lat.append(ch["new"]), "last_edit_latency_ms")
_stroke = p._stroke
def _recorded(points, *args, **kwargs):  # the points the kernel got; an optional delay holds the preview on screen
    got_pts.append(points.clone())
    time.sleep(delay[0])
    return _stroke(points, *args, **kwargs)
p._stroke = _recorded
p""",
]

# canvas pixels at stage points, read in the page: [[x, y], ...] (CSS px = device px here) -> [[r, g, b], ...]
READ = """([el, pts]) => {
  const c = el.querySelector('canvas.mb-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return pts.map(([x, y]) => { const i = 4 * (y * c.width + x); return [d[i], d[i + 1], d[i + 2]]; });
}"""


class Screen:
    """The widget's current transform, image pixel <-> stage pixel (read once the view is steady)."""

    def __init__(self, widget):
        self.widget = widget
        view = None
        for _ in range(50):  # a resize (the notebook's layout settling) refits the view: wait until it stops
            now = (widget.get_attribute("data-view"), str(widget.locator("canvas.mb-canvas").bounding_box()))
            if now == view:
                break
            view = now
            widget.page.wait_for_timeout(150)
        self.canvas = widget.locator("canvas.mb-canvas")
        self.box = self.canvas.bounding_box()
        scale, self.tx, self.ty = (float(v) for v in widget.get_attribute("data-view").split(","))
        self.f = scale * 1024 / N  # screen px per image px (the proxy is 1024 x 1024)

    def stage(self, row: float, col: float) -> tuple[float, float]:
        """Stage coordinates of image point (row, col) (pixel centres on integers)."""
        return self.tx + (col + 0.5) * self.f, self.ty + (row + 0.5) * self.f

    def page(self, row: float, col: float) -> tuple[int, int]:
        x, y = self.stage(row, col)
        return round(self.box["x"] + x), round(self.box["y"] + y)

    def pixel_at(self, x: int, y: int) -> tuple[float, float]:
        """Image (row, col) coordinates (continuous, pixel edges on integers) under stage pixel (x, y)'s centre."""
        return (y + 0.5 - self.ty) / self.f, (x + 0.5 - self.tx) / self.f

    def read(self, points):
        return self.widget.page.evaluate(READ, [self.widget.element_handle(), [list(p) for p in points]])


def expected(row: int, col: int) -> tuple[int, int, int]:
    if CHECK[0] <= row < CHECK[1] and CHECK[0] <= col < CHECK[1]:
        v = 255 if (row - CHECK[0] + col - CHECK[0]) % 2 == 0 else 0
        return v, v, v
    if PLAIN_BOX[0] <= row < PLAIN_BOX[1] and PLAIN_BOX[2] <= col < PLAIN_BOX[3]:
        return PLAIN
    return tuple((row * fy % 256 + col * fx % 256) % 256 for fy, fx in ((3, 7), (11, 5), (2, 13)))  # the texture


def check_pattern(screen: Screen, rows: tuple[int, int], cols: tuple[int, int], step: int = 1) -> dict:
    """Compare every `step`-th stage pixel whose image pixel lies in rows x cols with the image."""
    screen.widget.page.mouse.move(2, 2)  # no brush ring over the pixels
    screen.widget.page.wait_for_timeout(80)
    samples, want = [], []
    width, height = round(screen.box["width"]), round(screen.box["height"])
    for y in range(0, height, step):
        for x in range(0, width, step):
            r, c = screen.pixel_at(x, y)
            if not (rows[0] <= r < rows[1] and cols[0] <= c < cols[1]):
                continue
            if min(r % 1, 1 - r % 1, c % 1, 1 - c % 1) < 0.05:
                continue  # a pixel centre on an image pixel edge: either neighbour is right
            samples.append((x, y))
            want.append(expected(math.floor(r), math.floor(c)))
    got = screen.read(samples)
    bad = [(s, w, tuple(g)) for s, w, g in zip(samples, want, got) if max(abs(a - b) for a, b in zip(w, g)) > 2]
    return {"n": len(samples), "bad": len(bad), "first": bad[:3]}


def check_alternation(screen: Screen, span: tuple[int, int]) -> dict:
    """At 1:1, over the stage pixels well inside the checkerboard: every one black or white and each
    differs from its right and lower neighbours (one image pixel per screen pixel, whatever the phase)."""
    screen.widget.page.mouse.move(2, 2)
    screen.widget.page.wait_for_timeout(80)
    (x0, y0), (x1, y1) = screen.stage(span[0] + 2, span[0] + 2), screen.stage(span[1] - 3, span[1] - 3)
    x0, y0 = max(0, math.ceil(x0)), max(0, math.ceil(y0))
    x1, y1 = min(round(screen.box["width"]) - 2, math.floor(x1)), min(round(screen.box["height"]) - 2, math.floor(y1))
    pts = [(x, y) for y in range(y0, y1) for x in range(x0, x1)]
    got = dict(zip(pts, (tuple(v) for v in screen.read(pts))))
    bad = [
        p for p in pts
        if got[p][0] not in (0, 255) or len(set(got[p])) != 1
        or ((p[0] + 1, p[1]) in got and got[(p[0] + 1, p[1])] == got[p])
        or ((p[0], p[1] + 1) in got and got[(p[0], p[1] + 1)] == got[p])
    ]  # fmt: skip
    return {"n": len(pts), "bad": len(bad), "first": [(p, got[p]) for p in bad[:3]]}


def wheel_to(page, widget, spot: tuple[int, int], factor_to: float, steps: int = 4) -> None:
    """Wheel at page point `spot` until the proxy scale is `factor_to` (exp(-deltaY * 0.0015) per event)."""
    page.mouse.move(*spot)
    for _ in range(12):
        scale = float(widget.get_attribute("data-view").split(",")[0])
        if abs(scale / factor_to - 1) < 1e-3:
            return
        dy = -math.log(factor_to / scale) / 0.0015 / steps
        for _ in range(steps):
            page.mouse.wheel(0, dy)
        page.wait_for_timeout(100)
        steps = 1
    raise AssertionError(f"could not zoom to {factor_to}: at {widget.get_attribute('data-view')}")


def wait_sharp(page, widget, frames_before: int) -> float:
    """Wait until the view has drawn every tile in view at the right level; the probe's ms since the last move."""
    try:
        page.wait_for_function(
            "([el, n]) => el.dataset.sharp === '1' && Number(el.dataset.sharpFrames || 0) > n",
            arg=[widget.element_handle(), frames_before],
            timeout=30_000,
        )
    except Exception as err:
        state = page.evaluate(
            "el => JSON.stringify({data: el.dataset, state: el.mbTiles().state, stats: el.mbTiles().client.stats,"
            " busy: el.mbTiles().client.busy, cached: el.mbTiles().cache.size})",
            widget.element_handle(),
        )
        raise AssertionError(f"the view did not become sharp: {state}") from err
    return float(widget.get_attribute("data-sharp-ms"))


def pan_to_sharp(page, widget, start: tuple[float, float], dx: float, dy: float, steps: int) -> float:
    """Right-drag from page point `start` by (dx, dy); the ms from the last move until the view is sharp."""
    n0 = frames(widget)
    x, y = start
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up(button="right")
    return wait_sharp(page, widget, n0)


def frames(widget) -> int:
    return int(widget.get_attribute("data-sharp-frames") or 0)


def kernel(lab, page, code: str):
    return json.loads(lab.run_code(page, code).splitlines()[-1])


def test_painter_8192_native_resolution(lab) -> None:
    page = lab.open(CELLS, "painter_large")
    widget = page.locator(".mb-painter").first
    page.wait_for_function("() => document.querySelector('.mb-painter').dataset.ready === '1'")
    t_open, t_built = kernel(lab, page, "print(json.dumps([t_open, t_built]))")
    lab.record_latency("painter", "Painter() construction (kernel)", SIZE, t_built - t_open)
    widget.locator("canvas.mb-canvas").scroll_into_view_if_needed()
    page.mouse.move(5, 5)

    # 1. native resolution (1 screen px per image px) on the checkerboard, around the tile corner
    fit = Screen(widget)
    n0 = frames(widget)
    wheel_to(page, widget, fit.page(4096, 4096), N / 1024)  # proxy scale 8 = image 1:1
    sharp_ms = [wait_sharp(page, widget, n0)]
    screen = Screen(widget)
    assert abs(screen.f - 1) < 1e-3 and widget.get_attribute("data-level") == "0"
    x, y = screen.stage(4096, 4096)
    assert 0 < x < screen.box["width"] and 0 < y < screen.box["height"], (x, y, screen.box, screen.tx, screen.ty)
    got = check_alternation(screen, CHECK)
    assert got["n"] > 20_000 and got["bad"] == 0, got
    got = check_pattern(screen, CHECK, CHECK, step=2)  # the phase too, unless pixel centres sit on pixel edges
    assert got["bad"] == 0 and (
        got["n"] > 20_000 or abs(screen.tx % 1 - 0.5) < 0.05 or abs(screen.ty % 1 - 0.5) < 0.05
    ), got

    # 1b. a long pan at 1:1 (beyond the one-tile margin already fetched), then back
    for dx, dy in ((-700, -420), (700, 420)):
        x, y = screen.box["x"] + screen.box["width"] / 2 - dx / 2, screen.box["y"] + screen.box["height"] / 2 - dy / 2
        sharp_ms.append(pan_to_sharp(page, widget, (x, y), dx, dy, steps=8))
        screen = Screen(widget)
    got = check_alternation(screen, CHECK)
    assert got["n"] > 20_000 and got["bad"] == 0, got

    # 2. 8x: each image pixel is an 8 x 8 block on screen, still the image's own pixels
    n0 = frames(widget)
    wheel_to(page, widget, screen.page(4096, 4096), 8 * N / 1024)
    sharp_ms.append(wait_sharp(page, widget, n0))
    screen = Screen(widget)
    assert abs(screen.f - 8) < 1e-2
    got = check_pattern(screen, CHECK, CHECK, step=3)
    assert got["n"] > 5_000 and got["bad"] == 0, got

    # 3. pan across the tile boundary (right-drag), at 8x: the pattern is continuous over col/row 4096
    for dx, dy in ((-180, 0), (0, -150), (260, 200)):
        sharp_ms.append(pan_to_sharp(page, widget, screen.page(4096, 4096), dx, dy, steps=6))
        screen = Screen(widget)
        got = check_pattern(screen, CHECK, CHECK, step=3)
        assert got["n"] > 2_000 and got["bad"] == 0, (dx, dy, got)
        seam = check_pattern(screen, (4088, 4104), (4088, 4104))  # every stage pixel next to the tile corner
        assert seam["n"] > 500 and seam["bad"] == 0, seam
    zooms, pans = [sharp_ms[0]], [sharp_ms[1]]  # uncached; more samples in section 6

    # 3b. the pixel grid (P) at 8x: a line on every image pixel edge in view, the pixels between untouched
    def near(a, b) -> bool:
        return max(abs(x - y) for x, y in zip(a, b)) <= 2

    width, height = screen.box["width"], screen.box["height"]
    first_col = max(CHECK[0], math.ceil(-screen.tx / screen.f) + 1)
    cols = [c for c in range(first_col, first_col + 12) if screen.tx + (c + 1) * screen.f < width - 1 and c < CHECK[1]]
    row = min(CHECK[1] - 1, max(CHECK[0], math.ceil(-screen.ty / screen.f) + 1))
    y = math.floor(screen.stage(row, 0)[1])
    assert len(cols) >= 6 and 0 <= y < height, (cols, row, y)
    edges = [round(screen.tx + c * screen.f) for c in cols]
    widget.evaluate("el => el.focus({preventScroll: true})")
    page.keyboard.press("p")
    page.wait_for_function("el => el.dataset.grid === '1'", arg=widget.element_handle())
    page.wait_for_timeout(150)
    got = screen.read([(x, y) for x in edges] + [(x + 4, y) for x in edges])  # on the line; mid-pixel
    want = [expected(row, c) for c in cols]
    assert not any(near(g, w) for g, w in zip(got[: len(cols)], want)), (got, want)
    assert all(near(g, w) for g, w in zip(got[len(cols) :], want)), (got, want)
    page.keyboard.press("p")
    page.wait_for_function("el => el.dataset.grid === '0'", arg=widget.element_handle())
    page.wait_for_timeout(150)
    assert all(near(g, w) for g, w in zip(screen.read([(x, y) for x in edges]), want))
    lab.record_latency("painter", "zoom stop (1:1 -> 8x) to sharp", SIZE, sharp_ms[3])
    lab.record_latency("painter", "pan stop at 8x to sharp (median of 3)", SIZE, statistics.median(sharp_ms[4:]))

    # 4. a short stroke at 8x over plain pixels: the preview (held 1.5 s by the kernel) and then the
    #    kernel's answer show exactly the kernel's pixels; the kernel painted stroke_mask of its points
    lab.run_code(page, "delay[0] = 1.5")  # (a new cell may scroll the page: positions are read afterwards)
    widget.locator("canvas.mb-canvas").scroll_into_view_if_needed()
    legend = widget.locator(".mb-legend")
    legend.click(position={"x": legend.bounding_box()["width"] - 4, "y": 4})
    n0 = frames(widget)
    page.keyboard.press("r")
    fit = Screen(widget)
    wheel_to(page, widget, fit.page(4560, 4520), 8 * N / 1024)
    wait_sharp(page, widget, n0)
    screen = Screen(widget)
    a, b = screen.page(4560, 4500), screen.page(4560, 4540)
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=10)
    page.mouse.up()
    page.mouse.move(2, 2)  # no brush ring over the pixels
    rows, cols = (4550, 4571), (4490, 4551)
    preview = [(r, c) for r in range(*rows) for c in range(*cols)]
    page.wait_for_timeout(400)  # the kernel sleeps 1.5 s: the preview is what is on screen
    assert widget.get_attribute("data-acks") is None
    shown_preview = painted_on_screen(screen, preview)
    page.wait_for_function("el => Number(el.dataset.acks || 0) >= 1", arg=widget.element_handle(), timeout=30_000)
    page.wait_for_timeout(150)
    shown_after = painted_on_screen(screen, preview)
    code = f"""m = p.mask
pts = got_pts[-1]
ref = stroke_mask(tuple(m.shape), pts, 3.0)
box = m[{rows[0]}:{rows[1]}, {cols[0]}:{cols[1]}].bool()
print(json.dumps({{"exact": bool(torch.equal(m.bool(), ref)), "n": int(m.sum()), "box": box.flatten().tolist(),
                  "rows": pts[:, 0].tolist(), "cols": [pts[0, 1].item(), pts[-1, 1].item()]}}))"""
    got = kernel(lab, page, code)
    assert got["exact"] and 200 < got["n"] < 400, got["n"]
    assert max(abs(r - 4560) for r in got["rows"]) < 0.1 and abs(got["cols"][0] - 4500) < 0.2, got["cols"]
    assert shown_after == got["box"], "the kernel's answer on screen differs from the kernel's mask"
    assert shown_preview == got["box"], "the preview at 8x differs from the kernel's mask"

    # 5. stroke latency at native zoom (pointer-up -> kernel mask updated, kernel clock), no delay
    lab.run_code(page, "delay[0] = 0.0\nlat.clear()")
    widget.locator("canvas.mb-canvas").scroll_into_view_if_needed()
    screen = Screen(widget)
    for i in range(7):
        a, b = screen.page(4540 + 4 * i, 4480), screen.page(4540 + 4 * i, 4500)
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=4)
        page.mouse.up()
        page.wait_for_function(
            "([el, n]) => Number(el.dataset.acks || 0) >= n", arg=[widget.element_handle(), i + 2], timeout=30_000
        )
    lat = kernel(lab, page, "print(json.dumps(lat))")
    assert len(lat) >= 7
    lab.record_latency("painter", "stroke at 8x pointer-up to kernel mask updated (median of 7)", SIZE,
                       statistics.median(lat))  # fmt: skip
    lab.screenshot(widget, "painter_native_zoom")

    # 6. more uncached samples for the medians: from fit, wheel to 1:1 over fresh places, then a long pan there
    for row, col in ((1200, 1500), (6500, 2000), (2500, 6600)):
        widget.evaluate("el => el.focus({preventScroll: true})")
        page.keyboard.press("r")
        page.wait_for_function("el => el.dataset.zoom === 'fit'", arg=widget.element_handle())
        fit = Screen(widget)
        n0 = frames(widget)
        wheel_to(page, widget, fit.page(row, col), N / 1024)
        zooms.append(wait_sharp(page, widget, n0))
        screen = Screen(widget)
        x, y = screen.box["x"] + screen.box["width"] / 2 + 350, screen.box["y"] + screen.box["height"] / 2 + 210
        pans.append(pan_to_sharp(page, widget, (x, y), -700, -420, steps=8))
    lab.record_latency("painter", f"zoom stop (fit -> 1:1, tiles not cached) to sharp at native (median of {len(zooms)})",
                       SIZE, statistics.median(zooms))  # fmt: skip
    lab.record_latency("painter", f"pan stop at 1:1, 700 x 420 px (past the cached margin) to sharp (median of {len(pans)})",
                       SIZE, statistics.median(pans))  # fmt: skip
    print(f"\npainter {SIZE}: zoom stops {zooms}, pan stops {pans}")

    # 7. open: cell run to first paint (the run key to data-first-paint, as the Viewer's and the Tuner's) of
    # further Painters of the same image, each closed after; median of 3
    opens = lab.reopen_ms(page, "Painter(img)", ".mb-painter", 3)
    print(f"painter open ms {[round(t) for t in opens]}")
    lab.record_latency("painter", "open (cell run to first paint), median of 3", SIZE, statistics.median(opens))
    assert lab.console_errors(page) == []


def painted_on_screen(screen: Screen, pixels) -> list[bool]:
    """Per image pixel: does the screen show it painted (the label colour over the plain colour)?"""
    pts = [tuple(math.floor(v) for v in screen.stage(r, c)) for r, c in pixels]
    got = screen.read(pts)
    return [max(abs(g - p) for g, p in zip(rgb, PLAIN)) > 20 for rgb in got]
