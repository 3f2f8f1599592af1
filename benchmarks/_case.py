"""What every case module shares: the --only filter, rep counts, and one timed comparison -> rows."""

from __future__ import annotations

from collections.abc import Callable

import torch

from benchmarks._probes import sync_free
from benchmarks._timing import Row, compare, fmt_ms

_ONLY: list[str | None] = [None]  # set by __main__ from --only


def set_only(text: str | None) -> None:
    _ONLY[0] = text.lower() if text else None


def wanted(*names: str) -> bool:
    """Whether a case whose operation (or module) is one of ``names`` passes the --only filter."""
    only = _ONLY[0]
    return only is None or any(only in n.lower() for n in names)


def reps(quick: bool, *, slow: bool = False) -> tuple[int, int]:
    """(reps, warm-up calls): fewer for slow candidates (seconds per call), few in --quick."""
    if quick:
        return 2, 1
    return (5, 1) if slow else (7, 2)


def measure(
    operation: str,
    size: str,
    masks: str,
    *,
    ours: Callable[[], object],
    baselines: dict[str, Callable[[], object]],
    device: torch.device,
    quick: bool,
    slow: bool = False,
    peer: tuple[str, Callable[[], object] | None] | None = None,
    key: str = "",
    note: str = "",
    bytes_moved: int | None = None,
    bytes_formula: str = "",
    check_sync: bool = True,
    syncs_documented: bool = False,
    reps_warmup: tuple[int, int] | None = None,
) -> list[Row]:
    """Time ``ours``, every baseline and the peer in rotation; one row per baseline.

    ``peer`` is ``(name, fn)``, or ``(reason, None)`` when the peer library is missing: the reason
    (e.g. "MONAI MaskedLoss: not installed") is shown in the peer column. The peer goes on the
    first row only. ``check_sync`` runs ``ours`` once under the CUDA sync debug mode.
    ``reps_warmup`` overrides the rep counts of a full run (for baselines taking many seconds).
    """
    fns = {"ours": ours, **{f"b:{name}": fn for name, fn in baselines.items()}}
    if peer is not None and peer[1] is not None:
        fns["peer"] = peer[1]
    n, warm = reps_warmup if reps_warmup and not quick else reps(quick, slow=slow)
    t = compare(fns, device=device, reps=n, warmup=warm)
    synced = sync_free(ours, device) if check_sync else None
    rows = []
    for i, name in enumerate(baselines):
        row = Row(
            operation=operation,
            size=size,
            ours_s=t["ours"],
            baseline_s=t[f"b:{name}"],
            baseline=name,
            masks=masks,
            key=key,
            note=note,
            bytes_moved=bytes_moved,
            sync_free=synced,
            syncs_documented=syncs_documented,
            extra={"bytes_formula": bytes_formula} if bytes_formula else {},
        )
        if i == 0 and peer is not None:
            row.peer, row.peer_s = peer[0], t.get("peer")
        rows.append(row)
        _print(row)
    return rows


def _print(row: Row) -> None:
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    peer = f"  peer {row.peer} {fmt_ms(row.peer_s)} ms" if row.peer else ""
    print(
        f"  {row.operation:<34} {row.masks:<9} {row.size:<14} {fmt_ms(row.ours_s):>7} ms  "
        f"vs {row.baseline} {fmt_ms(row.baseline_s)} ms = {ratio}{peer}",
        flush=True,
    )


def grad_step(loss_fn: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    """forward + backward, clearing the leaves' .grad first (so nothing accumulates)."""

    def step() -> None:
        for leaf in leaves:
            leaf.grad = None
        loss_fn().backward()

    return step
