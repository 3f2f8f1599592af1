"""``python -m benchmarks [--device cpu|cuda|all] [--quick] [--only TEXT] [--out DIR] [--threads N|auto]``.

Runs every case module on each device and writes ``<out>/<device>.md`` (default
``benchmarks/results/``; for ``--quick`` or ``--only`` runs, a temporary folder, so that a partial
run never replaces the committed tables). Without ``--device``: the CPU, plus CUDA when present.

Threads: ``auto`` (the default) keeps torch's thread count unless other processes keep half a core
or more busy when the run starts (measured over 0.5 s from /proc/stat; elsewhere the 1-minute load
average >= the number of cores, which lags): then torch runs on 1 thread,
because multi-threaded kernels whose workers cannot all get a core stall at every parallel region
(measured here: 10-20x slower at load 10 on 2 cores), which would time the scheduler, not the code.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from benchmarks import _case, _report
from benchmarks._timing import Row, copy_bandwidth

MODULES = (
    "cases_apply",
    "cases_extract",
    "cases_losses",
    "cases_thresholds",
    "cases_dataset",
    "cases_morphology",
    "cases_widgets",
    "cases_resources",
    "cases_tiles",
)
RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unavailable"


def _versions() -> str:
    parts = [f"torch {torch.__version__}", f"python {platform.python_version()}"]
    for name in ("numpy", "skimage", "torchmetrics", "monai"):
        try:
            parts.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def choose_threads(spec: str) -> tuple[int, str]:
    """(threads, why) for --threads: an int, or "auto" (see the module docstring)."""
    if spec != "auto":
        return int(spec), "--threads"
    cores = os.cpu_count() or 1
    busy = busy_cores()
    if busy is not None:  # measured now: the 1-minute average lags (a finished run still counts)
        if cores > 1 and busy >= 0.5:
            return (
                1,
                f"auto: {busy:.1f} of {cores} cores busy elsewhere just now, so 1 thread (shared cores stall torch's threads)",
            )
        return torch.get_num_threads(), f"auto: torch's default ({busy:.1f} of {cores} cores busy elsewhere just now)"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if cores > 1 and load >= cores:
        return 1, f"auto: 1-min load {load:.1f} >= {cores} cores, so 1 thread (oversubscribed threads stall)"
    return torch.get_num_threads(), "auto: torch's default"


def busy_cores(seconds: float = 0.5) -> float | None:
    """Cores busy (not idle) over the next ``seconds``, from /proc/stat (this process sleeps meanwhile), or None."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    return cores * (1 - (i1 - i0) / max(1, t1 - t0))


def run_device(device: torch.device, *, quick: bool, out: Path, threads_why: str = "") -> Path:
    name = device.type
    print(f"== {name}: {'quick' if quick else 'full'} run", flush=True)
    start, load_before = time.perf_counter(), _load()
    copy_bw = None
    if device.type == "cuda":
        copy_bw = copy_bandwidth(device, nbytes=(64 if quick else 1024) * 1024 * 1024)
        print(f"  copy bandwidth {copy_bw / 1e9:.0f} GB/s (read + write)", flush=True)
    rows: list[Row] = []
    errors: list[str] = []
    for module_name in MODULES:
        module = importlib.import_module(f"benchmarks.{module_name}")
        try:
            rows += module.cases(device, quick)
        except Exception as err:  # one broken case must not lose the others' numbers
            traceback.print_exc()
            errors.append(f"`{module_name}` failed: {type(err).__name__}: {err}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    from benchmarks.cases_widgets import browser_latencies

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    meta = {
        "device": device_name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": _versions(),
        "torch threads": f"{torch.get_num_threads()} (os.cpu_count() = {os.cpu_count()}; {threads_why})",
        "load average (1, 5, 15 min)": f"before {load_before}; after {_load()}"
        + (
            " — a shared machine: absolute times are noisy, ratios less so"
            if os.getloadavg()[0] > (os.cpu_count() or 1)
            else ""
        ),
        "mode": "quick (small sizes, 2 reps: a smoke run, not a measurement)" if quick else "full",
        "wall time": f"{time.perf_counter() - start:.0f} s",
    }
    if copy_bw is not None:
        meta["measured copy bandwidth"] = f"{copy_bw / 1e9:.0f} GB/s (device-to-device `copy_`, read + write counted)"
    if _case._ONLY[0]:
        meta["filter"] = f"--only {_case._ONLY[0]!r} (cases not matching were skipped)"
    text = _report.render(meta, rows, name, copy_bw, browser_latencies(), errors)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    path.write_text(text + "\n")
    print(f"  wrote {path} ({len(rows)} rows, {time.perf_counter() - start:.0f} s)", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        default=None,
        help="default: cpu, plus cuda when torch.cuda.is_available()",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 reps (a smoke run)")
    parser.add_argument("--only", default=None, help="run only the cases whose operation contains TEXT")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where the tables go (default {RESULTS}; a temporary folder with --quick/--only)",
    )
    parser.add_argument("--threads", default="auto", help="torch CPU threads: N, or auto (default; see above)")
    args = parser.parse_args(argv)
    _case.set_only(args.only)
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "maskbench-bench" if (args.quick or args.only) else RESULTS
    threads, threads_why = choose_threads(args.threads)
    torch.set_num_threads(threads)
    print(f"torch threads: {threads} ({threads_why})", flush=True)
    wanted = ["cpu", "cuda"] if args.device in (None, "all") else [args.device]
    for name in wanted:
        if name == "cuda" and not torch.cuda.is_available():
            print(
                f"== cuda: skipped: torch.cuda.is_available() is False (torch {torch.__version__}, "
                f"built with CUDA {torch.version.cuda or 'none'}); the CUDA table is unmeasured.",
                flush=True,
            )
            continue
        run_device(torch.device(name), quick=args.quick, out=args.out, threads_why=threads_why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
