"""Helpers for the other front ends (issue 13): Notebook 7 and whole notebooks on the ``lab`` fixture's
server, and a ``marimo run`` server (recipe: /work/shared/recipes/front-ends.md). Kept out of
harness.py so that file stays under ~400 lines.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .harness import ARTIFACTS, ROOT, TIMEOUT_MS, Lab, LabServer, _free_port, _notebook_json

# -- other front ends (issue 13): Notebook 7 on the same server, marimo on its own, whole notebooks -----
CODE_PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputPrompt"


def _kernel_of(server: LabServer, notebook: str) -> dict | None:
    for session in server.api("GET", "/api/sessions") or []:
        if session.get("path", "").endswith(notebook) and session.get("kernel"):
            return session["kernel"]
    return None


def wait_kernel_idle(server: LabServer, notebook: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll the server until the kernel of ``notebook`` exists and is idle (Notebook 7 has no status bar)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernel = _kernel_of(server, notebook)
        if kernel is not None:
            state = server.api("GET", f"/api/kernels/{kernel['id']}").get("execution_state")
            if state == "idle":
                return
        time.sleep(0.25)
    raise TimeoutError(f"the kernel of {notebook} did not become idle within {timeout} s")


def max_execution_count(page) -> int:
    """The largest ``[n]`` shown on a code cell (0 when none ran)."""
    return page.evaluate(
        """sel => Math.max(0, ...[...document.querySelectorAll(sel)].map(p => {
            const m = /\\[(\\d+)\\]/.exec(p.textContent); return m ? Number(m[1]) : 0; }))""",
        CODE_PROMPTS,
    )


def wait_all_code_cells_after(page, count: int) -> None:
    """Wait until every code cell shows an execution count above ``count`` (a Run All finished)."""
    page.wait_for_function(
        """([sel, count]) => { const visible = p => p.textContent.trim() !== "";  // a hidden input shows no prompt
             const ps = [...document.querySelectorAll(sel)].filter(visible);
            return ps.length > 0 && ps.every(p => { const m = /\\[(\\d+)\\]/.exec(p.textContent);
                                                    return m && Number(m[1]) > count; }); }""",
        arg=[CODE_PROMPTS, count],
        timeout=TIMEOUT_MS * 2,
    )


def run_all_again(lab: Lab, page, notebook: str) -> None:
    """Run > Run All Cells on an open notebook (Lab or Notebook 7) and wait until every code cell re-ran."""
    before = max_execution_count(page)
    lab._run_all(page)
    wait_all_code_cells_after(page, before)
    wait_kernel_idle(lab.server, notebook)


def open_in(lab: Lab, name: str, *, cells: list[str] | None = None, source: Path | None = None,
            prelude: str | None = None, ui: str = "lab"):  # fmt: skip
    """Open a notebook in JupyterLab (``ui="lab"``) or Notebook 7 (``ui="notebook"``) of the lab's server.

    The notebook is ``cells`` (code) or a copy of the ``.ipynb`` at ``source`` with ``prelude`` as an
    extra first code cell; Run All Cells runs it and the call returns once every code cell ran and the
    kernel is idle. Returns ``(page, notebook file name)``.
    """
    lab._count += 1
    notebook = f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}-{lab._count}.ipynb"
    nb = _notebook_json(cells or []) if source is None else json.loads(Path(source).read_text())
    if prelude is not None:
        nb["cells"].insert(0, _notebook_json([prelude])["cells"][0] | {"id": "prelude"})
    (lab.server.work / notebook).write_text(json.dumps(nb))
    page = lab.context.new_page()
    errors: list[str] = []
    lab._errors[id(page)] = errors
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    lab._open.append((page, notebook))
    if ui == "lab":
        page.goto(f"{lab.server.url}/lab/workspaces/mb{lab._count}/tree/{notebook}?reset&token={lab.server.token}")
    else:
        page.goto(f"{lab.server.url}/notebooks/{notebook}?token={lab.server.token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    wait_kernel_idle(lab.server, notebook)
    try:
        run_all_again(lab, page, notebook)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{notebook}.png"), full_page=True)
        raise
    return page, notebook


class MarimoServer:
    """``marimo run`` (or ``edit``) of a scratch copy of one notebook, on a free port, with scratch XDG dirs."""

    def __init__(self, notebook: Path, *, mode: str = "run", env: dict | None = None, config: str = "") -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="maskbench-marimo-"))
        self.notebook = self.run_dir / "work" / Path(notebook).name
        self.notebook.parent.mkdir(parents=True)
        shutil.copy(notebook, self.notebook)
        self.mode, self.extra_env, self.config = mode, dict(env or {}), config  # config: marimo.toml text
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.page_url = f"{self.url}/?access_token={self.token}"
        self.proc: subprocess.Popen | None = None
        self.log = self.run_dir / "marimo.log"
        self._children: list = []

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ)
        for sub in ("config", "cache", "state"):
            (self.run_dir / sub).mkdir()
            env[f"XDG_{sub.upper()}_HOME"] = str(self.run_dir / sub)
        if self.config:
            (self.run_dir / "config" / "marimo").mkdir()
            (self.run_dir / "config" / "marimo" / "marimo.toml").write_text(self.config)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.update(self.extra_env)
        cmd = [sys.executable, "-m", "marimo", self.mode, str(self.notebook), "--headless", "--host", "127.0.0.1",
               "--port", str(self.port), "--token-password", self.token, "--no-sandbox"]  # fmt: skip
        if self.mode == "edit":
            cmd.append("--skip-update-check")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=self.notebook.parent, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"marimo exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"marimo did not answer on {self.url} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def remember_children(self) -> None:
        """Record the kernel processes (by PID) while they run, to end survivors after stop()."""
        try:
            import psutil

            self._children = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # noqa: BLE001 - psutil missing or marimo already gone
            pass

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        self.remember_children()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for child in self._children:
            try:
                if child.is_running():
                    child.terminate()
            except Exception:  # noqa: BLE001
                pass
        self.proc = None
        shutil.rmtree(self.run_dir, ignore_errors=True)


def kernel_eval(server: LabServer, notebook: str, expression: str, timeout: float = 60.0) -> str:
    """``repr`` of ``expression`` in the kernel of ``notebook``, asked silently with jupyter_client
    (no execution count moves, nothing appears in the page; works in Lab and Notebook 7 alike)."""
    import jupyter_client

    kernel = _kernel_of(server, notebook)
    if kernel is None:
        raise RuntimeError(f"no kernel for {notebook}")
    kc = jupyter_client.BlockingKernelClient(
        connection_file=str(server.run_dir / "runtime" / f"kernel-{kernel['id']}.json")
    )
    kc.load_connection_file()
    # the shell channel only: no heartbeat thread (one once failed to make its socket, EMFILE, in a CI run where
    # this is called in a polling loop) and no sockets that nothing reads
    kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = kc.execute("", silent=True, store_history=False, user_expressions={"v": expression})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                value = reply["content"]["user_expressions"]["v"]
                if value.get("status") != "ok":
                    raise AssertionError(
                        f"{expression!r} failed in the kernel: {value.get('ename')}: {value.get('evalue')}"
                    )
                return value["data"]["text/plain"]
        raise TimeoutError(f"no reply to {expression!r}")
    finally:
        kc.stop_channels()


def run_cell(lab: Lab, page, notebook: str, text: str) -> None:
    """Run the one code cell whose text contains ``text`` (click its prompt, Ctrl+Enter), like a user."""
    cell = page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first
    before = max_execution_count(page)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        """([c, n]) => { const m = /\\[(\\d+)\\]/.exec(c.querySelector('.jp-InputPrompt').textContent);
                         return m && Number(m[1]) > n; }""",
        arg=[cell.element_handle(), before],
        timeout=TIMEOUT_MS,
    )
    wait_kernel_idle(lab.server, notebook)
