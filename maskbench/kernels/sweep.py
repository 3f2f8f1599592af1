"""Confusion counts at every threshold in one pass: precision/recall/IoU/Dice curves.

Convention: a pixel with probability ``p`` is predicted positive at threshold ``t`` when
**``p > t``** (strictly above), exactly ``maskbench.threshold(probs, t)``, so the best threshold
of a sweep gives the same mask when applied (scikit-image's ``x > threshold_otsu(x)`` rule).
torchmetrics' binned curves count ``p >= t``: the two differ only for probabilities exactly equal
to a threshold. Instead of thresholding T times, each pixel is
put in the bucket "number of thresholds < p" (``0..T``), positives and negatives are counted in
one fixed ``2 * (T + 1)``-bin histogram, and a reverse cumulative sum gives TP and FP at every
threshold: O(N + T) time, O(T) state, exact int64 counts, no host sync.

Comparisons happen in ``torch.promote_types(probs.dtype, thresholds.dtype)`` (float32 thresholds
with float16 probabilities compare in float32). NaN probabilities are never positive (``nan > t``
is False). Values outside [0, 1] are compared as they are (no sigmoid is applied).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from maskbench._checks import (
    ArgumentTypeError,
    DTypeError,
    check_broadcast_to,
    check_choice,
    check_increasing,
    check_int,
    check_mask_dtype,
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
    short_repr,
)
from maskbench.kernels._counting import bincount_fixed
from maskbench.kernels.metrics import SCORE_METRICS, scores_from_counts

__all__ = ["SweepResult", "threshold_sweep", "ThresholdSweep"]

# Largest T for the arithmetic bucket path; beyond it, torch.bucketize (float32 rounding stays far
# below half a bin up to here, and the exhaustive test covers it).
_UNIFORM_MAX = 65536
MAX_THRESHOLDS = 1 << 20  # evenly spaced thresholds: (T,) counts per image


@dataclass(frozen=True)
class SweepResult:
    """Counts at each threshold of a sweep: every field has shape ``(T,)``.

    Attributes:
        thresholds: the thresholds, ascending (float).
        tp, fp, fn, tn: int64 counts where ``probs > thresholds[j]`` is the prediction.

    The curves (``precision()``, ``recall()``, ``iou()``, ``dice()``, ``f1()``) use the same
    ``empty`` convention as :mod:`maskbench.kernels.metrics`: the value where the denominator is
    zero, 1.0 by default (e.g. precision at a threshold above every probability).

    Example:
        >>> r = threshold_sweep(torch.tensor([0.2, 0.6, 0.9]), torch.tensor([False, True, True]), thresholds=3)
        >>> r.tp, r.fp
        (tensor([2, 2, 0]), tensor([1, 0, 0]))
        >>> r.precision()
        tensor([0.6667, 1.0000, 1.0000])
    """

    thresholds: torch.Tensor
    tp: torch.Tensor
    fp: torch.Tensor
    fn: torch.Tensor
    tn: torch.Tensor

    def precision(self, *, empty: float = 1.0) -> torch.Tensor:
        """Precision ``tp / (tp + fp)`` per threshold, ``(T,)``; ``empty`` where nothing is predicted.

        >>> threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([True, False]), thresholds=3).precision()
        tensor([0.5000, 0.0000, 1.0000])
        """
        return scores_from_counts(self.tp, self.fp, self.fn, metric="precision", empty=empty)

    def recall(self, *, empty: float = 1.0) -> torch.Tensor:
        """Recall ``tp / (tp + fn)`` per threshold, ``(T,)``; ``empty`` where the target is empty.

        >>> threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([True, False]), thresholds=3).recall()
        tensor([1., 0., 0.])
        """
        return scores_from_counts(self.tp, self.fp, self.fn, metric="recall", empty=empty)

    def iou(self, *, empty: float = 1.0) -> torch.Tensor:
        """IoU ``tp / (tp + fp + fn)`` per threshold, ``(T,)``; ``empty`` where both are empty.

        >>> threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([False, True]), thresholds=3).iou()
        tensor([0.5000, 1.0000, 0.0000])
        """
        return scores_from_counts(self.tp, self.fp, self.fn, metric="iou", empty=empty)

    def dice(self, *, empty: float = 1.0) -> torch.Tensor:
        """Dice ``2 tp / (2 tp + fp + fn)`` per threshold, ``(T,)`` (equal to :meth:`f1`).

        >>> threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([False, True]), thresholds=3).dice()
        tensor([0.6667, 1.0000, 0.0000])
        """
        return scores_from_counts(self.tp, self.fp, self.fn, metric="dice", empty=empty)

    def f1(self, *, empty: float = 1.0) -> torch.Tensor:
        """F1 per threshold from the counts, ``2 tp / (2 tp + fp + fn)``: the same as :meth:`dice`.

        >>> threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([False, True]), thresholds=3).f1()
        tensor([0.6667, 1.0000, 0.0000])
        """
        return self.dice(empty=empty)

    def best(self, metric: str = "iou", *, empty: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The threshold with the highest ``metric`` and that value, as two 0-d tensors.

        ``metric`` is one of "iou", "dice", "f1", "precision", "recall". Ties go to the lowest
        threshold; NaN scores (``empty=nan``) never win unless every score is NaN.
        Syncs: none (``argmax`` on device).

        >>> r = threshold_sweep(torch.tensor([0.2, 0.7]), torch.tensor([False, True]), thresholds=3)
        >>> r.best("iou")
        (tensor(0.5000), tensor(1.))
        """
        check_choice(metric, "metric", SCORE_METRICS)
        curve = getattr(self, metric)(empty=empty)
        j = curve.nan_to_num(nan=-float("inf")).argmax().reshape(1)
        # gather, not x[j]: indexing with a 0-d device tensor may read it on the host
        return self.thresholds.gather(0, j).squeeze(0), curve.gather(0, j).squeeze(0)


def _check_thresholds(thresholds: object) -> int | torch.Tensor:
    """The thresholds argument, checked: an int ``T >= 1`` (numpy ints become ``int``) or an ascending tensor."""
    if isinstance(thresholds, torch.Tensor):
        return check_increasing(thresholds, "thresholds")
    try:
        return check_int(thresholds, "thresholds", min_value=1, max_value=MAX_THRESHOLDS)
    except ArgumentTypeError:
        expected = "an int T (torch.linspace(0, 1, T)) or a 1-D ascending tensor"
        raise ArgumentTypeError(
            f"thresholds: expected {expected}; got {describe(thresholds)}. Wrap a list with torch.tensor([...]).",
            name="thresholds",
            expected=expected,
            got=short_repr(thresholds),
        ) from None


def _check_inputs(probs: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None) -> None:
    check_tensor(probs, "probs")
    check_tensor(target, "target")
    if not probs.is_floating_point():
        raise DTypeError(
            f"probs: expected floating scores (probabilities); got {describe(probs)}. "
            f"For a thresholded bool mask use maskbench.confusion_counts(pred, target)."
        )
    check_mask_dtype(target, "target", allow_float=False)
    check_same_shape(probs, "probs", target, "target")
    if ignore is not None:
        check_tensor(ignore, "ignore")
        check_mask_dtype(ignore, "ignore", allow_float=False)
        check_broadcast_to(ignore, "ignore", probs.shape, "probs")
    check_same_device(probs=probs, target=target, ignore=ignore)


def _bucket(x: torch.Tensor, thresholds: torch.Tensor, uniform: bool) -> torch.Tensor:
    """For flat ``x``: the number of thresholds ``< x`` (int32 in ``[0, T]``), 0 for NaN."""
    t = thresholds.numel()
    if not uniform:
        x, thresholds = x.contiguous(), thresholds.contiguous()  # bucketize warns about strided inputs
        idx = torch.bucketize(x, thresholds, right=False, out_int32=True)  # thresholds < x
        return idx.masked_fill_(x.isnan(), 0)
    # thresholds == linspace(0, 1, T): k = round(x * (T - 1)) is the nearest threshold up to float
    # rounding (far below half a bin for T <= _UNIFORM_MAX), so thresholds[k - 1] < x <
    # thresholds[k + 1] and one exact comparison gives the count: k + (thresholds[k] < x). x < 0 and
    # -inf clamp to k = 0, x > 1 and +inf to k = T - 1, NaN to k = 0 (and NaN > t is False).
    k = torch.mul(x, t - 1).nan_to_num_(nan=0.0).clamp_(0, t - 1).round_().int()
    return k.add_(thresholds.index_select(0, k) < x)


def _histogram(
    probs: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None, thresholds: torch.Tensor, uniform: bool
) -> torch.Tensor:
    """``(2, T + 1)`` int64 histogram of buckets: row 0 negatives, row 1 positives."""
    t = thresholds.numel()
    dtype = torch.promote_types(probs.dtype, thresholds.dtype)
    x = probs.reshape(-1).to(dtype)
    code = _bucket(x, thresholds.to(dtype), uniform)
    code.add_(target.reshape(-1), alpha=t + 1)
    dump = 2 * (t + 1)
    if ignore is not None:
        code.masked_fill_(ignore.expand(probs.shape).reshape(-1), dump)
    return bincount_fixed(code, dump + 1)[:dump].view(2, t + 1)


def _result(thresholds: torch.Tensor, hist: torch.Tensor) -> SweepResult:
    # tail[:, j] = pixels in buckets >= j = pixels with at least j thresholds < p.
    tail = hist.flip(-1).cumsum(-1).flip(-1)
    fp, tp = tail[0, 1:], tail[1, 1:]
    return SweepResult(thresholds=thresholds, tp=tp, fp=fp, fn=tail[1, :1] - tp, tn=tail[0, :1] - fp)


def _make_thresholds(thresholds: int | torch.Tensor, device: torch.device | None) -> tuple[torch.Tensor, bool]:
    if isinstance(thresholds, torch.Tensor):
        # contiguous: torch.bucketize copies (and warns about) strided boundaries on every call
        return (thresholds if device is None else thresholds.to(device)).contiguous(), False
    return torch.linspace(0, 1, thresholds, device=device), thresholds <= _UNIFORM_MAX


def threshold_sweep(
    probs: torch.Tensor,
    target: torch.Tensor,
    *,
    thresholds: int | torch.Tensor = 256,
    ignore: torch.Tensor | None = None,
) -> SweepResult:
    """TP/FP/FN/TN at every threshold in one pass over the pixels.

    Args:
        probs: floating scores, any shape (e.g. ``(B, 1, H, W)``); positive at ``t`` when
            ``probs > t``. NaN is never positive.
        target: bool ground truth, the same shape as ``probs``.
        thresholds: an int ``T`` for ``torch.linspace(0, 1, T)`` (float32, torchmetrics' binned
            convention), or a 1-D ascending floating tensor ``(T,)`` on ``probs``' device.
        ignore: optional bool mask broadcastable to ``probs`` (True = pixel excluded).

    Returns:
        :class:`SweepResult` with ``(T,)`` thresholds and int64 counts; the counts equal
        thresholding at each ``t`` and counting, exactly.

    Syncs: none.

    Example:
        >>> probs = torch.tensor([[0.1, 0.4], [0.6, 0.9]])
        >>> target = torch.tensor([[False, True], [True, True]])
        >>> r = threshold_sweep(probs, target, thresholds=5)
        >>> r.thresholds
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
        >>> r.tp, r.fp
        (tensor([3, 3, 2, 1, 0]), tensor([1, 0, 0, 0, 0]))
        >>> r.best("iou")
        (tensor(0.2500), tensor(1.))
    """
    thresholds = _check_thresholds(thresholds)
    _check_inputs(probs, target, ignore)
    if isinstance(thresholds, torch.Tensor):
        check_same_device(probs=probs, thresholds=thresholds)
    thr, uniform = _make_thresholds(thresholds, probs.device)
    return _result(thr, _histogram(probs, target, ignore, thr, uniform))


class ThresholdSweep:
    """Streaming :func:`threshold_sweep`: accumulate batches, then :meth:`compute`.

    The state is one ``(2, T + 1)`` int64 histogram, so a whole dataset is swept in O(T) memory,
    and the result equals :func:`threshold_sweep` on the concatenated batches exactly.

    Args:
        thresholds: an int ``T`` (``torch.linspace(0, 1, T)``) or a 1-D ascending tensor.
        device: where the state lives; ``None`` takes the device of ``thresholds`` (a tensor) or
            of the first batch. Batches must be on that device.

    Syncs: none.

    Example:
        >>> sweep = ThresholdSweep(thresholds=3)
        >>> sweep.update(torch.tensor([0.2, 0.9]), torch.tensor([False, True]))
        >>> sweep.update(torch.tensor([0.6]), torch.tensor([True]))
        >>> sweep.compute().tp
        tensor([2, 2, 0])
    """

    def __init__(self, thresholds: int | torch.Tensor = 256, device: torch.device | str | None = None) -> None:
        thresholds = _check_thresholds(thresholds)
        self._spec = thresholds
        self.device = None if device is None else torch.device(device)
        if self.device is None and isinstance(thresholds, torch.Tensor):
            self.device = thresholds.device
        self.thresholds: torch.Tensor | None = None
        self._hist: torch.Tensor | None = None
        if self.device is not None:
            self._allocate(self.device)

    def _allocate(self, device: torch.device) -> None:
        self.thresholds, self._uniform = _make_thresholds(self._spec, device)
        t = self.thresholds.numel()
        self._hist = torch.zeros(2, t + 1, dtype=torch.int64, device=device)

    def update(self, probs: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None = None) -> None:
        """Add one batch (shapes as in :func:`threshold_sweep`)."""
        _check_inputs(probs, target, ignore)
        if self._hist is None:
            self.device = probs.device
            self._allocate(probs.device)
        check_same_device(state=self._hist, probs=probs)
        self._hist += _histogram(probs, target, ignore, self.thresholds, self._uniform)

    def compute(self) -> SweepResult:
        """The :class:`SweepResult` over every batch since the last :meth:`reset` (zeros if none)."""
        if self._hist is None:
            self._allocate(self.device or torch.device("cpu"))
        return _result(self.thresholds, self._hist.clone())

    def reset(self) -> None:
        """Forget every batch (keeps the thresholds and the device)."""
        if self._hist is not None:
            self._hist.zero_()

    def __repr__(self) -> str:
        t = self._spec if isinstance(self._spec, int) else self._spec.numel()
        return f"ThresholdSweep(thresholds={t}, device={self.device})"
