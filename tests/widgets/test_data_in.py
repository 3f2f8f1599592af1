"""Issue 13 item 5: every widget takes what users have (torch CHW/HW, numpy HWC/HW, PIL; uint8 or float)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from maskbench import DTypeError, ShapeError
from maskbench.render import image_to_rgba
from maskbench.widgets import Painter, ThresholdTuner, Viewer
from maskbench.widgets._common import WidgetTypeError, image_from_user

RNG = np.random.default_rng(0)
HWC = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
CHW = torch.from_numpy(HWC).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize(
    "image",
    [CHW, HWC, Image.fromarray(HWC), CHW.numpy(), HWC.astype(np.float32) / 255, CHW.float() / 255],
    ids=["torch CHW", "numpy HWC", "PIL RGB", "numpy CHW", "numpy float HWC", "torch float CHW"],
)
def test_every_widget_shows_the_same_pixels(image):
    want = image_to_rgba(CHW)
    p = Painter(image)
    assert p.image_shape == [6, 8] and (p._image.int() - want.int()).abs().max() <= 1
    v = Viewer(image, torch.ones(6, 8, dtype=torch.bool))
    assert (torch.from_numpy(v._image).int() - want.int()).abs().max() <= 1
    t = ThresholdTuner(torch.rand(6, 8), image=image)
    assert (torch.from_numpy(t._image).int() - want.int()).abs().max() <= 1


def test_grey_and_ambiguous_layouts():
    grey = RNG.random((5, 7)).astype(np.float32)
    assert Painter(grey).image_shape == [5, 7] and Viewer(grey, np.ones((5, 7), bool))._image.shape == (5, 7, 4)
    assert Painter(Image.fromarray((grey * 255).astype(np.uint8))).image_shape == [5, 7]
    square = RNG.integers(0, 256, (3, 5, 3), dtype=np.uint8)  # (H=3, W=5, C=3) or (C=3, H=5, W=3)?
    assert Painter(square).image_shape == [3, 5]  # numpy: channels last
    assert Painter(square, channels_last=False).image_shape == [5, 3]
    assert Painter(torch.from_numpy(square)).image_shape == [5, 3]  # torch: channels first
    assert Painter(torch.from_numpy(HWC), channels_last=True).image_shape == [6, 8]
    batch = RNG.random((2, 6, 8, 3)).astype(np.float32)  # numpy (B, H, W, C)
    v = Viewer(batch, np.ones((2, 6, 8), bool), index=1)
    assert v.batch_size == 2 and v._full_size == [6, 8]


def test_errors_name_the_users_argument():
    with pytest.raises(WidgetTypeError, match=r"image: expected a torch.Tensor, numpy array or PIL image"):
        Painter("cat.png")
    with pytest.raises(ShapeError, match=r"image: expected 1, 3 or 4 channels; got \(2, 6, 8\)"):
        Painter(RNG.random((6, 8, 2)))
    with pytest.raises(DTypeError, match=r"image: expected uint8 or floating.*int32"):
        Viewer(np.zeros((6, 8), np.int32), np.ones((6, 8), bool))
    with pytest.raises(ShapeError, match=r"image: expected a non-empty image"):
        ThresholdTuner(torch.rand(6, 8), image=np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(WidgetTypeError, match="channels_last"):
        image_from_user(HWC, channels_last="yes")


def test_numpy_probabilities_targets_and_masks():
    probs, target = RNG.random((6, 8)).astype(np.float32), RNG.random((6, 8)) > 0.5
    t = ThresholdTuner(probs, target=target, image=HWC)
    assert torch.equal(t.mask, torch.from_numpy(probs) > 0.5) and "iou" in t.metrics
    v = Viewer(HWC, target)
    assert torch.equal(v.result, torch.where(torch.from_numpy(target), CHW, 0))
