"""Resource probes (issue 10 #9, #10): peak memory of the worst valid Painter messages.

Not timings: each probe runs in a fresh subprocess that loads a Painter on an image (its labels
already painted: the blobby scene's, or ``rand > 0.5``), records its peak RSS (``ru_maxrss``) idle,
handles ONE browser message, and records the peak again. The row shows both peaks in MiB in the
"ms" columns (the report has no unit column), the ratio ``idle / peak`` (1.0: the message needed no
memory beyond the loaded widget; higher is better, like the timing ratios) and, in the note, the
message's wall time and what happened to it (applied, rejected by a cap, out of memory, killed).

The messages are the worst that ``parse_edit`` accepts: a lasso of ``MAX_POINTS`` vertices whose
edges sweep every row of the image, and a ``MAX_RADIUS`` brush dragged over as many points as the
work cap (``MAX_SPANS``, when the protocol has one) allows (at most 256 in ``--quick``). The child runs under an address-space
limit (``RLIMIT_AS``) and a time limit, so a regression reports "out of memory" or "killed" instead
of taking the machine down.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks._case import wanted
from benchmarks._timing import Row

OPERATIONS = ("peak RSS: Painter lasso, MAX_POINTS vertices", "peak RSS: Painter brush, MAX_RADIUS stroke")
ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
limit = int(sys.argv[4]) << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np, torch
torch.set_num_threads(1)
from maskbench.widgets import Painter
from maskbench.widgets import _painter_proto as proto

size, kind, tool, quick = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5] == "quick"

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

g = torch.Generator().manual_seed(0)
image = torch.rand(size, size, generator=g)
if kind == "blobby":
    import maskbench as mb
    small = mb.synthetic_scene(min(size, 128), num_classes=3, seed=0).labels.float()
    labels = torch.nn.functional.interpolate(small[None, None], size=(size, size), mode="nearest")[0, 0].to(torch.uint8)
else:
    labels = (torch.rand(size, size, generator=g) > 0.5).to(torch.uint8)
p = Painter(image, mask=labels, classes=("background", "a", "b"))
sent = []
p.send = lambda content, buffers=None: sent.append(content)
cap = getattr(proto, "MAX_SPANS", None)
h = w = size
if tool == "lasso":
    n = proto.MAX_POINTS
    # a sawtooth down the image: each edge spans k rows (all of them when there is no work cap)
    k = h if cap is None else max(1, min(h, cap // n // 2))
    i = np.arange(n)
    base = (i // 2) * max(h - 1 - k, 0) / max(n // 2, 1)
    rows = np.clip(base + np.where(i % 2 == 1, k, 0), -0.5, h - 0.5)
    cols = np.where((i // 2) % 2 == 0, -0.5, w - 0.5)
    content = {"type": "edit", "tool": "lasso", "label": 1, "n": int(n), "id": 1}
else:
    r = proto.MAX_RADIUS
    rows_per_segment = min(h, 2 * r + 1)
    n = 40 if cap is None else int(max(2, min(proto.MAX_POINTS, cap // rows_per_segment // 2)))
    n = min(n, 256) if quick else n  # a smoke run: the full run sends the whole allowed stroke
    i = np.arange(n)
    rows = np.where(i % 2 == 0, -0.5, h - 0.5)
    cols = np.linspace(-0.5, w - 0.5, n)
    content = {"type": "edit", "tool": "brush", "label": 2, "radius": float(r), "n": int(n), "id": 1}
pts = np.stack([rows, cols], axis=1).astype("<f4")
idle = peak_mib()
t0 = time.perf_counter()
outcome = "applied"
try:
    p._on_msg(p, content, [memoryview(pts.tobytes())])
    if p.error:
        outcome = "rejected: " + p.error[:120]
except MemoryError:
    outcome = "out of memory (MemoryError)"
except RuntimeError as err:
    outcome = ("out of memory: " if "alloc" in str(err) else "RuntimeError: ") + str(err)[:100]
seconds = time.perf_counter() - t0
print(json.dumps({"idle": idle, "peak": peak_mib(), "seconds": seconds, "outcome": outcome, "n": int(n)}))
"""


def _vm_hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def probe(size: int, kind: str, tool: str, *, limit_mib: int, timeout: float, quick: bool = False) -> dict:
    """Run one probe in a subprocess; on a timeout, the peak so far read from /proc (Linux)."""
    cmd = [sys.executable, "-c", _CHILD, str(size), kind, tool, str(limit_mib), "quick" if quick else "full"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start, peak = time.perf_counter(), 0.0
    while proc.poll() is None:
        peak = max(peak, _vm_hwm_mib(proc.pid) or 0.0)
        if time.perf_counter() - start > timeout:
            proc.kill()
            proc.wait()
            return {
                "idle": None,
                "peak": peak,
                "seconds": timeout,
                "outcome": f"killed after {timeout:.0f} s",
                "n": None,
            }
        time.sleep(0.05)
    out, err = proc.communicate()
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (err or out).strip().splitlines()[-1:] or ["no output"]
        return {"idle": None, "peak": peak, "seconds": None, "outcome": f"crashed: {tail[0][:120]}", "n": None}


def cases(device: torch.device, quick: bool) -> list[Row]:
    if device.type != "cpu":  # the Painter's edits run on the CPU whatever the device
        return []
    size = 128 if quick else 2048
    limit_mib, timeout = (3072, 60.0) if quick else (6144, 60.0)
    rows: list[Row] = []
    for tool, operation in zip(("lasso", "brush"), OPERATIONS):
        if not wanted(operation, "resources", "rss", "painter"):
            continue
        for kind in ("blobby", "rand>0.5"):
            r = probe(size, kind, tool, limit_mib=limit_mib, timeout=timeout, quick=quick)
            idle = r["idle"] or 1.0
            peak = max(r["peak"] or idle, idle)
            took = "-" if r["seconds"] is None else f"{r['seconds']:.2f} s"
            row = Row(
                operation=operation,
                size=f"{size}x{size}",
                ours_s=peak / 1e3,  # shown by fmt_ms as MiB
                baseline="idle Painter (image + labels loaded)",
                baseline_s=idle / 1e3,
                masks=kind,
                key=f"rss_{tool}",
                note=(
                    f"resource probe, not a time: 'ms' columns = peak RSS in MiB, ratio = idle / peak; "
                    f"{r['n'] or '?'} points, {took}, {r['outcome']}; child limited to {limit_mib} MiB"
                ),
                extra={"outcome": r["outcome"], "seconds": r["seconds"]},
            )
            rows.append(row)
            print(
                f"  {operation:<44} {kind:<9} {size}x{size}: peak {peak:.0f} MiB vs idle {idle:.0f} MiB "
                f"({r['outcome']}, {took})",
                flush=True,
            )
    return rows
