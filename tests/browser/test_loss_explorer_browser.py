"""The LossExplorer in a real JupyterLab: four maps draw, an excluded pixel shows the image (exactly zero
gradient) with maskbench's loss and a colour with the naive one, the loss picker / batch buttons reach
the kernel, opacity and log scale redraw in the browser."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CELLS = [
    """import torch, maskbench
from maskbench.widgets import LossExplorer
scene = maskbench.synthetic_scene(64, num_classes=3, batch=2, seed=3)
g = torch.Generator().manual_seed(0)
logits = 3 * (scene.mask[:, None].float() - 0.5) + torch.randn(2, 1, 64, 64, generator=g)
keep = torch.ones(2, 64, 64, dtype=torch.bool)
keep[:, 16:44, 12:40] = False  # the excluded region
ex = LossExplorer(logits, scene.mask[:, None], keep, image=scene.image, opacity=0.8)
ex""",
]

PIXEL = """([sel, x, y]) => Array.from(document.querySelector(sel).getContext('2d').getImageData(x, y, 1, 1).data)"""
SUM = """sel => { const c = document.querySelector(sel); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let t = 0; for (let i = 0; i < d.length; i += 4) t += d[i] + d[i + 1] + d[i + 2]; return [c.width, c.height, t]; }"""
ROOT = "() => document.querySelector('.mb-lossx')"


def _canvas(key: str) -> str:
    return f".mb-lossx canvas.mb-lossx-canvas-{key}"


def _dataset(page, name: str) -> str | None:
    return page.evaluate(f"() => document.querySelector('.mb-lossx').dataset.{name}")


def _wait_changed(page, name: str, before: str | None) -> None:
    page.wait_for_function(
        "([n, v]) => document.querySelector('.mb-lossx').dataset[n] !== v", arg=[name, before], timeout=30_000
    )


def test_loss_explorer_in_jupyterlab(lab) -> None:
    page = lab.open(CELLS, "loss_explorer")
    root = page.locator(".mb-lossx")
    root.wait_for()
    page.wait_for_function("() => document.querySelector('.mb-lossx canvas.mb-lossx-canvas-grad_naive').width > 1")

    # 1. four maps at the proxy size; the numbers shown are the kernel's
    for key in ("loss_masked", "loss_naive", "grad_masked", "grad_naive"):
        w, h, total = page.evaluate(SUM, _canvas(key))
        assert (w, h) == (64, 64) and total > 0, key
    assert root.locator(".mb-lossx-excluded-masked").inner_text() == "0 (exactly)"
    assert (
        lab.run_code(page, "print(ex.stats['excluded_max_masked'], ex.stats['excluded_max_naive'] > 0)") == "0.0 True"
    )
    assert "exactly zero gradient" in root.locator(".mb-lossx-verdict").inner_text()

    # 2. an excluded pixel: exactly zero gradient draws no colour (the image shows), the naive one does
    img = lab.run_code(page, "print(*ex._image[30, 25, :3].tolist())")
    masked_px = page.evaluate(PIXEL, [_canvas("grad_masked"), 25, 30])
    naive_px = page.evaluate(PIXEL, [_canvas("grad_naive"), 25, 30])
    assert " ".join(map(str, masked_px[:3])) == img
    assert naive_px[:3] != masked_px[:3]
    kept_px = page.evaluate(PIXEL, [_canvas("grad_masked"), 50, 50])  # a kept pixel is coloured
    assert " ".join(map(str, kept_px[:3])) != lab.run_code(page, "print(*ex._image[50, 50, :3].tolist())")
    outline = page.evaluate(PIXEL, [_canvas("grad_masked"), 12, 16])  # the region's corner is outlined
    assert outline[:3] == [255, 255, 255]

    # hovering an excluded pixel reads its values: exactly zero gradient with maskbench, not with the naive loss
    box = root.locator(".mb-lossx-panel-grad_masked .mb-lossx-frame").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 25.5 / 64, box["y"] + box["height"] * 30.5 / 64)
    text = root.locator(".mb-lossx-readout").inner_text()
    assert text.startswith("pixel (30, 25)") and "|grad| 0 (exactly) | " in text and "| 0 (exactly) (" not in text

    # 3. the loss picker (mouse) reaches the kernel, which recomputes and sends new maps and numbers
    before = _dataset(page, "statsVersion")
    root.locator("select.mb-lossx-loss").select_option("dice")
    _wait_changed(page, "statsVersion", before)
    ms = _dataset(page, "mapsMs")
    assert lab.run_code(page, "print(ex.loss, ex.stats['loss'], ex.stats['excluded_max_masked'])") == "dice dice 0.0"
    if ms is not None:
        lab.record_latency("loss_explorer", "loss select -> maps redrawn (kernel round trip)", "2x64x64", float(ms))

    # 4. opacity with the keyboard: the trait moves, the map is re-blended in the browser
    before_sum = page.evaluate(SUM, _canvas("grad_naive"))[2]
    root.locator("input.mb-lossx-opacity").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "([sel, s]) => { const c = document.querySelector(sel); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let t = 0; for (let i = 0; i < d.length; i += 4) t += d[i] + d[i+1] + d[i+2]; return t !== s; }",
        arg=[_canvas("grad_naive"), before_sum],
    )
    assert lab.run_code(page, "print(ex.opacity)") == "0.78"
    ms = _dataset(page, "restyleMs")
    lab.record_latency("loss_explorer", "opacity key -> four maps re-blended (in browser)", "64x64", float(ms))

    # 5. log scale from the checkbox: the kernel records it, only the browser redraws
    drawn = _dataset(page, "drawn")
    root.locator("input.mb-lossx-log").check()
    _wait_changed(page, "drawn", drawn)
    assert lab.run_code(page, "print(ex.scale)") == "log"
    before = _dataset(page, "statsVersion")
    root.locator("select.mb-lossx-loss").select_option("bce")
    _wait_changed(page, "statsVersion", before)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)
    root.scroll_into_view_if_needed()
    lab.screenshot(root, "loss_explorer")

    # 6. batch: the next button moves the kernel's index; the maps change
    before = page.evaluate(SUM, _canvas("loss_masked"))[2]
    root.locator("button.mb-lossx-next").click()
    page.wait_for_function("() => document.querySelector('.mb-lossx input.mb-lossx-index').value === '2'")
    assert lab.run_code(page, "print(ex.index)") == "1"
    page.wait_for_function(
        "([sel, s]) => { const c = document.querySelector(sel); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let t = 0; for (let i = 0; i < d.length; i += 4) t += d[i] + d[i+1] + d[i+2]; return t !== s; }",
        arg=[_canvas("loss_masked"), before],
    )
    assert root.locator("button.mb-lossx-next").is_disabled()

    # 7. a bad value from Python is refused in the kernel; the widget keeps working
    out = lab.run_code(page, "try:\n    ex.loss = 'ce'\nexcept ValueError as e:\n    print('refused', ex.loss)")
    assert out == "refused bce"
    assert lab.console_errors(page) == []
