"""benchmarks/: the quick run writes a complete table; baselines compute what maskbench computes.

No timing is asserted anywhere: only that every case ran, ratios are positive numbers, the targets
are evaluated, and each baseline is a fair comparison (same result as the maskbench call).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.filters
import skimage.morphology
import torch
import torch.nn.functional as F

import maskbench as mb
from benchmarks import _report
from benchmarks.__main__ import MODULES
from benchmarks._probes import describe_copies, mask_copies, sync_free
from benchmarks._timing import Row
from benchmarks.cases_extract import per_class_loop
from benchmarks.cases_thresholds import loop_sweep
from benchmarks.cases_widgets import browser_latencies, numpy_overlay
from maskbench.render import image_to_rgba, label_palette, overlay

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("blobby", "rand>0.5")


def _split(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _section(text: str, title: str) -> list[dict[str, str]]:
    """The markdown table under ``## title`` as a list of {column: cell}."""
    lines = text.split(f"## {title}\n", 1)[1].lstrip("\n").split("\n\n")[0].splitlines()
    head = _split(lines[0])
    return [dict(zip(head, _split(line))) for line in lines[2:]]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--device", "cpu", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (out / "cpu.md").read_text(), proc.stdout


def test_quick_run_has_every_case_with_positive_ratios(quick_run: tuple[str, str]) -> None:
    text, _ = quick_run
    rows = _section(text, "Results")
    assert "## Errors" not in text
    seen = {(r["operation"], r["masks"]) for r in rows}
    for name in MODULES:
        for op in importlib.import_module(f"benchmarks.{name}").OPERATIONS:
            for kind in KINDS:
                assert (op, kind) in seen, f"{op} ({kind}) missing from the table"
    for r in rows:
        for col in ("maskbench ms", "baseline ms", "ratio"):
            assert float(r[col]) > 0, (col, r)
        assert r["baseline"] and r["baseline"] != "-"


def test_quick_run_header_and_peers(quick_run: tuple[str, str]) -> None:
    text, stdout = quick_run
    for field in ("**device**", "**date**", "torch 2.", "**torch threads**", "**load average"):
        assert field in text
    rows = _section(text, "Results")
    peers = {r["operation"]: r["peer"] for r in rows if r["peer"] != "-"}
    assert "torchmetrics BinaryPrecisionRecallCurve" in peers["threshold_sweep (256 thresholds)"]
    assert peers["masked BCE fwd+bwd"] in ("MONAI MaskedLoss: not installed", "MONAI MaskedLoss(BCEWithLogitsLoss)")
    assert "cuda" not in stdout.lower() or "skipped" in stdout.lower()  # no GPU here: CUDA is skipped, not run


def test_quick_run_states_every_target(quick_run: tuple[str, str]) -> None:
    targets = _section(quick_run[0], "Targets (issues 6 and 11)")
    assert [t["target"] for t in targets] == [t.text for t in _report.TARGETS]
    for t in targets:
        if t["device"] == "CPU":
            assert t["status"] in ("MET", "MISSED") and t["measured"].startswith("worst "), t
        else:
            assert t["status"].startswith("not measured (CUDA target"), t


def test_cuda_request_without_gpu_is_skipped_with_a_reason(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the CUDA path runs for real")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--device", "cuda", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert "skipped: torch.cuda.is_available() is False" in proc.stdout
    assert not list(tmp_path.iterdir())


# --- the baselines are fair: they compute what maskbench computes ------------------------------


def test_loop_sweep_equals_threshold_sweep(device: torch.device) -> None:
    probs = torch.rand(2, 1, 9, 7, device=device)
    target = torch.rand(2, 1, 9, 7, device=device) > 0.5
    ours = mb.threshold_sweep(probs, target, thresholds=17)
    ref = loop_sweep(probs, target, torch.linspace(0, 1, 17, device=device))
    assert torch.equal(ours.tp.cpu(), ref[:, 0].cpu()) and torch.equal(ours.fp.cpu(), ref[:, 1].cpu())


def test_per_class_loop_equals_extract_classes(device: torch.device) -> None:
    image = torch.rand(2, 3, 6, 5, device=device)
    labels = torch.randint(0, 4, (2, 6, 5), device=device)
    ours = mb.extract_classes(image, labels, num_classes=4)
    values, coords, counts, mean, std = per_class_loop(image, labels, 4)
    assert torch.equal(ours.values, values) and torch.equal(ours.coords, coords)
    assert ours.counts.tolist() == counts
    torch.testing.assert_close(ours.mean, mean.nan_to_num(0.0))
    torch.testing.assert_close(ours.std, std.nan_to_num(0.0))


def test_naive_losses_equal_maskbench_losses(device: torch.device) -> None:
    x = torch.randn(2, 1, 5, 4, device=device)
    t = (torch.rand(2, 1, 5, 4, device=device) > 0.5).float()
    keep = torch.rand(2, 1, 5, 4, device=device) > 0.3
    naive = (F.binary_cross_entropy_with_logits(x, t, reduction="none") * keep.float()).sum() / keep.float().sum()
    torch.testing.assert_close(mb.masked_bce_with_logits(x, t, keep), naive)
    logits, y = torch.randn(2, 5, 4, 3, device=device), torch.randint(0, 5, (2, 4, 3), device=device)
    k = keep[:, 0, :4, :3]
    naive_ce = (F.cross_entropy(logits, y, reduction="none") * k.float()).sum() / k.float().sum()
    torch.testing.assert_close(mb.masked_cross_entropy(logits, y, k), naive_ce)


def test_scikit_image_baselines_match(device: torch.device) -> None:
    x = torch.rand(3, 32, 32)
    ours = mb.threshold_otsu(x.to(device)).cpu()
    ref = torch.tensor([skimage.filters.threshold_otsu(a) for a in x.numpy()])
    bin_width = (x.amax((1, 2)) - x.amin((1, 2))) / 256
    assert ((ours - ref).abs() <= bin_width + 1e-6).all()
    mask = torch.rand(2, 24, 24) > 0.4
    ours_small = mb.remove_small_objects(mask.to(device), min_size=5).cpu().numpy()
    ref_small = [skimage.morphology.remove_small_objects(a, max_size=4) for a in mask.numpy()]
    assert np.array_equal(ours_small, np.stack(ref_small))


def test_numpy_overlay_is_within_one_level_of_render_overlay() -> None:
    rgba = image_to_rgba(torch.rand(3, 8, 9))
    labels = torch.randint(0, 3, (8, 9))
    palette = label_palette(3)
    ours = overlay(rgba, labels, palette, opacity=0.5).numpy().astype(int)
    ref = numpy_overlay(rgba.numpy(), labels.numpy(), palette.numpy(), 0.5).astype(int)
    assert np.abs(ours - ref).max() <= 1


# --- harness pieces -------------------------------------------------------------------------------


def test_mask_copies_sees_float_copies_only_of_the_mask() -> None:
    mask = torch.rand(4, 4) > 0.5
    other = torch.rand(4, 4) > 0.5
    assert describe_copies(mask_copies(lambda: (mask.float(), other.double()), mask), mask) == (
        "mask copied to float32 (4 B/px)"
    )
    assert mask_copies(lambda: torch.where(mask, 1.0, 0.0), mask) == []


def test_sync_free_is_not_measured_off_cuda() -> None:
    assert sync_free(lambda: None, torch.device("cpu")) is None


def test_browser_latencies_median_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "latency.jsonl"
    assert browser_latencies(path) is None
    assert "not measured in this run — run `make test` first" in "\n".join(_report.latency_section(None))
    recs = [{"widget": "tuner", "what": "slider", "size": "1024x1024", "ms": ms} for ms in (5.0, 1.0, 30.0)]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n{half a line")
    (got,) = browser_latencies(path)
    assert got == {"widget": "tuner", "what": "slider", "size": "1024x1024", "median_ms": 5.0, "n": 3}


def test_targets_use_the_worst_row_and_flag_a_float_mask_copy() -> None:
    sweep = _report.TARGETS[0]
    rows = [
        Row("s", "1", 1.0, baseline_s=30.0, key="sweep", masks="blobby"),
        Row("s", "1", 1.0, baseline_s=10.0, key="sweep", masks="rand>0.5"),
    ]
    measured, status = _report.evaluate(sweep, rows, "cpu", None)
    assert status == "MISSED" and measured.startswith("worst 10x")
    bce = _report.TARGETS[4]
    row = Row(
        "b",
        "1",
        1.0,
        baseline_s=2.0,
        key="bce",
        masks="blobby",
        extra={"mask_copies": "mask copied to float32 (4 B/px)"},
    )
    assert _report.evaluate(bce, [row], "cpu", None)[1] == "MISSED"
    row.extra["mask_copies"] = "no wider copy of the mask"
    assert _report.evaluate(bce, [row], "cpu", None)[1] == "MET"
    assert _report.evaluate(_report.TARGETS[5], rows, "cpu", None)[1].startswith("not measured")


def test_cuda_report_shows_sync_and_bandwidth_columns() -> None:
    """The CUDA table is rendered from the same rows: exercised here without a GPU."""
    rows = [
        Row(
            "apply_mask bool, fill 0",
            "8x3x512x512",
            1e-3,
            baseline_s=2e-3,
            baseline="image * mask",
            key="apply_bool",
            masks="blobby",
            bytes_moved=800_000_000,
            sync_free=True,
            extra={"bytes_formula": "image + out"},
        ),
        Row(
            "masked BCE fwd+bwd",
            "8x1x512x512",
            1e-3,
            baseline_s=1e-3,
            baseline="naive",
            key="bce",
            masks="blobby",
            bytes_moved=400_000_000,
            sync_free=False,
        ),
        Row(
            "label_components",
            "4x512x512",
            1e-3,
            baseline_s=1e-3,
            baseline="skimage",
            key="label",
            masks="blobby",
            sync_free=False,
            syncs_documented=True,
        ),
    ]
    text = _report.render({"device": "fake"}, rows, "cuda", 1e12, None, [])
    table = {r["operation"]: r for r in _section(text, "Results")}
    assert table["apply_mask bool, fill 0"]["of copy BW"] == "80%"
    assert table["apply_mask bool, fill 0"]["sync-free"] == "yes"
    assert table["label_components"]["sync-free"] == "no (documented)"
    targets = {t["target"]: t for t in _section(text, "Targets (issues 6 and 11)")}
    assert targets[_report.TARGETS[5].text]["status"] == "MET"  # elementwise: 80% >= 70%
    assert targets[_report.TARGETS[6].text]["status"] == "MISSED"  # losses: 40%
    sync = targets[_report.TARGETS[7].text]
    assert sync["status"] == "MISSED" and "masked BCE fwd+bwd" in sync["measured"] and "label" not in sync["measured"]
    assert targets[_report.TARGETS[0].text]["status"].startswith("not measured (CPU target")


def test_auto_threads_drop_to_one_while_another_core_is_busy() -> None:
    import threading
    import time

    from benchmarks.__main__ import busy_cores, choose_threads

    stop = time.perf_counter() + 3.0

    def spin() -> None:  # one core kept busy by someone else (the sampler sleeps meanwhile)
        while time.perf_counter() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        time.sleep(0.1)
        busy = busy_cores(0.5)
        threads, why = choose_threads("auto")
    finally:
        worker.join()
    if busy is None:
        pytest.skip("no /proc/stat here")
    assert busy >= 0.8, busy
    if (os.cpu_count() or 1) > 1:
        assert threads == 1 and "busy elsewhere" in why, (threads, why)
    assert choose_threads("3") == (3, "--threads")
