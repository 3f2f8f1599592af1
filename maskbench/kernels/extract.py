"""Pull the pixels a mask selects out of an image, and group every pixel of a label map by class.

``extract_pixels`` is boolean indexing with coordinates attached, plus a fixed-size variant
(``max_pixels=K``) that never syncs, for CUDA graphs. ``extract_classes`` groups *all* classes in one
stable sort instead of one boolean index per class, and computes per-class count/mean/std with
``searchsorted`` on the sorted labels and fixed-size ``index_add`` buffers (no host sync). On CPU
(eager, no autograd, at most 64 classes) the sort key is one byte and the sums run over each class's
sorted run instead: the same numbers, bit for bit, in ~2/3 of the time.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from maskbench._checks import (
    as_bchw,
    check_bool_mask,
    check_int,
    check_labels,
    check_same_device,
    spatial_mask_as_4d,
)
from maskbench.kernels._casting import accumulation_dtype

__all__ = ["Pixels", "PaddedPixels", "ClassPixels", "ClassStats", "extract_pixels", "extract_classes", "class_stats"]


class Pixels(NamedTuple):
    """Selected pixels: ``values`` (N, C) and ``coords`` (N, 2) as (row, col) or (N, 3) as (batch, row, col)."""

    values: torch.Tensor
    coords: torch.Tensor


class PaddedPixels(NamedTuple):
    """Fixed-size selection: ``values`` (K, C), ``coords`` (K, 2|3), ``count`` (0-d int64), ``valid`` (K,) bool.

    ``count`` is the true number of selected pixels (it may exceed K); rows where ``valid`` is False
    are padding: values 0 and coords -1.
    """

    values: torch.Tensor
    coords: torch.Tensor
    count: torch.Tensor
    valid: torch.Tensor


class ClassPixels(NamedTuple):
    """Pixels grouped by class, CSR-style: class ``k`` is ``values[offsets[k]:offsets[k + 1]]``.

    ``values`` (N, C) and ``coords`` (N, 2|3) are grouped by class (row-major order inside a class);
    ``counts`` (K,) and ``offsets`` (K + 1,) are int64; ``mean`` and ``std`` are (K, C).
    """

    values: torch.Tensor
    coords: torch.Tensor
    counts: torch.Tensor
    offsets: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def of(self, k: int) -> Pixels:
        """The pixels of class ``k`` as :class:`Pixels`.

        Syncs: reads two offsets (the slice size depends on the data).

        >>> labels = torch.tensor([[0, 1], [1, 0]])
        >>> extract_classes(torch.arange(4.0).view(1, 2, 2), labels, num_classes=2).of(1).coords.tolist()
        [[0, 1], [1, 0]]
        """
        k = check_int(k, "k", min_value=0, max_value=self.counts.shape[0] - 1)
        start, stop = self.offsets[k : k + 2].tolist()
        return Pixels(self.values[start:stop], self.coords[start:stop])


class ClassStats(NamedTuple):
    """Per-class statistics: ``counts`` (K,) int64, ``mean`` and ``std`` (K, C)."""

    counts: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def _flat_coords(index: torch.Tensor, n: int, h: int, w: int, batched: bool) -> torch.Tensor:
    """Flat (B*H*W) indices (non-negative) -> (N, 3) (batch, row, col) or (N, 2) (row, col), int64 (a view of planes)."""
    if n <= 2**53:
        # Integer division is scalar on CPU; float division is vectorised and exact here: for
        # 0 <= a < 2**p (p = mantissa bits) the rounded a / d never rounds up onto the next integer.
        d = index.to(torch.float32 if n <= 2**24 else torch.float64)
        f = d.new_empty(3, index.shape[0])  # (batch, row, col) planes: contiguous passes
        torch.div(d, h * w, out=f[0]).floor_()
        rem = torch.add(d, f[0], alpha=-h * w, out=f[2])
        torch.div(rem, w, out=f[1]).floor_()
        rem.add_(f[1], alpha=-w)
        # (N, 3|2) as a transposed view of (3|2, N) planes, like ``values``: a transposing copy into
        # rows costs more than all the arithmetic above
        return (f if batched else f[1:]).to(torch.long).t()
    b, rem = index.div(h * w, rounding_mode="floor"), index.remainder(h * w)
    r, c = rem.div(w, rounding_mode="floor"), rem.remainder(w)
    return torch.stack((b, r, c) if batched else (r, c), dim=-1).long()


def _planar(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (C, B*H*W): row-major pixel order per channel (a view when B == 1).

    Per-channel index_select/index_add on this layout is several times faster than on (N, C) rows.
    """
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def extract_pixels(
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    max_pixels: int | None = None,
    channels_last: bool = False,
) -> Pixels | PaddedPixels:
    """The pixels of ``image`` where ``mask`` is True, with their coordinates.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``; ``(H, W, C)`` / ``(B, H, W, C)`` with
            ``channels_last=True``. Any dtype; values keep it.
        mask: bool. For an unbatched image ``(H, W)`` or ``(1, H, W)``; for a batched image
            ``(H, W)`` (applied to every image), ``(B, H, W)``, ``(B, 1, H, W)`` (or a size-1 batch).
            Float and integer masks are rejected: threshold them first (``mask > 0.5``).
        max_pixels: ``None`` for the exact selection; an int K for the fixed-size, sync-free variant.
        channels_last: read ``image`` as channels-last (never guessed).

    Returns:
        :class:`Pixels` ``(values (N, C), coords)`` in row-major order of the mask (batch, then row,
        then column); coords are int64 ``(N, 2)`` as (row, col) for an unbatched image or ``(N, 3)`` as
        (batch, row, col) for a batched one. With ``max_pixels=K``, :class:`PaddedPixels` with
        ``values (K, C)``, ``coords (K, 2|3)``, ``count`` (0-d int64: the true number selected, which may
        exceed K: then the first K in row-major order are kept) and ``valid (K,)``; padding rows hold
        value 0 and coords -1. Gradients flow to the selected image values.

    Syncs: with ``max_pixels=None`` the output size N depends on the mask (one host sync). With
    ``max_pixels=K`` nothing syncs: positions come from a cumulative sum and a scatter.

    >>> image = torch.arange(8.0).view(2, 2, 2)            # (C, H, W)
    >>> mask = torch.tensor([[True, False], [False, True]])
    >>> px = extract_pixels(image, mask)
    >>> px.values.tolist(), px.coords.tolist()
    ([[0.0, 4.0], [3.0, 7.0]], [[0, 0], [1, 1]])
    >>> padded = extract_pixels(image, mask, max_pixels=3)
    >>> padded.count.item(), padded.valid.tolist(), padded.coords[2].tolist()
    (2, [True, True, False], [-1, -1])
    """
    x, batched = as_bchw(image, "image", channels_last=channels_last)
    check_bool_mask(mask, "mask", min_ndim=0)  # spatial_mask_as_4d explains bad shapes
    check_same_device(image=image, mask=mask)
    m4 = spatial_mask_as_4d(mask, x, batched, "mask", allow_channels=False)
    b, c, h, w = x.shape
    flat_mask = m4.expand(b, 1, h, w).reshape(-1)  # (B*H*W,) in row-major order
    n = flat_mask.numel()
    planar = _planar(x)  # (C, B*H*W)

    if max_pixels is None:
        index = flat_mask.nonzero().squeeze(1)  # the one sync: N depends on the mask
        return Pixels(planar.index_select(1, index).t(), _flat_coords(index, n, h, w, batched))

    k = check_int(max_pixels, "max_pixels", min_value=0, max_value=2**40)  # a buffer of K rows is allocated
    count = flat_mask.sum()  # 0-d int64, stays on device
    if n == 0:  # a shape test, not a data one: there is nothing to gather, only padding
        coords = torch.full((k, 3 if batched else 2), -1, dtype=torch.long, device=x.device)
        values = x.new_zeros(k, c)
        return PaddedPixels(values, coords, count, torch.zeros(k, dtype=torch.bool, device=x.device))
    position = flat_mask.cumsum(0) - 1  # output slot of each selected pixel
    keep = flat_mask & (position < k)
    # Scatter each kept pixel's flat index into its slot; everything else lands in a dump slot k.
    slot = torch.where(keep, position, k)
    source = torch.zeros(k + 1, dtype=torch.long, device=x.device)
    source.scatter_(0, slot, torch.arange(n, device=x.device))
    source = source[:k]
    valid = torch.arange(k, device=x.device) < count
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    # where (not multiply): a NaN/Inf gathered into a padding row never leaks into values or grads
    values = torch.where(valid[:, None], planar.index_select(1, source).t(), zero)
    coords = torch.where(valid[:, None], _flat_coords(source, n, h, w, batched), -1)
    return PaddedPixels(values, coords, count, valid)


def extract_classes(
    image: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    drop_ignored: bool = True,
    channels_last: bool = False,
) -> ClassPixels:
    """Every pixel of ``image`` grouped by its label, in one pass, with per-class count/mean/std.

    One stable sort of the flattened labels groups all classes at once (row-major order is kept
    inside each class), instead of one boolean index per class. Backends: on CPU (eager, no
    autograd, ``num_classes <= 64``) 1-byte sort keys and per-class sums over the sorted runs;
    elsewhere ``index_add`` into fixed-size buffers. Both give the same results bit for bit. For the
    statistics alone, :func:`class_stats` skips the sort and the gather (several times faster).

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``; ``(H, W, C)`` / ``(B, H, W, C)`` with
            ``channels_last=True``.
        labels: integer ``(H, W)`` for an unbatched image; ``(H, W)`` (shared) or ``(B, H, W)`` for a
            batched one. Labels outside ``[0, num_classes)`` (e.g. an ignore value 255) belong to no
            class: they are never counted and never enter ``mean``/``std``.
        num_classes: K.
        drop_ignored: True (default) leaves out-of-range pixels out of ``values``/``coords``, so N is
            the number of in-range pixels. False keeps them after the last class (rows
            ``offsets[K]:``), so N is always ``B * H * W`` and nothing syncs.
        channels_last: read ``image`` as channels-last (never guessed).

    Returns:
        :class:`ClassPixels`: ``values (N, C)`` and ``coords (N, 2|3)`` (int64 (row, col) or
        (batch, row, col)) grouped by class, ``counts (K,)`` and ``offsets (K + 1,)`` int64 (class k
        is ``values[offsets[k]:offsets[k + 1]]``, or ``.of(k)``), ``mean (K, C)`` and ``std (K, C)``.
        ``std`` is the population standard deviation (``correction=0``). An empty class has mean 0
        and std 0, never NaN; a NaN pixel makes its class's mean and std NaN. ``mean``/``std`` are in
        the image's floating dtype (float32 for integer images). Gradients flow to ``values``,
        ``mean`` and ``std``.

    Syncs: none for counts/offsets/mean/std. ``values``/``coords`` sync once only when
    ``drop_ignored=True`` (N depends on how many labels are in range; when all are, N = B*H*W).
    On CUDA, float sums use atomics, so mean/std may differ in the last bits between runs.

    >>> image = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]])   # (1, 2, 2)
    >>> labels = torch.tensor([[1, 0], [1, 1]])
    >>> out = extract_classes(image, labels, num_classes=3)
    >>> out.values.flatten().tolist(), out.counts.tolist(), out.offsets.tolist()
    ([2.0, 1.0, 3.0, 5.0], [1, 3, 0], [0, 1, 4, 4])
    >>> out.mean.flatten().tolist(), out.coords.tolist()
    ([2.0, 3.0, 0.0], [[0, 1], [0, 0], [1, 0], [1, 1]])
    """
    x, batched = as_bchw(image, "image", channels_last=channels_last)
    check_labels(labels, "labels")
    k = check_int(num_classes, "num_classes", min_value=1)
    check_same_device(image=image, labels=labels)
    lab4 = spatial_mask_as_4d(labels, x, batched, "labels", allow_channels=False)
    b, c, h, w = x.shape
    dev = x.device
    if _segment_path_ok(x, k):
        return _classes_by_segments(x, lab4.expand(b, 1, h, w).reshape(-1), k, drop_ignored, batched)
    flat_labels = lab4.expand(b, 1, h, w).reshape(-1).long()
    n = flat_labels.numel()
    planar = _planar(x)  # (C, B*H*W)

    in_range = (flat_labels >= 0) & (flat_labels < k)
    key = torch.where(in_range, flat_labels, k)  # out-of-range -> sentinel class k, sorted last
    # Sorting the narrowest integer dtype is ~2x faster than int64 on CPU.
    narrow = torch.uint8 if k < 2**8 - 1 else torch.int16 if k < 2**15 - 1 else torch.int32
    narrow = narrow if k < 2**31 - 1 else torch.int64
    sorted_key, order = torch.sort(key.to(narrow), stable=True)
    # Class starts from the sorted keys: K + 1 binary searches, fixed size, no sync (unlike
    # bincount on CUDA); offsets[K] is where the out-of-range sentinel class begins.
    offsets = torch.searchsorted(sorted_key, torch.arange(k + 1, dtype=narrow, device=dev))
    counts = offsets.diff()

    out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    # 16-bit floats would lose whole pixels in long sums: accumulate in float32, return out_dtype
    acc_dtype = accumulation_dtype(out_dtype)
    v = planar.to(acc_dtype)
    denom = counts.clamp_min(1).to(acc_dtype)
    sums = torch.zeros(c, k + 1, dtype=acc_dtype, device=dev).index_add(1, key, v)
    mean_ext = sums / torch.cat((denom, denom.new_ones(1)))  # (C, K + 1); column k is the dump
    # Two passes (mean, then squared deviations) are stable where E[x^2] - E[x]^2 is not.
    dev_sq = (v - mean_ext.index_select(1, key)).square()
    sq = torch.zeros(c, k + 1, dtype=acc_dtype, device=dev).index_add(1, key, dev_sq)
    mean, var = mean_ext[:, :k].t().contiguous(), (sq[:, :k] / denom).t().contiguous()
    # sqrt'(0) is inf: empty/constant classes take the 0 branch and get zero gradient (NaN stays NaN).
    std = torch.where(var == 0, 0.0, var.clamp_min(torch.finfo(acc_dtype).tiny).sqrt())

    if drop_ignored:
        order = order[: int(offsets[-1])]  # sync: N = number of in-range labels
    values = planar.index_select(1, order).t()
    coords = _flat_coords(order, n, h, w, batched)
    return ClassPixels(values, coords, counts, offsets, mean.to(out_dtype), std.to(out_dtype))


_SEGMENT_MAX_CLASSES = 64  # one subtraction call per class: beyond this, the general path's index_add


def _segment_path_ok(x: torch.Tensor, k: int) -> bool:
    """CPU, eager, no autograd, few classes: :func:`_classes_by_segments` applies."""
    if x.device.type != "cpu" or k > _SEGMENT_MAX_CLASSES or torch.compiler.is_compiling():
        return False
    return not (torch.is_grad_enabled() and x.requires_grad)


def _classes_by_segments(
    x: torch.Tensor, labels: torch.Tensor, k: int, drop_ignored: bool, batched: bool
) -> ClassPixels:
    """``extract_classes`` on CPU: 1-byte sort keys, and the statistics as sums over each class's sorted run.

    Same results as the general path, bit for bit: the sort keeps row-major order inside each class,
    so each run's sum adds the same values in the same order as ``index_add`` does, and the
    deviations are the same differences. Why (issue 11): the general path's two scattered
    ``index_add`` passes and its per-pixel gather of the class means cost more than the sort itself.
    """
    b, c, h, w = x.shape
    n = labels.numel()
    # out-of-range labels -> k, sorted last (clamp to [-1, k]; -1 wraps to 255 as uint8, then back to k)
    key = labels.clamp(max=k) if labels.dtype == torch.uint8 else labels.clamp(-1, k).to(torch.uint8).clamp_(max=k)
    sorted_key, order = torch.sort(key, stable=True)
    offsets = torch.searchsorted(sorted_key, torch.arange(k + 1, dtype=torch.uint8))
    counts = offsets.diff()
    planar = _planar(x)
    grouped = planar.index_select(1, order)  # (C, N), class by class
    out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    acc = accumulation_dtype(out_dtype)
    v = grouped.to(acc)
    bounds = [*offsets.tolist(), n]  # CPU: no device sync; the last run holds the out-of-range pixels
    lengths = torch.tensor(bounds).diff().expand(c, k + 1).contiguous()

    def per_class(t: torch.Tensor) -> torch.Tensor:  # (C, N) -> (C, K + 1): each run summed in order
        return torch.segment_reduce(t, "sum", lengths=lengths, axis=1, unsafe=True)

    denom = counts.clamp_min(1).to(acc)
    mean_ext = per_class(v) / torch.cat((denom, denom.new_ones(1)))  # (C, K + 1); column k is the dump
    # the planar copy (B > 1) is ours and no longer needed: reuse it rather than fault in fresh pages
    owned = planar.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    dev_sq = planar if owned and planar.dtype == v.dtype and planar.is_contiguous() else torch.empty_like(v)
    for cls in range(k + 1):  # minus each run's class mean: one pass, no per-pixel gather of the means
        lo, hi = bounds[cls], bounds[cls + 1]
        torch.sub(v[:, lo:hi], mean_ext[:, cls : cls + 1], out=dev_sq[:, lo:hi])
    sq = per_class(dev_sq.square_())
    mean, var = mean_ext[:, :k].t().contiguous(), (sq[:, :k] / denom).t().contiguous()
    std = torch.where(var == 0, 0.0, var.clamp_min(torch.finfo(acc).tiny).sqrt())
    stop = int(offsets[-1]) if drop_ignored else n  # CPU: reading it is no device sync
    coords = _flat_coords(order[:stop], n, h, w, batched)
    return ClassPixels(grouped[:, :stop].t(), coords, counts, offsets, mean.to(out_dtype), std.to(out_dtype))


_MAX_STATS_CLASSES = 1 << 24  # (C, K + 2) sum buffers: a bound, so a huge num_classes is an error, not a crash


def class_stats(
    image: torch.Tensor, labels: torch.Tensor, *, num_classes: int, channels_last: bool = False
) -> ClassStats:
    """Per-class pixel count, mean and std of ``image`` under a label map, without grouping the pixels.

    The statistics of :func:`extract_classes` (same ``counts``/``mean``/``std``, same conventions)
    when the pixels themselves are not needed: no sort and no per-pixel gather, only per-class sums
    (fixed-size ``scatter_add`` buffers: one pass per statistic).

    Args:
        image, labels, num_classes, channels_last: as in :func:`extract_classes` (labels outside
            ``[0, num_classes)`` belong to no class).

    Returns:
        :class:`ClassStats`: ``counts (K,)`` int64, ``mean (K, C)`` and ``std (K, C)`` (population std;
        an empty class has mean 0 and std 0; a NaN pixel makes its class's mean and std NaN), in the
        image's floating dtype (float32 for integer images). Differentiable in ``image``.

    Syncs: none. The variance is summed around each channel's global mean rather than around each
    class's mean (no per-pixel gather), so it differs from :func:`extract_classes`'s two-pass value
    only by rounding.

    >>> image = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]])   # (1, 2, 2)
    >>> stats = class_stats(image, torch.tensor([[1, 0], [1, 1]]), num_classes=3)
    >>> stats.counts.tolist(), stats.mean.flatten().tolist()
    ([1, 3, 0], [2.0, 3.0, 0.0])
    """
    x, batched = as_bchw(image, "image", channels_last=channels_last)
    check_labels(labels, "labels")
    k = check_int(num_classes, "num_classes", min_value=1, max_value=_MAX_STATS_CLASSES)
    check_same_device(image=image, labels=labels)
    lab4 = spatial_mask_as_4d(labels, x, batched, "labels", allow_channels=False)
    b, c, h, w = x.shape
    # Column of each pixel in (C, K + 2) sum buffers: 1 + its class; 0 below the range, K + 1 above it
    # (one clamp instead of a range test and a where: the dump columns are dropped at the end).
    column = lab4.expand(b, 1, h, w).reshape(1, -1).long().clamp(-1, k).add_(1)

    out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    acc = accumulation_dtype(out_dtype)
    v = _planar(x).to(acc)  # (C, N)

    def per_class(values: torch.Tensor) -> torch.Tensor:  # (C, N) -> (C, K) class sums (fixed size, no sync)
        buf = torch.zeros(values.shape[0], k + 2, dtype=values.dtype, device=x.device)
        return buf.scatter_add(1, column.expand_as(values), values)[:, 1 : k + 1]

    counts = per_class(torch.ones_like(column))[0]
    denom = counts.clamp_min(1).to(acc)
    # Sums of (x - g)^2 around each channel's mean g lose far less to cancellation than sums of x^2
    # (g is only a shift: any finite value is exact up to rounding; a NaN/Inf one would spoil every class).
    g = v.mean(1, keepdim=True)
    g = torch.where(g.isfinite(), g, 0.0)
    d = v - g
    mean_d = per_class(d) / denom
    mean = torch.where(counts > 0, mean_d + g, 0.0)
    var = (per_class(d.square_() if not d.requires_grad else d.square()) / denom - mean_d.square()).clamp_min(0)
    # sqrt'(0) is inf: empty/constant classes take the 0 branch and get zero gradient (NaN stays NaN).
    std = torch.where(var == 0, 0.0, var.clamp_min(torch.finfo(acc).tiny).sqrt())
    return ClassStats(counts, mean.t().to(out_dtype), std.t().to(out_dtype))
