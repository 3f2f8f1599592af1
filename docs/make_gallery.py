"""Rebuild the README gallery figures: run each notebook headless, save its "gallery" figure.

    .venv/bin/python docs/make_gallery.py          # full-size inputs
    MASKBENCH_SMALL=1 .venv/bin/python docs/make_gallery.py

Each notebook tags one figure cell with the metadata tag ``gallery``; its first PNG output is written
to ``docs/figures/<notebook>.png``. Widget screenshots come from the browser tests
(``docs/screenshots/``).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"


def gallery_png(nb: nbformat.NotebookNode) -> bytes | None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "gallery" in cell.metadata.get("tags", []):
            for out in cell.outputs:
                data = out.get("data", {})
                if "image/png" in data:
                    return base64.b64decode(data["image/png"])
    return None


def main(names: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    missing = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        png = gallery_png(nb)
        if png is None:
            missing.append(path.name)
            continue
        (OUT / f"{path.stem}.png").write_bytes(png)
        print(f"{path.name}: docs/figures/{path.stem}.png ({len(png)} bytes)")
    if missing:
        print("no gallery figure in:", ", ".join(missing), file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
