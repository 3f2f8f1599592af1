"""Checks of one batch for :class:`~maskbench.kernels.dataset_sweep.DatasetSweep`, and item-naming errors.

Every error names the item (its index, e.g. its dataset index, and its id), so that a caller
streaming a dataset can skip it and go on; the sweep is only touched once a batch has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from maskbench._checks.errors import (
    DeviceError,
    DTypeError,
    MaskbenchError,
    MaskValueError,
    ShapeError,
    describe,
    short_repr,
)
from maskbench._checks.tensors import check_tensor

__all__ = ["where", "located", "prepare", "check_batch_values"]


def where(positions: Sequence[int], ids: Sequence[object], i: int | None = None) -> str:
    """``item 7 (id 'scan_007')`` or ``items 8-15 (ids 8..15)`` for error messages."""
    if i is None and len(ids) == 1:
        i = 0
    if i is not None:
        return f"item {positions[i]} (id {short_repr(ids[i], 40)})"
    return f"items {positions[0]}-{positions[-1]} (ids {short_repr(ids[0], 30)}..{short_repr(ids[-1], 30)})"


def located(err: MaskbenchError, where: str, index: int | None, item_id: object) -> MaskbenchError:
    """The same error class with ``where`` in front of the message, and the item on ``.index``/``.id``."""
    out = type(err)(f"{where}: {err}", name=err.name, expected=err.expected, got=err.got)
    out.index, out.id = index, item_id
    return out


def prepare(
    probs, target, ignore, num_classes: int | None, state: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Checks shapes, dtypes and devices (no values): ``(x, pos, drop)`` as ``(B, K, H, W)`` views.

    ``x`` the probabilities, ``pos`` the target (per class), ``drop`` the excluded pixels or None;
    ``state`` is the sweep's state tensor (its device must match), None before the first batch.
    """
    check_tensor(probs, "probs")
    check_tensor(target, "target")
    if not probs.is_floating_point():
        raise DTypeError(f"probs: expected floating probabilities; got {describe(probs)}. Use `probs.float()`.")
    k = num_classes
    if k is None:
        if probs.ndim not in (3, 4) or (probs.ndim == 4 and probs.shape[1] != 1):
            raise ShapeError(
                f"probs: expected (B, H, W) or (B, 1, H, W); got {describe(probs)}. For (B, K, H, W) class "
                f"probabilities pass num_classes=K; for one (H, W) image use `probs[None]`."
            )
        x = probs.reshape(probs.shape[0], 1, *probs.shape[-2:])
    else:
        if probs.ndim != 4 or probs.shape[1] != k:
            raise ShapeError(f"probs: expected (B, K, H, W) with K = num_classes = {k}; got {describe(probs)}.")
        x = probs
    b, _, h, w = x.shape
    if tuple(target.shape) not in ((b, h, w), (b, 1, h, w)):
        raise ShapeError(
            f"target: expected (B, H, W) = {(b, h, w)} or (B, 1, H, W) to match probs {tuple(probs.shape)}; "
            f"got {describe(target)}."
        )
    devices = {"probs": probs.device, "target": target.device}
    if isinstance(ignore, torch.Tensor):
        devices["ignore"] = ignore.device
    if state is not None:
        devices["the sweep's state"] = state.device
    if len(set(devices.values())) > 1:
        got = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise DeviceError(f"probs, target, ignore: expected one device; got {got}. Move them with `.to(device)`.")
    t = target.reshape(b, 1, h, w)
    if k is None:
        if t.is_complex():
            raise DTypeError(f"target: expected a bool mask; got {describe(target)}. Use `target > 0`.")
        pos = t if t.dtype == torch.bool else t != 0
    else:
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise DTypeError(
                f"target: expected integer labels in [0, {k}) with num_classes={k}; got {describe(target)}. "
                f"Cast with `target.long()`."
            )
        pos = t == torch.arange(k, device=t.device).view(1, k, 1, 1)
    drop = None
    if isinstance(ignore, torch.Tensor):
        if ignore.dtype != torch.bool:
            raise DTypeError(f"ignore: expected a bool mask (True = excluded); got {describe(ignore)}.")
        shape = tuple(ignore.shape)
        if ignore.ndim == 4 and ignore.shape[1] == 1:  # (B, 1, H, W) -> (B, H, W)
            shape = shape[:1] + shape[2:]
        if ignore.ndim > 4 or len(shape) > 3 or any(s not in (1, g) for s, g in zip(shape[::-1], (w, h, b))):
            raise ShapeError(
                f"ignore: expected a bool mask broadcastable to (B, H, W) = {(b, h, w)}; got {describe(ignore)}."
            )
        drop = ignore.reshape((1,) * (3 - len(shape)) + shape).unsqueeze(1)
    elif ignore is not None:
        if k is None or isinstance(ignore, bool) or not isinstance(ignore, int):
            raise DTypeError(
                f"ignore: expected None, a bool mask, or (with num_classes) an int label value; got "
                f"{short_repr(ignore)}."
            )
        drop = t == ignore
    return x, pos, drop


def check_batch_values(x, drop, target, num_classes: int | None, positions: Sequence[int], ids: list[object]) -> None:
    """Rejects non-finite probabilities and non-binary (or out-of-range) targets, naming the first bad item.

    One host read when everything is fine.
    """
    b = x.shape[0]
    # a per-image sum is finite when every value is (NaN and Inf propagate); only a suspicious sum
    # (possibly a finite overflow) pays for the elementwise test
    bad_probs = ~torch.isfinite(x.flatten(1).sum(1, dtype=torch.promote_types(x.dtype, torch.float32)))
    if num_classes is None:
        t = target.reshape(b, -1)
        bad_target = ((t != 0) & (t != 1)).any(1) if t.dtype != torch.bool else torch.zeros_like(bad_probs)
    else:
        k = num_classes
        t = target.reshape(b, 1, *x.shape[-2:])
        out = (t < 0) | (t >= k)
        if drop is not None:
            out = out & ~drop
        bad_target = out.flatten(1).any(1)
    bad = torch.stack([bad_probs, bad_target])
    if not bool(bad.any()):  # the one host read
        return
    bad[0] = ~torch.isfinite(x).flatten(1).all(1)  # exact, now that something looks wrong
    if not bool(bad.any()):
        return
    which, i = (0, int(bad[0].nonzero()[0])) if bool(bad[0].any()) else (1, int(bad[1].nonzero()[0]))
    place = where(positions, ids, i)
    if which == 0:
        v = x[i][~torch.isfinite(x[i])]
        err = MaskValueError(
            f"probs: expected finite probabilities; got {v.numel()} non-finite value(s) such as "
            f"{v[:4].tolist()} in {describe(x[i])}. Fix the model output, or skip this item.",
            name="probs",
            expected="finite values",
            got=f"{v.numel()} non-finite",
        )
    elif num_classes is None:
        v = torch.unique(target.reshape(b, -1)[i])[:6].tolist()
        err = MaskValueError(
            f"target: expected a binary mask (bool, or values 0 and 1); got values {v} in {describe(target.reshape(b, -1)[i])}. "
            f"Convert a 0/255 mask with `target > 0`.",
            name="target",
            expected="0/1",
            got=str(v),
        )
    else:
        v = torch.unique(target.reshape(b, -1)[i])[:8].tolist()
        err = MaskValueError(
            f"target: expected labels in [0, {num_classes - 1}]; got values {v}. Raise num_classes, or "
            f"exclude an ignore label with ignore=<value>.",
            name="target",
            expected=f"labels in [0, {num_classes})",
            got=str(v),
        )
    raise located(err, place, positions[i], ids[i]) from None
