"""maskbench.exercises: each check accepts the right answer, rejects the classic wrong one, and says why."""

from __future__ import annotations

import pytest
import torch

import maskbench as mb
from maskbench._checks import ArgumentError
from maskbench.exercises import EXERCISES, cast_raises, check


@pytest.fixture
def scene():
    return mb.synthetic_scene(32, num_classes=3, batch=3, seed=0)


def verdict(capsys, name, answer, **data):
    ok = check(name, answer, **data)
    return ok, capsys.readouterr().out


def test_unanswered_and_unknown(capsys) -> None:
    assert verdict(capsys, "01.fill_mean", ...)[1].startswith("not answered yet")
    with pytest.raises(ArgumentError, match="name"):
        check("99.nope", 1)
    with pytest.raises(ArgumentError, match="data"):
        check("03.per_image_iou", 0.5, prediction=torch.ones(2, 2, dtype=torch.bool))


def test_importable_without_jupyter_stack() -> None:
    import subprocess
    import sys

    code = "import sys, maskbench.exercises; print(any(m in sys.modules for m in ('ipywidgets', 'anywidget', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_replaced_region(capsys, scene) -> None:
    mask = scene.mask[0]
    assert verdict(capsys, "00.replaced_region", mask, mask=mask, mode="inpaint")[0]
    ok, why = verdict(capsys, "00.replaced_region", ~mask, mask=mask, mode="inpaint")
    assert not ok and "leaves untouched" in why
    assert verdict(capsys, "00.replaced_region", ~mask, mask=mask, mode="keep")[0]


def test_iou_at_half(capsys, scene) -> None:
    probs, target = scene.probs.clone(), scene.mask
    probs[0, :4, :4] = 0.5  # pixels exactly at the threshold tell > from >=
    target = target.clone()
    target[0, :4, :4] = True
    right = mb.iou(probs > 0.5, target)
    assert verdict(capsys, "00.iou_at_half", right, probs=probs, target=target)[0]
    ok, why = verdict(capsys, "00.iou_at_half", mb.iou(probs >= 0.5, target), probs=probs, target=target)
    assert not ok and ">=" in why


def test_fill_mean(capsys, scene) -> None:
    image, keep = scene.image[0], scene.mask[0]
    right = torch.where(keep, image, image[:, keep].mean(1)[:, None, None])
    assert verdict(capsys, "01.fill_mean", right, image=image, keep=keep)[0]
    whole = torch.where(keep, image, image.mean((-2, -1), keepdim=True))
    ok, why = verdict(capsys, "01.fill_mean", whole, image=image, keep=keep)
    assert not ok and "whole image" in why


def test_batch_multiply(capsys, scene) -> None:
    images, keep = scene.image, scene.mask  # B == C == 3: the silent case
    assert verdict(capsys, "01.batch_multiply", images * keep[:, None], images=images, keep=keep)[0]
    ok, why = verdict(capsys, "01.batch_multiply", images * keep, images=images, keep=keep)
    assert not ok and "aligns from the right" in why


def test_max_label(capsys, scene) -> None:
    labels, other = scene.labels[0], torch.full_like(scene.labels[0], 2)
    disputed = torch.zeros_like(scene.mask[0])
    disputed[:8] = True
    right = torch.where(disputed, torch.maximum(labels, other), labels)
    assert verdict(capsys, "02.max_label", right, labels=labels, other=other, disputed=disputed)[0]
    ok, why = verdict(capsys, "02.max_label", right.float(), labels=labels, other=other, disputed=disputed)
    assert not ok and "int64" in why


def test_which_raise(capsys) -> None:
    truth = cast_raises()
    assert truth["float64 0.1 into float32"] is False  # rounds like .to(), no error
    assert truth["2.5 into int64"] is True
    assert verdict(capsys, "02.which_raise", dict(truth))[0]
    wrong = dict(truth, **{"float64 0.1 into float32": True})
    ok, why = verdict(capsys, "02.which_raise", wrong)
    assert not ok and "1 wrong" in why


def test_tuner_threshold(capsys, scene) -> None:
    grid = torch.linspace(0, 1, 257)
    scores = torch.stack([mb.iou(scene.probs > t, scene.mask) for t in grid])
    best = float(grid[scores.argmax()])
    assert verdict(capsys, "03.tuner_threshold", best, probs=scene.probs, target=scene.mask)[0]
    assert not verdict(capsys, "03.tuner_threshold", 0.999, probs=scene.probs, target=scene.mask)[0]


def test_per_image_iou(capsys, scene) -> None:
    pred = scene.probs > 0.5
    pred[0] = False  # one image badly segmented: pooled and per-image means differ
    right = mb.iou(pred, scene.mask, per_image=True).mean()
    assert verdict(capsys, "03.per_image_iou", right, pred=pred, target=scene.mask)[0]
    ok, why = verdict(capsys, "03.per_image_iou", mb.iou(pred, scene.mask), pred=pred, target=scene.mask)
    assert not ok and "pooled" in why


def test_class_mean_and_rows(capsys, scene) -> None:
    image, labels = scene.image[0], scene.labels[0]
    assert verdict(capsys, "04.class_mean", image[:, labels == 1].mean(1), image=image, labels=labels, k=1)[0]
    scrambled = image[(labels == 1).expand_as(image)].reshape(-1, 3).mean(0)
    ok, why = verdict(capsys, "04.class_mean", scrambled, image=image, labels=labels, k=1)
    assert not ok and "channel after channel" in why
    mask = (labels == 1)[None]
    assert verdict(capsys, "04.rows_of_mask3", 3 * int(mask.sum()), mask=mask, channels=3)[0]
    assert not verdict(capsys, "04.rows_of_mask3", int(mask.sum()), mask=mask, channels=3)[0]


def test_masked_mean(capsys) -> None:
    def right(loss, mask):
        m = mask.expand_as(loss).to(loss.dtype)
        return (loss * m).sum() / m.sum().clamp_min(1)

    def naive(loss, mask):
        return (loss * mask).sum() / mask.sum()

    assert verdict(capsys, "05.masked_mean", right)[0]
    ok, why = verdict(capsys, "05.masked_mean", naive)
    assert not ok and "N times" in why


def test_painted_keep(capsys) -> None:
    painted = torch.zeros(8, 8, dtype=torch.uint8)
    painted[:3, :3] = 1
    assert verdict(capsys, "05.painted_keep", painted == 0, painted=painted)[0]
    ok, why = verdict(capsys, "05.painted_keep", painted > 0, painted=painted)
    assert not ok and "inverted" in why


def test_every_exercise_is_tested() -> None:
    tested = {
        "00.replaced_region", "00.iou_at_half", "01.fill_mean", "01.batch_multiply", "02.max_label",
        "02.which_raise", "03.tuner_threshold", "03.per_image_iou", "04.class_mean", "04.rows_of_mask3",
        "05.masked_mean", "05.painted_keep",
    }  # fmt: skip
    assert set(EXERCISES) == tested
