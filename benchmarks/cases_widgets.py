"""Widget paths in the kernel: the overlay pixels and the packed mask payload; browser latencies.

The browser latencies are measured by the browser tests (``make test``), which append one JSON
line per measurement to ``tests/browser/_artifacts/latency.jsonl``; the report shows their median.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks._case import measure, wanted
from benchmarks._data import rand_mask, scene, size_text
from benchmarks._timing import Row
from maskbench.render import image_to_rgba, label_palette, overlay
from maskbench.widgets._transport import pack_bits

OPERATIONS = ("widget overlay (render.overlay)", "widget mask payload (pack_bits)")
LATENCY_FILE = Path(__file__).resolve().parent.parent / "tests" / "browser" / "_artifacts" / "latency.jsonl"
_JSON_MAX = 1024  # a JSON list of 4096^2 booleans takes seconds and ~100 MB: timed up to 1024^2 only


def numpy_overlay(rgba: np.ndarray, labels: np.ndarray, palette: np.ndarray, opacity: float) -> np.ndarray:
    """The usual float blend in numpy: ``base * (1 - a) + colour * a``."""
    colour = palette[labels]
    a = opacity * colour[..., 3:].astype(np.float32) / 255
    mixed = rgba[..., :3] * (1 - a) + colour[..., :3] * a
    return np.concatenate([np.rint(mixed).astype(np.uint8), rgba[..., 3:]], axis=-1)


def png_payload(mask: np.ndarray) -> bytes:
    """What an ``ipywidgets.Image`` (or a data URL) would carry: the mask as a PNG."""
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()


def _inputs(size: int, kind: str, device: torch.device):
    if kind == "blobby":
        sc = scene(1, size)
        image, labels = sc.image[0], sc.labels[0]
    else:
        image, labels = scene(1, size).image[0], rand_mask(size, size, seed=6)
    return image_to_rgba(image.to(device)), labels.to(device)


def cases(device: torch.device, quick: bool) -> list[Row]:
    sizes = (128, 256) if quick else (1024, 4096)
    rows: list[Row] = []
    palette = label_palette(3)
    for size in sizes:
        for kind in ("blobby", "rand>0.5"):
            rgba, labels = _inputs(size, kind, device)
            shape = size_text(size, size)
            slow = size >= 2048
            if wanted(OPERATIONS[0], "widget", "overlay"):
                rgba_np, labels_np, pal_np = rgba.cpu().numpy(), labels.cpu().numpy().astype(np.intp), palette.numpy()
                rows += measure(
                    OPERATIONS[0],
                    shape,
                    kind,
                    key="overlay",
                    ours=lambda: overlay(rgba, labels, palette, opacity=0.5).cpu(),
                    baselines={"numpy float blend": lambda: numpy_overlay(rgba_np, labels_np, pal_np, 0.5)},
                    note="ours includes .cpu() (what the widget sends); exact integer maths",
                    check_sync=False,
                    slow=slow,
                    device=device,
                    quick=quick,
                )
            if wanted(OPERATIONS[1], "widget", "payload", "pack"):
                mask = labels > 0
                packed = pack_bits(mask.cpu().numpy()).nbytes
                png = len(png_payload(mask.cpu().numpy()))
                peer = (f"JSON list: not timed above {_JSON_MAX}^2", None)
                if size <= _JSON_MAX:
                    peer = ("json.dumps(mask.tolist())", lambda: json.dumps(mask.cpu().numpy().tolist()))
                rows += measure(
                    OPERATIONS[1],
                    shape,
                    kind,
                    key="payload",
                    ours=lambda: pack_bits(mask.cpu().numpy()),
                    baselines={"PNG via PIL (ipywidgets.Image)": lambda: png_payload(mask.cpu().numpy())},
                    peer=peer,
                    note=f"payload {packed / 1024:.0f} KiB packed vs {png / 1024:.0f} KiB PNG",
                    check_sync=False,
                    slow=slow,
                    device=device,
                    quick=quick,
                )
    return rows


def browser_latencies(path: Path = LATENCY_FILE) -> list[dict] | None:
    """Median per (widget, what, size) of the browser tests' measurements, or None if none exist."""
    if not path.exists():
        return None
    groups: dict[tuple[str, str, str], list[float]] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            key = (str(rec["widget"]), str(rec["what"]), str(rec["size"]))
            groups.setdefault(key, []).append(float(rec["ms"]))
        except (ValueError, KeyError, TypeError):
            continue  # a half-written line from a test run in progress
    if not groups:
        return None
    return [
        {"widget": w, "what": what, "size": size, "median_ms": statistics.median(ms), "n": len(ms)}
        for (w, what, size), ms in sorted(groups.items())
    ]
