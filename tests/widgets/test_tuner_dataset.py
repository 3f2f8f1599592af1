"""The ThresholdTuner's dataset mode (issue 15 item 3): ThresholdTuner.from_sweep(sweep, dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import maskbench
from maskbench.widgets import _tuner_dataset as dmode
from maskbench.widgets.tuner import ThresholdTuner, TunerTypeError, TunerValueError


def _dataset(n: int = 7, seed: int = 0):
    items = []
    for i in range(n):
        s = maskbench.synthetic_scene((20 + 2 * (i % 3), 24), num_classes=2, seed=seed + i)
        items.append({"probs": s.probs, "target": s.mask, "image": s.image})
    sweep = maskbench.DatasetSweep(thresholds=64)
    for item in items:  # sizes differ: one image per update
        sweep.update(item["probs"][None], item["target"][None])
    return sweep, items


def _ref_scores(items, t: float, metric: str) -> torch.Tensor:
    out = []
    for it in items:
        m, g = (it["probs"] > t).numpy(), it["target"].numpy()
        tp, fp, fn = (m & g).sum(), (m & ~g).sum(), (~m & g).sum()
        num, den = {"iou": (tp, tp + fp + fn), "dice": (2 * tp, 2 * tp + fp + fn), "recall": (tp, tp + fn)}[metric]
        out.append(num / den if den else 1.0)
    return torch.tensor(out, dtype=torch.float64)


def test_from_sweep_shows_the_dataset() -> None:
    sweep, items = _dataset()
    t = ThresholdTuner.from_sweep(sweep, items, k=3)
    best_t, _ = sweep.best("iou")
    assert t.threshold == float(best_t) and np.array_equal(t._grid, sweep.thresholds.double().numpy())
    # the worst image at that threshold is shown first, with its own counts for the slider
    scores = sweep.scores("iou", best_t, average="per_image")
    assert t.dataset_item == int(torch.argmin(scores)) and t.worst[0] == t.dataset_item
    shown = items[t.dataset_item]
    assert torch.equal(t._p[0], shown["probs"]) and torch.equal(t.mask, shown["probs"] > t.threshold)
    pi = sweep.per_image
    assert t._dataset_info["tier"] == "counts" and t._per_image.shape == (7, 64, 3)
    assert np.array_equal(t._per_image, torch.stack([pi.tp, pi.fp, pi.fn], -1).numpy())
    assert np.array_equal(t._pooled, torch.stack([sweep.pooled.tp, sweep.pooled.fp, sweep.pooled.fn], -1).double())
    assert np.array_equal(t._counts[:, :3], torch.stack([pi.tp, pi.fp, pi.fn], -1)[t.dataset_item].numpy())
    # the curve is the pooled one, its best the pooled best
    assert np.allclose(t._curve[1], sweep.scores("iou").numpy()) and t.best["iou_threshold"] == float(best_t)


@pytest.mark.parametrize("metric", ["iou", "dice", "recall"])
def test_scores_and_worst_follow_the_threshold(metric) -> None:
    sweep, items = _dataset(9, seed=4)
    t = ThresholdTuner.from_sweep(sweep, items, metric=metric, k=4)
    for j in (5, 20, 31, 50):
        value = float(sweep.thresholds[j])
        t.threshold = value
        ref = _ref_scores(items, value, metric)
        assert torch.allclose(t.dataset_scores(), ref, rtol=0, atol=1e-12)
        assert torch.allclose(t.dataset_scores().float(), sweep.scores(metric, value, average="per_image"))
        order = sorted(range(9), key=lambda i: (float(ref[i]), i))[:4]
        assert t.worst == order  # ids are the positions here
        assert t.metrics[metric] == pytest.approx(float(ref[t.dataset_item]))


def test_clicking_a_worst_image_shows_it() -> None:
    sweep, items = _dataset()
    t = ThresholdTuner.from_sweep(sweep, items, threshold=0.3, min_size=2)
    before = t.threshold
    target_item = t.worst[2]
    t.set_state({"dataset_item": target_item})  # what a click on the list sends
    assert t.dataset_item == target_item and t.threshold == before and t.error == ""
    shown = items[target_item]
    assert tuple(t._full_size) == tuple(shown["probs"].shape)
    assert torch.equal(t.mask, maskbench.remove_small_objects(shown["probs"] > before, min_size=2))
    assert np.array_equal(t._probs, shown["probs"].numpy()) and t._image.shape[:2] == shown["probs"].shape
    for bad in ({"dataset_item": 7}, {"dataset_item": -1}, {"dataset_item": 1.5}, {"dataset_metric": "auc"}):
        with pytest.warns(UserWarning, match="rejected a browser update"):
            t.set_state(bad)
        assert t.dataset_item == target_item


def test_large_sweeps_send_scores_or_kernel_scores(monkeypatch) -> None:
    sweep, items = _dataset(5)
    monkeypatch.setattr(dmode, "MAX_MESSAGE_BYTES", 5 * 64 * 4)  # counts do not fit, one metric does
    t = ThresholdTuner.from_sweep(sweep, items, metric="dice")
    assert t._dataset_info["tier"] == "scores" and t._per_image.shape == (5, 64)
    assert np.allclose(t._per_image, sweep.scores("dice", average="per_image").numpy())
    t.dataset_metric = "iou"
    assert np.allclose(t._per_image, sweep.scores("iou", average="per_image").numpy())
    monkeypatch.setattr(dmode, "MAX_MESSAGE_BYTES", 100)
    t = ThresholdTuner.from_sweep(sweep, items)
    assert t._dataset_info["tier"] == "kernel" and t._per_image is None
    t.threshold = float(sweep.thresholds[40])
    assert np.array_equal(t._scores_now, t.dataset_scores().numpy())


def test_from_sweep_bad_input() -> None:
    sweep, items = _dataset(3)
    with pytest.raises(TunerTypeError, match="sweep: expected a maskbench.DatasetSweep"):
        ThresholdTuner.from_sweep(maskbench.ThresholdSweep(), items)
    with pytest.raises(TunerValueError, match="per-image counts"):
        ThresholdTuner.from_sweep(maskbench.DatasetSweep(8), items)
    with pytest.raises(TunerValueError, match="dataset: expected 3 items"):
        ThresholdTuner.from_sweep(sweep, items[:2])
    with pytest.raises(TunerValueError, match="metric"):
        ThresholdTuner.from_sweep(sweep, items, metric="auc")
    with pytest.raises(TunerValueError, match="item"):
        ThresholdTuner.from_sweep(sweep, items, item=3)
    t = ThresholdTuner(items[0]["probs"])
    assert t.dataset_item == -1 and t.worst == [] and t._dataset_info == {}
    with pytest.raises(TunerValueError, match="no dataset"):
        t.dataset_scores()
    for bad in ({"dataset_item": 0}, {"dataset_item": True}, {"dataset_item": 10**400}, {"dataset_metric": None}):
        with pytest.warns(UserWarning, match="rejected a browser update"):
            t.set_state(bad)  # no dataset: nothing to show
        assert t.dataset_item == -1 and t.dataset_metric == "iou"
    tuples = [(it["probs"][None].numpy(), it["target"].int()) for it in items]  # (1, H, W) numpy, 0/1 ints
    t = ThresholdTuner.from_sweep(sweep, tuples, item=1)
    assert torch.equal(t._t[0], items[1]["target"])
