"""The ThresholdTuner's dataset mode in a real JupyterLab (issue 15 item 3): the per-image panel follows
the slider in the browser, and clicking a worst image makes the kernel show it."""

from __future__ import annotations

import pytest

from .test_tuner_browser import ROOT, _run_nowait, _wait_confirmed

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


# -- issue 15 item 3: dataset mode ---------------------------------------------------------------
DATASET = """import json, time, torch, maskbench
from maskbench.widgets import ThresholdTuner
torch.set_num_threads(1)
items = []
for i in range(12):
    s = maskbench.synthetic_scene(96, num_classes=2, seed=i)
    items.append({"probs": s.probs, "target": s.mask, "image": s.image})
sweep = maskbench.DatasetSweep(thresholds=64)
for it in items:
    sweep.update(it["probs"][None], it["target"][None])
d = ThresholdTuner.from_sweep(sweep, items, k=5)
d"""
PANEL = """sel => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
    const p = document.querySelector(sel).querySelector('.mb-tuner-dataset');
    done({display: p.style.display, worst: p.dataset.worst, at: Number(p.dataset.at), mean: Number(p.dataset.mean),
          pooled: Number(p.dataset.pooled), item: Number(p.dataset.item),
          kernel: document.querySelector(sel).dataset.kernelThreshold});
})))"""


def test_tuner_dataset_mode(lab) -> None:
    page = lab.open([DATASET], "tuner-dataset")
    root = page.locator(ROOT).first
    root.wait_for()
    start = _wait_confirmed(page)
    panel = page.evaluate(PANEL, ROOT)
    assert panel["display"] == "" and panel["at"] == start
    assert lab.run_code(page, "print(','.join(map(str, d.worst)), d.threshold, d.dataset_item)").split() == [
        panel["worst"], repr(start), str(panel["item"])]  # fmt: skip

    # the slider moves on the sweep's thresholds; histogram, mean, pooled and the list follow it in
    # the browser while the kernel is asleep
    _run_nowait(lab, page, "time.sleep(5)")
    root.locator("input.mb-tuner-slider").focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    moved = page.evaluate(PANEL, ROOT)
    assert moved["at"] != start and moved["kernel"] == repr(start), moved
    lab.wait_idle(page)
    assert _wait_confirmed(page) == moved["at"]
    out = lab.run_code(page, "print(','.join(map(str, d.worst)), d.threshold in sweep.thresholds.double().tolist(), "
                             "repr(float(d.dataset_scores().mean())), repr(float(sweep.scores('iou', d.threshold))))")  # fmt: skip
    worst, on_grid, mean, pooled = out.split()
    assert worst == moved["worst"] and on_grid == "True"
    assert moved["mean"] == pytest.approx(float(mean), rel=1e-12) and moved["pooled"] == pytest.approx(
        float(pooled), rel=1e-6
    )

    # click the second-worst image: the kernel loads it, the widget shows it with its overlay
    button = root.locator(".mb-tuner-worst button").nth(1)
    clicked = int(button.get_attribute("data-item"))
    button.click()
    page.wait_for_function("([sel, i]) => document.querySelector(sel).querySelector('.mb-tuner-dataset').dataset.item === String(i)",
                           arg=[ROOT, clicked])  # fmt: skip
    lab.wait_idle(page)
    _wait_confirmed(page)
    out = lab.run_code(page, f"print(d.dataset_item, torch.equal(d._p[0], items[{clicked}]['probs']), "
                             f"torch.equal(d.mask, items[{clicked}]['probs'] > d.threshold))")  # fmt: skip
    assert out == f"{clicked} True True"
    assert root.locator(".mb-tuner-worst-current").get_attribute("data-item") == str(clicked)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.move(0, 0)
    lab.screenshot(root, "tuner_dataset")
    assert lab.console_errors(page) == []
