"""Masks in and out: COCO RLE, image/mask files (PNG, NPY) and numpy/PIL/DLPack conversion.

PIL is imported inside the functions that read or write files, so ``import maskbench`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from maskbench._checks import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    MaskValueError,
    ShapeError,
    describe,
    short_repr,
)
from maskbench._coco_rle import MAX_RLE_PIXELS, rle_decode, rle_encode  # re-exported: the public home

__all__ = [
    "MAX_RLE_PIXELS",
    "rle_encode",
    "rle_decode",
    "load_image",
    "load_mask",
    "save_mask",
    "as_tensor",
]


# ---------------------------------------------------------------- files


def load_image(path: str | os.PathLike, *, keep_alpha: bool = False) -> torch.Tensor:
    """Read an image file (PNG, JPEG, anything PIL opens) as ``(C, H, W)`` float32 in [0, 1].

    Grayscale gives C = 1, colour C = 3 (palette images are expanded to colour). An alpha channel
    is dropped unless ``keep_alpha`` (then C = 2 or 4). 16-bit images are divided by 65535, 1-bit by
    1, others by 255; PIL float images ('F') are returned as stored. EXIF orientation is not applied:
    pixels come as stored, so they line up with masks saved from the same array.

    >>> import tempfile, os
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "x.png")
    >>> save_mask(path, torch.tensor([[0, 255]], dtype=torch.uint8))
    >>> load_image(path)
    tensor([[[0., 1.]]])
    >>> folder.cleanup()
    """
    path = _check_path(path)
    from PIL import Image

    with _image_errors(path), Image.open(path) as img:
        img.load()
        mode = img.mode
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            img = img.convert("RGB")
        elif mode == "PA":
            img = img.convert("RGBA")
        mode = img.mode
        arr = np.array(img)
    if mode.startswith("I;16") or mode == "I":
        scale = 65535.0
    elif mode in ("1", "F"):
        scale = 1.0
    else:
        scale = 255.0
    t = torch.from_numpy(arr.astype(np.float32) / np.float32(scale))
    if t.ndim == 2:
        t = t[None]
    else:
        t = t.permute(2, 0, 1)
        has_alpha = mode in ("RGBA", "LA", "La", "RGBa")
        if has_alpha and not keep_alpha:
            t = t[:-1]
    return t.contiguous()


_NPY_WIDEN = {np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64}


def load_mask(path: str | os.PathLike) -> torch.Tensor:
    """Read a mask or label file with its values preserved exactly.

    PNG (any PIL-readable file): mode '1' -> bool ``(H, W)``; 'L' and palette 'P' (the palette
    *indices*, not colours) -> uint8; 16-bit -> int32. Colour files are rejected (they are not label
    maps). NPY: any bool/integer array, loaded with ``allow_pickle=False``; uint16 -> int32 and
    uint32/uint64 -> int64 (torch's unsigned types support few ops), everything else keeps its dtype
    and shape. Floating arrays are rejected.

    >>> import tempfile, os
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "labels.png")
    >>> save_mask(path, torch.tensor([[0, 3], [300, 1]]))
    >>> load_mask(path)
    tensor([[  0,   3],
            [300,   1]], dtype=torch.int32)
    >>> folder.cleanup()
    """
    path = Path(_check_path(path))
    if path.suffix.lower() == ".npy":
        arr = _load_npy(path)
        if arr.dtype.kind not in "biu":
            raise DTypeError(
                f"load_mask: {path} holds {arr.dtype} data; a mask file holds bool or integer labels. "
                "Load weights or probabilities with numpy.load and maskbench.as_tensor."
            )
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
            if arr.size and arr.max() > np.iinfo(np.int64).max:
                raise MaskValueError(f"load_mask: {path} holds uint64 labels above the int64 range.")
            arr = arr.astype(np.int64)
        arr = arr.astype(_NPY_WIDEN.get(arr.dtype.newbyteorder("="), arr.dtype), copy=False)
        return _from_numpy(arr)  # native byte order, writable; a 0-d array stays 0-d

    from PIL import Image

    with _image_errors(path), Image.open(path) as img:
        mode = img.mode
        if mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"):
            raise DTypeError(
                f"load_mask: {path} is a {mode!r} image, not a label map (expected 1-bit, 8-bit gray, "
                f"palette or 16-bit). Convert colours to labels first, or read it with maskbench.load_image."
            )
        arr = np.array(img)
    if mode == "1":
        return torch.from_numpy(arr.astype(bool))
    if mode in ("L", "P"):
        return torch.from_numpy(arr.astype(np.uint8, copy=False))
    return torch.from_numpy(arr.astype(np.int32))


def _check_path(path: object, name: str = "path") -> str | os.PathLike:
    if isinstance(path, (str, os.PathLike)):
        return path
    raise ArgumentTypeError(
        f"{name}: expected a file path (str or os.PathLike); got {type(path).__name__} {short_repr(path)}.",
        name=name,
    )


@contextlib.contextmanager
def _image_errors(path: object):
    """PIL's errors for unreadable files (truncated, not an image, a decompression bomb) as ours.

    A missing file, a directory or a permission problem stays the OSError Python users expect.
    """
    from PIL import Image

    try:
        yield
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:  # PIL raises SyntaxError for bad chunks
        raise MaskValueError(
            f"path: cannot read {short_repr(str(path), 1000)} as an image: {type(err).__name__}: {short_repr(str(err), 160)}. "
            "Is the file complete and really an image (.npy files are read by suffix)?",
            name="path",
        ) from err


def _load_npy(path: Path) -> np.ndarray:
    """``np.load`` of a plain array file, with our errors for archives and pickles."""
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:  # numpy: object arrays need allow_pickle
        raise MaskValueError(
            f"load_mask: {path} is not a plain numeric .npy array ({err}); maskbench never unpickles "
            "(allow_pickle=False). Re-save it with numpy.save(..., allow_pickle=False).",
            name="path",
        ) from None
    if not isinstance(arr, np.ndarray):  # an NpzFile: the .npz archive has a .npy name
        names = list(getattr(arr, "files", []))[:5]
        close = getattr(arr, "close", None)
        if close is not None:
            close()
        raise MaskValueError(
            f"load_mask: {path} is an .npz archive (arrays {names}), not a single .npy array. "
            "Open it with numpy.load and pass one array to maskbench.as_tensor, or rename it .npz.",
            name="path",
        )
    return arr


def save_mask(path: str | os.PathLike, mask: object) -> None:
    """Write a bool mask or integer label map to PNG or NPY (chosen by the suffix), atomically.

    The file is written to a temporary file in the same folder and moved into place with
    ``os.replace``, so a reader never sees half a file. PNG: bool -> 1-bit (loads back as bool);
    labels in [0, 255] -> 8-bit, [0, 65535] -> 16-bit (values round-trip exactly; the dtype comes
    back as uint8/int32); only ``(H, W)``. NPY: any shape, dtype kept exactly (``allow_pickle=False``).
    Floating masks are rejected (threshold or quantise them first).

    >>> import tempfile, os
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "mask.png")
    >>> save_mask(path, torch.tensor([[True, False]]))
    >>> load_mask(path)
    tensor([[ True, False]])
    >>> folder.cleanup()
    """
    path = Path(_check_path(path))
    suffix = path.suffix.lower()
    if suffix not in (".png", ".npy"):
        raise ArgumentError(f"path: expected a .png or .npy file; got {short_repr(str(path), 1000)}.", name="path")
    t = _to_tensor(mask, "mask")
    if t.is_floating_point() or t.is_complex():
        raise DTypeError(
            f"mask: expected a bool mask or integer labels to save; got {describe(t)}. "
            "Threshold it (`mask > 0.5`), or quantise a weight (`(mask * 255).round().to(torch.uint8)`)."
        )
    arr = np.require(t.detach().cpu().numpy(), requirements="C")  # ascontiguousarray makes 0-d 1-d
    if suffix == ".npy":
        _write_atomically(path, lambda f: np.save(f, arr, allow_pickle=False))
        return

    from PIL import Image

    if arr.ndim != 2:
        raise ShapeError(f"mask: a PNG holds one (H, W) mask; got {describe(t)}. Save stacks as .npy.")
    if arr.size == 0:
        raise ShapeError(
            f"mask: a PNG cannot hold an empty {tuple(arr.shape)} mask (PNG needs at least 1x1); got "
            f"{describe(t)}. Save it as .npy instead (e.g. {path.with_suffix('.npy').name!r}).",
            name="mask",
        )
    if arr.dtype == bool:
        img = Image.fromarray(arr)  # mode '1'
    else:
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise MaskValueError(
                f"mask: PNG labels must lie in [0, 65535]; got values in [{lo}, {hi}] for {describe(t)}. "
                f"Save it as .npy instead (e.g. {path.with_suffix('.npy').name!r})."
            )
        img = Image.fromarray(arr.astype(np.uint8 if hi <= 255 else np.uint16))
    _write_atomically(path, lambda f: img.save(f, format="PNG"))


def _write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # replacing a file keeps its permission bits (as writing into it would)
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            # mkstemp makes 0600 files; give the usual 0666 & ~umask instead. (Reading the umask
            # means setting it: not thread-safe, but the window is two calls wide.)
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- conversion


def as_tensor(x: object) -> torch.Tensor:
    """A torch tensor from a tensor, numpy array, PIL image or any DLPack-capable array.

    - ``torch.Tensor``: returned as is.
    - numpy array: shares memory (``torch.from_numpy``) when it can. A read-only array, one with
      negative strides or non-native byte order is copied (a tensor may not alias read-only memory).
    - PIL image: channel-first like :func:`load_image` but not rescaled: ``(C, H, W)`` uint8 for
      colour, ``(H, W)`` for one band ('L'/'P' -> uint8, '1' -> bool, 16-bit -> int32, 'F' -> float32).
    - anything with ``__dlpack__`` (CuPy, JAX, TensorFlow, ...): ``torch.from_dlpack``, zero-copy and
      on the array's device.
    - other array-likes (``__array__``), lists and numbers: ``torch.as_tensor`` (a copy).

    >>> import numpy as np
    >>> a = np.zeros((2, 3), dtype=np.uint8)
    >>> t = as_tensor(a)
    >>> t[0, 0] = 7          # same memory
    >>> int(a[0, 0])
    7
    """
    return _to_tensor(x, "x")


def _to_tensor(x: object, name: str) -> torch.Tensor:
    """:func:`as_tensor`, with errors that name the caller's argument."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _from_numpy(x)
    pil = sys.modules.get("PIL.Image")  # a PIL image implies PIL is imported already
    if pil is not None and isinstance(x, pil.Image):
        return _from_pil(x)
    if hasattr(x, "__dlpack__"):
        return torch.from_dlpack(x)
    if hasattr(x, "__array__"):
        return _from_numpy(np.asarray(x))
    if isinstance(x, (list, tuple, int, float, bool, np.generic)):
        return torch.as_tensor(x)
    raise ArgumentTypeError(
        f"{name}: expected a torch.Tensor, numpy array, PIL image or DLPack-capable array; got {describe(x)}."
    )


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    if a.dtype.kind not in "biufc":
        raise DTypeError(f"as_tensor: numpy dtype {a.dtype} has no torch equivalent; got {describe(a)}.")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if not a.flags.writeable or any(s < 0 for s in a.strides):
        a = np.array(a)  # copy: writable, positive strides
    return torch.from_numpy(a)


def _from_pil(img) -> torch.Tensor:
    mode = img.mode
    arr = np.array(img)
    if mode == "1":
        arr = arr.astype(bool)
    elif mode.startswith("I;16") or mode == "I":
        arr = arr.astype(np.int32)
    t = torch.from_numpy(arr)
    return t.permute(2, 0, 1).contiguous() if t.ndim == 3 else t
