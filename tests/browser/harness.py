"""Drive a real JupyterLab in headless Chromium (the set-up in /work/shared/recipes/browser-testing.md).

``LabServer`` runs ``jupyter lab`` on 127.0.0.1 with a random token in a scratch root (never the
repository: JupyterLab writes executed notebooks back to disk) with pre-seeded settings, and stops
it through the REST API, falling back to ending its recorded PIDs. ``Lab`` wraps one Playwright
Chromium and opens notebooks like a person would: Run > Run All Cells, wait for the kernel to be
idle, read cell outputs. Used through the ``lab`` fixture in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 1100}
TIMEOUT_MS = 90_000  # 2 busy cores: a kernel start plus `import torch` can take a while
SETTINGS = {
    "apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "autoStartDefaultKernel": True},
}
# Console noise from JupyterLab itself in a closed network, not from widgets (kept short, on purpose).
BENIGN_CONSOLE = (re.compile(r"Failed to load resource: .*(favicon|/api/translations|/lab/api/news|/lab/api/update)"),)


def find_browser() -> str | None:
    """Chromium to drive: $MASKBENCH_CHROMIUM, Debian's /usr/bin/chromium, one on PATH, then Playwright's."""
    explicit = os.environ.get("MASKBENCH_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):  # fmt: skip
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:  # Playwright's own browser, when a user ran `playwright install` (never done here)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
        return path if path and os.access(path, os.X_OK) else None
    except Exception:  # noqa: BLE001 - any failure means "no browser"
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """One ``jupyter lab`` process in a scratch directory."""

    def __init__(self) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="maskbench-lab-"))
        self.work = self.run_dir / "work"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.run_dir / "server.log"

    def start(self, timeout: float = 60.0) -> None:
        for sub in ("config", "data", "runtime", "ipython", "work"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        settings = self.run_dir / "config" / "lab" / "user-settings" / "@jupyterlab"
        for rel, value in SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.run_dir / "config"), JUPYTER_DATA_DIR=str(self.run_dir / "data"),
            JUPYTER_RUNTIME_DIR=str(self.run_dir / "runtime"), IPYTHONDIR=str(self.run_dir / "ipython"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),  # the tree under test
        )  # fmt: skip
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.work}", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer on {self.url} within {timeout} s:\n{self.log_tail()}")

    def api(self, method: str, path: str) -> object:
        sep = "&" if "?" in path else "?"
        req = urllib.request.Request(f"{self.url}{path}{sep}token={self.token}", method=method,
                                     data=b"" if method in ("POST", "DELETE") else None)  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def shutdown_kernel_of(self, notebook: str) -> None:
        """Stop the kernel of one notebook (its session), so kernels do not pile up."""
        try:
            for session in self.api("GET", "/api/sessions") or []:
                if session.get("path", "").endswith(notebook):
                    self.api("DELETE", f"/api/sessions/{session['id']}")
        except (urllib.error.URLError, OSError):
            pass

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        children = []
        try:
            import psutil

            children = psutil.Process(self.proc.pid).children(recursive=True)  # kernels, recorded by PID
        except Exception:  # noqa: BLE001 - psutil missing or the server already gone
            pass
        try:
            self.api("POST", "/api/shutdown")  # also stops the kernels
        except (urllib.error.URLError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for child in children:
            try:
                if child.is_running():
                    child.terminate()
            except Exception:  # noqa: BLE001
                pass
        self.proc = None
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _notebook_json(cells: list[str]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }  # fmt: skip
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Lab:
    """A JupyterLab server plus one headless Chromium; open notebooks and talk to them."""

    CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"
    KERNEL_STATUS = ".jp-StatusBar-TextItem[title^='Change kernel']"

    def __init__(self, server: LabServer, browser_path: str) -> None:
        from playwright.sync_api import sync_playwright

        self.server = server
        self._pw = sync_playwright().start()
        self._profile = tempfile.mkdtemp(prefix="maskbench-chromium-")
        self.context = self._pw.chromium.launch_persistent_context(
            self._profile, executable_path=browser_path, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self._errors: dict[int, list[str]] = {}
        self._open: list[tuple[object, str]] = []  # (page, notebook) opened by the current test
        self._count = 0

    # -- notebooks -------------------------------------------------------------------------------
    def open(self, cells: list[str], name: str):
        """Write a fresh notebook with ``cells``, open it, Run All Cells, wait for an idle kernel."""
        self._count += 1
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        notebook = f"{stem}-{self._count}.ipynb"
        (self.server.work / notebook).write_text(json.dumps(_notebook_json(cells)))
        page = self.context.new_page()
        errors: list[str] = []
        self._errors[id(page)] = errors
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        self._open.append((page, notebook))
        # A workspace per notebook: nothing restored from an earlier test's layout.
        page.goto(f"{self.server.url}/lab/workspaces/mb{self._count}/tree/{notebook}?reset&token={self.server.token}")
        page.locator(self.CELLS).first.wait_for()
        self.wait_idle(page)
        self._run_all(page)
        self._wait_executed(page, len(cells))
        self.wait_idle(page)
        return page

    def _run_all(self, page) -> None:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            item = page.locator(".lm-Menu-item[data-command='runmenu:run-all']")
            item.wait_for()
            if "lm-mod-disabled" not in (item.get_attribute("class") or ""):
                item.click()
                select = page.locator(".jp-Dialog button.jp-mod-accept")
                if select.count():  # a "Select Kernel" dialog
                    select.first.click()
                return
            page.keyboard.press("Escape")
            time.sleep(0.5)
        raise TimeoutError("Run All Cells stayed disabled")

    def _wait_executed(self, page, n: int, first: int = 0) -> None:
        """Wait until code cells ``first .. n-1`` show an execution count ``[k]:``."""
        page.wait_for_function(
            """([sel, first, n]) => {
                const cells = document.querySelectorAll(sel);
                if (cells.length < n) return false;
                for (let i = first; i < n; i++) {
                    const p = cells[i].querySelector('.jp-InputPrompt');
                    if (!p || !/\\[\\d+\\]/.test(p.textContent)) return false;
                }
                return true;
            }""",
            arg=[self.CELLS, first, n],
            timeout=TIMEOUT_MS,
        )

    def wait_idle(self, page) -> None:
        status = page.locator(self.KERNEL_STATUS)
        status.wait_for()
        page.wait_for_function(
            "sel => { const e = document.querySelector(sel); return e && /\\|\\s*Idle\\s*$/.test(e.textContent); }",
            arg=self.KERNEL_STATUS,
            timeout=TIMEOUT_MS,
        )

    def cell(self, page, i: int):
        return page.locator(self.CELLS).nth(i)

    def _type_cell(self, page, code: str) -> int:
        """Type ``code`` into a new cell at the end of the notebook (not run); return the cell's index."""
        cells = page.locator(self.CELLS)
        n = cells.count()
        cells.nth(n - 1).locator(".jp-InputPrompt").click()  # select the last cell (command mode)
        page.keyboard.press("Escape")
        page.keyboard.press("b")  # insert a cell below and select it
        cells.nth(n).wait_for()
        cells.nth(n).locator(".cm-content").click()
        page.keyboard.insert_text(code)  # no key events: no auto-indent or bracket closing
        return n

    def start_cell(self, page, code: str) -> float:
        """Type ``code`` into a new cell, then run it; return the page's ``Date.now()`` just before the run
        key: a "cell run to ..." latency starts there (typing the cell is not part of it). Does not wait."""
        self._type_cell(page, code)
        start = float(page.evaluate("() => Date.now()"))
        page.keyboard.press("Control+Enter")
        return start

    def open_ms(self, page, code: str, selector: str) -> float:
        """Run a cell that shows one more widget matching ``selector``: the ms from the run key
        (:meth:`start_cell`) to that widget's ``data-first-paint`` (a ``Date.now()`` the widget stamps once
        its first view is drawn); waits for the kernel to go idle after."""
        shown = page.evaluate("sel => document.querySelectorAll(sel).length", selector)
        start = self.start_cell(page, code)
        page.wait_for_function(
            "([sel, n]) => { const r = document.querySelectorAll(sel); return r.length > n && r[r.length - 1].dataset.firstPaint; }",
            arg=[selector, shown],
            polling=10,
        )
        ms = (
            float(page.evaluate("sel => [...document.querySelectorAll(sel)].pop().dataset.firstPaint", selector))
            - start
        )
        self.wait_idle(page)
        return ms

    def reopen_ms(self, page, make: str, selector: str, times: int) -> list[float]:
        """:meth:`open_ms` of ``times`` further widgets ``make`` (an expression, e.g. ``"Viewer(img, mask)"``),
        each closed after (and gone from the page) before the next: the samples of an open's median."""
        shown = page.evaluate("sel => document.querySelectorAll(sel).length", selector)
        opens = []
        for k in range(times):
            name = f"_reopened_{k}"
            opens.append(self.open_ms(page, f"{name} = {make}\n{name}", selector))
            self.run_code(page, f"{name}.close(); del {name}")
            page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n", arg=[selector, shown])
        return opens

    def run_code(self, page, code: str, *, check: bool = True) -> str:
        """Run ``code`` in a new cell at the end of the notebook; return its text output.

        With ``check`` (default), an error output raises ``AssertionError`` carrying the traceback.
        """
        cells = page.locator(self.CELLS)
        n = self._type_cell(page, code)
        page.keyboard.press("Control+Enter")
        self._wait_executed(page, n + 1, first=n)
        self.wait_idle(page)
        outputs = cells.nth(n).locator(".jp-OutputArea-output")
        text = "\n".join(outputs.all_inner_texts()).strip()
        stderr = cells.nth(n).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        if check and any("Traceback (most recent call last)" in t for t in stderr.all_inner_texts()):
            raise AssertionError(f"cell failed:\n{code}\n---\n{text}")
        return text

    def console_errors(self, page) -> list[str]:
        """JavaScript console errors and uncaught exceptions seen on ``page`` (benign server noise removed)."""
        return [e for e in self._errors.get(id(page), []) if not any(p.search(e) for p in BENIGN_CONSOLE)]

    # -- artefacts -------------------------------------------------------------------------------
    def screenshot(self, locator, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        locator.screenshot(path=str(path))
        return path

    @staticmethod
    def record_latency(widget: str, what: str, size: str, ms: float) -> None:
        """Append one measurement to tests/browser/_artifacts/latency.jsonl (no timing asserts)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        row = {"widget": widget, "what": what, "size": size, "ms": round(float(ms), 2)}
        with open(ARTIFACTS / "latency.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    # -- lifetime --------------------------------------------------------------------------------
    def end_test(self) -> None:
        """Close the pages the current test opened and stop their kernels."""
        for page, notebook in self._open:
            try:
                page.close()
            except Exception:  # noqa: BLE001
                pass
            self._errors.pop(id(page), None)
            self.server.shutdown_kernel_of(notebook)
        self._open.clear()

    def close(self) -> None:
        self.end_test()
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)
