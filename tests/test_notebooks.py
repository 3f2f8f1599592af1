"""Every notebook is stored stripped and runs top to bottom (headless, nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_tour_exists() -> None:
    assert (ROOT / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert len(nb.cells) <= 40, f"{path.name} has {len(nb.cells)} cells: split it"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    env_small = os.environ.get("MASKBENCH_SMALL", "1")
    os.environ["MASKBENCH_SMALL"] = env_small  # the kernel inherits it: small inputs, same cells
    client = NotebookClient(
        nb,
        timeout=600 if env_small == "1" else 1200,  # full size: 05 trains six networks in one cell
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"
    ]
    assert not errors, errors


MARIMO_NOTEBOOKS = sorted((ROOT / "notebooks").glob("marimo_*.py"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", MARIMO_NOTEBOOKS, ids=lambda p: p.name)
def test_marimo_notebook_runs_as_a_script(path: Path) -> None:
    """A marimo notebook (a .py app, not an .ipynb) runs every cell headless with `python <file>`;
    its widgets are tested in a real browser in tests/browser/test_front_ends.py."""
    import subprocess
    import sys

    pytest.importorskip("marimo")
    env = dict(os.environ, MASKBENCH_SMALL=os.environ.get("MASKBENCH_SMALL", "1"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
