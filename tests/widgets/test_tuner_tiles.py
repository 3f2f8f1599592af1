"""The ThresholdTuner's tile layers (issue 12): probabilities, image, target and cleaned mask at every
level of the pyramid, over the tile protocol; versions follow the threshold and the batch item."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import maskbench
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import level_count, tile_box, tile_grid
from maskbench.widgets import ThresholdTuner
from maskbench.widgets._tiles import tile_from_reply


def _tuner(h=600, w=530, *, image=True, target=True, batch=1, **kwargs):
    g = torch.Generator().manual_seed(3)
    probs = torch.rand(batch, h, w, generator=g)
    probs[..., :40, :40] = torch.tensor([0.25, 0.5, 0.75]).repeat(14)[:40]  # values equal to thresholds
    img = torch.rand(batch, 3, h, w, generator=g) if image else None
    tgt = (torch.rand(batch, h, w, generator=g) > 0.6) if target else None
    squeeze = (lambda x: x[0]) if batch == 1 else (lambda x: x)
    t = ThresholdTuner(squeeze(probs), image=None if img is None else squeeze(img),
                       target=None if tgt is None else squeeze(tgt), max_display=128, **kwargs)  # fmt: skip
    sent = []
    t.send = lambda content, buffers=None: sent.append((content, buffers))
    return t, probs, img, tgt, sent


def _ask(t, sent, keys):
    sent.clear()
    t._handle_custom_msg({"type": "tiles", "id": 7, "keys": keys}, [])  # through the widget's on_msg wiring
    (reply, buffers), = sent  # fmt: skip
    assert reply["type"] == "tiles" and reply["id"] == 7 and "error" not in reply, reply
    out = {}
    for meta, buf in zip(reply["tiles"], buffers):
        out[meta["layer"], meta["level"], meta["row"], meta["col"]] = (tile_from_reply(meta, buf), meta["version"])
    return out


def test_layers_and_info() -> None:
    t, *_ = _tuner()
    info = t._tiles_info
    assert info["shape"] == [600, 530] and info["tile"] == 256 and info["levels"] == level_count((600, 530))
    assert {k: (v["dtype"], v["channels"]) for k, v in info["layers"].items()} == {
        "prob": ("float32", 1),
        "image": ("uint8", 3),
        "target": ("uint8", 1),
    }  # fmt: skip  (RGB: its own 3 channels)
    bare, *_ = _tuner(image=False, target=False)
    assert sorted(bare._tiles_info["layers"]) == ["prob"]


@pytest.mark.parametrize("level", [0, 1, 2])
def test_every_tile_samples_the_same_pixels_and_thresholds_like_the_kernel(level) -> None:
    t, probs, img, tgt, sent = _tuner()
    shape, s = (600, 530), 2**level
    rows, cols = tile_grid(shape, level)
    keys = [[name, level, r, c] for r in range(rows) for c in range(cols) for name in ("prob", "target")]
    tiles = _ask(t, sent, keys)
    pyramid = ImagePyramid(img[0])
    for r in range(rows):
        for c in range(cols):
            r0, r1, c0, c1 = tile_box(shape, level, r, c)
            block = (slice(r0 * s, r1 * s, s), slice(c0 * s, c1 * s, s))  # each block's top-left pixel
            p, _ = tiles["prob", level, r, c]
            assert p.dtype == np.float32 and np.array_equal(p, probs[0][block].numpy())
            # the browser's p > t on a tile is the kernel's mask at those pixels, at any threshold
            for value in (0.25, 0.5, 0.75, 0.123456):
                t.threshold = value
                assert np.array_equal(p > np.float32(value), t.mask[block].numpy())
            assert np.array_equal(tiles["target", level, r, c][0], tgt[0][block].numpy().astype(np.uint8))
    image_tiles = _ask(t, sent, [["image", level, 0, 0]])
    assert np.array_equal(image_tiles["image", level, 0, 0][0], pyramid.pixels(level, 0, 0))


def test_cleaned_mask_layer_follows_every_recompute() -> None:
    t, probs, _, _, sent = _tuner()
    assert "mask" not in t._tiles_info["layers"]
    prob_version = t._tiles_info["layers"]["prob"]["version"]
    t.min_size = 30
    v1 = t._tiles_info["layers"]["mask"]["version"]
    tiles = _ask(t, sent, [["mask", 0, 1, 1], ["mask", 1, 0, 0]])
    r0, r1, c0, c1 = tile_box((600, 530), 0, 1, 1)
    assert np.array_equal(tiles["mask", 0, 1, 1][0], t.mask[r0:r1, c0:c1].numpy().astype(np.uint8))
    assert tiles["mask", 0, 1, 1][1] == v1
    assert np.array_equal(tiles["mask", 1, 0, 0][0], t.mask[:512:2, :512:2].numpy().astype(np.uint8))
    t.threshold = 0.3  # a new mask: a new version (the browser drops the old tiles), probabilities kept
    v2 = t._tiles_info["layers"]["mask"]["version"]
    assert v2 > v1 and t._tiles_info["layers"]["prob"]["version"] == prob_version
    cleaned = maskbench.remove_small_objects(probs[0] > 0.3, min_size=30)
    assert np.array_equal(_ask(t, sent, [["mask", 0, 1, 1]])["mask", 0, 1, 1][0], cleaned[r0:r1, c0:c1].numpy())
    t.min_size = 0  # clean-up off: the layer is gone, the others keep their versions
    assert "mask" not in t._tiles_info["layers"] and t._tiles_info["layers"]["prob"]["version"] == prob_version


def test_a_new_batch_item_gets_new_versions_and_its_own_tiles() -> None:
    t, probs, img, _, sent = _tuner(batch=2)
    before = {k: v["version"] for k, v in t._tiles_info["layers"].items()}
    t.index = 1
    after = {k: v["version"] for k, v in t._tiles_info["layers"].items()}
    assert all(after[k] > before[k] for k in before)
    tiles = _ask(t, sent, [["prob", 0, 0, 0], ["image", 1, 0, 0]])
    assert np.array_equal(tiles["prob", 0, 0, 0][0], probs[1, :256, :256].numpy())
    assert np.array_equal(tiles["image", 1, 0, 0][0], ImagePyramid(img[1]).pixels(1, 0, 0))


def test_bad_tile_requests_are_answered_with_an_error() -> None:
    t, _, _, _, sent = _tuner(image=False)
    with pytest.warns(UserWarning, match="tile request"):
        t._handle_custom_msg({"type": "tiles", "id": 1, "keys": [["image", 0, 0, 0]]}, [])
    assert sent[-1][0]["tiles"] == [] and "image" in sent[-1][0]["error"]
    assert t.threshold == 0.5 and t.mask is not None  # the widget is unharmed


_CHILD = r"""
import json, os, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from maskbench.widgets import ThresholdTuner
n = int(sys.argv[1])
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
ThresholdTuner(torch.rand(8, 8))  # imports and first-call costs out of the way
p = np.empty((n, n), np.float32); p[:] = np.linspace(0, 1, n, dtype=np.float32)[None]
img = np.zeros((n, n, 3), np.uint8); img[..., 0] = 100
base = peak()
t0 = time.perf_counter()
t = ThresholdTuner(torch.from_numpy(p), image=img, channels_last=True)
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000, "extra": peak() - base, "probs": p.nbytes, "image": img.nbytes}))
"""


def test_kernel_memory_at_4096() -> None:
    """No full-size float copy of the image nor extra full-size copies of the map (in a child process)."""
    out = subprocess.run([sys.executable, "-c", _CHILD, "4096"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    # what the Tuner must hold: the bool mask (1 byte / px), the pyramid's coarser levels (image / 3)
    # and the proxies; a float copy of the image alone would be 4x the image's bytes
    needed = r["probs"] // 4 + r["image"] // 3
    assert r["extra"] < needed + r["probs"] // 2, r


def test_dataset_mode_serves_the_item_shown() -> None:
    """Clicking another image of a DatasetSweep: its size, new versions, its tiles (stale ones dropped)."""
    items = []
    for i, size in enumerate([(300, 280), (270, 400)]):
        s = maskbench.synthetic_scene(size, num_classes=2, seed=i)
        items.append({"probs": s.probs, "target": s.mask, "image": s.image})
    sweep = maskbench.DatasetSweep(thresholds=16)
    for it in items:
        sweep.update(it["probs"][None], it["target"][None])
    t = ThresholdTuner.from_sweep(sweep, items, item=0)
    sent = []
    t.send = lambda content, buffers=None: sent.append((content, buffers))
    before = t._tiles_info["layers"]["prob"]["version"]
    t.dataset_item = 1
    info = t._tiles_info
    assert info["shape"] == [270, 400] and info["layers"]["prob"]["version"] > before
    assert sorted(info["layers"]) == ["image", "prob", "target"]
    tiles = _ask(t, sent, [["prob", 0, 1, 1], ["target", 0, 0, 0], ["image", 0, 0, 0]])
    assert np.array_equal(tiles["prob", 0, 1, 1][0], items[1]["probs"][256:, 256:].numpy())
    assert np.array_equal(tiles["target", 0, 0, 0][0], items[1]["target"][:256, :256].numpy())
    assert np.array_equal(tiles["image", 0, 0, 0][0], ImagePyramid(items[1]["image"]).pixels(0, 0, 0))
