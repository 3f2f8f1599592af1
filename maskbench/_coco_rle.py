"""COCO run-length encoding: ``rle_encode`` / ``rle_decode`` (public via :mod:`maskbench.io`) and
COCO's compressed string codec (pycocotools maskApi.c: rleToString / rleFrString).

Counts are written as 5-bit groups with a continuation bit, offset by 48 into printable ASCII;
from the third count on, each count is stored as the difference to the count two places back.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from maskbench._checks import (
    ArgumentTypeError,
    MaskValueError,
    ShapeError,
    check_bool_mask,
    check_int,
    describe,
    short_repr,
)


def rle_to_string(counts: list[int]) -> str:
    """COCO's compact counts (pycocotools maskApi.c ``rleToString``).

    Each count (from the third on, as a delta against the count two before) is written in 5-bit
    chunks, least significant first; bit 0x20 marks "more chunks follow"; each chunk is offset by 48.
    """
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative deltas end at -1
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def rle_from_string(s: str) -> list[int]:
    """Inverse of :func:`rle_to_string` (pycocotools ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise MaskValueError(f"rle: compressed counts end inside a number: {short_repr(s)}.", name="rle")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise MaskValueError(f"rle: invalid character {s[p]!r} at {p} in compressed counts.", name="rle")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)  # sign-extend
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_encode(mask: object, *, compressed: bool = False) -> dict:
    """Encode a binary mask as COCO run-length encoding.

    COCO counts run over the mask in column-major (Fortran) order and start with the number of
    zeros (which may be 0); they always end with the last run, so an empty 0x0 mask is ``[0]``.

    Args:
        mask: bool ``(H, W)`` (tensor, numpy array, or anything :func:`as_tensor` takes).
        compressed: return counts as COCO's compact string (pycocotools ``rleToString``) instead of
            a list of ints.

    Returns:
        ``{"size": [H, W], "counts": [...]}`` (or ``"counts": str``), JSON-ready.

    >>> rle_encode(torch.tensor([[False, True], [True, True]]))
    {'size': [2, 2], 'counts': [1, 3]}
    >>> rle_encode(torch.tensor([[False, True], [True, True]]), compressed=True)["counts"]
    '13'
    """
    from maskbench.io import _to_tensor  # io imports this module: import at call time

    mask = check_bool_mask(_to_tensor(mask, "mask"), "mask")
    if mask.ndim != 2:
        raise ShapeError(f"mask: expected a single (H, W) mask for RLE; got {describe(mask)}. Encode each mask.")
    h, w = mask.shape
    flat = mask.detach().cpu().numpy().ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)  # COCO starts with a run of zeros
    if not counts:
        counts = [0]
    return {"size": [h, w], "counts": rle_to_string(counts) if compressed else counts}


#: Default cap on the pixels :func:`rle_decode` will allocate (2**31 = 2 GiB of bool), like
#: Pillow's decompression-bomb guard: a 40-byte RLE can claim a 100000 x 100000 mask.
MAX_RLE_PIXELS = 2**31


def rle_decode(rle: dict, *, max_pixels: int | None = MAX_RLE_PIXELS) -> torch.Tensor:
    """Decode COCO RLE (list counts, or the compact ``str``/``bytes`` counts) to a bool ``(H, W)`` mask.

    Args:
        rle: ``{"size": [H, W], "counts": [...]}``; counts are integers (a list, tuple or integer
            numpy array) or COCO's compact string. Fractions are rejected, never truncated.
        max_pixels: refuse masks with more than this many pixels (``H * W``) before allocating
            anything (default :data:`MAX_RLE_PIXELS` = 2**31); None for no limit.

    >>> rle_decode({"size": [2, 2], "counts": [1, 3]})
    tensor([[False,  True],
            [ True,  True]])
    >>> rle_decode({"size": [2, 2], "counts": "13"}).sum().item()
    3
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ArgumentTypeError(
            f"rle: expected a dict with 'size' and 'counts' (COCO RLE); got {short_repr(rle)}.", name="rle"
        )
    size = rle["size"]
    if isinstance(size, np.ndarray):
        size = size.tolist()
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ArgumentTypeError(f"rle['size']: expected [height, width]; got {short_repr(size)}.", name="rle['size']")
    h, w = (check_int(v, "rle['size']", min_value=0) for v in size)
    if max_pixels is not None:
        max_pixels = check_int(max_pixels, "max_pixels", min_value=0)
        if h * w > max_pixels:
            raise MaskValueError(
                f"rle: size [{h}, {w}] decodes to {h * w} pixels, over max_pixels={max_pixels} (a guard "
                f"against decompression bombs). If you trust this RLE, pass max_pixels=None or a larger limit.",
                name="rle",
            )
    raw = rle["counts"]
    # Each run needs at least one character, at most 13 (a 64-bit delta in 5-bit chunks): refuse a
    # string that cannot describe H*W pixels before a Python loop walks megabytes of it.
    if isinstance(raw, (str, bytes)) and len(raw) > 13 * (h * w + 2):
        raise MaskValueError(
            f"rle['counts']: {len(raw)} characters of compressed counts cannot describe a {h}x{w} mask "
            f"(at most {13 * (h * w + 2)}). Is 'size' right?",
            name="rle['counts']",
        )
    counts = _rle_counts(raw)
    if any(c < 0 for c in counts) or sum(counts) != h * w:  # Python ints: no int64 wrap-around
        raise MaskValueError(
            f"rle: counts must be non-negative and sum to H*W = {h}*{w} = {h * w}; "
            f"got sum {sum(counts)} over {len(counts)} runs. Is 'size' [height, width]?",
            name="rle",
        )
    values = np.arange(len(counts)) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, counts)
    return torch.from_numpy(flat.reshape(w, h).T.copy())


def _rle_counts(counts: object) -> list[int]:
    """RLE counts as Python ints: decoded from COCO's string, or checked to be integers (not 2.0)."""
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            raise MaskValueError(
                f"rle['counts']: compressed counts must be ASCII; got {short_repr(counts)}.", name="rle['counts']"
            ) from None
    if isinstance(counts, str):
        return rle_from_string(counts)
    if isinstance(counts, np.ndarray):
        if counts.ndim != 1 or (counts.size and counts.dtype.kind not in "iu"):
            raise ArgumentTypeError(
                f"rle['counts']: expected a 1-D integer array; got {describe(counts)}. "
                "Fractional counts are not run lengths: were they rescaled?",
                name="rle['counts']",
            )
        return counts.tolist()
    if not isinstance(counts, (list, tuple)):
        raise ArgumentTypeError(
            f"rle['counts']: expected a list of ints or COCO's compact string; got {short_repr(counts)}.",
            name="rle['counts']",
        )
    for c in counts:
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral):
            raise ArgumentTypeError(
                f"rle['counts']: expected whole-number run lengths; got {type(c).__name__} {short_repr(c)} "
                "among them. Fractional counts are not run lengths: were they rescaled?",
                name="rle['counts']",
            )
    return [int(c) for c in counts]
