"""Confusion counts of a prediction against a target: the one counting pass behind every metric.

Everything goes through one fixed-size confusion matrix (``target * K + pred`` counted with a
fixed-length bincount / ``index_add_``), so nothing reads tensor data on the host: sync-free on
CUDA. Binary masks take a faster path of three bool reductions. The conventions (``ignore``,
``per_image``, out-of-range labels) are those of :mod:`maskbench.kernels.metrics`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from maskbench._checks import (
    ArgumentTypeError,
    DTypeError,
    ShapeError,
    check_bool,
    check_bool_mask,
    check_broadcast_to,
    check_int,
    check_label_range,
    check_labels,
    check_mask_dtype,
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
    short_repr,
)
from maskbench.kernels._counting import bincount_fixed

MAX_CLASSES = 1 << 16  # class count cap: the (K, K) matrix must fit in memory

__all__ = ["Confusion", "confusion_counts"]


class _Counts(NamedTuple):
    tp: torch.Tensor
    fp: torch.Tensor
    fn: torch.Tensor
    tn: torch.Tensor


class Confusion(_Counts):
    """Confusion counts ``(tp, fp, fn, tn)``: int64 tensors of shape ``()``, ``(B,)``, ``(K,)`` or ``(B, K)``.

    Unpacks like a tuple (``tp, fp, fn, tn = confusion_counts(...)``). ``matrix`` holds the full
    confusion matrix, rows = target and columns = prediction: ``(K, K)`` or ``(B, K, K)``, and
    ``(2, 2)`` / ``(B, 2, 2)`` for binary masks (index 1 = True). It is ``None`` on a Confusion
    built by hand.
    """

    matrix: torch.Tensor | None = None


def _binary_counts(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None, per_image: bool) -> Confusion:
    """Binary counts from three bool reductions: no int64 code map, a few times faster than bincount."""
    if valid is not None:
        valid = valid.expand(target.shape)
        pred, target = pred & valid, target & valid
    dims = tuple(range(1, pred.ndim)) if per_image else tuple(range(pred.ndim))

    def count(x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=dims, dtype=torch.int64) if dims else x.long()

    tp = count(pred & target)
    predicted, actual = count(pred), count(target)
    # pixels per image from the shape (pred[0] would fail on an empty batch)
    per_item = math.prod(pred.shape[1:]) if per_image else pred.numel()
    total = count(valid) if valid is not None else torch.full_like(tp, per_item)
    fp, fn = predicted - tp, actual - tp
    tn = total - tp - fp - fn
    out = Confusion(tp, fp, fn, tn)
    # rows = target, columns = prediction, index 1 = True (as in the multi-class matrix)
    out.matrix = torch.stack([torch.stack([tn, fp], -1), torch.stack([fn, tp], -1)], -2)
    return out


def _valid_from_ignore(ignore: object, target: torch.Tensor, multiclass: bool) -> torch.Tensor | None:
    """Bool tensor (broadcastable to ``target``) of pixels that count, or None for all of them."""
    if ignore is None:
        return None
    if isinstance(ignore, torch.Tensor):
        check_mask_dtype(ignore, "ignore", allow_float=False)
        check_broadcast_to(ignore, "ignore", target.shape, "target")
        return ~ignore
    try:
        value = check_int(ignore, "ignore")
    except ArgumentTypeError:
        expected = "None, a bool mask (True = excluded) or an int label value"
        raise ArgumentTypeError(
            f"ignore: expected {expected}; got {type(ignore).__name__} {short_repr(ignore)}.",
            name="ignore",
            expected=expected,
            got=short_repr(ignore),
        ) from None
    if not multiclass:
        raise ArgumentTypeError(
            f"ignore: an int ignore value needs integer label maps (pass num_classes=K); got {value!r} "
            f"with bool masks. For bool masks pass a bool tensor that is True at the pixels to exclude.",
            name="ignore",
            expected="a bool mask for bool pred/target",
            got=repr(value),
        )
    return target != value


def confusion_counts(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    num_classes: int | None = None,
    ignore: torch.Tensor | int | None = None,
    per_image: bool = False,
) -> Confusion:
    """True/false positives/negatives of a prediction against a target.

    Args:
        pred: bool mask (binary) or integer label map (with ``num_classes``), any shape, e.g.
            ``(H, W)`` or ``(B, H, W)``. Probabilities are rejected: threshold them first
            (:func:`maskbench.threshold`) or take :func:`maskbench.argmax_labels`.
        target: same shape and kind as ``pred``.
        num_classes: ``K`` for label maps with values in ``[0, K)``; ``None`` for bool masks.
        ignore: bool mask broadcastable to ``target`` (True = pixel excluded), or an int label
            value of ``target`` to exclude (label maps only, e.g. 255).
        per_image: count each item of dim 0 separately.

    Returns:
        :class:`Confusion` of int64 tensors: shape ``()`` (binary), ``(B,)`` (binary,
        ``per_image``), ``(K,)`` or ``(B, K)`` (multi-class), plus ``.matrix``. An empty batch
        (``B = 0``) gives empty counts with ``per_image`` (``(0,)``, ``(0, K)``) and zero counts
        without it.

    Syncs: none (bincount on CPU, a fixed-size ``index_add_`` elsewhere).

    Example:
        >>> pred = torch.tensor([[True, True], [False, False]])
        >>> target = torch.tensor([[True, False], [True, False]])
        >>> confusion_counts(pred, target)
        Confusion(tp=tensor(1), fp=tensor(1), fn=tensor(1), tn=tensor(1))
        >>> labels = torch.tensor([[0, 1], [2, 2]])
        >>> confusion_counts(labels, torch.tensor([[0, 1], [1, 255]]), num_classes=3, ignore=255).fp
        tensor([0, 0, 1])
    """
    check_tensor(pred, "pred")
    check_tensor(target, "target")
    check_same_device(pred=pred, target=target, ignore=ignore if isinstance(ignore, torch.Tensor) else None)
    check_same_shape(pred, "pred", target, "target")
    multiclass = num_classes is not None
    if multiclass:
        k = check_int(num_classes, "num_classes", min_value=1, max_value=MAX_CLASSES)
        check_labels(pred, "pred")
        check_labels(target, "target")
    else:
        k = 2
        for x, name in ((pred, "pred"), (target, "target")):
            if x.dtype != torch.bool and not x.is_floating_point():
                raise DTypeError(
                    f"{name}: expected a bool mask, or pass num_classes=K for integer label maps; got "
                    f"{describe(x)}. For a 0/1 or 0/255 mask use `{name} > 0`."
                )
            check_bool_mask(x, name, min_ndim=0)
    if isinstance(ignore, torch.Tensor):
        check_tensor(ignore, "ignore")
    per_image = check_bool(per_image, "per_image")
    if per_image and pred.ndim < 1:
        raise ShapeError(f"pred: per_image=True needs a batch dim (B, ...); got {describe(pred)}.")

    valid = _valid_from_ignore(ignore, target, multiclass)
    if multiclass:
        keep = None if valid is None else valid.expand(target.shape)
        check_label_range(target, "target", num_classes=k, where=keep)
        check_label_range(pred, "pred", num_classes=k, where=keep)
        # On accelerators the range is not checked; out-of-range pixels go to the dump bin.
        in_range = (pred >= 0) & (pred < k) & (target >= 0) & (target < k)
        valid = in_range if valid is None else valid & in_range

    if not multiclass:
        return _binary_counts(pred, target, valid, per_image)

    b = pred.shape[0] if per_image else 1
    code = target.long() * k + pred.long()
    if per_image and b > 1:
        offsets = torch.arange(b, device=pred.device) * (k * k)
        code = code + offsets.view((b,) + (1,) * (pred.ndim - 1))
    dump = b * k * k
    if valid is not None:
        code = torch.where(valid, code, dump)
    counts = bincount_fixed(code.reshape(-1), dump + 1)[:dump].view(b, k, k)
    matrix = counts if per_image else counts[0]
    tp = matrix.diagonal(dim1=-2, dim2=-1)
    fp = matrix.sum(-2) - tp
    fn = matrix.sum(-1) - tp
    tn = matrix.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
    tp = tp.clone()  # own storage rather than a strided view of the matrix
    out = Confusion(tp, fp, fn, tn)
    out.matrix = matrix
    return out
