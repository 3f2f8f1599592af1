"""Run the JavaScript unit tests (tests/js/*.mjs) with ``node --test``; skip when Node.js is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILES = sorted(p for p in HERE.glob("*.mjs") if not p.name.startswith("_"))  # _*.mjs are helpers


def _node() -> str | None:
    return os.environ.get("MASKBENCH_NODE") or shutil.which("node")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_node(path: Path) -> None:
    node = _node()
    if node is None:
        pytest.skip("Node.js not found: the JavaScript helper tests (tests/js/*.mjs) did not run")
    result = subprocess.run(
        [node, "--test", str(path)], cwd=HERE.parents[1], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"node --test {path.name} failed:\n{result.stdout}\n{result.stderr}"
