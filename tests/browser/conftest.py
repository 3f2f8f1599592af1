"""The ``lab`` fixture: one JupyterLab server and one headless Chromium per test session.

Without a browser (or without Playwright / JupyterLab) the browser tests SKIP with a loud reason,
except when ``MASKBENCH_REQUIRE_BROWSER=1`` (CI), where they FAIL. Every test here is marked
``browser``; ``make test`` runs them in a second, serial pytest run so that one JupyterLab server
and one Chromium serve them all (xdist groups are not honoured under pytest 9).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from .harness import Lab, LabServer, find_browser

_SKIPPED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A safety net: a browser test that forgot its marks still runs in the browser group.
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            if item.get_closest_marker("browser") is None:
                item.add_marker(pytest.mark.browser)
            if item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group("browser"))


def _unavailable(reason: str) -> None:
    if os.environ.get("MASKBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MASKBENCH_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}", pytrace=False)
    _SKIPPED.append(reason)
    pytest.skip(f"BROWSER TESTS SKIPPED (set MASKBENCH_REQUIRE_BROWSER=1 to fail instead): {reason}")


@pytest.fixture(scope="session")
def lab():
    """A running JupyterLab + Chromium; see ``tests/browser/harness.py`` for ``open``/``run_code``."""
    for module in ("playwright", "jupyterlab", "anywidget"):
        if importlib.util.find_spec(module) is None:
            _unavailable(f"the Python package {module!r} is not installed (pip install -e '.[test]')")
    browser = find_browser()
    if browser is None and os.environ.get("MASKBENCH_CHROMIUM"):
        _unavailable(f"$MASKBENCH_CHROMIUM={os.environ['MASKBENCH_CHROMIUM']!r} is not an executable file")
    if browser is None:
        _unavailable(
            "no Chromium found (looked at $MASKBENCH_CHROMIUM, /usr/bin/chromium, PATH and Playwright's "
            "own browser); install one, e.g. `apt-get install chromium`"
        )
    server = LabServer()
    server.start()  # a server that will not start is a real failure, never a skip
    try:
        session = Lab(server, browser)
    except Exception:
        server.stop()
        raise
    try:
        yield session
    finally:
        try:
            session.close()
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest):
    """After each test that used ``lab``, close its pages and stop its kernels."""
    yield
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").end_test()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if _SKIPPED:
        terminalreporter.write_sep("!", "BROWSER TESTS WERE SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_SKIPPED[0])


@pytest.fixture(scope="module")
def marimo_tour(lab):
    """``marimo run notebooks/marimo_tour.py`` (a scratch copy, MASKBENCH_SMALL=1) and one page on it.

    One server per test module; the page comes from the ``lab`` fixture's Chromium (one Playwright per
    process). Yields ``(server, page)``; every cell has run once the widgets drew.
    """
    from .front_ends import MarimoServer
    from .harness import ROOT

    if importlib.util.find_spec("marimo") is None:
        _unavailable("the Python package 'marimo' is not installed (pip install -e '.[test]')")
    server = MarimoServer(ROOT / "notebooks" / "marimo_tour.py", env={"MASKBENCH_SMALL": "1"})
    server.start()
    page = lab.context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.errors = errors  # read by the tests
    try:
        page.goto(server.page_url)
        for root in (".mb-painter", ".mb-tuner", ".mb-viewer"):  # Playwright CSS pierces marimo's shadow roots
            page.locator(root).first.wait_for(timeout=120_000)
        server.remember_children()
        yield server, page
    finally:
        try:
            page.close()
        finally:
            server.stop()
