"""Painter features of issue 13 in a real JupyterLab + Chromium, by mouse and keyboard, checked in the kernel.

Label picker (Alt+click, I), contiguous / global fill (select, G), paint over = background only with
the browser's preview compared pixel for pixel with the kernel's mask (the kernel is kept busy so
the preview is what is on screen), per-class visibility and colour from the legend (canvas pixels
read back), the brush ring's size, mask_version / on_edit (a failing callback shown in the widget),
Painter.from_painter, and the "?" keyboard overlay.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from .test_painter_browser import SETUP, View, drag, kernel, keys, wait_acks

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

N = 256
CELLS = [
    SETUP,
    f"""import base64
m0 = torch.zeros({N}, {N}, dtype=torch.uint8)
m0[30:90, 30:110] = 1      # a cell
m0[150:220, 140:230] = 1   # another cell, not connected
m0[40:120, 150:200] = 2    # a nucleus
p = Painter(torch.full((3, {N}, {N}), 0.5), mask=m0, classes=["background", "cell", "nucleus"], brush_size=12)
edits, versions = [], []
p.on_edit(edits.append)
p.observe(lambda ch: versions.append(ch["new"]), "mask_version")
p""",
]

# labels on screen (truth + previews in flight) as base64, chunked (no 65536-argument spread)
SHOWN = """(el, which) => { const a = el.mbLabels()[which]; let s = "";
  for (let i = 0; i < a.length; i += 8192) s += String.fromCharCode.apply(null, a.subarray(i, i + 8192));
  return btoa(s); }"""
PIXEL = """([el, x, y]) => { const c = el.querySelector("canvas.mb-canvas"), r = c.getBoundingClientRect(), d = devicePixelRatio;
  return Array.from(c.getContext("2d").getImageData(Math.round((x - r.left) * d), Math.round((y - r.top) * d), 1, 1).data); }"""


def start_code(lab, page, code: str) -> None:
    """Run ``code`` in a new cell without waiting for it (run_code's steps, minus the wait)."""
    cells = page.locator(lab.CELLS)
    n = cells.count()
    cells.nth(n - 1).locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    cells.nth(n).wait_for()
    cells.nth(n).locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")
    page.wait_for_function("sel => /Busy/.test(document.querySelector(sel).textContent)", arg=lab.KERNEL_STATUS)


def labels(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(N, N)


def kernel_mask(lab, page) -> np.ndarray:
    return labels(lab.run_code(page, "print(base64.b64encode(p.mask.numpy().tobytes()).decode())"))


def pixel(widget, x: int, y: int) -> list[int]:
    return widget.page.evaluate(PIXEL, [widget.element_handle(), x, y])


def test_painter_napari_features_in_the_browser(lab) -> None:
    page = lab.open(CELLS, "painter_features")
    widget = page.locator(".mb-painter").first
    page.wait_for_function("() => document.querySelector('.mb-painter').dataset.ready === '1'")
    view = View(page, 0, (N, N), (N, N))
    acks = 0

    # 1. label picker: Alt+click on the nucleus, then I over a cell
    x, y = view.screen(80, 175)
    view.canvas.click(position={"x": x - view.box["x"], "y": y - view.box["y"]}, modifiers=["Alt"])
    page.wait_for_function(
        "el => el.querySelector('.mb-class.mb-on').textContent.includes('nucleus')", arg=widget.element_handle()
    )
    assert lab.run_code(page, "print(p.active_class)") == "2"
    keys(widget)  # focus
    view = View(page, 0, (N, N), (N, N))
    page.mouse.move(*view.screen(60, 60))
    page.keyboard.press("i")
    page.wait_for_function(
        "el => el.querySelector('.mb-class.mb-on').textContent.includes('cell')", arg=widget.element_handle()
    )
    assert lab.run_code(page, "print(p.active_class)") == "1"

    # 2. fill modes: global from the select recolours both cells; G switches back to contiguous
    widget.locator("select.mb-fillmode").select_option("global")
    keys(widget, "2", "f")
    view = View(page, 0, (N, N), (N, N))
    page.mouse.click(*view.screen(60, 60))
    acks += 1
    wait_acks(page, widget, acks)
    got = kernel(
        lab,
        page,
        "print(json.dumps([p.fill_mode, p.tool, bool(torch.equal(p.mask, torch.where(m0 == 1, 2, m0).to(torch.uint8)))]))",
    )
    assert got == ["global", "fill", True], got
    keys(widget, "g", "Control+z")
    assert kernel(lab, page, "print(json.dumps([p.fill_mode, bool(torch.equal(p.mask, m0))]))") == ["contiguous", True]
    view = View(page, 0, (N, N), (N, N))  # new cells below may have scrolled the page
    page.mouse.click(*view.screen(60, 60))  # contiguous: only the clicked cell
    acks += 1
    wait_acks(page, widget, acks)
    got = kernel(lab, page, "one = torch.zeros_like(m0, dtype=torch.bool); one[30:90, 30:110] = True\n"
                            "print(json.dumps(bool(torch.equal(p.mask, torch.where(one, 2, m0).to(torch.uint8)))))")  # fmt: skip
    assert got is True
    keys(widget, "Control+z")

    # 3. paint over the background only: brush and lasso with the kernel's answers held back, so the
    #    view shows its own preview; it must equal what the kernel painted, pixel for pixel
    widget.locator("select.mb-paintover").select_option("0")
    keys(widget, "1", "b")
    got = kernel(lab, page, "print(json.dumps([p.paint_over, p.active_class, p.tool, bool(torch.equal(p.mask, m0))]))")
    assert got == [0, 1, "brush", True], got
    lab.run_code(
        page, "send, held = p.send, []\np.send = lambda content, buffers=None: held.append((content, buffers))"
    )
    view = View(page, 0, (N, N), (N, N))
    drag(page, widget, [view.screen(100, 10), view.screen(100, 245)], acks=0, steps=10)
    keys(widget, "l")
    view = View(page, 0, (N, N), (N, N))
    drag(page, widget, [view.screen(130, 120), view.screen(130, 250), view.screen(250, 250)], acks=0, steps=6)
    assert lab.run_code(page, "print(p.mask_version, len(held) > 1)") == "6 True"  # both edits applied, unanswered
    preview = labels(widget.evaluate(SHOWN, "shown"))
    assert int(widget.get_attribute("data-acks") or 0) == acks  # nothing confirmed: this is the preview
    mask = kernel_mask(lab, page)
    lab.run_code(page, "p.send = send\nfor content, buffers in held:\n    send(content, buffers)")
    acks += 2
    wait_acks(page, widget, acks)
    diff = int((preview != mask).sum())
    assert diff == 0, f"{diff} pixels of the preview differ from the kernel's mask"
    assert np.array_equal(labels(widget.evaluate(SHOWN, "truth")), mask)
    got = kernel(
        lab,
        page,
        "print(json.dumps([bool(torch.equal(p.mask[m0 != 0], m0[m0 != 0])), int(((p.mask == 1) & (m0 == 0)).sum())]))",
    )
    assert got[0] is True and got[1] > 3000, got  # painted only where the background was, and plenty of it

    # 4. legend: hide the cells (not drawn), show them again, change their colour (palette in the kernel)
    def at(row, col):  # canvas pixel at image (row, col), wherever the page has scrolled to
        return pixel(widget, *View(page, 0, (N, N), (N, N)).screen(row, col))

    grey, tinted = at(5, 5), at(60, 60)  # background; inside the first cell
    assert grey[:3] == [128, 128, 128] and abs(tinted[0] - grey[0]) > 20, (tinted, grey)
    widget.locator(".mb-eye").first.click()
    page.wait_for_function(
        "el => el.querySelector('.mb-eye').classList.contains('mb-off')", arg=widget.element_handle()
    )
    assert lab.run_code(page, "print(p.class_visible)") == "[True, False, True]"
    assert at(60, 60)[:3] == grey[:3] and at(100, 175) != grey  # the cell is not drawn; the nucleus is
    widget.locator(".mb-eye").first.click()
    widget.locator("input.mb-color").first.fill("#ff0000")
    got = kernel(lab, page, "print(json.dumps([p.class_visible, p.class_colors[1], p._palette[1].tolist()]))")
    assert got == [[True, True, True], "#ff0000", [255, 0, 0, 255]], got
    red = at(60, 60)
    assert red[0] > red[1] + 40 and red[0] > red[2] + 40, red

    # 5. the brush ring: brush_size / 2 image pixels at the current zoom, before and after zooming
    keys(widget, "b")
    view = View(page, 0, (N, N), (N, N))
    page.mouse.move(*view.screen(128, 20))
    page.wait_for_function("el => !!el.dataset.cursor", arg=widget.element_handle())
    r = float(widget.get_attribute("data-cursor").split(",")[2])
    assert abs(r - 6 * view.scale) < 1e-6, (r, view.scale)
    page.mouse.wheel(0, -400)
    page.wait_for_function("el => el.dataset.zoom === 'user'", arg=widget.element_handle())
    page.mouse.move(*view.screen(128, 21))
    page.wait_for_timeout(100)
    scale = float(widget.get_attribute("data-view").split(",")[0])
    r = float(widget.get_attribute("data-cursor").split(",")[2])
    assert scale > 1.3 * view.scale and abs(r - 6 * scale) < 1e-6, (r, scale)
    keys(widget, "r")

    # 6. mask_version and on_edit saw every change; a failing callback is shown in the widget
    got = kernel(lab, page, "print(json.dumps([[e['kind'] for e in edits], versions, p.mask_version]))")
    assert (
        got[0] == ["fill", "undo", "fill", "undo", "brush", "lasso"] and got[1] == [1, 2, 3, 4, 5, 6] and got[2] == 6
    ), got
    lab.run_code(page, "def broken(edit):\n    raise RuntimeError('boom')\np.on_edit(broken)")
    view = View(page, 0, (N, N), (N, N))
    acks += 1
    drag(page, widget, [view.screen(240, 10), view.screen(240, 60)], acks=acks, steps=4)
    error = widget.locator(".mb-error")
    error.wait_for()
    assert "on_edit callback broken failed: RuntimeError: boom" in error.inner_text()
    assert lab.run_code(page, "print(p.mask_version)") == "7"

    # 7. keyboard help on ?, closed by Esc
    keys(widget, "?")
    box = widget.locator(".mb-helpbox")
    box.wait_for(state="visible")
    text = box.inner_text()
    assert all(k in text for k in ("Alt+click / I", "contiguous ↔ global", "Ctrl+Shift+Z", "Esc")), text
    page.keyboard.press("Escape")
    box.wait_for(state="hidden")

    # 8. Painter.from_painter: a new widget that starts from the old one's labels
    lab.run_code(page, "p2 = Painter.from_painter(p)\np2")
    second = page.locator(".mb-painter").nth(1)
    page.wait_for_function("el => el.dataset.ready === '1'", arg=second.element_handle())
    second.scroll_into_view_if_needed()
    page.wait_for_function("el => !!el.mbLabels()", arg=second.element_handle())
    assert np.array_equal(labels(second.evaluate(SHOWN, "truth")), kernel_mask(lab, page))
    assert lab.run_code(page, "print(p2.class_colors[1], p2.paint_over, p2.mask_version)") == "#ff0000 0 0"
    assert json.loads(lab.run_code(page, "print(json.dumps(bool(torch.equal(p2.mask, p.mask))))")) is True
    assert lab.console_errors(page) == []
