"""The widgets' front-end assembly (maskbench/widgets/_frontend.py): one module per widget, hot reload."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from maskbench.widgets import _frontend

# every widget front end in static/ (a <name>_core.js next to its <name>.js)
NAMES = sorted(p.name[: -len("_core.js")] for p in _frontend.STATIC.glob("*_core.js"))
CLASSES = {"painter": "Painter", "tuner": "ThresholdTuner", "viewer": "Viewer", "loss_explorer": "LossExplorer"}


@pytest.mark.parametrize("name", NAMES)
def test_assembled_module_is_self_contained(name: str, tmp_path) -> None:
    source = _frontend.assemble(name)
    assert not [line for line in source.splitlines() if line.lstrip().startswith("import ")]
    assert source.count("export default") == 1
    for path in _frontend.sources(name):  # every source file is in, in dependency order
        assert f"// ---- {path.name} ----" in source
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js not found: the assembled module was not parsed")
    out = tmp_path / f"{name}.mjs"
    out.write_text(source)
    check = "import(process.argv[1]).then(m => { if (typeof m.default.render !== 'function') process.exit(3); })"
    result = subprocess.run([node, "-e", check, out.as_uri()], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr  # a duplicate name across the files is a SyntaxError here


@pytest.mark.parametrize("name", NAMES)
def test_widget_classes_send_the_assembled_module(name: str) -> None:
    import importlib

    module = importlib.import_module(f"maskbench.widgets.{name}")
    assert str(getattr(module, CLASSES[name])._esm) == _frontend.assemble(name)


def test_a_non_local_import_is_refused(tmp_path, monkeypatch) -> None:
    for path in _frontend.sources("viewer"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "viewer.js").write_text(
        'import x from "https://cdn.example/x.js";\n' + (tmp_path / "viewer.js").read_text()
    )
    monkeypatch.setattr(_frontend, "STATIC", tmp_path)
    with pytest.raises(RuntimeError, match="viewer.js: only local"):
        _frontend.assemble("viewer")


def test_hot_reload_writes_a_watched_file_and_reassembles_on_change(tmp_path, monkeypatch) -> None:
    static, out_dir = tmp_path / "static", tmp_path / "out"
    static.mkdir()
    for path in _frontend.sources("viewer"):
        shutil.copy(path, static / path.name)
    monkeypatch.setattr(_frontend, "STATIC", static)
    monkeypatch.setattr(_frontend, "HMR_DIR", out_dir)
    monkeypatch.setattr(_frontend, "POLL_S", 0.02)
    monkeypatch.setattr(_frontend, "_watchers", {"viewer": None})  # the test runs its own watcher below
    monkeypatch.delenv("ANYWIDGET_HMR", raising=False)
    assert isinstance(_frontend.esm("viewer"), str)  # default: the source itself
    monkeypatch.setenv("ANYWIDGET_HMR", "1")
    out = _frontend.esm("viewer")
    assert out == out_dir / "viewer.js" and out.read_text() == _frontend.assemble("viewer")
    stop = threading.Event()
    watcher = threading.Thread(target=_frontend._watch, args=(out, "viewer", stop), daemon=True)
    watcher.start()
    try:
        time.sleep(0.1)
        core = static / "viewer_core.js"
        core.write_text(core.read_text() + "\nexport const HOT = 1;\n")
        deadline = time.monotonic() + 10
        while "export const HOT = 1;" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "export const HOT = 1;" in out.read_text()
    finally:
        stop.set()
        watcher.join(5)
