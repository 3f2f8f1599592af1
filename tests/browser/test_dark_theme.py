"""Every widget follows JupyterLab's theme (issue 13, front ends): switch to "JupyterLab Dark" like a user
(Settings > Theme), read back each widget's chrome colours (getComputedStyle) and the Tuner chart's axis
label pixels (getImageData), then switch back to the light theme (the server's settings are shared by
the whole browser session).
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CELLS = [
    """import torch, maskbench
from maskbench.widgets import Painter, ThresholdTuner, Viewer
torch.set_num_threads(1)
scene = maskbench.synthetic_scene(96, seed=3)
p = Painter(scene.image, classes=["background", "cell"])
t = ThresholdTuner(scene.probs, image=scene.image, target=scene.mask)
v = Viewer(scene.image, scene.mask)
p""",
    "t",
    "v",
]
# root -> a muted text element inside it
WIDGETS = {".mb-painter": ".mb-slider", ".mb-tuner": ".mb-tuner-label", ".mb-viewer": ".mb-viewer-label"}

# Colours of one widget: root background and text, a muted label's text, as [r, g, b, a] (0-255 / 0-1).
CHROME = """([root, muted]) => {
    const rgba = s => { const m = s.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
    const r = document.querySelector(root), cs = getComputedStyle(r);
    return {bg: rgba(cs.backgroundColor), fg: rgba(cs.color), muted: rgba(getComputedStyle(r.querySelector(muted)).color)};
}"""

# The Tuner histogram's axis labels: the mean grey level of the drawn pixels in the strip under the axis
# (PAD.b = 18 CSS px in tuner_core.js), and how many pixels were drawn there.
AXIS_LABELS = """() => {
    const c = document.querySelector('.mb-tuner canvas.mb-tuner-chart');
    const dpr = window.devicePixelRatio || 1, top = Math.round(c.height - 14 * dpr);
    const d = c.getContext('2d').getImageData(0, top, c.width, c.height - top).data;
    let sum = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 60) { sum += (d[i] + d[i + 1] + d[i + 2]) / 3; n++; }
    return {grey: n ? sum / n : null, n, w: c.width, h: c.height};
}"""


def _luminance(rgba: list[float]) -> float:
    """Relative luminance (0 black .. 1 white) of an sRGB colour, ignoring alpha."""
    lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _set_theme(page, theme: str) -> None:
    """Settings > Theme > ``theme``, like a user; wait until JupyterLab applied it."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-item[data-type='submenu']", has_text=re.compile(r"^Theme")).hover()
    page.get_by_role("menuitem", name=theme, exact=True).click()
    page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=theme, timeout=30_000)
    page.wait_for_timeout(500)  # let ResizeObservers / redraws run


def _read(page) -> dict:
    return {root: page.evaluate(CHROME, [root, muted]) for root, muted in WIDGETS.items()}


@pytest.fixture
def themed(lab):
    """The three widgets in JupyterLab, the light theme restored afterwards whatever happens."""
    page = lab.open(CELLS, "dark-theme")
    for root in WIDGETS:
        page.locator(root).first.wait_for()
    page.wait_for_function("() => document.querySelector('.mb-tuner').dataset.shown === 'kernel'", timeout=60_000)
    try:
        yield page
    finally:
        if page.evaluate("() => document.body.dataset.jpThemeName") != "JupyterLab Light":
            _set_theme(page, "JupyterLab Light")


def test_widgets_follow_the_dark_theme(themed, lab) -> None:
    """Chrome colours of the three widgets, and the Tuner chart's canvas text (drawn with the theme's colour
    read at draw time: it was cached at the first draw), follow a switch to JupyterLab Dark and back."""
    page = themed
    axis_light = page.evaluate(AXIS_LABELS)
    assert axis_light["n"] > 20 and axis_light["grey"] < 100, axis_light  # dark labels on a light card
    light = _read(page)
    for root, c in light.items():
        assert _luminance(c["bg"]) > 0.8 and _luminance(c["fg"]) < 0.2, (root, c)  # light: dark text on white
    _set_theme(page, "JupyterLab Dark")
    dark = _read(page)
    for root, c in dark.items():
        assert _luminance(c["bg"]) < 0.05, (root, "background", c)
        assert _luminance(c["fg"]) > 0.5, (root, "text", c)
        assert _luminance(c["muted"]) > 0.2, (root, "muted text", c)
    axis_dark = page.evaluate(AXIS_LABELS)  # no interaction: the theme switch alone redraws the charts
    assert axis_dark["n"] > 20 and axis_dark["grey"] > 150, axis_dark  # light labels on a dark card
    _set_theme(page, "JupyterLab Light")
    assert _read(page) == light  # and back
    assert lab.console_errors(page) == []


def test_widgets_follow_marimos_dark_theme(lab) -> None:
    """marimo has no --jp-* variables: its dark theme marks a .dark ancestor in the widget's shadow root."""
    from .front_ends import MarimoServer
    from .harness import ROOT

    pytest.importorskip("marimo")
    server = MarimoServer(
        ROOT / "notebooks" / "marimo_tour.py", env={"MASKBENCH_SMALL": "1"}, config='[display]\ntheme = "dark"\n'
    )
    server.start()
    page = lab.context.new_page()
    try:
        page.goto(server.page_url)
        for root in WIDGETS:  # Playwright's CSS locators pierce marimo's open shadow roots
            page.locator(root).first.wait_for(timeout=120_000)
        for root, muted in WIDGETS.items():
            colours = page.locator(root).first.evaluate(
                """(r, muted) => {
                    const rgba = s => { const m = s.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
                    const cs = getComputedStyle(r);
                    return {bg: rgba(cs.backgroundColor), fg: rgba(cs.color)};
                }""",
                muted,
            )
            assert _luminance(colours["bg"]) < 0.1, (root, colours)
            assert _luminance(colours["fg"]) > 0.5, (root, colours)
    finally:
        page.close()
        server.stop()
