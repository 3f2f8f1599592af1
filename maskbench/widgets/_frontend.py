"""Assemble each widget's front end (one ES module) from ``static/``.

A widget's browser code is ``static/shared.js`` + ``static/tiles.js`` (the level-of-detail tile
helpers) + ``static/probes.js`` (helpers every widget uses),
``static/<name>_core.js`` (its pure functions, node-tested in ``tests/js``) and ``static/<name>.js``
(the DOM wiring, ``export default {render}``). The files use real ``import ... from "./x.js"``
lines so that node can import each one on its own; anywidget loads ``_esm`` from a Blob URL, where
relative imports cannot resolve, so :func:`esm` strips those lines and concatenates the files in
dependency order into one self-contained module. There is no build step and no CDN import.

Hot reload: with ``ANYWIDGET_HMR=1`` :func:`esm` writes the assembled module to a file and returns
its path, which anywidget watches (it needs the ``watchfiles`` package); a daemon thread re-assembles
that file whenever a source file changes, so an edit to any of the four files reaches open views.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
import threading

STATIC = pathlib.Path(__file__).parent / "static"
SHARED = ("shared", "tiles", "probes")
HMR_DIR = pathlib.Path(tempfile.gettempdir()) / "maskbench-esm"
POLL_S = 0.3

# `import {a, b} from "./x.js";` (possibly over several lines): only local, relative imports
_LOCAL_IMPORT = re.compile(r"^import\s*\{[^}]*\}\s*from\s*[\"']\./[\w.-]+\.js[\"'];?[ \t]*\n?", re.MULTILINE)
_ANY_IMPORT = re.compile(r"^\s*import[\s{*\"']", re.MULTILINE)
_watchers: dict[str, threading.Thread] = {}


# Extra files of a widget, concatenated between its ``<name>_core.js`` and ``<name>.js`` in this order.
PARTS = {"tuner": ("tuner_dom", "tuner_stage", "tuner_tiles", "tuner_dataset"), "painter": ("painter_dom",)}


def sources(name: str) -> list[pathlib.Path]:
    """The files of widget ``name``'s module, in the order they are concatenated."""
    return [STATIC / f"{part}.js" for part in (*SHARED, f"{name}_core", *PARTS.get(name, ()), name)]


def assemble(name: str) -> str:
    """One self-contained ES module for widget ``name`` (local imports stripped, files joined)."""
    parts = []
    for path in sources(name):
        text = _LOCAL_IMPORT.sub("", path.read_text(encoding="utf-8"))
        if _ANY_IMPORT.search(text):
            raise RuntimeError(f'{path.name}: only local `import {{...}} from "./x.js"` lines can be assembled')
        parts.append(f"// ---- {path.name} ----\n{text}")
    return "\n".join(parts)


def esm(name: str) -> str | pathlib.Path:
    """The ``_esm`` of widget ``name``: the assembled source, or (``ANYWIDGET_HMR=1``) a watched file."""
    if os.environ.get("ANYWIDGET_HMR") != "1":
        return assemble(name)
    out = HMR_DIR / f"{name}.js"
    _write(out, name)
    if name not in _watchers:
        thread = threading.Thread(target=_watch, args=(out, name), name=f"maskbench-esm-{name}", daemon=True)
        _watchers[name] = thread
        thread.start()
    return out


def css(name: str) -> pathlib.Path:
    """The ``_css`` of widget ``name``: its stylesheet (anywidget watches a path under ANYWIDGET_HMR)."""
    return STATIC / f"{name}.css"


def _write(out: pathlib.Path, name: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(assemble(name), encoding="utf-8")
    tmp.replace(out)  # atomic: the watcher never reads half a file


def _stamp(name: str) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime_ns for p in sources(name))


def _watch(out: pathlib.Path, name: str, stop: threading.Event | None = None) -> None:
    """Poll the sources (four small files; no watcher dependency) and re-assemble on change."""
    stop = stop or threading.Event()
    seen = _stamp(name)
    while not stop.wait(POLL_S):
        try:
            now = _stamp(name)
            if now != seen:
                seen = now
                _write(out, name)
        except (OSError, RuntimeError):
            continue  # a file mid-save, or a bad import line: keep the last good module
