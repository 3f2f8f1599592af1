"""COCO's compressed RLE string codec (pycocotools maskApi.c: rleToString / rleFrString).

Counts are written as 5-bit groups with a continuation bit, offset by 48 into printable ASCII;
from the third count on, each count is stored as the difference to the count two places back.
"""

from __future__ import annotations

from maskbench._checks import MaskValueError, short_repr


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
