"""maskbench.render.tiles: level geometry, the image pyramid and per-tile labels/values, against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench._checks import ArgumentError, ArgumentTypeError, CastError, DTypeError, MaskbenchError, ShapeError
from maskbench.render import image_to_rgba
from maskbench.render.pyramid import ImagePyramid
from maskbench.render.tiles import (
    TILE,
    label_dtype,
    label_tile,
    level_count,
    level_shape,
    tile_box,
    tile_grid,
    value_tile,
)

# ---- numpy references -------------------------------------------------------------------------


def ref_half(x: np.ndarray) -> np.ndarray:
    """2x2 mean rounded half up, edge blocks padded by repeating the last row/column (= mean of what they have)."""
    h, w = x.shape[:2]
    p = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge").astype(np.int64)
    s = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def ref_level(x: np.ndarray, k: int) -> np.ndarray:
    for _ in range(k):
        x = ref_half(x)
    return x


def ref_block(x: np.ndarray, s: int, how: str) -> np.ndarray:
    """Loop reference: each ceil(H/s) x ceil(W/s) output pixel from its s x s block (clipped at the edge)."""
    h, w = x.shape
    out = np.empty((-(-h // s), -(-w // s)), x.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = x[i * s : (i + 1) * s, j * s : (j + 1) * s]
            out[i, j] = block.max() if how == "max" else block[0, 0]
    return out


def stitch(shape, level, tile_fn) -> np.ndarray:
    rows, cols = tile_grid(shape, level)
    return np.concatenate([np.concatenate([tile_fn(level, r, c) for c in range(cols)], axis=1) for r in range(rows)])


def rgba_of(hwc: np.ndarray) -> np.ndarray:
    return image_to_rgba(torch.from_numpy(np.ascontiguousarray(hwc)).permute(2, 0, 1)).numpy()


# ---- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "levels"),
    [((1, 1), 1), ((256, 256), 1), ((256, 257), 2), ((512, 3), 2), ((513, 1), 3), ((8192, 8192), 6), ((5000, 3000), 6)],
)
def test_level_count_last_level_is_the_first_that_fits_a_tile(shape, levels) -> None:
    assert level_count(shape) == levels
    assert max(level_shape(shape, levels - 1)) <= TILE
    if levels > 1:
        assert max(level_shape(shape, levels - 2)) > TILE


@given(h=st.integers(1, 3000), w=st.integers(1, 3000))
def test_tile_boxes_cover_each_level_exactly_once(h: int, w: int) -> None:
    for k in range(level_count((h, w))):
        lh, lw = level_shape((h, w), k)
        assert (lh, lw) == (-(-h // 2**k), -(-w // 2**k))
        rows, cols = tile_grid((h, w), k)
        covered = np.zeros((lh, lw), np.int32)
        for r in range(rows):
            for c in range(cols):
                r0, r1, c0, c1 = tile_box((h, w), k, r, c)
                assert 0 < r1 - r0 <= TILE and 0 < c1 - c0 <= TILE
                covered[r0:r1, c0:c1] += 1
        assert (covered == 1).all()


@pytest.mark.parametrize(
    ("call", "err", "text"),
    [
        (lambda: level_shape((10, 10), 1), ArgumentError, "level: expected an int <= 0"),
        (lambda: level_shape((10, 10), -1), ArgumentError, "level"),
        (lambda: tile_box((600, 600), 0, 3, 0), ArgumentError, "row: expected an int <= 2"),
        (lambda: tile_box((600, 600), 0, 0, 1.0), ArgumentTypeError, "col: expected an int"),
        (lambda: tile_grid((0, 5), 0), ArgumentError, "shape_hw[0]"),
        (lambda: level_count((5,)), ShapeError, "shape_hw: expected an (H, W) pair"),
        (lambda: tile_box((600, 600), True, 0, 0), ArgumentTypeError, "level"),
    ],
)
def test_geometry_errors_name_the_argument(call, err, text) -> None:
    with pytest.raises(err, match=text.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        call()


# ---- ImagePyramid ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (513, 300), (600, 1030), (257, 257)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_pyramid_tiles_stitch_to_the_reference_levels(shape, channels) -> None:
    rng = np.random.default_rng(sum(shape) + channels)
    image = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    before = image.copy()
    pyramid = ImagePyramid(image)
    assert pyramid.shape == shape and pyramid.levels == level_count(shape)
    for k in range(pyramid.levels):
        level = ref_level(image, k)
        assert np.array_equal(pyramid.level(k), level)
        tiles = stitch(shape, k, pyramid.tile)
        assert tiles.dtype == np.uint8 and np.array_equal(tiles, rgba_of(level))
        own = stitch(shape, k, pyramid.pixels)  # the image's own channels: what travels to a browser
        assert pyramid.channels == channels and own.shape == level.shape and np.array_equal(own, level)
    tile = pyramid.pixels(0, 0, 0)
    assert tile.flags.c_contiguous and not np.shares_memory(tile, image)  # a copy, even of a whole-width crop
    tile[...] = 255 - tile
    assert np.array_equal(image, before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(301, 203, 3), (256, 96, 1), (130, 7, 4)])
def test_half_on_threads_equals_the_reference(monkeypatch, threads, shape) -> None:
    """The row ranges shared out among threads (forced on small images here) give the reference's pixels."""
    import maskbench.render.pyramid as tiles

    monkeypatch.setattr(tiles, "_THREADED_PIXELS", 0)
    monkeypatch.setattr(tiles, "_BAND", 8)
    monkeypatch.setattr(tiles.torch, "get_num_threads", lambda: threads)
    x = np.random.default_rng(threads).integers(0, 256, shape, dtype=np.uint8)
    before = x.copy()
    assert np.array_equal(tiles._half(x), ref_half(x))
    assert np.array_equal(x, before)


def test_pyramid_levels_are_close_to_the_direct_block_mean() -> None:
    image = np.random.default_rng(1).integers(0, 256, (1024, 768, 3), dtype=np.uint8)
    pyramid = ImagePyramid(image)
    for k in range(1, pyramid.levels):
        s = 2**k
        direct = image.reshape(1024 // s, s, 768 // s, s, 3).mean(axis=(1, 3))
        assert np.abs(pyramid.level(k) - direct).max() <= k / 2 + 0.5  # each level rounds once (<= 1/2)


def test_pyramid_float_torch_input_gives_image_to_rgba_pixels_at_level_0() -> None:
    x = torch.rand(3, 300, 520)
    x[0, 5, 5], x[1, 6, 6], x[2, 7, 7], x[0, 8, 8] = float("nan"), float("inf"), -2.0, 0.5 / 255  # clamp, NaN, ties
    before = x.clone()
    pyramid = ImagePyramid(x)
    assert np.array_equal(stitch((300, 520), 0, pyramid.tile), image_to_rgba(x).numpy())
    assert torch.equal(x.nan_to_num(), before.nan_to_num()) and x.isnan().sum() == 1
    grey = torch.rand(300, 520, dtype=torch.float64)
    assert np.array_equal(stitch((300, 520), 0, ImagePyramid(grey).tile), image_to_rgba(grey).numpy())
    rgba = torch.rand(4, 20, 30, dtype=torch.float16)
    assert np.array_equal(ImagePyramid(rgba).tile(0, 0, 0), image_to_rgba(rgba).numpy())


def test_pyramid_bool_and_uint8_torch_and_numpy_float_inputs() -> None:
    mask = torch.rand(40, 50) > 0.5
    assert np.array_equal(ImagePyramid(mask).tile(0, 0, 0), image_to_rgba(mask).numpy())
    u8 = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    assert np.array_equal(ImagePyramid(u8).tile(0, 0, 0), image_to_rgba(u8).numpy())
    f = np.random.default_rng(2).random((40, 50, 3)).astype(np.float32)
    assert np.array_equal(ImagePyramid(f).tile(0, 0, 0), image_to_rgba(torch.from_numpy(f).permute(2, 0, 1)).numpy())
    assert np.array_equal(ImagePyramid(f[::-1]).tile(0, 0, 0)[0], ImagePyramid(f).tile(0, 0, 0)[-1])  # negative strides


def test_pyramid_keeps_one_uint8_copy_and_references_hwc_uint8() -> None:
    image = np.zeros((600, 520, 3), np.uint8)
    pyramid = ImagePyramid(image)
    assert pyramid._levels[0] is image or np.shares_memory(pyramid._levels[0], image)
    assert pyramid.nbytes == image.nbytes  # nothing built yet
    torch_view = torch.from_numpy(image).permute(2, 0, 1)  # what image_from_user makes of a numpy HWC array
    assert np.shares_memory(ImagePyramid(torch_view)._levels[0], image)
    chw = torch.zeros(3, 600, 520, dtype=torch.uint8)  # channels-first memory: one HWC copy
    copied = ImagePyramid(chw)
    assert copied._levels[0].shape == (600, 520, 3) and copied.nbytes == chw.numel()
    pyramid.tile(pyramid.levels - 1, 0, 0)
    assert image.nbytes < pyramid.nbytes <= image.nbytes * 4 / 3 + 3 * 64  # lazily built levels: about 1/3 more
    assert ImagePyramid(torch.rand(3, 64, 64)).nbytes == 64 * 64 * 3  # float -> one uint8 copy, no float kept


def test_pyramid_tiles_are_new_arrays() -> None:
    image = np.zeros((30, 40, 4), np.uint8)
    tile = ImagePyramid(image).tile(0, 0, 0)
    tile[:] = 7
    assert (image == 0).all()


@pytest.mark.parametrize(
    ("image", "err", "text"),
    [
        (torch.zeros(2, 5, 5), ShapeError, "image"),
        (torch.zeros(5, 5, dtype=torch.int32), DTypeError, "image"),
        (np.zeros((5, 5, 2), np.uint8), ShapeError, "image: expected a numpy"),
        (np.zeros((0, 5), np.float32), ShapeError, "non-empty"),
        ([[0, 1]], ArgumentTypeError, "image: expected a torch.Tensor"),
        (torch.zeros(1, 1, 5, 5), ShapeError, "image"),
    ],
)
def test_pyramid_rejects_bad_images(image, err, text) -> None:
    with pytest.raises(err, match=text) as info:
        ImagePyramid(image)
    assert isinstance(info.value, MaskbenchError)


# ---- label_tile / value_tile -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (300, 513), (1100, 260), (1024, 1024)])
@pytest.mark.parametrize("reduce", ["max", "nearest"])
def test_label_tiles_are_the_block_reduction_of_the_full_map(shape, reduce) -> None:
    rng = np.random.default_rng(shape[0])
    labels = (rng.random(shape) < 0.002) * rng.integers(1, 5, shape)  # sparse one-pixel labels
    t = torch.from_numpy(labels)
    before = t.clone()
    for k in range(level_count(shape)):
        got = stitch(shape, k, lambda lv, r, c: label_tile(t, lv, r, c, reduce=reduce))
        assert got.dtype == np.uint16 and np.array_equal(got, ref_block(labels, 2**k, reduce))
    assert torch.equal(t, before)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (33, 64), (70, 129)])
@pytest.mark.parametrize("s", [1, 2, 4, 32])
def test_block_max_torch_and_numpy_paths_agree_with_the_loop(shape, s) -> None:
    from maskbench.render.tiles import _block_max, _block_max_numpy

    x = np.random.default_rng(s).integers(0, 9, shape).astype(np.int16)
    ref = ref_block(x, s, "max")
    assert np.array_equal(_block_max(torch.from_numpy(x), s).numpy(), ref)  # the accelerator path, run on the CPU
    assert np.array_equal(_block_max_numpy(x, s), ref)


def test_label_tile_bool_uint8_numpy_and_dtypes() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((700, 600)) < 0.01
    for k in range(level_count(mask.shape)):
        got = stitch(mask.shape, k, lambda lv, r, c: label_tile(torch.from_numpy(mask), lv, r, c))
        assert got.dtype == np.uint8 and np.array_equal(got, ref_block(mask.astype(np.uint8), 2**k, "max"))
    u8 = rng.integers(0, 256, (600, 300), dtype=np.uint8)
    got = stitch(u8.shape, 1, lambda lv, r, c: label_tile(u8, lv, r, c, reduce="nearest"))  # numpy input
    assert got.dtype == np.uint8 and np.array_equal(got, u8[::2, ::2])
    assert label_dtype(mask) == "uint8" and label_dtype(torch.zeros(2, 2, dtype=torch.int16)) == "uint16"
    assert label_tile(torch.tensor([[65535, 3]]), 0, 0, 0).tolist() == [[65535, 3]]


def test_label_tile_is_a_copy_and_rejects_what_a_tile_cannot_carry() -> None:
    lab = torch.zeros(10, 10, dtype=torch.uint8)
    label_tile(lab, 0, 0, 0)[:] = 9
    assert (lab == 0).all()
    with pytest.raises(CastError, match=r"labels: tile \(0, 0, 0\) holds labels in \[-1, 2\]"):
        label_tile(torch.tensor([[-1, 2]]), 0, 0, 0)
    with pytest.raises(CastError, match="65536"):
        label_tile(torch.tensor([[70000, 65536]]), 0, 0, 0)
    with pytest.raises(DTypeError, match="labels: expected an integer or bool map"):
        label_tile(torch.rand(4, 4), 0, 0, 0)
    with pytest.raises(ArgumentError, match="reduce: expected one of 'max', 'nearest'"):
        label_tile(lab, 0, 0, 0, reduce="mean")
    with pytest.raises(ShapeError, match=r"labels: expected a non-empty \(H, W\) map"):
        label_tile(torch.zeros(1, 4, 4, dtype=torch.uint8), 0, 0, 0)
    with pytest.raises(ArgumentError, match="row"):
        label_tile(lab, 0, 1, 0)


def test_value_tiles_are_real_input_values() -> None:
    values = torch.rand(700, 530, dtype=torch.float64)
    before = values.clone()
    for k in range(level_count(values.shape)):
        got = stitch(tuple(values.shape), k, lambda lv, r, c: value_tile(values, lv, r, c))
        s = 2**k
        assert got.dtype == np.float32 and np.array_equal(got, values.numpy()[::s, ::s].astype(np.float32))
    assert torch.equal(values, before)
    assert np.array_equal(value_tile(np.float32([[0.25, 0.5]]), 0, 0, 0), [[0.25, 0.5]])
    with pytest.raises(DTypeError, match="values: expected a floating"):
        value_tile(torch.zeros(3, 3, dtype=torch.int64), 0, 0, 0)


def test_tiles_of_device_inputs_come_back_on_the_cpu(device) -> None:
    labels = torch.randint(0, 3, (300, 300), device=device)
    assert np.array_equal(label_tile(labels, 1, 0, 0), ref_block(labels.cpu().numpy(), 2, "max"))
    image = torch.rand(3, 300, 300, device=device)
    assert np.array_equal(ImagePyramid(image).tile(0, 1, 1), image_to_rgba(image)[256:, 256:].cpu().numpy())


def test_pyramid_proxy_is_the_area_mean_within_rounding() -> None:
    from maskbench.render.proxy import proxy_level, pyramid_proxy, rgba_proxy
    from maskbench.render.pyramid import ImagePyramid

    assert [proxy_level((8192, 8192), (s, s)) for s in (1024, 1025, 4096, 8192, 9000)] == [3, 2, 1, 0, 0]
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(3, 512, 512, generator=g) * 255).to(torch.uint8)  # a power-of-two ratio: the same bins
    got = pyramid_proxy(ImagePyramid(noise), (128, 128)).numpy().astype(int)
    assert np.abs(got - rgba_proxy(noise, (128, 128)).numpy().astype(int)).max() <= 1
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 601), torch.linspace(0, 1, 333), indexing="ij")
    smooth = torch.stack([yy, xx, (yy + xx) / 2])  # other ratios: bins on the level's pixels, a slight blur
    for size, tol in [((128, 71), 5), ((601, 333), 0)]:  # bins off by < one level-2 pixel (4 px x 0.77 / px)
        got = pyramid_proxy(ImagePyramid(smooth), size).numpy().astype(int)
        want = rgba_proxy(smooth, size).numpy().astype(int)
        assert got.shape == want.shape and np.abs(got - want).max() <= tol, (size, np.abs(got - want).max())
