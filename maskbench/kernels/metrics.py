"""Segmentation metrics from confusion counts: IoU, Dice, precision, recall, F1.

Everything goes through one fixed-size confusion matrix (``target * K + pred`` counted with a
fixed-length bincount / ``index_add_``), so the functions never read tensor data on the host: they
are sync-free on CUDA.

Conventions (the same for every metric):

* **Binary** (``num_classes=None``): ``pred`` and ``target`` are bool masks of the same shape; the
  counts are for the positive (True) class.
* **Multi-class** (``num_classes=K``): ``pred`` and ``target`` are integer label maps of the same
  shape; counts are per class, shape ``(K,)`` (one-vs-rest). The confusion matrix has rows = target
  and columns = prediction (as scikit-learn and torchmetrics).
* ``ignore``: a bool mask (True = pixel excluded) that broadcasts to ``target``, or, for label maps,
  an int value of ``target`` whose pixels are excluded (e.g. 255). An ignore value inside
  ``[0, K)`` only removes the pixels whose *target* is that class; the class keeps its column.
* ``per_image``: dim 0 is the batch; counts and scores get a leading ``(B,)`` dim.
* ``empty`` (default 1.0): the score when its denominator is zero - e.g. IoU and Dice when the
  prediction and the target are both empty, precision when nothing is predicted, recall when the
  target is empty. Scores are NaN-free unless you choose ``empty=float("nan")``.
  torchmetrics uses ``zero_division=0`` by default: pass ``empty=0.0`` to match it.
* ``average`` (multi-class): ``None`` per class ``(K,)``; ``"micro"`` pools the counts of all
  classes first; ``"macro"`` is the mean of the per-class scores over the classes **present** (in
  the prediction or the target, after ``ignore``); absent classes are excluded whatever ``empty``
  is, and so are classes whose score is NaN (``empty=nan``). With no class present, macro is
  ``empty``. This matches torchmetrics' macro. For binary masks there is one class, so every
  ``average`` gives the same value.

Out-of-range labels raise on CPU; on accelerators they are not checked (that would sync) and such
pixels are left out of the counts.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from maskbench._checks import (
    DTypeError,
    ShapeError,
    check_bool_mask,
    check_broadcast_to,
    check_choice,
    check_int,
    check_label_range,
    check_labels,
    check_mask_dtype,
    check_number,
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
)

__all__ = [
    "Confusion",
    "confusion_counts",
    "scores_from_counts",
    "SCORE_METRICS",
    "iou",
    "dice",
    "precision",
    "recall",
    "f1",
]

_AVERAGES = (None, "micro", "macro")


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


def _bincount_fixed(index: torch.Tensor, size: int, *, use_bincount: bool | None = None) -> torch.Tensor:
    """Counts of each value of a flat int64 ``index`` whose values all lie in ``[0, size)``; shape ``(size,)``.

    ``torch.bincount`` reads the maximum on the host (a sync on CUDA) and has a data-dependent
    size under torch.compile, so off CPU the counts are scatter-added into a fixed buffer.
    """
    if use_bincount is None:
        use_bincount = index.device.type == "cpu" and not torch.compiler.is_compiling()
    if use_bincount:
        return torch.bincount(index, minlength=size)
    out = torch.zeros(size, dtype=torch.int64, device=index.device)
    ones = torch.ones((), dtype=torch.int64, device=index.device).expand(index.numel())
    return out.index_add_(0, index, ones)


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
    total = count(valid) if valid is not None else torch.full_like(tp, pred[0].numel() if per_image else pred.numel())
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
    if isinstance(ignore, int) and not isinstance(ignore, bool):
        if not multiclass:
            raise TypeError(
                f"ignore: an int ignore value needs integer label maps (pass num_classes=K); got {ignore!r} "
                f"with bool masks. For bool masks pass a bool tensor that is True at the pixels to exclude."
            )
        return target != ignore
    raise TypeError(
        f"ignore: expected None, a bool mask (True = excluded) or an int label value; got {type(ignore).__name__} "
        f"{ignore!r}."
    )


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
        ``per_image``), ``(K,)`` or ``(B, K)`` (multi-class), plus ``.matrix``.

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
        k = check_int(num_classes, "num_classes", min_value=1)
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
    counts = _bincount_fixed(code.reshape(-1), dump + 1)[:dump].view(b, k, k)
    matrix = counts if per_image else counts[0]
    tp = matrix.diagonal(dim1=-2, dim2=-1)
    fp = matrix.sum(-2) - tp
    fn = matrix.sum(-1) - tp
    tn = matrix.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
    tp = tp.clone()  # own storage rather than a strided view of the matrix
    out = Confusion(tp, fp, fn, tn)
    out.matrix = matrix
    return out


SCORE_METRICS = ("iou", "dice", "f1", "precision", "recall")
"""Names accepted by :func:`scores_from_counts` (``"f1"`` is the same score as ``"dice"``)."""


def scores_from_counts(
    tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, *, metric: str, empty: float = 1.0
) -> torch.Tensor:
    """A score from confusion counts, elementwise: the one formula behind every metric and sweep curve.

    =============  ==========================  ==============================
    ``metric``     formula                     ``empty`` when
    =============  ==========================  ==============================
    ``"iou"``      ``tp / (tp + fp + fn)``     prediction and target empty
    ``"dice"``     ``2 tp / (2 tp + fp + fn)``  prediction and target empty
    ``"f1"``       same as ``"dice"``          prediction and target empty
    ``"precision"`` ``tp / (tp + fp)``         nothing predicted
    ``"recall"``   ``tp / (tp + fn)``          empty target
    =============  ==========================  ==============================

    Args:
        tp, fp, fn: counts (int or float tensors) of any shapes that broadcast together, e.g. a
            :class:`Confusion`'s fields or a sweep's ``(T,)`` curves.
        metric: one of :data:`SCORE_METRICS`.
        empty: the score where the denominator is 0 (default 1.0; ``0.0`` is torchmetrics'
            ``zero_division=0``, ``float("nan")`` marks them).

    Returns:
        The broadcast shape, in the default float dtype (or the counts' wider float dtype, e.g.
        float64 counts give float64).

    Syncs: none (a clamped denominator and ``torch.where``, no branch on the data).

    Example:
        >>> tp, fp, fn = torch.tensor([1, 0, 3]), torch.tensor([1, 0, 0]), torch.tensor([0, 0, 1])
        >>> scores_from_counts(tp, fp, fn, metric="iou")
        tensor([0.5000, 1.0000, 0.7500])
        >>> scores_from_counts(tp, fp, fn, metric="precision", empty=0.0)
        tensor([0.5000, 0.0000, 1.0000])
    """
    check_choice(metric, "metric", SCORE_METRICS)
    empty = check_number(empty, "empty", finite=False)
    for value, name in ((tp, "tp"), (fp, "fp"), (fn, "fn")):
        check_tensor(value, name)
    check_same_device(tp=tp, fp=fp, fn=fn)
    if metric == "iou":
        num, den = tp, tp + fp + fn
    elif metric in ("dice", "f1"):
        num, den = 2 * tp, 2 * tp + fp + fn
    elif metric == "precision":
        num, den = tp, tp + fp
    else:
        num, den = tp, tp + fn
    return _ratio(num, den, empty)


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: float) -> torch.Tensor:
    # Divide by a denominator with its zeros replaced by 1, then pick `empty` there: no 0/0, no sync.
    dtype = torch.get_default_dtype()
    if den.is_floating_point() or num.is_floating_point():
        dtype = torch.promote_types(torch.promote_types(num.dtype, den.dtype), dtype)
    den = den.to(dtype)
    nonzero = den > 0
    value = num.to(dtype) / torch.where(nonzero, den, 1.0)
    return torch.where(nonzero, value, value.new_full((), empty))


def _score(c: Confusion, metric: str, *, multiclass: bool, average: str | None, empty: float) -> torch.Tensor:
    check_choice(average, "average", _AVERAGES)
    empty = check_number(empty, "empty", finite=False)
    if not multiclass or average is None:
        return scores_from_counts(c.tp, c.fp, c.fn, metric=metric, empty=empty)
    if average == "micro":
        return scores_from_counts(c.tp.sum(-1), c.fp.sum(-1), c.fn.sum(-1), metric=metric, empty=empty)
    # macro: mean over the classes present in pred or target, skipping NaN scores
    value = scores_from_counts(c.tp, c.fp, c.fn, metric=metric, empty=empty)
    include = ((c.tp + c.fp + c.fn) > 0) & ~value.isnan()
    return _ratio(torch.where(include, value, 0.0).sum(-1), include.sum(-1), empty)


def _metric(metric: str, pred, target, num_classes, ignore, per_image, average, empty) -> torch.Tensor:
    c = confusion_counts(pred, target, num_classes=num_classes, ignore=ignore, per_image=per_image)
    return _score(c, metric, multiclass=num_classes is not None, average=average, empty=empty)


Tensor = torch.Tensor


def iou(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore: Tensor | int | None = None,
    per_image: bool = False,
    average: str | None = None,
    empty: float = 1.0,
) -> Tensor:
    """Intersection over union (Jaccard index) ``tp / (tp + fp + fn)``.

    Both ``pred`` and ``target`` empty: ``empty`` (1.0 by default).

    Args:
        pred, target, num_classes, ignore, per_image: as in :func:`confusion_counts` (bool masks,
            or integer label maps with ``num_classes=K``; any shape such as ``(B, H, W)``).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0; ``0.0`` or ``float("nan")``).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
        >>> pred = torch.tensor([[True, True], [False, False]])
        >>> target = torch.tensor([[True, False], [False, False]])
        >>> iou(pred, target)
        tensor(0.5000)
        >>> iou(torch.zeros(2, 2, dtype=torch.bool), torch.zeros(2, 2, dtype=torch.bool))
        tensor(1.)
        >>> labels = torch.tensor([[0, 1], [1, 1]])
        >>> iou(labels, torch.tensor([[0, 0], [1, 1]]), num_classes=3)
        tensor([0.5000, 0.6667, 1.0000])
        >>> iou(labels, torch.tensor([[0, 0], [1, 1]]), num_classes=3, average="macro")
        tensor(0.5833)
    """
    return _metric("iou", pred, target, num_classes, ignore, per_image, average, empty)


def dice(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore: Tensor | int | None = None,
    per_image: bool = False,
    average: str | None = None,
    empty: float = 1.0,
) -> Tensor:
    """Dice coefficient ``2 tp / (2 tp + fp + fn)``, identical to :func:`f1`.

    Both ``pred`` and ``target`` empty: ``empty`` (1.0 by default).

    Args:
        pred, target, num_classes, ignore, per_image: as in :func:`confusion_counts` (bool masks,
            or integer label maps with ``num_classes=K``; any shape such as ``(B, H, W)``).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0; ``0.0`` or ``float("nan")``).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
        >>> pred = torch.tensor([[True, True], [False, False]])
        >>> target = torch.tensor([[True, False], [False, False]])
        >>> dice(pred, target)
        tensor(0.6667)
        >>> dice(pred[None].expand(2, 2, 2), target[None].expand(2, 2, 2), per_image=True)
        tensor([0.6667, 0.6667])
    """
    return _metric("dice", pred, target, num_classes, ignore, per_image, average, empty)


def precision(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore: Tensor | int | None = None,
    per_image: bool = False,
    average: str | None = None,
    empty: float = 1.0,
) -> Tensor:
    """Precision ``tp / (tp + fp)``.

    Nothing predicted: ``empty`` (1.0 by default, whatever the target; torchmetrics gives 0).

    Args:
        pred, target, num_classes, ignore, per_image: as in :func:`confusion_counts` (bool masks,
            or integer label maps with ``num_classes=K``; any shape such as ``(B, H, W)``).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0; ``0.0`` or ``float("nan")``).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> precision(pred, target)
        tensor(0.5000)
        >>> precision(pred, target, ignore=torch.tensor([False, True, False, False]))
        tensor(1.)
    """
    return _metric("precision", pred, target, num_classes, ignore, per_image, average, empty)


def recall(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore: Tensor | int | None = None,
    per_image: bool = False,
    average: str | None = None,
    empty: float = 1.0,
) -> Tensor:
    """Recall (sensitivity) ``tp / (tp + fn)``.

    Empty target: ``empty`` (1.0 by default, whatever the prediction; torchmetrics gives 0).

    Args:
        pred, target, num_classes, ignore, per_image: as in :func:`confusion_counts` (bool masks,
            or integer label maps with ``num_classes=K``; any shape such as ``(B, H, W)``).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0; ``0.0`` or ``float("nan")``).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> recall(pred, target)
        tensor(0.5000)
        >>> recall(pred, torch.zeros(4, dtype=torch.bool), empty=float("nan"))
        tensor(nan)
    """
    return _metric("recall", pred, target, num_classes, ignore, per_image, average, empty)


def f1(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore: Tensor | int | None = None,
    per_image: bool = False,
    average: str | None = None,
    empty: float = 1.0,
) -> Tensor:
    """F1 score, computed from the counts as ``2 tp / (2 tp + fp + fn)``: the same as :func:`dice`.

    Counting keeps it defined where ``2PR / (P + R)`` is 0/0 (tp = 0 with errors gives 0).

    Args:
        pred, target, num_classes, ignore, per_image: as in :func:`confusion_counts` (bool masks,
            or integer label maps with ``num_classes=K``; any shape such as ``(B, H, W)``).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0; ``0.0`` or ``float("nan")``).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> f1(pred, target)
        tensor(0.5000)
    """
    return _metric("f1", pred, target, num_classes, ignore, per_image, average, empty)
