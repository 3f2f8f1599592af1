"""maskbench.io: one-hot, COCO RLE, mask/image files, as_tensor."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from maskbench import (
    DTypeError,
    MaskValueError,
    ShapeError,
    as_tensor,
    from_one_hot,
    load_image,
    load_mask,
    one_hot,
    rle_decode,
    rle_encode,
    save_mask,
)

fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------- one-hot


@fixtures_ok
@given(
    shape=st.sampled_from([(1, 1), (3, 5), (2, 4, 3), (1, 7, 1)]),
    k=st.integers(1, 5),
    dtype=st.sampled_from([torch.bool, torch.float32, torch.int64]),
    seed=st.integers(0, 1000),
)
def test_one_hot_matches_loop_and_round_trips(shape, k, dtype, seed, device, no_sync) -> None:
    labels = torch.randint(0, k, shape, generator=torch.Generator().manual_seed(seed)).to(device)
    with no_sync():
        planes = one_hot(labels, k, dtype=dtype)
    axis = len(shape) - 2  # K goes right before (H, W)
    assert planes.dtype == dtype and planes.shape == (*shape[:-2], k, *shape[-2:])
    for cls in range(k):
        assert torch.equal(planes.select(axis, cls).cpu(), (labels == cls).to(dtype).cpu())
    assert torch.equal(from_one_hot(planes), labels.long())
    # agrees with torch's own one-hot (channel axis moved)
    ref = torch.nn.functional.one_hot(labels.long().cpu(), k).movedim(-1, axis)
    assert torch.equal(planes.cpu().long(), ref)


def test_one_hot_ignore_value_and_from_one_hot_rules(device) -> None:
    labels = torch.tensor([[0, 255], [2, 1]], dtype=torch.uint8, device=device)
    planes = one_hot(labels, 3)
    assert planes[:, 0, 1].tolist() == [False, False, False]  # ignore value: no channel set
    assert from_one_hot(planes, ignore_index=255).tolist() == [[0, 255], [2, 1]]
    if device.type == "cpu":
        with pytest.raises(MaskValueError, match=r"onehot: expected exactly one set channel.*1 with none"):
            from_one_hot(planes)
        several = planes.clone()
        several[:, 1, 1] = True
        with pytest.raises(MaskValueError, match=r"2 pixel\(s\) with several|1 pixel\(s\) with several"):
            from_one_hot(several, ignore_index=255)
    # another class axis
    assert from_one_hot(planes.permute(1, 2, 0), dim=-1, ignore_index=7).tolist() == [[0, 7], [2, 1]]
    with pytest.raises(ShapeError, match=r"onehot: expected a non-empty class axis at dim=5"):
        from_one_hot(planes, dim=5)


def test_one_hot_errors(device) -> None:
    with pytest.raises(DTypeError, match=r"labels: expected an integer label map.*float32"):
        one_hot(torch.zeros(2, 2, device=device), 3)
    with pytest.raises(ShapeError, match=r"labels: expected \(H, W\) or \(B, H, W\); got \(4,\)"):
        one_hot(torch.zeros(4, dtype=torch.long, device=device), 3)
    with pytest.raises(ValueError, match=r"num_classes: expected an int >= 1"):
        one_hot(torch.zeros(2, 2, dtype=torch.long, device=device), 0)


# ---------------------------------------------------------------- RLE


def ref_rle(mask: np.ndarray) -> list[int]:
    """Plain loop over column-major pixels, as in pycocotools rleEncode."""
    counts, prev, run = [], 0, 0
    for v in mask.ravel(order="F"):
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    return counts


def test_rle_hand_checked_examples() -> None:
    mask = np.array([[0, 1], [1, 1]], dtype=bool)
    assert rle_encode(mask) == {"size": [2, 2], "counts": [1, 3]}  # column-major: 0 | 1 1 1
    assert rle_encode(np.ones((2, 3), bool))["counts"] == [0, 6]  # starts with zero zeros
    assert rle_encode(np.zeros((2, 3), bool))["counts"] == [6]
    assert rle_encode(np.zeros((0, 3), bool)) == {"size": [0, 3], "counts": [0]}
    tall = np.array([[1], [0], [0]], dtype=bool)
    wide = tall.T
    assert rle_encode(tall)["counts"] == [0, 1, 2] and rle_encode(wide)["counts"] == [0, 1, 2]
    assert rle_encode(np.array([[1, 0, 0]], bool).T.copy())["size"] == [3, 1]
    # COCO string codec, worked out by hand from maskApi.c's rleToString:
    # 60 = 0b11100 + 1<<5 -> chunks 28 (|0x20 more) and 1 -> chr(60+48) chr(1+48)
    assert rle_decode({"size": [8, 8], "counts": "04l1"}).sum().item() == 4
    assert rle_decode({"size": [1, 11], "counts": "523O"})[0].int().tolist() == [0] * 5 + [1] * 2 + [0] * 3 + [1]
    # "O" at i=3 is a delta of -1 against counts[1] = 2 -> count 1
    assert rle_decode({"size": [1, 1000], "counts": b"Xo0"}).sum().item() == 0  # bytes accepted
    # 1000 = 8 + 31 * 32 -> chunks 8|0x20 ('X'), 31|0x20 ('o', bit 0x10 set so continue), 0 ('0')
    assert rle_encode(torch.zeros(1, 1000, dtype=torch.bool), compressed=True)["counts"] == "Xo0"
    assert rle_encode(torch.tensor([[False, True], [True, True]]), compressed=True)["counts"] == "13"


@given(mask=hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12)))
def test_rle_round_trips(mask: np.ndarray) -> None:
    rle = rle_encode(torch.from_numpy(mask))
    assert rle["size"] == list(mask.shape)
    assert rle["counts"] == ref_rle(mask)
    assert sum(rle["counts"]) == mask.size
    assert torch.equal(rle_decode(rle), torch.from_numpy(mask))
    packed = rle_encode(mask, compressed=True)
    assert isinstance(packed["counts"], str) and all(48 <= ord(ch) < 112 for ch in packed["counts"])
    assert torch.equal(rle_decode(packed), torch.from_numpy(mask))


@given(counts=st.lists(st.integers(0, 5000), min_size=1, max_size=30))
def test_rle_string_codec_round_trips_any_counts(counts: list[int]) -> None:
    # arbitrary (even non-alternating-looking) counts exercise negative deltas and long numbers
    total = sum(counts)
    rle = {"size": [1, total], "counts": counts}
    mask = rle_decode(rle)
    assert rle_decode({"size": [1, total], "counts": rle_encode(mask, compressed=True)["counts"]}).equal(mask)
    from maskbench._coco_rle import rle_from_string as _rle_from_string
    from maskbench._coco_rle import rle_to_string as _rle_to_string

    assert _rle_from_string(_rle_to_string(counts)) == counts


def test_rle_errors() -> None:
    with pytest.raises(MaskValueError, match=r"sum to H\*W = 2\*2 = 4; got sum 3"):
        rle_decode({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(TypeError, match=r"expected a dict with 'size' and 'counts'"):
        rle_decode([1, 2])
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask.*mask > 0"):
        rle_encode(np.ones((2, 2), np.uint8))
    with pytest.raises(ShapeError, match=r"mask: expected a single \(H, W\) mask.*\(2, 2, 2\)"):
        rle_encode(torch.ones(2, 2, 2, dtype=torch.bool))
    with pytest.raises(MaskValueError, match=r"invalid character"):
        rle_decode({"size": [2, 2], "counts": "1 3"})


# ---------------------------------------------------------------- files


@pytest.mark.parametrize(
    "labels, dtype",
    [
        (np.array([[0, 1], [1, 0]], dtype=bool), torch.bool),
        (np.array([[0, 255], [7, 1]], dtype=np.int64), torch.uint8),
        (np.array([[0, 256], [65535, 3]], dtype=np.int64), torch.int32),
        (np.zeros((1, 1), dtype=np.uint8), torch.uint8),
    ],
)
def test_save_load_png_round_trip(tmp_path, labels, dtype) -> None:
    path = tmp_path / "m.png"
    save_mask(path, torch.from_numpy(labels))
    loaded = load_mask(path)
    assert loaded.dtype == dtype and loaded.shape == labels.shape
    assert np.array_equal(loaded.numpy(), labels)
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0600


@given(
    arr=hnp.arrays(
        st.sampled_from([np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    )
)
def test_save_load_npy_keeps_dtype_and_values(tmp_path_factory, arr) -> None:
    path = tmp_path_factory.mktemp("npy") / "m.npy"
    save_mask(path, arr)
    loaded = load_mask(path)
    assert loaded.numpy().dtype == arr.dtype and np.array_equal(loaded.numpy(), arr)


@given(labels=hnp.arrays(np.int32, (5, 4), elements=st.integers(0, 65535)))
def test_png_labels_preserved_exactly(tmp_path_factory, labels) -> None:
    path = tmp_path_factory.mktemp("png") / "labels.PNG"  # suffix is case-insensitive
    save_mask(path, labels)
    assert np.array_equal(load_mask(path).numpy(), labels)


def test_load_mask_palette_and_wide_npy(tmp_path) -> None:
    img = Image.fromarray(np.array([[0, 3], [21, 255]], dtype=np.uint8), mode="P")
    img.putpalette([i % 256 for i in range(768)])
    img.save(tmp_path / "voc.png")
    assert load_mask(tmp_path / "voc.png").tolist() == [[0, 3], [21, 255]]  # indices, not colours
    np.save(tmp_path / "u16.npy", np.array([[65535, 0]], dtype=np.uint16))
    assert load_mask(tmp_path / "u16.npy").dtype == torch.int32
    np.save(tmp_path / "f.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(DTypeError, match=r"holds float32 data; a mask file holds bool or integer"):
        load_mask(tmp_path / "f.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"allow_pickle"):
        load_mask(tmp_path / "obj.npy")
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(DTypeError, match=r"'RGB' image, not a label map"):
        load_mask(tmp_path / "rgb.png")


def test_save_mask_errors_and_atomicity(tmp_path) -> None:
    with pytest.raises(DTypeError, match=r"mask: expected a bool mask or integer labels.*float32.*mask > 0.5"):
        save_mask(tmp_path / "m.png", torch.rand(2, 2))
    with pytest.raises(MaskValueError, match=r"\[0, 65535\]; got values in \[-1, 3\].*'m.npy'"):
        save_mask(tmp_path / "m.png", torch.tensor([[-1, 3]]))
    with pytest.raises(MaskValueError, match=r"got values in \[0, 70000\]"):
        save_mask(tmp_path / "m.png", torch.tensor([[0, 70000]]))
    with pytest.raises(ShapeError, match=r"a PNG holds one \(H, W\) mask; got \(2, 2, 2\).*\.npy"):
        save_mask(tmp_path / "m.png", torch.zeros(2, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"expected a .png or .npy file; got '.*m.jpg'"):
        save_mask(tmp_path / "m.jpg", torch.zeros(2, 2, dtype=torch.uint8))
    # a failed write leaves the old file intact and no temp file behind
    save_mask(tmp_path / "keep.npy", torch.tensor([1, 2]))

    class Boom:
        def __array__(self, *a, **k):
            return np.array([1, 2], dtype=object)

    with pytest.raises(DTypeError):
        save_mask(tmp_path / "keep.npy", Boom())
    assert load_mask(tmp_path / "keep.npy").tolist() == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]


def test_atomic_write_cleans_up_on_failure(tmp_path, monkeypatch) -> None:
    save_mask(tmp_path / "m.png", torch.tensor([[1, 2]], dtype=torch.uint8))

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_mask(tmp_path / "m.png", torch.tensor([[9, 9]], dtype=torch.uint8))
    monkeypatch.undo()
    assert load_mask(tmp_path / "m.png").tolist() == [[1, 2]]
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


@pytest.mark.parametrize(
    "mode, shape, channels",
    [("L", (3, 4), 1), ("RGB", (3, 4, 3), 3), ("RGBA", (3, 4, 4), 3), ("LA", (3, 4, 2), 1)],
)
def test_load_image_modes(tmp_path, mode, shape, channels) -> None:
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    arr.reshape(-1)[0], arr.reshape(-1)[-1] = 0, 255
    Image.fromarray(arr, mode=mode).save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png")
    assert img.dtype == torch.float32 and img.shape == (channels, 3, 4)
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    np.testing.assert_allclose(img.numpy(), chw[:channels] / 255.0, rtol=1e-6)
    if arr.ndim == 3 and shape[-1] in (2, 4):
        full = load_image(tmp_path / "x.png", keep_alpha=True)
        assert full.shape == (shape[-1], 3, 4) and torch.equal(full[:channels], img)


def test_load_image_jpeg_16bit_palette_and_1bit(tmp_path) -> None:
    Image.new("RGB", (5, 4), (255, 0, 0)).save(tmp_path / "red.jpg", quality=95)
    red = load_image(tmp_path / "red.jpg")
    assert red.shape == (3, 4, 5) and red[0].min() > 0.95 and red[1:].max() < 0.05
    Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(tmp_path / "16.png")
    assert load_image(tmp_path / "16.png").tolist() == [[[0.0, 1.0]]]
    p = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    p.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    p.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png")[:, 0, 1].tolist() == [1.0, pytest.approx(128 / 255), 0.0]
    save_mask(tmp_path / "b.png", torch.tensor([[True, False]]))
    assert load_image(tmp_path / "b.png").tolist() == [[[1.0, 0.0]]]


# ---------------------------------------------------------------- as_tensor


class DLPackOnly:
    """An array that speaks only DLPack (like CuPy or JAX would)."""

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_as_tensor_zero_copy_numpy_and_dlpack() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = as_tensor(a)
    assert t.data_ptr() == a.ctypes.data and t.shape == (2, 3)
    t[0, 0] = 42
    assert a[0, 0] == 42  # shared memory
    b = np.arange(6, dtype=np.int16).reshape(3, 2)
    d = as_tensor(DLPackOnly(b))
    assert d.dtype == torch.int16 and d.data_ptr() == b.ctypes.data
    b[2, 1] = -5
    assert d[2, 1].item() == -5
    assert as_tensor(t) is t  # tensors pass through


def test_as_tensor_copies_when_it_must() -> None:
    ro = np.arange(4, dtype=np.uint8)
    ro.flags.writeable = False
    t = as_tensor(ro)
    t[0] = 9
    assert ro[0] == 0  # a copy: read-only memory is never aliased
    rev = np.arange(5)[::-1]
    assert as_tensor(rev).tolist() == [4, 3, 2, 1, 0]
    big_endian = np.array([1, 256], dtype=">i4")
    assert as_tensor(big_endian).tolist() == [1, 256]
    assert as_tensor([[1, 2]]).tolist() == [[1, 2]] and as_tensor(np.float32(2.5)).item() == 2.5
    with pytest.raises(
        TypeError, match=r"^x: expected a torch.Tensor, numpy array"
    ):  # names the argument (issue 10 #13)
        as_tensor(object())
    with pytest.raises(DTypeError, match=r"numpy dtype <U1 has no torch equivalent"):
        as_tensor(np.array(["a"]))


def test_as_tensor_pil() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    t = as_tensor(Image.fromarray(rgb))
    assert t.shape == (3, 3, 4) and t.dtype == torch.uint8 and np.array_equal(t.permute(1, 2, 0).numpy(), rgb)
    assert as_tensor(Image.fromarray(rgb[..., 0])).shape == (3, 4)
    assert as_tensor(Image.fromarray(rgb[..., 0] > 100)).dtype == torch.bool
    assert as_tensor(Image.fromarray(np.array([[70000]], dtype=np.int32))).tolist() == [[70000]]


# issue 10 regressions ------------------------------------------------------------------------------

from maskbench import MaskbenchError  # noqa: E402


@pytest.mark.parametrize("value", [np.int64(7), np.bool_(True), np.uint8(200)])
def test_0d_npy_round_trip_keeps_shape_issue10_8(tmp_path, value) -> None:
    # np.ascontiguousarray promotes a 0-d array to (1,): the scalar came back as shape (1,).
    path = tmp_path / "scalar.npy"
    np.save(path, np.asarray(value), allow_pickle=False)
    loaded = load_mask(path)
    assert loaded.shape == () and loaded.item() == value.item()
    save_mask(tmp_path / "again.npy", torch.tensor(value.item()))
    assert np.load(tmp_path / "again.npy").shape == ()


@pytest.mark.parametrize(
    "rle, where",
    [
        ({"size": [2.5, 2], "counts": [1, 3]}, r"rle\['size'\]"),
        ({"size": [2, 2], "counts": [1.7, 2.3]}, r"rle\['counts'\]"),
        ({"size": [2, 2], "counts": [1.0, 3.0]}, r"rle\['counts'\]"),
        ({"size": [2, 2], "counts": [True, 3]}, r"rle\['counts'\]"),
        ({"size": [2, 2], "counts": np.array([1.0, 3.0])}, r"rle\['counts'\]"),
        ({"size": ["2", 2], "counts": [1, 3]}, r"rle\['size'\]"),
    ],
)
def test_rle_decode_rejects_non_integer_counts_and_size_issue10_8(rle, where) -> None:
    # int() truncated 2.5 to 2 and 1.7 to 1 (and 1.7 + 2.3 summed to 4 = 2 * 2).
    with pytest.raises(MaskbenchError, match=where):
        rle_decode(rle)


def test_rle_decode_accepts_integer_numpy_counts_issue10_8() -> None:
    rle = {"size": np.array([2, 2]), "counts": np.array([1, 3], dtype=np.uint32)}
    assert rle_decode(rle).tolist() == [[False, True], [True, True]]


def test_rle_decode_size_cap_issue10_12() -> None:
    # A 40-byte RLE of 100000 x 100000 used to allocate 9 GiB before anything checked it.
    bomb = {"size": [100_000, 100_000], "counts": [10_000_000_000]}
    with pytest.raises(MaskValueError, match=r"rle: size \[100000, 100000\] .*10000000000 pixels.*max_pixels"):
        rle_decode(bomb)
    with pytest.raises(MaskValueError, match=r"max_pixels=12"):
        rle_decode({"size": [4, 4], "counts": [16]}, max_pixels=12)
    assert rle_decode({"size": [4, 4], "counts": [16]}, max_pixels=16).shape == (4, 4)  # overridable
    assert rle_decode({"size": [4, 4], "counts": [16]}, max_pixels=None).shape == (4, 4)
    with pytest.raises(TypeError, match=r"max_pixels: expected an int"):
        rle_decode({"size": [4, 4], "counts": [16]}, max_pixels=1.5)


def test_rle_decode_counts_that_overflow_int64_sums_issue10_12() -> None:
    # int64 sums wrap around: these counts "sum" to 4 modulo 2**64 and would reach np.repeat.
    counts = [2**62, 2**62, 2**62, 2**62 + 4]
    with pytest.raises(MaskValueError, match=r"rle: counts must be non-negative and sum to H\*W"):
        rle_decode({"size": [2, 2], "counts": counts})


@pytest.mark.parametrize(
    "rle",
    [
        None,
        [],
        {"size": [2, 2]},
        {"size": 4, "counts": [4]},
        {"size": [2, 2, 1], "counts": [4]},
        {"size": [2, 2], "counts": 4},
    ],
)
def test_rle_decode_malformed_input_names_rle_issue10_13(rle) -> None:
    with pytest.raises(MaskbenchError, match=r"^rle"):
        rle_decode(rle)


@pytest.mark.parametrize("fn", [rle_encode, lambda m: save_mask("x.png", m)])
def test_mask_none_names_mask_issue10_13(fn) -> None:
    with pytest.raises(MaskbenchError, match=r"^mask: expected"):
        fn(None)


@pytest.mark.parametrize("fn", [load_image, load_mask])
def test_load_none_names_path_issue10_11_13(fn) -> None:
    with pytest.raises(MaskbenchError, match=r"^path: expected a file path .*got None"):
        fn(None)


@pytest.mark.parametrize("order", [">", "<"])
def test_big_endian_npy_loads_issue10_11(tmp_path, order) -> None:
    arr = np.array([[1, 300], [70000, 2]], dtype=f"{order}i4")
    np.save(tmp_path / "m.npy", arr, allow_pickle=False)
    loaded = load_mask(tmp_path / "m.npy")
    assert loaded.dtype == torch.int32 and loaded.tolist() == [[1, 300], [70000, 2]]
    np.save(tmp_path / "u.npy", arr.astype(f"{order}u2"), allow_pickle=False)
    assert load_mask(tmp_path / "u.npy").tolist() == (arr.astype(np.uint16)).tolist()


def test_npz_renamed_npy_gives_a_clear_error_issue10_11(tmp_path) -> None:
    np.savez(tmp_path / "m.npz", a=np.zeros((2, 2), dtype=np.uint8))
    os.replace(tmp_path / "m.npz", tmp_path / "m.npy")
    with pytest.raises(MaskValueError, match=r"m.npy.* an .npz archive.*numpy.load"):
        load_mask(tmp_path / "m.npy")


def test_pickled_npy_is_our_error_issue10_11(tmp_path) -> None:
    np.save(tmp_path / "p.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(MaskValueError, match=r"allow_pickle"):
        load_mask(tmp_path / "p.npy")


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0, 0)])
def test_save_empty_mask_to_png_is_our_error_issue10_13(tmp_path, shape) -> None:
    for dtype in (torch.bool, torch.uint8):
        with pytest.raises(ShapeError, match=r"mask: a PNG cannot hold an empty .*\.npy"):
            save_mask(tmp_path / "e.png", torch.zeros(shape, dtype=dtype))
    save_mask(tmp_path / "e.npy", torch.zeros(shape, dtype=torch.bool))  # .npy can
    assert load_mask(tmp_path / "e.npy").shape == shape


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_save_mask_keeps_existing_permission_bits_issue10_13(tmp_path, suffix) -> None:
    path = tmp_path / f"m{suffix}"
    save_mask(path, torch.ones(2, 2, dtype=torch.bool))
    os.chmod(path, 0o640)
    save_mask(path, torch.zeros(2, 2, dtype=torch.bool))
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert not load_mask(path).any()


def test_rle_errors_do_not_echo_huge_counts_issue10_13() -> None:
    with pytest.raises(MaskValueError, match=r"^rle: compressed counts end inside a number") as info:
        rle_decode({"size": [1000, 1000], "counts": "P" * 1_000_000})
    assert len(str(info.value)) < 300
    with pytest.raises(MaskbenchError, match=r"^rle") as info:
        rle_decode({"size": [2, 2], "counts": [0.5] * 1_000_000})
    assert len(str(info.value)) < 300


def test_rle_decode_rejects_a_huge_compressed_string_before_decoding_issue10_11(monkeypatch) -> None:
    import maskbench._coco_rle as coco

    def never(s):  # the old decoder walked the whole 9 MiB string in Python before any check
        raise AssertionError("the string was decoded before its length was checked")

    monkeypatch.setattr(coco, "rle_from_string", never)
    with pytest.raises(MaskValueError, match=r"^rle\['counts'\]: 9437184 characters"):
        rle_decode({"size": [4, 4], "counts": "1" * (9 * 2**20)})


def _png_bytes(shape=(64, 64)) -> bytes:
    import io as _io

    buf = _io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("fn", [load_image, load_mask])
def test_unreadable_image_files_are_our_errors_issue10_11(tmp_path, fn) -> None:
    truncated = tmp_path / "t.png"
    truncated.write_bytes(_png_bytes()[:300])
    not_image = tmp_path / "n.png"
    not_image.write_bytes(b"\x93NUMPY" + b"\0" * 64)
    for path in (truncated, not_image):
        with pytest.raises(MaskValueError, match=r"^path: cannot read .* as an image"):
            fn(path)
    with pytest.raises(FileNotFoundError):  # a missing file stays what Python users expect
        fn(tmp_path / "missing.png")


def test_png_decompression_bomb_is_our_error_issue10_11(tmp_path, monkeypatch) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png_bytes((64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64*64 > 2 * 100: PIL's bomb error
    with pytest.raises(MaskValueError, match=r"DecompressionBombError"):
        load_mask(path)
