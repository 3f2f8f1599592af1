"""The markdown report: header, targets from issues 6 and 11 (MET/MISSED), the table, browser latencies."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks._timing import Row, fmt_ms


@dataclass(frozen=True)
class Target:
    text: str
    device: str  # "cpu" or "cuda"
    keys: tuple[str, ...]  # Row.key values it is measured on (the worst row decides)
    measure: str  # "ratio", "peer_ratio", "bandwidth" or "sync"
    minimum: float = 0.0
    masks: str = ""  # only rows with these masks ("" = any)


TARGETS = (
    # issue 6 (tests index these first entries)
    Target("threshold_sweep >= 20x the per-threshold loop", "cpu", ("sweep",), "ratio", 20.0),
    Target("threshold_sweep >= 5x torchmetrics BinaryPrecisionRecallCurve", "cpu", ("sweep",), "peer_ratio", 5.0),
    Target("extract_classes >= 5x the per-class boolean-indexing loop", "cpu", ("extract_classes",), "ratio", 5.0),
    Target("batched Otsu >= 3x scikit-image per image", "cpu", ("otsu",), "ratio", 3.0),
    Target("masked BCE forward+backward >= 1.0x naive, with no float copy of the mask", "cpu", ("bce",), "ratio", 1.0),
    Target(
        "elementwise masking >= 70% of the measured copy bandwidth",
        "cuda",
        ("apply_bool", "apply_weighted", "apply_mean", "assign"),
        "bandwidth",
        0.70,
    ),
    Target("masked losses >= 70% of the measured copy bandwidth", "cuda", ("bce", "ce", "dice"), "bandwidth", 0.70),
    Target("no host sync in the sync-free kernels (set_sync_debug_mode('error'))", "cuda", (), "sync"),
    # issue 11: elementwise paths close to a bare multiply; scalable inpaint; CPU clean-up backends
    Target("apply_mask bool on a random mask >= 0.8x image * mask", "cpu", ("apply_bool",), "ratio", 0.8, "rand>0.5"),
    Target(
        "apply_mask weighted >= 0.5x image * w (NaN/Inf under w == 0 kept out)",
        "cpu",
        ("apply_weighted",),
        "ratio",
        0.5,
    ),
    Target("apply_mask fill='mean' >= 0.8x the naive mean-and-where", "cpu", ("apply_mean",), "ratio", 0.8),
    Target("inpaint 3x2048^2 within 20x a zero fill (ratio >= 0.05)", "cpu", ("inpaint_2048",), "ratio", 0.05),
    Target("masked cross-entropy forward+backward >= 1.0x naive", "cpu", ("ce",), "ratio", 1.0),
    Target("class_stats (statistics only) >= 5x the per-class loop", "cpu", ("class_stats",), "ratio", 5.0),
)


def _value(row: Row, measure: str, copy_bw: float | None) -> float | None:
    if measure == "ratio":
        return row.ratio
    if measure == "peer_ratio":
        return row.peer_ratio
    if measure == "bandwidth" and copy_bw and row.bytes_moved:
        return row.bytes_moved / row.ours_s / copy_bw
    return None


def ratio_text(v: float | None) -> str:
    """Three significant digits, never in exponent notation (0.0424, 1.66, 195, 1403)."""
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def _fmt(v: float, measure: str) -> str:
    return f"{v:.0%}" if measure == "bandwidth" else f"{ratio_text(v)}x"


def evaluate(target: Target, rows: list[Row], device: str, copy_bw: float | None) -> tuple[str, str]:
    """(measured, status) for one target on this run's rows."""
    if target.device != device:
        return "-", f"not measured ({target.device.upper()} target; this run is on {device.upper()})"
    if target.measure == "sync":
        checked = [r for r in rows if r.sync_free is not None and not r.syncs_documented]
        if not checked:
            return "-", "not measured (no sync-free case ran)"
        bad = sorted({r.operation for r in checked if not r.sync_free})
        measured = f"{len(checked) - sum(not r.sync_free for r in checked)}/{len(checked)} rows sync-free"
        return measured + (f"; syncs in: {', '.join(bad)}" if bad else ""), "MISSED" if bad else "MET"
    # one value per distinct measurement (rows sharing a timing repeat it for each baseline)
    seen = {}
    for r in rows:
        if target.masks and r.masks != target.masks:
            continue
        if r.key in target.keys and (v := _value(r, target.measure, copy_bw)) is not None:
            seen.setdefault((r.key, r.masks, r.size), (v, r))
    if not seen:
        return "-", "not measured (cases filtered out, or the peer is not installed)"
    parts = [f"{r.key} {r.masks} {_fmt(v, target.measure)}" for v, r in seen.values()]
    worst = min(v for v, _ in seen.values())
    ok = worst >= target.minimum
    extra = ""
    if target.keys == ("bce",):
        copies = {r.extra.get("mask_copies", "") for r in rows if r.key == "bce" and r.extra.get("mask_copies")}
        floats = [c for c in copies if "float" in c]
        ok = ok and not floats
        extra = "; " + ("; ".join(sorted(copies)) if copies else "mask copies not probed")
    return f"worst {_fmt(worst, target.measure)} ({', '.join(parts)}){extra}", "MET" if ok else "MISSED"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: list[Row], cuda: bool, copy_bw: float | None) -> list[str]:
    head = [
        "operation",
        "masks",
        "size",
        "maskbench ms",
        "baseline",
        "baseline ms",
        "ratio",
        "peer",
        "peer ms",
        "peer ratio",
    ]
    if cuda:
        head += ["sync-free", "bytes counted", "MB", "GB/s", "of copy BW"]
    head.append("note")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.operation,
            r.masks,
            r.size,
            fmt_ms(r.ours_s),
            r.baseline,
            fmt_ms(r.baseline_s),
            ratio_text(r.ratio),
            r.peer or "-",
            fmt_ms(r.peer_s),
            ratio_text(r.peer_ratio),
        ]
        if cuda:
            sync = "-" if r.sync_free is None else ("yes" if r.sync_free else "no")
            if r.sync_free is False and r.syncs_documented:
                sync = "no (documented)"
            bw = None if not r.bytes_moved else r.bytes_moved / r.ours_s
            cells += [
                sync,
                r.extra.get("bytes_formula", "-"),
                "-" if not r.bytes_moved else f"{r.bytes_moved / 1e6:.0f}",
                "-" if bw is None else f"{bw / 1e9:.0f}",
                "-" if bw is None or not copy_bw else f"{bw / copy_bw:.0%}",
            ]
        cells.append(r.note or "")
        out.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
    return out


def latency_section(latencies: list[dict] | None) -> list[str]:
    out = ["## Browser latencies", ""]
    if latencies is None:
        return out + [
            "not measured in this run — run `make test` first (the browser tests write "
            "`tests/browser/_artifacts/latency.jsonl`).",
            "",
        ]
    out += [
        "Median of the browser tests' measurements (`tests/browser/_artifacts/latency.jsonl`, from the last "
        "`make test`, not from this run).",
        "",
        "| widget | what | size | median ms | n |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {_cell(d['widget'])} | {_cell(d['what'])} | {d['size']} | {fmt_ms(d['median_ms'] / 1e3)} | {d['n']} |"
        for d in latencies
    ]
    sizes = {d["size"] for d in latencies}
    missing = [s for s in ("1024x1024", "4096x4096") if s not in sizes]
    if missing:
        out += ["", f"Not measured by the browser tests yet at: {', '.join(missing)}."]
    return out + [""]


def render(
    meta: dict[str, str],
    rows: list[Row],
    device: str,
    copy_bw: float | None,
    latencies: list[dict] | None,
    errors: list[str],
) -> str:
    lines = [f"# maskbench benchmarks: {device.upper()}", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta.items()]
    lines += [
        "",
        "Times are medians of interleaved repetitions after warm-up; ratio = baseline ms / maskbench ms "
        "and peer ratio = peer ms / maskbench ms (> 1: maskbench is faster), both measured in this run. "
        "Masks: `blobby` from `maskbench.synthetic_scene` (drawn at up to 256^2, rotated/flipped for the batch, "
        "upsampled for larger sizes), `rand>0.5` from `torch.rand(...) > 0.5`.",
        "",
    ]
    lines += ["## Targets (issues 6 and 11)", "", "| target | device | measured | status |", "|---|---|---|---|"]
    for t in TARGETS:
        measured, status = evaluate(t, rows, device, copy_bw)
        lines.append(f"| {_cell(t.text)} | {t.device.upper()} | {_cell(measured)} | {status} |")
    lines += ["", "## Results", ""] + table(rows, device == "cuda", copy_bw) + [""]
    if errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    lines += latency_section(latencies)
    return "\n".join(lines)
