"""Segmentation metrics from confusion counts: IoU, Dice, precision, recall, F1.

Every score is :func:`scores_from_counts` over the counts of :func:`maskbench.confusion_counts`
(one fixed-size confusion matrix, in :mod:`maskbench.kernels.confusion`), so the functions never
read tensor data on the host: they are sync-free on CUDA.

Conventions (the same for every metric):

* **Binary** (``num_classes=None``): ``pred`` and ``target`` are bool masks of the same shape; the
  counts are for the positive (True) class.
* **Multi-class** (``num_classes=K``): ``pred`` and ``target`` are integer label maps of the same
  shape; counts are per class, shape ``(K,)`` (one-vs-rest). The confusion matrix has rows = target
  and columns = prediction (as scikit-learn and torchmetrics).
* ``ignore``: a bool mask (True = pixel excluded) that broadcasts to ``target``, or, for label maps,
  an int value of ``target`` whose pixels are excluded (e.g. 255). An ignore value inside
  ``[0, K)`` only removes the pixels whose *target* is that class; the class keeps its column
  (predicting it elsewhere is a false positive) and counts in the ``"micro"`` and ``"macro"``
  averages. torchmetrics' precision, recall and F1 do the same; its ``MulticlassJaccardIndex``
  instead drops that class from its averages: to get its macro IoU, average
  ``iou(..., average=None)`` over the present classes other than the ignored one.
* ``per_image``: dim 0 is the batch; counts and scores get a leading ``(B,)`` dim.
* ``empty`` (default 1.0): the score when its denominator is zero - e.g. IoU and Dice when the
  prediction and the target are both empty, precision when nothing is predicted, recall when the
  target is empty. Scores are NaN-free unless you choose ``empty=float("nan")``.
  torchmetrics uses ``zero_division=0`` by default: pass ``empty=0.0`` to match it.
* ``average`` (multi-class): ``None`` per class ``(K,)``; ``"micro"`` pools the counts of all
  classes first; ``"macro"`` is the mean of the per-class scores over the classes **present** (in
  the prediction or the target, after ``ignore``); absent classes are excluded whatever ``empty``
  is, and so are classes whose score is NaN (``empty=nan``). With no class present, macro is
  ``empty``. This matches torchmetrics' macro (``zero_division=0`` with ``empty=0.0``), except
  for its IoU with an ignore value inside ``[0, K)`` (see ``ignore``). For binary masks there is
  one class, so every ``average`` gives the same value.

Out-of-range labels raise on CPU; on accelerators they are not checked (that would sync) and such
pixels are left out of the counts.
"""

from __future__ import annotations

import torch

from maskbench._checks import check_choice, check_number, check_same_device, check_tensor
from maskbench.kernels.confusion import Confusion, confusion_counts

__all__ = ["scores_from_counts", "SCORE_METRICS", "iou", "dice", "precision", "recall", "f1"]

_AVERAGES = (None, "micro", "macro")


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
