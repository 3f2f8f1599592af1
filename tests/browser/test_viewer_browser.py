"""The Viewer in a real JupyterLab: four canvases draw, the mode picker reaches the kernel, the
overlay blends in the browser exactly like maskbench.render.overlay, zoom and pan are linked."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CELLS = [
    """import torch, maskbench
from maskbench.widgets import Viewer
image = maskbench.sample_image("coins")  # (1, H, W) float in [0, 1]
coins = maskbench.opening(maskbench.fill_holes(image[0] > 0.5), radius=2)
labels, count = maskbench.label_components(maskbench.remove_small_objects(coins, min_size=200), connectivity=1)
area = torch.bincount(labels.flatten(), minlength=int(count) + 1)
area[torch.unique(labels[0])] = 0  # the bright strip along the top edge is not a coin
size = torch.where(area[labels] >= area[area > 0].median(), 2, 1) * (area[labels] > 0)
v = Viewer(image, size, classes=["small coin", "large coin"], fill=0.0)
v""",
]

# Pixel statistics of one canvas, read back with getImageData.
CANVAS_STATS = """sel => {
    const c = document.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let sum = 0, opaque = 0, min = 255, max = 0;
    for (let i = 0; i < d.length; i += 4) {
        const v = d[i] + d[i + 1] + d[i + 2];
        sum += v; if (d[i + 3] > 0) opaque++;
        const g = d[i + 1]; if (g < min) min = g; if (g > max) max = g;
    }
    return {w: c.width, h: c.height, sum, opaque, min, max};
}"""

# The kernel's overlay of the Viewer's proxies (maskbench.render.overlay) and the opacity trait.
OVERLAY_SUM = (
    "from maskbench.render import overlay\n"
    "o = overlay(torch.from_numpy(v._image), torch.from_numpy(v._labels).long(), torch.from_numpy(v._palette), "
    "opacity={opacity})\n"
    "print(int(o[..., :3].long().sum()), v.opacity)"
)


def _stats(page, panel: str) -> dict:
    return page.evaluate(CANVAS_STATS, f".mb-viewer canvas.mb-viewer-canvas-{panel}")


def _frames(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.mb-viewer .mb-viewer-frame')].map(f => ({
            zoom: f.dataset.zoom, tx: f.dataset.tx, ty: f.dataset.ty,
            transform: f.querySelector('canvas').style.transform}))"""
    )


def test_viewer_in_jupyterlab(lab) -> None:
    page = lab.open(CELLS, "viewer")
    root = page.locator(".mb-viewer")
    root.wait_for()
    page.wait_for_function("() => document.querySelector('.mb-viewer canvas.mb-viewer-canvas-result').width > 1")
    size = lab.run_code(page, "print(*v._image.shape[:2])")
    h, w = (int(s) for s in size.split())

    # 1. all four panels drew the proxy: full size, opaque, not one flat colour
    stats = {p: _stats(page, p) for p in ("image", "mask", "result", "overlay")}
    for panel, s in stats.items():
        assert (s["w"], s["h"]) == (w, h), panel
        assert s["opaque"] == w * h and s["max"] > s["min"], (panel, s)
    assert stats["overlay"]["sum"] != stats["image"]["sum"]  # class colours were blended in
    # the canvas shows exactly the kernel's result on the display proxy (keep mode: composed in the
    # browser from the proxies since issue 11 #5, so it is compared with the kernel's computation)
    kernel_sum = lab.run_code(page, "print(int(v._display_result()[..., :3].astype('int64').sum()))")
    assert stats["result"]["sum"] == int(kernel_sum)
    # a fresh view blends at the opacity its slider shows (issue 13 #1: it was drawn opaque)
    fresh = lab.run_code(page, OVERLAY_SUM.format(opacity="v.opacity"))
    assert fresh.split() == [str(stats["overlay"]["sum"]), root.locator("input.mb-viewer-opacity").input_value()]

    # 2. the mode picker reaches the kernel; only the result panel is recomputed there
    before = page.evaluate("() => document.querySelector('.mb-viewer').dataset.resultVersion")
    page.locator(".mb-viewer select.mb-viewer-mode").select_option("inpaint")
    page.wait_for_function(
        "v => document.querySelector('.mb-viewer').dataset.resultVersion !== v", arg=before, timeout=30_000
    )
    ms = float(page.evaluate("() => document.querySelector('.mb-viewer').dataset.resultMs"))
    lab.record_latency("viewer", "mode select -> inpainted result drawn (kernel round trip)", f"{h}x{w}", ms)
    assert lab.run_code(page, "print(v.mode)") == "inpaint"
    after = _stats(page, "result")
    assert after["sum"] != stats["result"]["sum"]
    # inpaint sends only the mask pixels' colours since issue 11 #5: compare with the kernel's whole panel
    assert after["sum"] == int(lab.run_code(page, "print(int(v._display_result()[..., :3].astype('int64').sum()))"))
    assert _stats(page, "image")["sum"] == stats["image"]["sum"]  # image panel untouched

    # 3. opacity blends in the browser, bit-identical to maskbench.render.overlay
    page.locator(".mb-viewer input.mb-viewer-opacity").fill("0.9")
    page.wait_for_function(
        "s => { const c = document.querySelector('.mb-viewer canvas.mb-viewer-canvas-overlay');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let t = 0; for (let i = 0; i < d.length; i += 4) t += d[i] + d[i+1] + d[i+2]; return t !== s; }",
        arg=stats["overlay"]["sum"],
    )
    ms = float(page.evaluate("() => document.querySelector('.mb-viewer').dataset.overlayMs"))
    lab.record_latency("viewer", "opacity input -> overlay redrawn (in browser)", f"{h}x{w}", ms)
    expected = lab.run_code(page, OVERLAY_SUM.format(opacity="0.9"))
    assert expected.split() == [str(_stats(page, "overlay")["sum"]), "0.9"]
    # arrow keys move the focused opacity slider, not the notebook's cell selection (issue 13 #3)
    root.locator("input.mb-viewer-opacity").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowDown")
    assert lab.run_code(page, "print(v.opacity)") == "0.88"

    # 4. contours toggle from the UI; then the screenshot for the README gallery
    page.locator(".mb-viewer input.mb-viewer-contours").check()
    page.wait_for_function("() => document.querySelector('.mb-viewer').dataset.resultVersion !== undefined")
    assert lab.run_code(page, "print(v.contours, v._edges is not None)") == "True True"
    page.locator(".mb-viewer input.mb-viewer-opacity").fill("0.5")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)
    lab.screenshot(root, "viewer")

    # 5. wheel-zoom one panel: all four follow; drag another: all pan together
    frames = page.locator(".mb-viewer .mb-viewer-frame")
    box = frames.nth(0).bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.mouse.wheel(0, -400)
    page.wait_for_function("() => Number(document.querySelector('.mb-viewer').dataset.zoom) > 1.5")
    views = _frames(page)
    assert len(views) == 4 and len({(v["zoom"], v["tx"], v["ty"], v["transform"]) for v in views}) == 1
    assert float(views[0]["zoom"]) > 1.5 and float(views[0]["tx"]) < 0
    box = frames.nth(2).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 25, steps=8)
    page.mouse.up()
    panned = _frames(page)
    assert len({(v["zoom"], v["tx"], v["ty"]) for v in panned}) == 1
    assert float(panned[0]["tx"]) > float(views[0]["tx"])  # dragged right: the image moved right
    page.locator(".mb-viewer button.mb-viewer-reset").click()
    assert {v["zoom"] for v in _frames(page)} == {"1.0000"}

    # 6. a bad value from Python is refused in the kernel; the widget keeps working
    out = lab.run_code(page, "try:\n    v.mode = 'sideways'\nexcept ValueError as e:\n    print('refused', v.mode)")
    assert out == "refused inpaint"

    # 7. batches: the next button moves the kernel's index and redraws the image panel
    lab.run_code(page, "vb = Viewer(torch.stack([image, 1 - image]), size > 0)\nvb")
    second = page.locator(".mb-viewer").nth(1)
    second.locator("button.mb-viewer-next").wait_for()
    assert second.locator("input.mb-viewer-index").input_value() == "1"  # items count from 1 in the UI (#8)
    first_sum = page.evaluate(CANVAS_STATS.replace("document.querySelector(sel)", "document.querySelectorAll(sel)[1]"),
                              ".mb-viewer canvas.mb-viewer-canvas-image")  # fmt: skip
    second.locator("button.mb-viewer-next").click()
    page.wait_for_function("() => document.querySelectorAll('.mb-viewer input.mb-viewer-index')[1].value === '2'")
    assert lab.run_code(page, "print(vb.index)") == "1"
    page.wait_for_function(
        "s => { const c = document.querySelectorAll('.mb-viewer canvas.mb-viewer-canvas-image')[1];"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let t = 0; for (let i = 0; i < d.length; i += 4) t += d[i] + d[i+1] + d[i+2]; return t !== s; }",
        arg=first_sum["sum"],
    )
    assert second.locator("button.mb-viewer-next").is_disabled()
    assert lab.console_errors(page) == []


# -- issue 11 item 5: the Viewer at 2048 x 2048 ----------------------------------------------------
BIG_CELLS = [
    """import torch, maskbench
from maskbench.widgets import Viewer
g = torch.Generator().manual_seed(0)
yy, xx = torch.meshgrid(torch.arange(2048.0), torch.arange(2048.0), indexing="ij")
disc = (yy - 900) ** 2 + (xx - 1100) ** 2 < 600**2
mask = torch.stack([disc, ~disc & (xx > 300)])
image = torch.stack([torch.stack([yy / 2047, xx / 2047, torch.rand(2048, 2048, generator=g)]),
                     torch.rand(3, 2048, 2048, generator=g)])
def checksum(rgba):
    import numpy as np
    d = np.asarray(rgba, dtype=np.int64).ravel()
    return int((d * (np.arange(d.size) % 65521 + 1)).sum())
vf = Viewer(image, mask)
vf""",
    "vu = Viewer((image * 255).round().to(torch.uint8), mask, fill=7)\nvu",
]

# Position-weighted checksum of one canvas (same formula as `checksum` above, on getImageData).
CANVAS_CHECKSUM = """([sel, k]) => {
    const c = document.querySelectorAll(sel)[k];
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let t = 0;
    for (let i = 0; i < d.length; i++) t += d[i] * ((i % 65521) + 1);
    return t;
}"""

# Arm a latency probe on viewer k: from the next user input event (its timeStamp) to the next
# redraw of the result panel (data-result-version changes). Works with any Viewer front end.
ARM = """k => {
    const root = document.querySelectorAll('.mb-viewer')[k];
    let before = root.dataset.resultVersion;
    let t0 = null;
    const onInput = (e) => { if (t0 === null) t0 = e.timeStamp; };
    for (const type of ['change', 'click', 'keydown']) root.addEventListener(type, onInput, {capture: true});
    window.__mbLatency = new Promise((resolve) => {
        setTimeout(() => resolve(-1), 60000);  // never hang the test: -1 fails the check below
        const obs = new MutationObserver(() => {
            if (t0 === null) { before = root.dataset.resultVersion; return; }  // a redraw from an earlier input
            if (root.dataset.resultVersion === before) return;
            obs.disconnect();
            for (const type of ['change', 'click', 'keydown']) root.removeEventListener(type, onInput, {capture: true});
            resolve(t0 === null ? -1 : performance.now() - t0);
        });
        obs.observe(root, {attributes: true, attributeFilter: ['data-result-version']});
    });
}"""


def _measure(page, k: int, action) -> float:
    page.evaluate(ARM, k)
    action()
    ms = float(page.evaluate("() => window.__mbLatency"))
    assert ms >= 0, "the result panel was not redrawn within 60 s (or no input event was seen)"
    return ms


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _canvas(page, k: int, panel: str) -> int:
    return int(page.evaluate(CANVAS_CHECKSUM, [f".mb-viewer canvas.mb-viewer-canvas-{panel}", k]))


def _kernel_display(lab, page, name: str) -> int:
    """Checksum of the kernel's result on the display proxy (or the image proxy) of viewer `name`."""
    code = (
        f"print(checksum({name}._display_result()) if hasattr({name}, '_display_result') else checksum({name}._result))"
    )
    return int(lab.run_code(page, code))


def test_viewer_at_2048(lab) -> None:
    """Modes (mouse and keyboard), inpaint and batch switches at 2048^2, float and uint8: the result
    canvas equals the kernel's result on the display proxy; latencies (medians) go to the log."""
    page = lab.open(BIG_CELLS, "viewer2048")
    page.wait_for_function("() => document.querySelectorAll('.mb-viewer canvas.mb-viewer-canvas-result').length === 2")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mb-viewer canvas.mb-viewer-canvas-result')].every(c => c.width > 1)"
    )
    roots = page.locator(".mb-viewer")
    size = "2048x2048"
    for k, name, dtype, modes in [
        (0, "vf", "float RGB", ["remove", "mean", "keep"]),
        (1, "vu", "uint8 RGB", ["remove", "keep"]),
    ]:
        root = roots.nth(k)
        select = root.locator("select.mb-viewer-mode")
        # 1. mode changes with the mouse (select) and the keyboard (arrow keys on the focused select)
        times: list[float] = []
        for rep in range(3):
            for mode in modes:
                times.append(_measure(page, k, lambda m=mode: select.select_option(m)))
                if rep == 0:  # the canvas shows exactly the kernel's result on the display proxy
                    assert lab.run_code(page, f"print({name}.mode)") == mode
                    assert _canvas(page, k, "result") == _kernel_display(lab, page, name), (name, mode)
        select.select_option("keep")
        page.wait_for_function(
            f"() => document.querySelectorAll('.mb-viewer select.mb-viewer-mode')[{k}].value === 'keep'"
        )
        select.focus()
        for _ in range(2):
            times.append(_measure(page, k, lambda: page.keyboard.press("ArrowDown")))
            times.append(_measure(page, k, lambda: page.keyboard.press("ArrowUp")))
        assert lab.run_code(page, f"print({name}.mode)") == "keep"
        print(name, "mode ms", [round(t) for t in times])
        lab.record_latency(
            "viewer", f"{dtype}: mode {'/'.join(modes)} -> result drawn (median of {len(times)})", size, _median(times)
        )
        assert _canvas(page, k, "result") == _kernel_display(lab, page, name)

        # 2. batch switches: next / prev buttons by mouse, then by keyboard (Enter on the focused button).
        # Shown: the first redraw (from the view's copy of an item seen before, else the kernel's reply);
        # arrived: the kernel's reply with the item's proxies (data-batch-arrive-ms), waited for each time.
        times, arrived = [], []
        for i in range(10):
            button = root.locator("button.mb-viewer-next" if i % 2 == 0 else "button.mb-viewer-prev")
            count = page.evaluate(
                f"() => Number(document.querySelectorAll('.mb-viewer')[{k}].dataset.batchArriveFrames || 0)"
            )
            if i < 6:
                times.append(_measure(page, k, button.click))
            else:
                button.focus()
                times.append(_measure(page, k, lambda: page.keyboard.press("Enter")))
            page.wait_for_function(
                "([k, n]) => Number(document.querySelectorAll('.mb-viewer')[k].dataset.batchArriveFrames || 0) > n",
                arg=[k, count],
            )
            arrived.append(
                float(page.evaluate(f"() => document.querySelectorAll('.mb-viewer')[{k}].dataset.batchArriveMs"))
            )
        print(name, "batch ms", [round(t) for t in times], "kernel reply arrived", [round(t) for t in arrived])
        what = f"{dtype}: next/prev batch item -> all panels drawn (median of {len(times)})"
        lab.record_latency("viewer", what, size, _median(times))
        what = f"{dtype}: next/prev batch item -> kernel's proxies arrived (median of {len(arrived)})"
        lab.record_latency("viewer", what, size, _median(arrived))
        root.locator("button.mb-viewer-next").click()
        page.wait_for_function(
            f"() => document.querySelectorAll('.mb-viewer input.mb-viewer-index')[{k}].value === '2'"
        )
        assert lab.run_code(page, f"print({name}.index)") == "1"
        page.wait_for_function(
            f"() => document.querySelectorAll('.mb-viewer')[{k}].dataset.resultVersion !== undefined"
        )
        assert _canvas(page, k, "result") == _kernel_display(lab, page, name)
        assert _canvas(page, k, "image") == int(lab.run_code(page, f"print(checksum({name}._image))"))

    # 3. inpaint (float only): each time from a cold start (no cached proxy result)
    root, select = roots.nth(0), roots.nth(0).locator("select.mb-viewer-mode")
    times = []
    for _ in range(5):
        select.select_option("keep")
        lab.run_code(
            page,
            # forget every cached proxy and what the browser holds: the next inpaint is computed afresh
            "vf.mode = 'keep'\nvf.__dict__.get('_cache', {}).clear()\nvf._sent = None\nvf._result_for = ''",
        )
        times.append(_measure(page, 0, lambda: select.select_option("inpaint")))
    print("inpaint ms", [round(t) for t in times])
    lab.record_latency(
        "viewer", f"float RGB: mode -> inpainted result drawn, uncached (median of {len(times)})", size, _median(times)
    )
    assert _canvas(page, 0, "result") == _kernel_display(lab, page, "vf")

    # 3b. inpaint after the kernel was idle: the panel was computed in the background (prefetch)
    if lab.run_code(page, "print(hasattr(vf, '_inpaint_steps'))") == "True":
        times = []
        for _ in range(5):
            select.select_option("keep")
            lab.run_code(
                page,
                "vf.mode = 'keep'\nvf._cache.clear()\nvf._sent = None\nvf._result_for = ''\n"
                "vf._refresh_item()\nvf._cache[vf.index].inpaint.result()",
            )
            times.append(_measure(page, 0, lambda: select.select_option("inpaint")))
        print("inpaint prefetched ms", [round(t) for t in times])
        what = f"float RGB: mode -> inpainted result drawn, computed while idle (median of {len(times)})"
        lab.record_latency("viewer", what, size, _median(times))
        assert _canvas(page, 0, "result") == _kernel_display(lab, page, "vf")

    # 4. viewer.result stays the full-resolution apply_mask, exactly
    check = (
        "print(torch.equal(vf.result, maskbench.apply_mask(image, ~mask[:, None], fill='inpaint')),"
        " torch.equal(vu.result, maskbench.apply_mask((image * 255).round().to(torch.uint8), mask[:, None], fill=7)))"
    )
    assert lab.run_code(page, check) == "True True"
    assert lab.console_errors(page) == []
