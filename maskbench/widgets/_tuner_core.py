"""The ThresholdTuner's computations, kept apart from the widget wiring (tuner.py).

Inputs are validated once (through ``maskbench._checks``); the authoritative work uses maskbench's
kernels at full resolution (``threshold``, ``opening``, ``remove_small_objects``, ``fill_holes``,
``confusion_counts``, ``threshold_sweep``, ``auto_threshold``). What goes to the browser is built
here as small numpy arrays: a fixed-bin histogram and bit-packed masks (the display proxies come
from :mod:`maskbench.render.proxy`).
"""

from __future__ import annotations

import numpy as np
import torch

from maskbench._checks import (
    DTypeError,
    ShapeError,
    as_bchw,
    check_bool,
    check_bool_mask,
    check_probabilities,
    check_same_device,
    check_tensor,
    describe,
)
from maskbench.kernels.metrics import scores_from_counts
from maskbench.render.proxy import nearest_proxy
from maskbench.widgets._transport import pack_bits

__all__ = [
    "HIST_BINS", "GRID_STEPS", "GRID", "SWEEP_THRESHOLDS", "prepare_probs", "probs_input", "probs_values",
    "prepare_image", "prepare_target", "tuner_bytes", "check_tuner_memory",
    "check_masks_memory",
    "clean_mask", "mask_metrics", "grid_counts", "metrics_from_counts", "grid_index", "probability_histogram",
    "histogram_from_counts", "outline", "packed_proxy",
]  # fmt: skip

HIST_BINS = 100  # fixed bins over [0, 1]: bin k holds k/100 <= p < (k+1)/100 (p == 1 in the last)
#: The slider's step grid: thresholds j / GRID_STEPS, the doubles JavaScript's ``j / 1000`` gives.
GRID_STEPS = 1000
GRID = torch.arange(GRID_STEPS + 1, dtype=torch.float64) / GRID_STEPS
#: The grid as float32 probabilities compare against it (``p > t`` rounds ``t`` to the map's dtype).
SWEEP_THRESHOLDS = GRID.float()
_COUNT_NAMES = ("tp", "fp", "fn", "tn")
COUNT_CHUNK = 1 << 18  # pixels per chunk of grid_counts (1 MiB of int32 codes: cache-sized)


def _array_to_tensor(x: object) -> object:
    """numpy (and other array-likes) -> tensor; anything else is left for the checks to name."""
    if isinstance(x, torch.Tensor) or not hasattr(x, "__array__"):
        return x
    from maskbench.io import as_tensor

    return as_tensor(x)


def prepare_probs(probs: object, *, logits: bool) -> tuple[torch.Tensor, bool]:
    """``(H, W)`` or ``(B, H, W)`` probabilities (or logits) -> ``(B, H, W)`` probabilities, batched?

    :func:`probs_input` then :func:`probs_values` (the widget checks its memory between the two)."""
    p, batched = probs_input(probs, logits=logits)
    return probs_values(p, logits=logits, batched=batched), batched


def probs_input(probs: object, *, logits: bool) -> tuple[torch.Tensor, bool]:
    """The checks that need no copy: a non-empty floating ``(H, W)`` / ``(B, H, W)`` map -> a
    ``(B, H, W)`` view of it (not yet a probability: see :func:`probs_values`), batched?"""
    check_bool(logits, "logits")
    probs = _array_to_tensor(probs)
    check_tensor(probs, "probs", ndim=(2, 3))
    if probs.numel() == 0:
        raise ShapeError(f"probs: expected a non-empty (H, W) or (B, H, W) map; got {describe(probs)}.")
    if logits and not probs.is_floating_point():
        raise DTypeError(f"probs: logits=True expects floating logits; got {describe(probs)}.")
    batched = probs.ndim == 3
    p = probs.detach()
    return (p if batched else p.unsqueeze(0)), batched


def probs_values(p: torch.Tensor, *, logits: bool, batched: bool) -> torch.Tensor:
    """:func:`probs_input`'s view -> probabilities: the sigmoid of logits (a copy), values checked
    (messages describe the user's map: ``(H, W)`` when not ``batched``)."""
    if logits:
        p = p.sigmoid()
        fix = "logits=True applies a sigmoid: NaN logits have no probability; replace them first."
    else:
        fix = ("If these are logits, pass logits=True (a sigmoid is applied); "
               "otherwise rescale them, e.g. `probs.clamp(0, 1)`.")  # fmt: skip
    check_probabilities((p if batched else p[0]).cpu(), "probs", fix=fix)  # read on CPU (no copy there)
    return p


def prepare_image(image: object, probs: torch.Tensor, batched: bool, *, channels_last=None) -> torch.Tensor | None:
    """Optional ``(C, H, W)`` / ``(B, C, H, W)`` image under the overlay -> ``(B|1, C, H, W)``."""
    if image is None:
        return None
    from maskbench.widgets._common import image_from_user

    image = image_from_user(image, "image", channels_last=channels_last, max_ndim=4)
    x, image_batched = as_bchw(image if image.ndim > 2 else image[None], "image")
    b, h, w = probs.shape
    if x.shape[1] not in (1, 3, 4):
        raise ShapeError(f"image: expected 1, 3 or 4 channels to display; got {describe(image)}.")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.bool)):
        raise DTypeError(f"image: expected floating values in [0, 1] or uint8; got {describe(image)}. "
                         f"Rescale it, e.g. `image.float() / image.max()`.")  # fmt: skip
    if tuple(x.shape[-2:]) != (h, w) or x.shape[0] not in (1, b) or (image_batched and not batched and x.shape[0] != 1):
        want = f"(C, {h}, {w})" + (f" or ({b}, C, {h}, {w})" if batched else "")
        raise ShapeError(f"image: expected {want} to match probs {tuple(probs.shape[-3 if batched else -2:])}; "
                         f"got {describe(image)}.")  # fmt: skip
    check_same_device(probs=probs, image=x)
    return x


def prepare_target(target: object, probs: torch.Tensor, batched: bool) -> torch.Tensor | None:
    """Optional bool ground truth ``(H, W)`` or ``(B, H, W)`` -> ``(B|1, H, W)``."""
    if target is None:
        return None
    target = _array_to_tensor(target)
    check_bool_mask(target, "target")
    b, h, w = probs.shape
    ok = tuple(target.shape) == (h, w) or (target.ndim == 3 and tuple(target.shape) in ((1, h, w), (b, h, w)))
    if not ok:
        want = f"({h}, {w})" + (f" or ({b}, {h}, {w})" if batched else "")
        raise ShapeError(f"target: expected {want} to match probs; got {describe(target)}.")
    check_same_device(probs=probs, target=target)
    return target if target.ndim == 3 else target.unsqueeze(0)


#: Bytes per pixel the clean-up's kernels use at once at full resolution (measured peak above the
#: inputs at 4096^2: min_size + fill_holes 11.2, opening 3.0-5.2; CPU backends: int32 labels, bool temporaries).
CLEANUP_BYTES_PER_PIXEL = 12
OPENING_BYTES_PER_PIXEL = 8
_WORK_BYTES = 16 << 20  # imports aside: the counting chunks, the histogram, the curve


def tuner_bytes(
    p: torch.Tensor,
    x: torch.Tensor | None,
    target: torch.Tensor | None,
    *,
    logits: bool,
    cleanup: bool,
    opening: bool,
    display: tuple[int, int],
) -> list[tuple[str, int]]:
    """What a ThresholdTuner allocates for these inputs, by part (label, bytes): an estimate from
    their shapes alone, made before anything is allocated (``p`` is :func:`probs_input`'s view).

    Per item of N = H * W pixels (one item is worked on at a time): the cleaned mask (N bool, held)
    and the metrics' ``mask & target`` (N); the image's uint8 pyramid (a (H, W, C) copy, none for a
    numpy (H, W, C) uint8 image, plus its coarser levels: a third of it); the grid counts off
    float32 / float64 (chunked: a few MiB; other dtypes go through ``threshold_sweep``, ~12 bytes
    per pixel); the clean-up when it is on. For the whole batch: the sigmoid of logits (a copy).
    The display proxies: ~24 bytes per proxy pixel. Calibrated against peak RSS above the inputs
    (at 4096^2, float32 probs + bool target: 55 MB, estimate 92 MB; + min_size and fill_holes: 241
    MB, estimate 294 MB; ``tests/widgets/test_memory.py`` checks it at 2048^2).
    """
    b, h, w = p.shape
    n = h * w
    parts = [("mask and metrics", n * (2 if target is None else 3))]
    if logits:
        parts.append(("sigmoid of the logits", p.numel() * p.element_size()))
    if p.dtype not in (torch.float32, torch.float64):
        parts.append(("threshold sweep", 12 * n))
    if x is not None:
        item = x[0]
        view = item.dtype == torch.uint8 and item.device.type == "cpu" and item.permute(1, 2, 0).is_contiguous()
        c = item.shape[0]
        parts.append(("uint8 image pyramid", c * n // 3 + (0 if view else c * n)))
    if cleanup:
        parts.append(("clean-up", CLEANUP_BYTES_PER_PIXEL * n))
    if opening:
        parts.append(("opening", OPENING_BYTES_PER_PIXEL * n))
    parts.append(("display proxies", 24 * display[0] * display[1] + _WORK_BYTES))
    return parts


def check_tuner_memory(p: torch.Tensor, x: torch.Tensor | None, target: torch.Tensor | None, **options) -> None:
    """Raise :class:`~maskbench.widgets._memory.WidgetMemoryError` naming the sizes when a
    ThresholdTuner on these inputs would not fit (:func:`tuner_bytes` against the memory available)."""
    from maskbench.widgets import _memory

    parts = tuner_bytes(p, x, target, **options)
    h, w = p.shape[-2:]
    subject = _memory.size_text(p, "probs")
    if x is not None:
        subject += " with image " + _memory.size_text(x)
    _memory.check_memory(
        sum(n for _, n in parts),
        widget="ThresholdTuner",
        subject=subject,
        parts=sorted(parts, key=lambda part: -part[1])[:4],
        fix=f"tune on a crop or a downsampled copy (probs, image and target alike), e.g. "
        f"`probs[..., :{h // 2}, :{w // 2}]` or `probs[..., ::2, ::2]`.",
        name="probs",
    )


def check_masks_memory(p: torch.Tensor, *, cleanup: bool, opening: bool) -> None:
    """``tuner.masks`` thresholds (and cleans) the whole batch at once: raise
    :class:`~maskbench.widgets._memory.WidgetMemoryError` naming the size when that would not fit."""
    from maskbench.widgets import _memory

    n = p.numel()
    parts = [("masks", n), ("clean-up", CLEANUP_BYTES_PER_PIXEL * n if cleanup else 0)]
    parts.append(("opening", OPENING_BYTES_PER_PIXEL * n if opening else 0))
    _memory.check_memory(
        sum(b for _, b in parts),
        widget="ThresholdTuner",
        subject=f"tuner.masks of {_memory.size_text(p, 'probs')}",
        parts=parts,
        fix="threshold the images one at a time (tuner.index = i; tuner.mask), or a crop of them.",
        name="probs",
    )


def clean_mask(mask: torch.Tensor, *, min_size: int, fill_holes: bool, opening_radius: int) -> torch.Tensor:
    """Clean-up in a fixed order: opening (specks, thin bridges), small objects, then holes."""
    import maskbench

    if opening_radius > 0:
        mask = maskbench.opening(mask, radius=opening_radius)
    if min_size > 1:
        mask = maskbench.remove_small_objects(mask, min_size=min_size)
    if fill_holes:
        mask = maskbench.fill_holes(mask)
    return mask


def mask_metrics(mask: torch.Tensor, target: torch.Tensor | None, positives: int | None = None) -> dict[str, float]:
    """Foreground fraction and, with a target, IoU / Dice / precision / recall (Python floats).

    The counts ``maskbench.iou`` and friends use, from two ``count_nonzero`` passes (mask, mask &
    target; ``positives`` = the target's count when the caller has it): ``fp = mask - tp``,
    ``fn = positives - tp``, several times cheaper than a general confusion pass. The scores are
    :func:`metrics_from_counts` of them (float64, maskbench's ``empty=1.0`` convention).
    """
    fg = _count_true(mask)
    if target is None:
        return metrics_from_counts(0, fg, 0, mask.numel() - fg, target=False)
    tp = _count_both(mask, target)
    pos = _count_true(target) if positives is None else positives
    return metrics_from_counts(tp, fg - tp, pos - tp, mask.numel() - fg - pos + tp)


def _count_true(mask: torch.Tensor) -> int:
    """The True pixels of a bool mask (CPU: numpy's count, ~4x torch's: 10 vs 40 ms at 8192^2)."""
    return int(np.count_nonzero(mask.numpy())) if mask.device.type == "cpu" else int(torch.count_nonzero(mask))


_BAND = 1 << 20  # pixels ANDed at once by _count_both: the temporary stays in cache


def _count_both(mask: torch.Tensor, target: torch.Tensor) -> int:
    """The pixels True in both bool masks of one shape. CPU, contiguous: numpy in bands of pixels, no
    full-size ``mask & target`` (8192^2, one thread: 28 vs 76 ms for torch's AND and count)."""
    plain = mask.shape == target.shape and mask.device.type == target.device.type == "cpu"
    if not (plain and mask.is_contiguous() and target.is_contiguous()):
        return int(torch.count_nonzero(mask & target))
    a, b = mask.numpy().reshape(-1), target.numpy().reshape(-1)
    return sum(int(np.count_nonzero(a[i : i + _BAND] & b[i : i + _BAND])) for i in range(0, a.size, _BAND))


def metrics_from_counts(tp: int, fp: int, fn: int, tn: int, *, target: bool = True) -> dict[str, float]:
    """``foreground`` and (``target``) ``iou`` / ``dice`` / ``precision`` / ``recall`` from counts.

    ``scores_from_counts`` in float64: the same IEEE operations, in the same order, as the browser's
    ``metricsFromCounts`` (tuner_core.js), so the two agree bit for bit.
    """
    n = tp + fp + fn + tn
    out = {"foreground": (tp + fp) / max(n, 1)}
    if target:
        c = torch.tensor([tp, fp, fn], dtype=torch.float64)
        for name in ("iou", "dice", "precision", "recall"):
            out[name] = float(scores_from_counts(c[0], c[1], c[2], metric=name))
    return out


def grid_counts(
    probs: torch.Tensor, target: torch.Tensor | None, grid: torch.Tensor = GRID, *, between_chunks=None
) -> torch.Tensor:
    """``(T, 4)`` int64 tp / fp / fn / tn of ``probs > grid[j]`` against ``target`` at every ``j``.

    One pass over the pixels (each is bucketed by the number of grid values strictly below it, and
    a reverse cumulative sum gives the counts), the rule of :func:`maskbench.threshold_sweep`: for
    ``grid`` = :data:`GRID` on float32 / float64 maps, the bucket is ``k + (t_k < p)`` with
    ``k = round(p * GRID_STEPS)`` (the nearest grid value; O(1) per pixel), otherwise
    ``threshold_sweep`` itself (``bucketize``). ``grid[j]`` is rounded to the map's dtype first, as
    ``maskbench.threshold(probs, float(grid[j]))`` rounds its scalar. Without a target every pixel
    counts as negative (``fp`` = the mask's area). ``between_chunks()``, if given, is called between
    chunks of pixels (a background caller steps aside there while the user interacts).
    """
    import maskbench

    x = probs.reshape(-1)
    tgt = None if target is None else target.reshape(-1)
    thr = grid.to(device=x.device, dtype=x.dtype)
    if grid is GRID and x.dtype in (torch.float32, torch.float64):
        t = thr.numel()
        hist = torch.zeros(2 * (t + 1), dtype=torch.int64, device=x.device)
        # in chunks: the temporaries (codes, gathered thresholds) stay a few MiB at any image size
        # instead of ~3 full-size copies (8192^2: ~640 MiB -> ~20 MiB, and faster: cache-sized)
        for i in range(0, x.numel(), COUNT_CHUNK):
            if between_chunks is not None and i:
                between_chunks()
            xs = x[i : i + COUNT_CHUNK]
            # int32 codes: ~4x faster than int64 here (measured, 1024^2 on one thread: 11 vs 44 ms)
            k = torch.mul(xs, t - 1).nan_to_num_(nan=0.0).clamp_(0, t - 1).round_().to(torch.int32)
            k.add_(thr.index_select(0, k) < xs)
            if tgt is not None:
                k.add_(tgt[i : i + COUNT_CHUNK], alpha=t + 1)
            hist += torch.bincount(k, minlength=2 * (t + 1))
        hist = hist.view(2, t + 1)
        tail = hist.flip(-1).cumsum(-1).flip(-1)
        fp, tp = tail[0, 1:], tail[1, 1:]
        return torch.stack([tp, fp, tail[1, :1] - tp, tail[0, :1] - fp], 1)
    tgt = torch.zeros_like(x, dtype=torch.bool) if tgt is None else tgt
    unique, inverse = torch.unique(thr, return_inverse=True)  # half types may merge grid values
    s = maskbench.threshold_sweep(x, tgt, thresholds=unique)
    return torch.stack([s.tp, s.fp, s.fn, s.tn], 1).index_select(0, inverse)


def histogram_from_counts(counts: torch.Tensor, target: bool, bins: int = HIST_BINS) -> np.ndarray:
    """The probability histogram read off :data:`GRID` counts: no pass over the pixels.

    Bin ``k`` holds ``k / bins < p <= (k + 1) / bins`` (bin 0 also ``p <= 0``), i.e. the pixels
    that leave the mask between those two slider values (maskbench's ``p > t`` rule). ``(1, bins)``
    int32, or ``(2, bins)`` = (target False, True) with a target.
    """
    step = (counts.shape[0] - 1) // bins
    rows = [counts[:, 1], counts[:, 0]] if target else [counts[:, 0] + counts[:, 1]]
    totals = [counts[0, 1] + counts[0, 3], counts[0, 0] + counts[0, 2]] if target else [counts[0].sum()]
    out = []
    for above, total in zip(rows, totals):
        edges = torch.cat([total.reshape(1), above[step::step]])  # pixels above each bin's lower edge
        out.append(edges[:-1] - edges[1:])
    return torch.stack(out).to(torch.int32).cpu().numpy()


def outline(mask: torch.Tensor) -> torch.Tensor:
    """:func:`maskbench.render.contours` of a bool ``(H, W)`` mask (set pixels with a 4-neighbour
    unset or outside the image), with bool slices: a few ms at 1024^2 instead of ~10x that."""
    inner = mask.clone()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    inner[0] = inner[-1] = False
    inner[:, 0] = inner[:, -1] = False
    return mask & ~inner


def grid_index(grid: torch.Tensor, value: float) -> int | None:
    """The position of ``value`` in ``grid`` (exact equality), or None when it is off the grid."""
    j = int(torch.searchsorted(grid, torch.tensor(float(value), dtype=grid.dtype)))
    return j if j < grid.numel() and float(grid[j]) == float(value) else None


def probability_histogram(probs: torch.Tensor, target: torch.Tensor | None, bins: int = HIST_BINS) -> np.ndarray:
    """Counts over ``bins`` fixed bins of [0, 1]: ``(1, bins)``, or ``(2, bins)`` = (target False, True)."""
    idx = (probs.reshape(-1) * bins).long().clamp_(0, bins - 1)
    rows = 1
    if target is not None:
        idx = idx + bins * target.reshape(-1).long()
        rows = 2
    counts = torch.bincount(idx, minlength=rows * bins)
    return counts.view(rows, bins).to(torch.int32).cpu().numpy()


def packed_proxy(mask: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """A bool ``(H, W)`` mask at display size, bit-packed (``_transport.pack_bits``)."""
    return pack_bits(nearest_proxy(mask, size).cpu().numpy())
