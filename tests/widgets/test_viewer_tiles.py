"""The Viewer's tile layers (issue 12): each layer's tiles against a plain reference on the whole
item (numpy / the kernels on the full-resolution tensors), tiles of a level put together without
seams, and the Viewer's tile versions (a new item or mode drops stale tiles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import maskbench
from maskbench.render import contours, image_to_rgba
from maskbench.render.tiles import TILE, level_count, level_shape, tile_grid
from maskbench.widgets._tiles import tile_from_reply
from maskbench.widgets._viewer_tiles import ItemTiles, mean_fill

# bigger than one tile, odd sizes: every level has edge tiles smaller than TILE
H, W = 600, 530


def _stitch(fetch, shape, level: int) -> np.ndarray:
    """All tiles of one level put together."""
    rows, cols = tile_grid(shape, level)
    return np.concatenate(
        [np.concatenate([fetch(level, r, c) for c in range(cols)], axis=1) for r in range(rows)], axis=0
    )


def _scene(kind: str, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, H, W, generator=g)
    if dtype == torch.uint8:
        image = (image * 255).round().to(torch.uint8)
    blobs = torch.nn.functional.avg_pool2d(torch.rand(1, 1, H, W, generator=g), 31, 1, 15)[0, 0]
    blobs = (blobs - blobs.min()) / (blobs.max() - blobs.min())
    if kind == "weight":
        mask = blobs
    elif kind == "bool":
        mask = blobs > 0.5
    else:
        mask = (blobs * 3.999).long()  # labels 0..3
    return image, mask


def _nearest(x: torch.Tensor, level: int) -> torch.Tensor:
    s = 1 << level
    return x[..., ::s, ::s]


@pytest.mark.parametrize("kind", ["bool", "labels", "weight"])
def test_mask_and_edge_tiles_equal_the_level_of_the_whole_mask(kind) -> None:
    image, mask = _scene(kind)
    t = ItemTiles(image, mask, kind)
    for level in range(level_count((H, W))):
        lab = _nearest(mask, level)
        want = np.rint(lab.numpy() * 255).astype(np.uint8) if kind == "weight" else lab.numpy().astype(np.uint8)
        got = _stitch(t.mask_tile, (H, W), level)
        assert got.dtype == np.uint8 and np.array_equal(got, want), level
        # edges: contours of the level's mask, with no seam where tiles meet
        ref = contours(lab >= 0.5 if kind == "weight" else lab).numpy()
        assert np.array_equal(_stitch(t.edges_tile, (H, W), level), ref.astype(np.uint8)), level
    assert level_shape((H, W), 1) == (300, 265)  # the levels above have seams inside, at 256


def test_image_tiles_are_the_pyramid_and_level_zero_is_image_to_rgba() -> None:
    image, mask = _scene("bool")
    t = ItemTiles(image, mask, "bool")
    assert np.array_equal(_stitch(t.image_tile, (H, W), 0), image_to_rgba(image).numpy()[..., :3])  # RGB: 3 channels
    hwc = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()  # a numpy HWC image's tensor
    t = ItemTiles(hwc.permute(2, 0, 1), mask, "bool")
    assert t.pyramid.nbytes == hwc.numel()  # no copy of the caller's pixels
    assert np.array_equal(t.image_tile(0, 1, 1)[..., :3], hwc[TILE : 2 * TILE, TILE : 2 * TILE].numpy())


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_image_and_result_tiles_travel_in_the_images_own_channels(channels) -> None:
    """Grey sends one byte per pixel, RGB three, RGBA four: each the RGBA reference's first channels
    (grey: R = G = B), so the browser's RGBA equals image_to_rgba's."""
    image, mask = _scene("labels", seed=3)
    image = image[:1] if channels == 1 else torch.cat([image, image[:1]]) if channels == 4 else image
    t = ItemTiles(image, mask, "labels")
    assert t.channels == channels
    rgba = image_to_rgba(image).numpy()
    assert np.array_equal(_stitch(t.image_tile, (H, W), 0), rgba[..., :channels])
    want = image_to_rgba(maskbench.apply_mask(image, mask > 0, fill=0.5)).numpy()
    assert np.array_equal(_stitch(lambda *k: t.result_tile("keep", 0.5, *k), (H, W), 0), want[..., :channels])
    if channels == 1:
        assert np.array_equal(rgba[..., 0], rgba[..., 1]) and np.array_equal(rgba[..., 0], rgba[..., 2])


@pytest.mark.parametrize(
    ("kind", "mode", "fill"),
    [("bool", "keep", 0.25), ("labels", "remove", 1.0), ("weight", "weighted", 0.5), ("labels", "mean", 0.0)],
)
def test_result_tiles_are_apply_mask_at_full_resolution(kind, mode, fill) -> None:
    image, mask = _scene(kind, seed=1)
    t = ItemTiles(image, mask, kind)
    keep = mask >= 0.5 if kind == "weight" else mask > 0
    call = {"keep": (keep, fill), "remove": (~keep, fill), "weighted": (mask, fill), "mean": (~keep, "mean")}
    want = image_to_rgba(maskbench.apply_mask(image, call[mode][0], fill=call[mode][1])).numpy()[..., :3]
    assert np.array_equal(_stitch(lambda *k: t.result_tile(mode, fill, *k), (H, W), 0), want)
    # level 1: the result at each 2x2 block's top-left pixel
    assert np.array_equal(_stitch(lambda *k: t.result_tile(mode, fill, *k), (H, W), 1), want[::2, ::2])


def test_inpaint_tiles_come_from_one_full_resolution_inpaint() -> None:
    image, mask = _scene("bool", seed=2)
    t = ItemTiles(image, mask, "bool")
    want = image_to_rgba(maskbench.apply_mask(image, ~mask, fill="inpaint")).numpy()[..., :3]
    assert np.array_equal(_stitch(lambda *k: t.result_tile("inpaint", 0.0, *k), (H, W), 0), want)
    first = t._full_result("inpaint", 0.0)
    t.result_tile("inpaint", 0.0, 1, 0, 0)
    assert t._full_result("inpaint", 0.0) is first and t.result_seconds is not None  # computed once


def test_mean_fill_is_the_kernels_mean_without_a_full_size_copy(monkeypatch) -> None:
    import maskbench.widgets._viewer_tiles as vt

    image, mask = _scene("bool", seed=4)
    monkeypatch.setattr(vt, "_BAND", 7 * W * 3)  # many bands of 7 rows
    r, c = (int(i) for i in mask.nonzero()[0])
    expected = maskbench.apply_mask(image, ~mask, fill="mean")[:, r, c]
    assert torch.allclose(mean_fill(image, mask), expected, rtol=1e-6, atol=0)
    assert torch.equal(mean_fill(image, torch.ones(H, W, dtype=torch.bool)), torch.zeros(3))  # none left: 0


@pytest.mark.parametrize(("shape", "smooth"), [((600, 520), False), ((600, 530), True)])
def test_a_big_items_proxy_comes_from_its_pyramid(monkeypatch, shape, smooth) -> None:
    """Above BAND_PIXELS the display proxy comes from the pyramid: its level when one has the proxy's
    size (2x2 means of 2x2 means: within 1 of the one-pass area average, even on noise), else the
    coarsest level at least as big, area-averaged (render.proxy.proxy_level, the rule of every widget:
    within 2 on a smooth image; a level twice as big was within 1 but costs up to 4x the float work)."""
    import maskbench.widgets.viewer as viewer_module
    from maskbench.render.proxy import rgba_proxy
    from maskbench.widgets import Viewer

    g = torch.Generator().manual_seed(5)
    noise = torch.randint(0, 256, (3, *shape), dtype=torch.uint8, generator=g)
    blurred = torch.nn.functional.avg_pool2d(noise[None].float(), 41, 1, 20, count_include_pad=False)[0]
    image = blurred.round().to(torch.uint8) if smooth else noise  # 600 x 530 -> 150 x 132: no level has it
    monkeypatch.setattr(viewer_module, "BAND_PIXELS", 1000)
    v = Viewer(image, image[0] > 128, max_display=150)
    assert v._tiles is not None and v._tiles[1]._pyramid is not None  # built from the pyramid
    diff = np.abs(v._image.astype(int) - rgba_proxy(image, v._image.shape[:2]).numpy().astype(int)).max()
    assert diff <= (2 if smooth else 1)


# ---- the Viewer as a tile server -----------------------------------------------------------------


def _ask(v, keys) -> list[tuple[dict, np.ndarray]]:
    """Send one tile request to ``v``; return (header, tile array) per tile of its reply."""
    sent = []
    v.send = lambda content, buffers=None: sent.append((content, buffers))
    assert v._handle_tiles_message({"type": "tiles", "id": 7, "keys": keys}, [])
    ((reply, buffers),) = sent
    assert reply["id"] == 7 and "error" not in reply, reply
    out = []
    for head, buf in zip(reply["tiles"], buffers, strict=True):
        out.append((head, tile_from_reply(head, buf)))
    return out


def _versions(v) -> dict:
    return {k: layer["version"] for k, layer in v._tiles_info["layers"].items()}


def test_viewer_serves_its_layers_and_versions_drop_stale_tiles() -> None:
    from maskbench.widgets import Viewer

    image, mask = _scene("labels", seed=6)
    batch = torch.stack([image, image.flip(-1)]), torch.stack([mask, mask.flip(-1)])
    v = Viewer(*batch, max_display=128)
    info = v._tiles_info
    assert info["shape"] == [H, W] and info["levels"] == level_count((H, W))
    assert set(info["layers"]) == {"image", "mask", "edges", "result"}
    (hi, tile_i), (hm, tile_m) = _ask(v, [["image", 0, 1, 1], ["mask", 1, 0, 1]])
    assert np.array_equal(tile_i, image_to_rgba(image).numpy()[TILE : 2 * TILE, TILE : 2 * TILE, :3])
    assert np.array_equal(tile_m, mask[::2, ::2][:TILE, TILE:].numpy())
    assert hi["version"] == info["layers"]["image"]["version"]
    before = _versions(v)
    v.mode = "remove"  # the kernel's result tiles of the old mode are stale; image and mask are not
    after = _versions(v)
    assert after["result"] != before["result"] and {k: after[k] for k in ("image", "mask", "edges")} == {
        k: before[k] for k in ("image", "mask", "edges")
    }
    v.index = 1  # a new item: every layer gets a new version, and its tiles are the new item's
    assert all(_versions(v)[k] != after[k] for k in after)
    ((_, tile_i),) = _ask(v, [["image", 0, 0, 0]])
    assert np.array_equal(tile_i, image_to_rgba(image.flip(-1)).numpy()[:TILE, :TILE, :3])


def test_viewer_inpaint_tiles_stand_in_from_the_proxy_then_become_exact() -> None:
    from maskbench.widgets import Viewer
    from maskbench.widgets._viewer_tiles import proxy_tile

    image, mask = _scene("bool", seed=7)
    v = Viewer(image, mask, mode="inpaint", max_display=64)
    version = _versions(v)["result"]
    ((head, first),) = _ask(v, [["result", 0, 0, 0]])
    assert np.array_equal(first, proxy_tile(v._display_result(), (H, W), 0, 0, 0)[..., :3])  # not computed yet
    v._item_tiles()._pending[1].result(timeout=120)  # the background inpaint; then a new version
    assert _versions(v)["result"] != version
    ((head, tile),) = _ask(v, [["result", 0, 0, 0]])
    want = image_to_rgba(maskbench.apply_mask(image, ~mask, fill="inpaint")).numpy()[:TILE, :TILE, :3]
    assert head["version"] == _versions(v)["result"] and np.array_equal(tile, want)


def test_viewer_inpaint_tiles_stay_on_the_proxy_when_the_full_inpaint_would_not_fit(monkeypatch) -> None:
    from maskbench.widgets import Viewer, _memory
    from maskbench.widgets._viewer_tiles import proxy_tile

    image, mask = _scene("bool", seed=7)
    v = Viewer(image, mask, mode="inpaint", max_display=64)  # opened with the real memory
    monkeypatch.setattr(_memory, "available_memory", lambda: (1 << 20, "a test"))  # then only 1 MiB left
    version = _versions(v)["result"]
    for _ in range(2):
        ((head, tile),) = _ask(v, [["result", 0, 0, 0]])
        assert np.array_equal(tile, proxy_tile(v._display_result(), (H, W), 0, 0, 0)[..., :3])
    tiles = v._item_tiles()
    assert tiles._pending is None and not tiles._results  # nothing started, nothing image-sized allocated
    assert _versions(v)["result"] == version
    assert "inpaint tiles show the display proxy's inpaint" in v.error and "only 1.0 MiB are available" in v.error


def test_viewer_mean_mode_sends_the_full_resolution_mean_and_panel_layout_is_validated() -> None:
    from maskbench.widgets import Viewer
    from maskbench.widgets._common import WidgetValueError

    image, mask = _scene("bool", seed=8)
    v = Viewer(image, mask, max_display=64)
    assert v._mean_full is None and v.panel_layout == "grid"
    v.mode = "mean"
    r, c = (int(i) for i in mask.nonzero()[0])
    kernel = maskbench.apply_mask(image, ~mask, fill="mean")[:, r : r + 1, c : c + 1]
    assert np.array_equal(v._mean_full, image_to_rgba(kernel).reshape(4).numpy())
    v.panel_layout = "overlay"
    with pytest.raises(WidgetValueError, match="panel_layout: expected one of 'grid', 'image'"):
        v.panel_layout = "sideways"
    assert v.panel_layout == "overlay"
    with pytest.warns(UserWarning, match="panel_layout"):
        v.set_state({"panel_layout": 3})  # the browser's bad value is refused whole
    assert v.panel_layout == "overlay"
    v.set_state({"panel_layout": "grid"})
    assert v.panel_layout == "grid"
    with pytest.raises(WidgetValueError):
        Viewer(image, mask, panel_layout="big")
