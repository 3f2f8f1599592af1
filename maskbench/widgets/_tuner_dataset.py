"""Dataset mode of the ThresholdTuner: a whole :class:`maskbench.DatasetSweep` behind the slider.

``ThresholdTuner.from_sweep(sweep, dataset)`` opens one image of ``dataset`` like the plain Tuner
and adds what the sweep knows about every image: the pooled IoU / Dice curve (in place of the
image's), the distribution of the per-image scores at the current threshold (mean and pooled value
marked) and the ``k`` worst images; clicking one (``dataset_item``) loads that image in the same
widget. The slider moves on the sweep's own thresholds, so every position is one the counts hold.

The per-image counts go to the browser once, so the histogram, the mean, the pooled value and the
worst list follow the slider client-side (tier ``"counts"``: ``(N, T, 3)`` int32 tp / fp / fn,
when that fits a message, ``N T 12`` bytes under ``MAX_MESSAGE_BYTES``). Larger sweeps send the
chosen metric's scores only (tier ``"scores"``: ``(N, T)`` float32), and beyond that the kernel
sends the ``(N,)`` scores at the threshold it last computed (tier ``"kernel"``).
"""

from __future__ import annotations

import torch
import traitlets

from maskbench._checks import ShapeError, describe
from maskbench.kernels.metrics import scores_from_counts
from maskbench.widgets._common import BoundedInt, Choice, WidgetTypeError, WidgetValueError
from maskbench.widgets._transport import MAX_MESSAGE_BYTES, ArrayTrait

__all__ = ["DatasetMode", "DATASET_METRICS", "MAX_IDS"]

DATASET_METRICS = ("iou", "dice", "precision", "recall")
MAX_IDS = 100_000  # image ids sent as text up to this many images; beyond, the browser shows "#n"


def _dataset_size(obj) -> int:
    return -1 if obj._dataset is None else len(obj._dataset.sweep) - 1


class _DatasetItem(BoundedInt):
    """An image of the sweep, ``[0, N - 1]``; -1 (its default) only outside dataset mode."""

    def validate(self, obj, value):
        if obj._dataset is None and value == -1 and not isinstance(value, bool):
            return -1
        return super().validate(obj, value)


class _Source:
    """The sweep, the dataset it was computed from (item ``n`` of the sweep = ``dataset[n]``), images."""

    def __init__(self, sweep, dataset, images, k: int) -> None:
        import maskbench

        if not isinstance(sweep, maskbench.DatasetSweep):
            raise WidgetTypeError(f"sweep: expected a maskbench.DatasetSweep; got {describe(sweep)}.", name="sweep")
        if sweep.num_classes is not None or not sweep._per_image or len(sweep) == 0:
            raise WidgetValueError(
                f"sweep: expected a binary DatasetSweep (num_classes=None) with per-image counts of at least one "
                f"image; got {sweep!r}. Build it with DatasetSweep(thresholds, per_image=True) and update it.",
                name="sweep",
            )
        if not hasattr(dataset, "__getitem__"):
            raise WidgetTypeError(
                f"dataset: expected an indexable dataset (dataset[n] -> (probs, target) or a dict); "
                f"got {describe(dataset)}.",
                name="dataset",
            )
        n = len(sweep)
        for name, value in (("dataset", dataset), ("images", images)):
            if value is not None and hasattr(value, "__len__") and len(value) != n:
                raise WidgetValueError(
                    f"{name}: expected {n} items, one per image of the sweep (item n of the sweep is "
                    f"dataset[n]); got {len(value)}.",
                    name=name,
                )
        self.sweep, self.dataset, self.images, self.k = sweep, dataset, images, k
        c = sweep.per_image
        self.thresholds = c.thresholds.double().cpu()
        self.counts = torch.stack([c.tp, c.fp, c.fn], -1).cpu()  # (N, T, 3) int64
        p = sweep.pooled
        self.pooled = torch.stack([p.tp, p.fp, p.fn], -1).double().cpu()  # (T, 3)

    def load(self, n: int):
        """``(probs, target, image)`` of item ``n`` as ``(H, W)`` / ``(H, W)`` / ``(C, H, W)`` or None."""
        item = self.dataset[n]
        image = None
        if isinstance(item, dict):
            probs, target, image = item.get("probs"), item.get("target"), item.get("image")
        elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
            probs, target = item[0], item[1]  # an ignore mask (item[2]) is not drawn
        else:
            raise WidgetTypeError(
                f"dataset[{n}]: expected (probs, target), (probs, target, ignore) or a dict with 'probs' and "
                f"'target'; got {describe(item)}.",
                name="dataset",
            )
        if self.images is not None:
            image = self.images[n]
        probs, target = torch.as_tensor(probs), torch.as_tensor(target)
        for name, value in (("probs", probs), ("target", target)):
            if value.ndim == 3 and value.shape[0] == 1:
                continue
            if value.ndim != 2:
                raise ShapeError(f"dataset[{n}] {name}: expected (H, W) or (1, H, W); got {describe(value)}.")
        probs = probs.reshape(probs.shape[-2:])
        target = target.reshape(target.shape[-2:])
        if target.dtype != torch.bool:
            target = target != 0  # 0 / 1 masks, as DatasetSweep accepts them
        return probs, target, image

    def scores(self, j: int, metric: str) -> torch.Tensor:
        """``(N,)`` float64 per-image scores at grid position ``j`` (what the browser computes)."""
        c = self.counts[:, j].double()
        return scores_from_counts(c[:, 0], c[:, 1], c[:, 2], metric=metric)


class DatasetMode(traitlets.HasTraits):
    """The traits and methods of the Tuner's dataset mode (inactive unless built by ``from_sweep``)."""

    #: dataset mode: the image shown, as its position in the sweep (``dataset[dataset_item]``)
    dataset_item = _DatasetItem(-1, low=0, high=_dataset_size, what="an image of the sweep").tag(sync=True)
    #: dataset mode: the per-image score of the histogram and the worst list
    dataset_metric = Choice("iou", choices=DATASET_METRICS).tag(sync=True)
    worst_k = traitlets.Int(10, read_only=True).tag(sync=True)
    _dataset_info = traitlets.Dict().tag(sync=True)  # {"size", "tier", "ids"}
    _per_image = ArrayTrait()  # tier "counts": (N, T, 3) int32 tp, fp, fn; tier "scores": (N, T) float32
    _pooled = ArrayTrait()  # (T, 3) float64 pooled tp, fp, fn
    _scores_now = ArrayTrait()  # tier "kernel": (N,) float64 scores at metrics["threshold"]
    _dataset: _Source | None = None

    @classmethod
    def from_sweep(
        cls, sweep, dataset, *, images=None, metric: str = "iou", k: int = 10, item: int | None = None,
        threshold: float | None = None, **kwargs,
    ):  # fmt: skip
        """A Tuner over a whole dataset: ``sweep`` (a :class:`maskbench.DatasetSweep` with per-image
        counts) computed from ``dataset`` (``dataset[n]`` = ``(probs, target[, ignore])`` or a dict
        with ``"probs"``, ``"target"`` and optionally ``"image"``, in the sweep's order).

        Args:
            images: optional images to draw under the overlay, ``images[n]`` for item ``n``.
            metric: the per-image score shown ("iou", "dice", "precision", "recall").
            k: how many worst images to list.
            item: the image shown first (default: the worst at the starting threshold).
            threshold: the starting threshold (default: the best pooled ``metric``), moved to the
                nearest of the sweep's thresholds.
            kwargs: as for :class:`ThresholdTuner` (``min_size``, ``opacity``, ...).

        The slider moves on the sweep's thresholds; ``tuner.dataset_scores()`` and ``tuner.worst``
        give the per-image scores and the worst ids at the current threshold.
        """
        from maskbench._checks import check_int

        k = check_int(k, "k", min_value=1)
        src = _Source(sweep, dataset, images, k)
        if metric not in DATASET_METRICS:
            raise WidgetValueError(f"metric: expected one of {DATASET_METRICS}; got {metric!r}.", name="metric")
        grid = src.thresholds
        if threshold is None:
            curve = scores_from_counts(*src.pooled.unbind(-1), metric=metric)
            j = int(curve.argmax())
        else:
            j = int((grid - float(threshold)).abs().argmin())
        if item is None:
            item = int(torch.sort(src.scores(j, metric).nan_to_num(nan=float("inf")), stable=True).indices[0])
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < len(sweep):
            raise WidgetValueError(f"item: expected an int in [0, {len(sweep) - 1}]; got {item!r}.", name="item")
        probs, target, image = src.load(item)
        return cls(probs, target=target, image=image, threshold=float(grid[j]), _dataset=(src, item, metric), **kwargs)

    # -- wiring (called by ThresholdTuner.__init__) --------------------------------------------------
    def _start_dataset(self, spec) -> torch.Tensor:
        src, item, metric = spec
        self._dataset = src
        n, t = src.counts.shape[:2]
        tier = "counts" if n * t * 12 <= MAX_MESSAGE_BYTES else "scores" if n * t * 4 <= MAX_MESSAGE_BYTES else "kernel"
        ids = [str(i) for i in src.sweep.ids] if n <= MAX_IDS else []
        with self.hold_sync():
            self.set_trait("worst_k", min(src.k, n))
            self.dataset_metric = metric
            self.dataset_item = item
            self._pooled = src.pooled.numpy()
            self._dataset_info = {"size": n, "tier": tier, "ids": ids}
            if tier == "counts":
                self._per_image = src.counts.to(torch.int32).numpy()
            self._send_metric_scores()
        self.observe(lambda _: self._guard(self._show_dataset_item), names=["dataset_item"])
        self.observe(lambda _: self._guard(self._send_metric_scores), names=["dataset_metric"])
        return src.thresholds

    def _send_metric_scores(self) -> None:
        if self._dataset_info.get("tier") == "scores":
            c = self._dataset.counts.double()
            s = scores_from_counts(c[..., 0], c[..., 1], c[..., 2], metric=self.dataset_metric)
            self._per_image = s.float().numpy()
        elif self._dataset_info.get("tier") == "kernel" and self.metrics:
            self._dataset_after_recompute()

    def _dataset_after_recompute(self) -> None:
        """Tier "kernel": the per-image scores at the threshold just computed (nearest grid value)."""
        if self._dataset is not None and self._dataset_info.get("tier") == "kernel":
            self._scores_now = self.dataset_scores().numpy()

    def _show_dataset_item(self) -> None:
        """Load ``dataset[dataset_item]`` in place of the current image (same threshold and clean-up)."""
        from maskbench.render import display_size
        from maskbench.widgets import _tuner_core as core

        probs, target, image = self._dataset.load(self.dataset_item)
        p, _ = core.prepare_probs(probs, logits=self._logits)
        x = core.prepare_image(image, p, False)
        t = core.prepare_target(target, p, False)
        self._p, self._x, self._t, self._batched = p, x, t, False
        self._display = display_size(p.shape[-2], p.shape[-1], self._max_display)
        with self.hold_sync():
            self._full_size = [int(p.shape[-2]), int(p.shape[-1])]
            self._load_item()

    def _pooled_sweep(self):
        import maskbench

        c = self._dataset.sweep.pooled
        return maskbench.SweepResult(thresholds=c.thresholds, tp=c.tp, fp=c.fp, fn=c.fn, tn=c.tn)

    # -- public API ----------------------------------------------------------------------------------
    def _grid_position(self, threshold: float | None) -> int:
        t = self.threshold if threshold is None else float(threshold)
        return int((self._dataset.thresholds - t).abs().argmin())  # nearest; ties: the lower

    def dataset_scores(self, threshold: float | None = None) -> torch.Tensor:
        """Dataset mode: ``(N,)`` float64 per-image ``dataset_metric`` at ``threshold`` (default: the
        current one; the nearest of the sweep's thresholds), in the sweep's order."""
        if self._dataset is None:
            raise WidgetValueError(
                "dataset_scores: this Tuner has no dataset; build it with ThresholdTuner.from_sweep."
            )
        return self._dataset.scores(self._grid_position(threshold), self.dataset_metric)

    @property
    def worst(self) -> list:
        """Dataset mode: the ids of the ``worst_k`` lowest-scoring images at the current threshold, worst
        first (ties keep the sweep's order; NaN scores last), as the browser lists them."""
        if self._dataset is None:
            return []
        s = self.dataset_scores().nan_to_num(nan=float("inf"))
        order = torch.sort(s, stable=True).indices[: self.worst_k].tolist()
        ids = self._dataset.sweep.ids
        return [ids[i] for i in order]
