"""Threshold sweeps over a whole dataset: pooled and per-image counts at every threshold, mergeable.

:class:`DatasetSweep` is a streamed accumulator. Each :meth:`DatasetSweep.update` puts every pixel
in the bucket "number of thresholds strictly below ``p``" (``0..T``) and counts buckets per image,
class and target value with **one** fixed-size bincount: no loop over thresholds or images. A
reverse cumulative sum gives TP and FP at every threshold, exactly (int64). The rule is maskbench's
``probs > t`` (foreground is strictly above the threshold), as :func:`maskbench.threshold` and
:func:`maskbench.threshold_sweep`.

The per-image counts make the questions a single pooled curve cannot answer cheap: the spread of
IoU over the images at a threshold, the threshold that is best on average per image, and *which*
images fail. :meth:`DatasetSweep.merge` combines two sweeps exactly, which is what parallel and
distributed runs (:func:`maskbench.sweep_dataset`) are built on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from maskbench._checks import (
    ArgumentError,
    DeviceError,
    DTypeError,
    MaskbenchError,
    ShapeError,
    check_choice,
    check_increasing,
    check_int,
    describe,
    short_repr,
)
from maskbench._checks.batches import check_batch_values, located, prepare, where
from maskbench.kernels._counting import bincount_fixed
from maskbench.kernels.metrics import SCORE_METRICS, scores_from_counts
from maskbench.kernels.sweep import _UNIFORM_MAX, _bucket  # one bucket rule (p > t) for both sweeps

__all__ = ["DatasetSweep", "SweepCounts"]

_AVERAGES = ("pooled", "per_image")


@dataclass(frozen=True)
class SweepCounts:
    """Confusion counts at every threshold; ``tp``, ``fp``, ``fn``, ``tn`` are int64.

    Shapes: ``(T,)`` pooled, ``(N, T)`` per image; with ``num_classes=K``, ``(K, T)`` and
    ``(N, K, T)`` (one-vs-rest per class). ``thresholds`` is ``(T,)``.
    """

    thresholds: torch.Tensor
    tp: torch.Tensor
    fp: torch.Tensor
    fn: torch.Tensor
    tn: torch.Tensor


def _counts(thresholds: torch.Tensor, hist: torch.Tensor) -> SweepCounts:
    # hist[..., v, j]: pixels of target value v with exactly j thresholds strictly below p. A pixel is
    # positive at t_j (p > t_j) iff at least j + 1 thresholds lie below p, so tail sums give the counts.
    tail = hist.flip(-1).cumsum(-1).flip(-1)
    fp, tp = tail[..., 0, 1:], tail[..., 1, 1:]
    return SweepCounts(thresholds, tp, fp, tail[..., 1, :1] - tp, tail[..., 0, :1] - fp)


class DatasetSweep:
    """Pooled and per-image confusion counts at every threshold, streamed over a dataset.

    Args:
        thresholds: an int ``T`` (``torch.linspace(0, 1, T)``, float32) or a 1-D ascending tensor.
        num_classes: ``None`` for binary probabilities ``(B, H, W)`` / ``(B, 1, H, W)``; ``K`` for
            class probabilities ``(B, K, H, W)`` with integer label targets ``(B, H, W)``, counted
            one-vs-rest per class.
        per_image: keep the per-image counts (default). Memory: ``N x K x 2 x (T + 1)`` int64, i.e.
            ``16 (T + 1)`` bytes per image and class (4.1 KB at T = 256, 41 MB for 10,000 images):
            O(images x thresholds). ``False`` keeps only the pooled ``K x 2 x (T + 1)`` counts.
        device: where the state lives; ``None`` takes the device of the first batch.

    Syncs: one host read per :meth:`update` for the value checks (non-finite probabilities,
    non-binary targets, labels out of range); none with ``check_values=False``.

    Example:
        >>> sweep = DatasetSweep(thresholds=3)
        >>> probs = torch.tensor([[[0.2, 0.9]], [[0.6, 0.4]]])      # two 1x2 images
        >>> target = torch.tensor([[[False, True]], [[True, True]]])
        >>> sweep.update(probs, target, ids=["a", "b"])
        >>> sweep.pooled.tp, sweep.per_image.tp
        (tensor([3, 2, 0]), tensor([[1, 1, 0],
                [2, 1, 0]]))
        >>> sweep.scores("iou", threshold=0.5, average="per_image")
        tensor([1.0000, 0.5000])
        >>> sweep.worst(1, "iou", threshold=0.5)
        ['b']
    """

    def __init__(
        self,
        thresholds: int | torch.Tensor = 256,
        *,
        num_classes: int | None = None,
        per_image: bool = True,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(thresholds, torch.Tensor):
            check_increasing(thresholds, "thresholds")
        else:
            check_int(thresholds, "thresholds", min_value=1)
        self._spec = thresholds
        self.num_classes = None if num_classes is None else check_int(num_classes, "num_classes", min_value=1)
        self._per_image = bool(per_image)
        self.thresholds: torch.Tensor | None = None
        self._pooled: torch.Tensor | None = None  # (K, 2, T + 1)
        self._chunks: list[torch.Tensor] = []  # per batch (B, K, 2, T + 1)
        self._ids: list[object] = []
        if isinstance(thresholds, torch.Tensor) and device is None:
            device = thresholds.device
        if device is not None:
            self._allocate(torch.device(device))

    # ------------------------------------------------------------------ state
    @property
    def device(self) -> torch.device | None:
        return None if self._pooled is None else self._pooled.device

    def _allocate(self, device: torch.device) -> None:
        if isinstance(self._spec, torch.Tensor):
            self.thresholds, self._uniform = self._spec.to(device).contiguous(), False
        else:
            self.thresholds = torch.linspace(0, 1, self._spec, device=device)
            self._uniform = self._spec <= _UNIFORM_MAX
        k = self.num_classes or 1
        self._pooled = torch.zeros(k, 2, self.thresholds.numel() + 1, dtype=torch.int64, device=device)

    def _state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(thresholds, pooled histogram)``; zeros on the CPU before the first update (not stored)."""
        if self._pooled is not None:
            return self.thresholds, self._pooled
        empty = DatasetSweep(self._spec, num_classes=self.num_classes, device="cpu")
        return empty.thresholds, empty._pooled

    def _per_image_hist(self) -> torch.Tensor:
        if self._pooled is None:
            return self._state()[1].new_zeros((0,) + tuple(self._state()[1].shape))
        if len(self._chunks) != 1:  # consolidate once, so repeated reads are cheap
            empty = self._pooled.new_zeros((0,) + tuple(self._pooled.shape))
            self._chunks = [torch.cat([empty, *self._chunks])]
        return self._chunks[0]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[object]:
        """The image ids, in the order the images were added (a copy)."""
        return list(self._ids)

    def _squeeze(self, hist: torch.Tensor) -> torch.Tensor:
        return hist if self.num_classes is not None else hist.select(-3, 0)

    @property
    def pooled(self) -> SweepCounts:
        """Counts over every image: ``(T,)``, or ``(K, T)`` with ``num_classes``."""
        thresholds, pooled = self._state()
        return _counts(thresholds, self._squeeze(pooled))

    @property
    def per_image(self) -> SweepCounts:
        """Counts per image, in :attr:`ids` order: ``(N, T)``, or ``(N, K, T)`` with ``num_classes``."""
        if not self._per_image:
            raise ArgumentError(
                "per_image: this sweep keeps pooled counts only (per_image=False). "
                "Build it with DatasetSweep(..., per_image=True) to keep the per-image counts."
            )
        return _counts(self._state()[0], self._squeeze(self._per_image_hist()))

    # ------------------------------------------------------------------ update
    def update(
        self,
        probs: torch.Tensor,
        target: torch.Tensor,
        *,
        ignore: torch.Tensor | int | None = None,
        ids: Sequence[object] | None = None,
        check_values: bool = True,
    ) -> None:
        """Add a batch of images. Validates everything first: on error the sweep is unchanged.

        Args:
            probs: floating ``(B, H, W)`` or ``(B, 1, H, W)``; with ``num_classes=K``, ``(B, K, H, W)``.
            target: bool ``(B, H, W)`` or ``(B, 1, H, W)`` (0/1 integer or float masks are accepted
                and checked); with ``num_classes``, integer labels in ``[0, K)``.
            ignore: bool mask broadcastable to ``(B, H, W)`` (``(B, 1, H, W)`` too; True = pixel
                excluded), or with ``num_classes`` an int label value of ``target`` (e.g. 255).
            ids: one id per image (any objects); default: the running image index.
            check_values: read the values to reject NaN/Inf probabilities and non-binary targets
                (one host sync); ``False`` skips it (NaN then never counts as positive).

        Raises:
            MaskbenchError (a ShapeError, DTypeError, DeviceError or MaskValueError) naming the
            item index and id; it also carries them as ``err.index`` and ``err.id``.
        """
        first = len(self._ids)
        b = probs.shape[0] if isinstance(probs, torch.Tensor) and probs.ndim > 0 else 1
        self._update(probs, target, ignore, ids, range(first, first + b), check_values)

    def _update(self, probs, target, ignore, ids, positions: Sequence[int], check_values: bool) -> None:
        """:meth:`update`, naming items by ``positions`` (their dataset indices) in errors."""
        b = len(positions)
        if ids is None:
            ids = list(positions)
        else:
            ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
            if len(ids) != b:
                raise ArgumentError(
                    f"ids: expected one id per image ({b}); got {len(ids)} ids {short_repr(ids)}.",
                    name="ids",
                    expected=f"{b} ids",
                    got=str(len(ids)),
                )
        try:
            x, pos, drop = prepare(probs, target, ignore, self.num_classes, self._pooled)
        except MaskbenchError as err:
            one = b == 1
            raise located(err, where(positions, ids), positions[0] if one else None, ids[0] if one else None) from None
        if check_values:
            check_batch_values(x, drop, target, self.num_classes, positions, ids)
        if self._pooled is None:
            self._allocate(x.device)
        hist = self._histogram(x, pos, drop)  # (B, K, 2, T + 1)
        # mutate only now that everything passed
        self._pooled += hist.sum(0)
        if self._per_image:
            self._chunks.append(hist)
        self._ids.extend(ids)

    def _histogram(self, x: torch.Tensor, pos: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        b, k, h, w = x.shape
        t1 = self.thresholds.numel() + 1
        dtype = torch.promote_types(x.dtype, self.thresholds.dtype)
        flat = x.reshape(-1).to(dtype).contiguous()
        code = _bucket(flat, self.thresholds.to(dtype), self._uniform).view(b, k, h, w)
        # code = ((image * K + class) * 2 + target) * (T + 1) + bucket, in one fixed-size bincount
        base = torch.arange(b * k, device=x.device, dtype=code.dtype).view(b, k, 1, 1) * (2 * t1)
        code.add_(base).add_(pos, alpha=t1)  # in place: the bucket map is ours
        size = b * k * 2 * t1
        if drop is not None:
            code = code.masked_fill_(drop.expand(b, k, h, w), size)
        return bincount_fixed(code.reshape(-1), size + 1)[:size].view(b, k, 2, t1)

    # ------------------------------------------------------------------ scores
    def _at(self, curve: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
        """``curve[..., j]`` at the swept threshold nearest to ``threshold`` (ties: the lower).

        ``threshold`` is a number or a 0-d tensor, or with ``num_classes`` a ``(K,)`` tensor (one per
        class, as :meth:`best` returns). No host sync.
        """
        thr = self.pooled.thresholds
        t = torch.as_tensor(threshold, dtype=thr.dtype, device=thr.device)
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != (self.num_classes or 1)):
            raise ShapeError(
                f"threshold: expected a number, a 0-d tensor or one per class ({self.num_classes or 1},); "
                f"got {describe(t)}."
            )
        idx = (thr - t.unsqueeze(-1)).abs().argmin(-1, keepdim=True)
        return curve.gather(-1, idx.expand(*curve.shape[:-1], 1)).squeeze(-1)

    def scores(
        self, metric: str = "iou", threshold: float | torch.Tensor | None = None, *, average: str = "pooled", empty=1.0
    ) -> torch.Tensor:
        """Scores from the counts: a curve over the thresholds, or the values at one threshold.

        Args:
            metric: "iou", "dice", "f1", "precision" or "recall".
            threshold: ``None`` for the whole curve, else the nearest swept threshold is used.
            average: "pooled" (counts summed over images first) or "per_image" (one score per image).
            empty: the score where the denominator is 0 (see :func:`maskbench.scores_from_counts`).

        Returns:
            pooled ``(T,)`` / ``(K, T)`` or at a threshold ``()`` / ``(K,)``; per image ``(N, T)`` /
            ``(N, K, T)`` or ``(N,)`` / ``(N, K)``.
        """
        check_choice(metric, "metric", SCORE_METRICS)
        check_choice(average, "average", _AVERAGES)
        c = self.pooled if average == "pooled" else self.per_image
        curve = scores_from_counts(c.tp, c.fp, c.fn, metric=metric, empty=empty)
        if threshold is None:
            return curve
        return self._at(curve, threshold)

    def best(self, metric: str = "iou", *, average: str = "pooled", empty=1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The threshold with the highest score and that score (per class with ``num_classes``).

        ``average="pooled"`` maximises the pooled score; ``"per_image"`` the mean of the per-image
        scores. Ties go to the lowest threshold. Syncs: none.
        """
        curve = self.scores(metric, average=average, empty=empty)
        if average == "per_image":
            curve = curve.mean(0) if len(self) else curve.sum(0)
        j = curve.nan_to_num(nan=-float("inf")).argmax(-1, keepdim=True)
        thr = self._state()[0].expand(curve.shape).gather(-1, j).squeeze(-1)
        return thr, curve.gather(-1, j).squeeze(-1)

    def worst(self, k: int = 10, metric: str = "iou", threshold: float | torch.Tensor | None = None) -> list[object]:
        """The ids of the ``k`` images with the lowest score at ``threshold``, worst first.

        ``threshold=None`` takes the best pooled threshold (per class with ``num_classes``, where an
        image's score is the mean over the classes). Ties keep the order of :attr:`ids`. Reads the ranking on the host.
        """
        k = check_int(k, "k", min_value=0)
        if threshold is None:
            threshold = self.best(metric)[0]
        s = self.scores(metric, threshold, average="per_image")
        s = s if s.ndim == 1 else s.mean(-1)
        order = torch.sort(s.nan_to_num(nan=float("inf")), stable=True).indices[:k].tolist()
        return [self._ids[i] for i in order]

    # ------------------------------------------------------------------ merge
    def merge(self, other: DatasetSweep) -> DatasetSweep:
        """A new sweep holding both: pooled counts summed, per-image counts and ids concatenated.

        Exact (integer sums), associative, and commutative up to the order of the images
        (``a.merge(b)`` lists ``a``'s images first). Neither input is modified.
        """
        if not isinstance(other, DatasetSweep):
            raise DTypeError(f"other: expected a DatasetSweep; got {type(other).__name__}.")
        for name in ("num_classes", "_per_image"):
            if getattr(self, name) != getattr(other, name):
                raise ArgumentError(
                    f"other: expected {name.strip('_')}={getattr(self, name)!r} like this sweep; got "
                    f"{getattr(other, name)!r}. Merge sweeps built with the same options."
                )
        out = DatasetSweep(self._spec, num_classes=self.num_classes, per_image=self._per_image)
        parts = [s for s in (self, other) if s._pooled is not None]
        if parts:
            a = parts[0]
            for s in parts[1:]:
                if s._pooled.device != a._pooled.device:
                    raise DeviceError(
                        f"other: expected a sweep on {a._pooled.device}; got one on {s._pooled.device}. "
                        f"Move it with `.to({str(a._pooled.device)!r})`."
                    )
                if s.thresholds.shape != a.thresholds.shape or not torch.equal(s.thresholds, a.thresholds):
                    raise ArgumentError("other: expected the same thresholds as this sweep; got different ones.")
            out._allocate(a._pooled.device)
            out.thresholds = a.thresholds
            out._pooled = sum((s._pooled for s in parts[1:]), a._pooled.clone())
            if self._per_image:
                out._chunks = [torch.cat([s._per_image_hist() for s in parts])]
        out._ids = self._ids + other._ids
        return out

    def to(self, device: torch.device | str) -> DatasetSweep:
        """A copy on ``device`` (e.g. to merge partial sweeps computed on different GPUs)."""
        out = DatasetSweep(self._spec, num_classes=self.num_classes, per_image=self._per_image)
        if self._pooled is not None:
            out._allocate(torch.device(device))
            out._pooled = self._pooled.to(device, copy=True)
            out._chunks = [c.to(device, copy=True) for c in self._chunks]
        out._ids = list(self._ids)
        return out

    def __getstate__(self) -> dict:
        if self._per_image and len(self._chunks) > 1:
            self._per_image_hist()
        return self.__dict__.copy()

    def __repr__(self) -> str:
        t = self._spec if isinstance(self._spec, int) else self._spec.numel()
        extra = "" if self.num_classes is None else f", num_classes={self.num_classes}"
        return f"DatasetSweep(thresholds={t}{extra}, images={len(self)}, per_image={self._per_image}, device={self.device})"
