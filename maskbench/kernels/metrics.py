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
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
)

__all__ = ["Confusion", "confusion_counts", "iou", "dice", "precision", "recall", "f1"]

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
    if multiclass:
        tp = matrix.diagonal(dim1=-2, dim2=-1)
        fp = matrix.sum(-2) - tp
        fn = matrix.sum(-1) - tp
        tn = matrix.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
        tp = tp.clone()  # own storage rather than a strided view of the matrix
    else:
        tp, fp, fn, tn = matrix[..., 1, 1], matrix[..., 0, 1], matrix[..., 1, 0], matrix[..., 0, 0]
    out = Confusion(tp, fp, fn, tn)
    out.matrix = matrix
    return out


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: float) -> torch.Tensor:
    # Divide by a clamped denominator, then pick `empty` where it was zero: no 0/0, no sync.
    dtype = torch.get_default_dtype()
    value = num.to(dtype) / den.clamp_min(1).to(dtype)
    return torch.where(den > 0, value, value.new_full((), empty))


def _score(
    c: Confusion, num: torch.Tensor, den: torch.Tensor, *, multiclass: bool, average: str | None, empty: float
) -> torch.Tensor:
    check_choice(average, "average", _AVERAGES)
    if isinstance(empty, bool) or not isinstance(empty, (int, float)):
        raise TypeError(f"empty: expected a float (e.g. 1.0, 0.0 or float('nan')); got {empty!r}.")
    empty = float(empty)
    if not multiclass or average is None:
        return _ratio(num, den, empty)
    if average == "micro":
        return _ratio(num.sum(-1), den.sum(-1), empty)
    # macro: mean over the classes present in pred or target (as torchmetrics), skipping NaN scores
    value = _ratio(num, den, empty)
    include = ((c.tp + c.fp + c.fn) > 0) & ~value.isnan()
    return _ratio(torch.where(include, value, 0.0).sum(-1), include.sum(-1), empty)


def _metric(formula: str, extra: str, example: str):
    """Docstring shared by the five scores (they differ only in the formula)."""
    return f"""{formula}

    {extra}

    Args:
        pred: bool mask, or integer label map with ``num_classes``; any shape, e.g. ``(B, H, W)``.
        target: same shape and kind as ``pred``.
        num_classes: ``K`` for label maps; ``None`` for bool masks.
        ignore: bool mask broadcastable to ``target`` (True = excluded), or an int label value of
            ``target`` to exclude (label maps only, e.g. 255).
        per_image: score each item of dim 0 separately (adds a leading ``(B,)`` dim).
        average: label maps only: ``None`` (per class), ``"micro"`` (pooled counts) or ``"macro"``
            (mean over the classes present in ``pred`` or ``target``; see the module docstring).
        empty: the score where the denominator is zero (default 1.0, NaN-free; ``float("nan")`` or
            ``0.0`` selectable).

    Returns:
        Default float dtype: ``()`` or ``(B,)`` for bool masks and averaged scores, ``(K,)`` or
        ``(B, K)`` per class.

    Syncs: none.

    Example:
{example}
    """


Tensor = torch.Tensor


def _counts_for(pred, target, num_classes, ignore, per_image) -> Confusion:
    return confusion_counts(pred, target, num_classes=num_classes, ignore=ignore, per_image=per_image)


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
    c = _counts_for(pred, target, num_classes, ignore, per_image)
    return _score(c, c.tp, c.tp + c.fp + c.fn, multiclass=num_classes is not None, average=average, empty=empty)


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
    c = _counts_for(pred, target, num_classes, ignore, per_image)
    return _score(c, 2 * c.tp, 2 * c.tp + c.fp + c.fn, multiclass=num_classes is not None, average=average, empty=empty)


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
    c = _counts_for(pred, target, num_classes, ignore, per_image)
    return _score(c, c.tp, c.tp + c.fp, multiclass=num_classes is not None, average=average, empty=empty)


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
    c = _counts_for(pred, target, num_classes, ignore, per_image)
    return _score(c, c.tp, c.tp + c.fn, multiclass=num_classes is not None, average=average, empty=empty)


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
    return dice(pred, target, num_classes=num_classes, ignore=ignore, per_image=per_image, average=average, empty=empty)


iou.__doc__ = _metric(
    "Intersection over union (Jaccard index) ``tp / (tp + fp + fn)``.",
    "Both ``pred`` and ``target`` empty: ``empty`` (1.0 by default).",
    """        >>> pred = torch.tensor([[True, True], [False, False]])
        >>> target = torch.tensor([[True, False], [False, False]])
        >>> iou(pred, target)
        tensor(0.5000)
        >>> iou(torch.zeros(2, 2, dtype=torch.bool), torch.zeros(2, 2, dtype=torch.bool))
        tensor(1.)
        >>> labels = torch.tensor([[0, 1], [1, 1]])
        >>> iou(labels, torch.tensor([[0, 0], [1, 1]]), num_classes=3)
        tensor([0.5000, 0.6667, 1.0000])
        >>> iou(labels, torch.tensor([[0, 0], [1, 1]]), num_classes=3, average="macro")
        tensor(0.5833)""",
)
dice.__doc__ = _metric(
    "Dice coefficient ``2 tp / (2 tp + fp + fn)``, identical to :func:`f1`.",
    "Both ``pred`` and ``target`` empty: ``empty`` (1.0 by default).",
    """        >>> pred = torch.tensor([[True, True], [False, False]])
        >>> target = torch.tensor([[True, False], [False, False]])
        >>> dice(pred, target)
        tensor(0.6667)
        >>> dice(pred[None].expand(2, 2, 2), target[None].expand(2, 2, 2), per_image=True)
        tensor([0.6667, 0.6667])""",
)
precision.__doc__ = _metric(
    "Precision ``tp / (tp + fp)``.",
    "Nothing predicted: ``empty`` (1.0 by default, whatever the target; torchmetrics gives 0).",
    """        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> precision(pred, target)
        tensor(0.5000)
        >>> precision(pred, target, ignore=torch.tensor([False, True, False, False]))
        tensor(1.)""",
)
recall.__doc__ = _metric(
    "Recall (sensitivity) ``tp / (tp + fn)``.",
    "Empty target: ``empty`` (1.0 by default, whatever the prediction; torchmetrics gives 0).",
    """        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> recall(pred, target)
        tensor(0.5000)
        >>> recall(pred, torch.zeros(4, dtype=torch.bool), empty=float("nan"))
        tensor(nan)""",
)
f1.__doc__ = _metric(
    "F1 score, computed from the counts as ``2 tp / (2 tp + fp + fn)``: the same as :func:`dice`.",
    "Counting keeps it defined where ``2PR / (P + R)`` is 0/0 (tp = 0 with errors gives 0).",
    """        >>> pred = torch.tensor([True, True, False, False])
        >>> target = torch.tensor([True, False, True, False])
        >>> f1(pred, target)
        tensor(0.5000)""",
)
