"""Broken and hostile files for ``maskbench.io`` (issue 10 #8, #11, #12, #13).

Rule checked here: a file whose *content* is wrong (truncated, a decompression bomb, a pickle, an
``.npz`` behind an ``.npy`` name, the wrong format for its suffix) raises a ``MaskbenchError`` that
names the file; what the operating system refuses (a missing file, a directory, no permission)
raises the standard ``OSError`` subclass, which carries the file name. Nothing is ever unpickled,
and nothing huge is allocated: the bomb cases run in a forked child with an address-space limit.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import maskbench as mb

MAX_MESSAGE = 2000


def _names_file(err: BaseException, path: Path) -> bool:
    text = str(err)
    return str(path) in text or path.name in text or getattr(err, "name", None) == "path"


def _assert_named_content_error(call, path: Path) -> None:
    with pytest.raises(Exception) as info:  # noqa: B017, PT011 - the type is what we check
        call()
    err = info.value
    kind = f"{type(err).__module__}.{type(err).__name__}"
    assert isinstance(err, mb.MaskbenchError), f"{kind} is not a MaskbenchError: {str(err)[:300]}"
    assert isinstance(err, (ValueError, TypeError))
    assert len(str(err)) <= MAX_MESSAGE
    assert _names_file(err, path), f"the message does not name the file: {err}"


def _bounded(call, *, memory: int = 1 << 30, seconds: float = 30.0) -> tuple[str, str]:
    """Run ``call`` in a forked child under RLIMIT_AS: (exception class name or "ok", message)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        torch.set_num_threads(1)
        try:
            call()
            child.send(("ok", ""))
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            is_mb = isinstance(err, mb.MaskbenchError)
            child.send((("MaskbenchError:" if is_mb else "") + type(err).__name__, str(err)[: MAX_MESSAGE + 1]))

    proc = ctx.Process(target=target, daemon=True)
    proc.start()
    ready = parent.poll(seconds)
    result = parent.recv() if ready else ("timeout", "")
    proc.kill()
    proc.join()
    return result


# ------------------------------------------------------------------ PNG


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "labels.png"
    mb.save_mask(path, torch.randint(0, 4, (64, 48), dtype=torch.uint8))
    return path


@pytest.mark.parametrize("reader", ["load_image", "load_mask"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_png_is_a_named_error(png: Path, reader: str, keep: float) -> None:
    data = png.read_bytes()
    png.write_bytes(data[: int(len(data) * keep)])
    _assert_named_content_error(lambda: getattr(mb, reader)(png), png)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_bomb(path: Path, height: int, width: int) -> None:
    """A ~100-byte 8-bit grey PNG that declares height x width pixels (its IDAT holds almost nothing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


@pytest.mark.parametrize("reader", ["load_image", "load_mask"])
def test_png_decompression_bomb_is_refused_without_allocating(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "bomb.png"
    _png_bomb(path, 100_000, 100_000)  # 10**10 pixels: 10 GB as uint8, 40 GB as float32
    assert path.stat().st_size < 300
    kind, message = _bounded(lambda: getattr(mb, reader)(path))
    assert kind not in ("ok", "timeout", "MemoryError"), f"{kind}: {message[:300]}"
    assert "bomb" in message.lower() or "pixels" in message.lower(), message
    assert len(message) <= MAX_MESSAGE


@pytest.mark.parametrize("reader", ["load_image", "load_mask"])
def test_png_decompression_bomb_error_is_a_maskbench_error(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "bomb.png"
    _png_bomb(path, 100_000, 100_000)
    kind, message = _bounded(lambda: getattr(mb, reader)(path))
    assert kind.startswith("MaskbenchError:") and len(message) <= MAX_MESSAGE, f"{kind}: {message[:300]}"
    assert str(path) in message or path.name in message, message


@pytest.mark.parametrize("reader", ["load_image", "load_mask"])
def test_npy_bytes_behind_a_png_name_is_a_named_error(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "labels.png"
    np.save(tmp_path / "labels.npy", np.zeros((3, 3), np.uint8))
    (tmp_path / "labels.npy").rename(path)
    _assert_named_content_error(lambda: getattr(mb, reader)(path), path)


def test_png_bytes_behind_an_npy_name_is_a_named_error(png: Path) -> None:
    path = png.with_suffix(".npy")
    png.rename(path)
    _assert_named_content_error(lambda: mb.load_mask(path), path)


def test_colour_png_is_not_a_label_map(tmp_path: Path) -> None:
    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    _assert_named_content_error(lambda: mb.load_mask(path), path)


# ------------------------------------------------------------------ NPY


class _Payload:
    """Unpickling this creates a marker file: proof that a loader ran pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_npy_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    path, marker = tmp_path / "evil.npy", tmp_path / "unpickled"
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(str(marker))
    np.save(path, arr, allow_pickle=True)
    assert not marker.exists()
    _assert_named_content_error(lambda: mb.load_mask(path), path)
    assert not marker.exists(), "load_mask unpickled the file"


def test_npz_renamed_npy_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.npy"
    np.savez(tmp_path / "labels.npz", a=np.zeros((2, 2), np.uint8))
    (tmp_path / "labels.npz").rename(path)
    _assert_named_content_error(lambda: mb.load_mask(path), path)


@pytest.mark.parametrize("dtype", [">i4", ">u2", ">i8", ">u4", "<u8", "|b1", "|u1"])
def test_npy_of_any_byte_order_loads_exact_native_values(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "labels.npy"
    a = np.array([[0, 1, 7], [250, 3, 1]]).astype(dtype)
    np.save(path, a)
    t = mb.load_mask(path)
    assert t.shape == a.shape
    assert np.array_equal(t.numpy(), a.astype(a.dtype.newbyteorder("=")))
    assert t.numpy().dtype.isnative
    t.add_(0) if t.dtype != torch.bool else t.logical_not_()  # writable, own memory


def test_float_npy_is_not_a_mask(tmp_path: Path) -> None:
    path = tmp_path / "probs.npy"
    np.save(path, np.zeros((2, 2), np.float32))
    _assert_named_content_error(lambda: mb.load_mask(path), path)


def test_truncated_npy_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, np.zeros((64, 64), np.int32))
    path.write_bytes(path.read_bytes()[:200])
    _assert_named_content_error(lambda: mb.load_mask(path), path)


@pytest.mark.parametrize("value", [torch.tensor(3), torch.tensor(True), torch.tensor(7, dtype=torch.uint8)])
def test_zero_d_npy_round_trips_as_zero_d(tmp_path: Path, value: torch.Tensor) -> None:
    """Issue 10 #8: a 0-d .npy came back as shape (1,)."""
    path = tmp_path / "scalar.npy"
    mb.save_mask(path, value)
    back = mb.load_mask(path)
    assert back.shape == () and back.dtype == value.dtype and back.item() == value.item()
    np.save(path, np.array(5, np.int16))
    assert mb.load_mask(path).shape == ()


# ------------------------------------------------------------------ paths the OS refuses


def test_missing_file_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    for reader in (mb.load_image, mb.load_mask):
        for name in ("missing.png", "missing.npy"):
            with pytest.raises(FileNotFoundError, match="missing"):
                reader(tmp_path / name)


@pytest.mark.parametrize("call", ["load_image", "load_mask", "save_mask"])
def test_a_directory_is_not_a_file(tmp_path: Path, call: str) -> None:
    folder = tmp_path / "labels.png"
    folder.mkdir()
    args = (folder, torch.zeros(2, 2, dtype=torch.bool)) if call == "save_mask" else (folder,)
    with pytest.raises((OSError, mb.MaskbenchError)) as info:
        getattr(mb, call)(*args)
    assert _names_file(info.value, folder) or getattr(info.value, "filename", None), str(info.value)
    assert folder.is_dir() and not list(folder.iterdir()), "save_mask left something behind"


def test_unreadable_file(png: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root (CI): root reads files whatever their permission bits")
    png.chmod(0)
    try:
        for reader in (mb.load_image, mb.load_mask):
            with pytest.raises(PermissionError):
                reader(png)
    finally:
        png.chmod(0o644)


def test_save_mask_into_a_missing_folder_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises((OSError, mb.MaskbenchError)):
        mb.save_mask(tmp_path / "nope" / "m.png", torch.zeros(2, 2, dtype=torch.bool))
    assert list(tmp_path.iterdir()) == []


def test_save_mask_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path: Path) -> None:
    """Issue 10 #13: the atomic replace must not leave the temporary file's 0600 mode behind."""
    path = tmp_path / "m.png"
    mb.save_mask(path, torch.zeros(2, 2, dtype=torch.bool))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask, "a new file gets the usual umask mode"
    path.chmod(0o640)
    mb.save_mask(path, torch.ones(2, 2, dtype=torch.bool))
    assert path.stat().st_mode & 0o777 == 0o640
    assert mb.load_mask(path).all()


# ------------------------------------------------------------------ RLE size cap


def test_rle_bomb_is_refused_before_allocating() -> None:
    """Issue 10 #12: a 40-byte RLE of 100000 x 100000 must not allocate 9 GiB (child limited to 1 GiB)."""
    rle = {"size": [100_000, 100_000], "counts": [0, 10**10]}
    kind, message = _bounded(lambda: mb.rle_decode(rle), memory=1 << 30)
    assert kind.startswith("MaskbenchError:"), f"{kind}: {message[:300]}"
    assert "rle" in message and len(message) <= MAX_MESSAGE
    compressed = {
        "size": [100_000, 100_000],
        "counts": mb.rle_encode(torch.zeros(1, 1, dtype=torch.bool), compressed=True)["counts"],
    }
    kind, _ = _bounded(lambda: mb.rle_decode(compressed), memory=1 << 30)
    assert kind.startswith("MaskbenchError:"), kind


def test_rle_cap_is_documented_and_overridable() -> None:
    rle = mb.rle_encode(torch.ones(30, 40, dtype=torch.bool))
    with pytest.raises(mb.MaskbenchError, match="max_pixels"):
        mb.rle_decode(rle, max_pixels=1000)
    assert mb.rle_decode(rle, max_pixels=1200).all()
    assert mb.rle_decode(rle, max_pixels=None).shape == (30, 40)
    assert "max_pixels" in (mb.rle_decode.__doc__ or "")


@pytest.mark.parametrize(
    "rle",
    [
        {"size": [2, 2], "counts": [1.0, 3.0]},
        {"size": [2, 2], "counts": [1.5, 2.5]},
        {"size": [2.0, 2], "counts": [1, 3]},
        {"size": [2, 2], "counts": np.array([1.0, 3.0])},
        {"size": [2, 2], "counts": [True, 3]},
    ],
    ids=["whole floats", "fractions", "float size", "float array", "bool count"],
)
def test_rle_decode_rejects_non_integer_counts_and_sizes(rle: dict) -> None:
    """Issue 10 #8: non-integer counts/size were truncated instead of rejected."""
    with pytest.raises(mb.MaskbenchError, match="rle"):
        mb.rle_decode(rle)
