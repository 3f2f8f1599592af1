"""The harness itself: a trivial anywidget renders in JupyterLab and its value reaches the kernel."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SMOKE_CELLS = [
    """import anywidget, traitlets

class Counter(anywidget.AnyWidget):
    _esm = '''
    export default {
      render({ model, el }) {
        const b = document.createElement("button");
        b.className = "mb-smoke";
        const show = () => { b.textContent = `count ${model.get("value")}`; };
        b.addEventListener("click", () => { model.set("value", model.get("value") + 1); model.save_changes(); });
        model.on("change:value", show);
        show();
        el.appendChild(b);
        return () => model.off("change:value", show);
      }
    };'''
    value = traitlets.Int(41).tag(sync=True)

c = Counter()
c""",
]


def test_anywidget_round_trip(lab) -> None:
    page = lab.open(SMOKE_CELLS, "smoke")
    button = page.locator("button.mb-smoke")
    button.wait_for()
    assert button.inner_text() == "count 41"
    button.click()
    page.wait_for_function("() => document.querySelector('button.mb-smoke').textContent === 'count 42'")
    assert lab.run_code(page, "print(c.value)") == "42"  # browser -> kernel
    lab.run_code(page, "c.value = 7")
    page.wait_for_function("() => document.querySelector('button.mb-smoke').textContent === 'count 7'")
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        lab.run_code(page, "1 / 0")  # a failing cell is reported, not returned as text
    assert "careful" in lab.run_code(page, "import warnings\nwarnings.warn('careful')")  # warnings are text
    assert lab.console_errors(page) == []
