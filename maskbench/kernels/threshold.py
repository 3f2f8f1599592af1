"""Thresholds: a mask from a value, automatic per-image thresholds, and labels from class maps.

Convention: **foreground is strictly above the threshold.** ``threshold(x, t)`` is ``x > t``, so
``threshold(x, threshold_otsu(x))`` is scikit-image's ``x > threshold_otsu(x)`` mask, and a
constant image (whose automatic threshold is its own value) is all background. The threshold
sweeps (:func:`maskbench.threshold_sweep`, :class:`maskbench.ThresholdSweep`) count ``p > t`` too.

The automatic methods follow ``skimage.filters.threshold_*`` (scikit-image 0.26) on float images:
a ``bins``-bin histogram (256 by default) spanning each image's own [min, max] and binned like
``numpy.histogram`` (values on bin edges included: the index is re-checked against the edges),
thresholds that are bin centres, the same tie-breaking (the first maximum wins) and the same
intermediate dtypes. They agree with scikit-image exactly on its sample images and on quantised
images (e.g. 128 grey levels), except multi-Otsu with 4-5 classes (ties may differ, one bin at
most) and Li (iterated on a fine histogram, ~1/100 bin); always within one bin width
``(max - min) / 256``. Where scikit-image's float32 criterion is flat (small images), its own
rounding picks among near-equal bins, and ours may pick another one that scores the same.

Every automatic method works on the last two dims, batched: ``(..., H, W)`` -> ``(...)``, one
histogram per image from one flat ``bincount`` (no Python loop over images, no host sync).

Conventions (shared by every method):
    * NaN and +-Inf pixels are ignored; an image with no finite pixel gives NaN.
    * A constant image returns its value (scikit-image's Otsu and Li do the same).
    * 8-bit integer images (uint8, int8) get one bin per value from the image minimum, like
      scikit-image's integer histogram, when ``bins >= 256`` (the default): thresholds are then
      pixel values, and the mask ``x > t`` equals scikit-image's. Other integer images are
      converted to float first (float32; float64 for int32/int64) and binned like float
      images (scikit-image gives them one bin per value instead). ``bool`` images are rejected:
      they are already masks.
    * Float16/bfloat16 images are binned in float32; the result has the image's dtype. Float64
      images stay in float64 (exact, but about 4x slower than float32 on CPU).
    * Thresholds are plain values (no autograd graph).
    * Degenerate ranges (wider than the dtype's largest value, or narrower than ``bins`` times its
      smallest normal) give degenerate bins, never an error or NaN counts.

Speed (2-core CPU, 16 x 512 x 512 float32 Otsu): ~3x scikit-image's loop with 1 torch thread,
~3.8x with 2; the cost is a few in-place passes and one ``bincount``.
"""

from __future__ import annotations

import torch

from maskbench._checks import (
    check_broadcast_to,
    check_choice,
    check_int,
    check_number,
    check_number_or_tensor,
    check_real,
    check_same_device,
)
from maskbench.kernels._histogram import _INF, Hist, as_work, multiotsu_dp, rcumsum, smallest_gap, wide_float

__all__ = [
    "threshold",
    "histogram",
    "threshold_otsu",
    "threshold_li",
    "threshold_yen",
    "threshold_triangle",
    "threshold_mean",
    "threshold_isodata",
    "threshold_multiotsu",
    "auto_threshold",
    "THRESHOLD_METHODS",
]

_LI_ITERATIONS = 100  # scikit-image's samples need <= 22 steps, random images ~40; then frozen


def threshold(x: torch.Tensor, value: float | torch.Tensor, *, inclusive: bool = False) -> torch.Tensor:
    """The mask ``x > value``: foreground is strictly above the threshold (``x >= value`` if ``inclusive``).

    ``threshold(x, threshold_otsu(x))`` is scikit-image's ``x > threshold_otsu(x)`` mask exactly,
    and a constant image (whose automatic threshold is its value) is all background.
    :func:`maskbench.threshold_sweep` counts foreground with the same ``>``.

    Args:
        x: any shape ``(..., H, W)``; real dtype (not bool).
        value: a number, or a tensor on ``x``'s device. A tensor of shape ``x.shape[:-2]`` (what
            the automatic methods return) is one threshold per image; any other tensor must
            broadcast to ``x`` without growing it.
        inclusive: ``>`` (default, the convention everywhere in maskbench) or ``>=``.

    Returns:
        A bool mask shaped like ``x``. NaN pixels (or a NaN threshold) give False.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.1, 0.5], [0.9, float("nan")]])
        >>> threshold(x, 0.5)
        tensor([[False, False],
                [ True, False]])
        >>> threshold(x, 0.5, inclusive=True)
        tensor([[False,  True],
                [ True, False]])
        >>> threshold(torch.stack([x, x + 1]), torch.tensor([0.5, 1.5]))[:, 0]
        tensor([[False, False],
                [False, False]])
        >>> threshold(torch.full((2, 2), 3.0), threshold_otsu(torch.full((2, 2), 3.0))).any()  # constant
        tensor(False)
    """
    check_real(x, "x")
    value = check_number_or_tensor(value, "value")
    if isinstance(value, torch.Tensor):
        check_same_device(x=x, value=value)
        if x.ndim >= 2 and value.ndim > 0 and tuple(value.shape) == tuple(x.shape[:-2]):
            value = value[..., None, None]  # one threshold per image
        else:
            check_broadcast_to(value, "value", x.shape, "x")
    return x >= value if inclusive else x > value  # NaN compares False either way


def histogram(x: torch.Tensor, *, bins: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image histograms over the last two dims, each spanning the image's own [min, max].

    Same bins as ``skimage.exposure.histogram(image, bins)`` for a float image (``numpy.histogram``
    with ``range=(min, max)``): ``bins`` equal bins, the maximum in the last one, centres halfway
    between edges. NaN and +-Inf pixels are not counted. A constant image ``v`` spans
    ``[v - 0.5, v + 0.5]`` with every pixel in bin ``bins // 2``; an image without finite pixels
    has zero counts over ``[0, 1]``. Values on a bin edge go where numpy puts them: the index
    ``(x - min) / (max - min) * bins`` is computed in the image's float dtype, then re-checked
    against the edges (``0.6`` in ``[0.4, 1.2]`` is bin 64 although the division gives 63.99...).

    Args:
        x: ``(..., H, W)``, real (not bool); integers are converted to float.
        bins: number of bins (>= 1).

    Returns:
        ``(counts, centres)``: int64 counts ``(..., bins)`` and bin centres ``(..., bins)`` in the
        float dtype the image is binned in (float32, or float64 for float64/int32/int64 images).

    Syncs: none (one ``bincount`` on CPU, ``index_add_`` on other devices).

    Example:
        >>> counts, centres = histogram(torch.tensor([[0.0, 1.0], [1.0, 3.0]]), bins=3)
        >>> counts
        tensor([1, 2, 1])
        >>> centres
        tensor([0.5000, 1.5000, 2.5000])
    """
    h = Hist(x, bins)
    return h.counts.view(*h.batch, bins), h.centres.view(*h.batch, bins)


def threshold_otsu(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Otsu's threshold per image: the bin centre maximising the between-class variance.

    As ``skimage.filters.threshold_otsu``: pixels ``> t`` are the upper class. Ties take the
    lowest bin. Conventions (NaN, constant and integer images): see the module docstring.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image, in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]])
        >>> threshold_otsu(x, bins=16)
        tensor(0.2188)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    c = h.counts.float()  # scikit-image casts counts to float32
    cc = c * h.centres
    w1, w2 = c.cumsum(-1), rcumsum(c)
    m1, m2 = cc.cumsum(-1) / w1, rcumsum(cc) / w2
    var = w1[:, :-1] * w2[:, 1:] * (m1[:, :-1] - m2[:, 1:]) ** 2
    var = var.masked_fill(~h.valid(var.shape[-1]), -_INF)  # 8-bit images: no split past the maximum
    return h.finish(h.at(var.argmax(-1)))


def threshold_yen(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Yen's threshold per image (maximum correlation criterion), as ``skimage.filters.threshold_yen``.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> threshold_yen(torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]]), bins=16)
        tensor(0.2188)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    pmf = h.counts.float() / h.counts.sum(-1, keepdim=True).float()
    p1, p1_sq, p2_sq = pmf.cumsum(-1), (pmf**2).cumsum(-1), rcumsum(pmf**2)
    p = p1[:, :-1]
    crit = torch.log((p1_sq[:, :-1] * p2_sq[:, 1:]) ** -1 * (p * (1.0 - p)) ** 2)
    crit = crit.masked_fill(~h.valid(crit.shape[-1]), -_INF)
    return h.finish(h.at(crit.argmax(-1)))


def threshold_isodata(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """ISODATA (Ridler-Calvard) threshold per image: the lowest ``t`` with ``t = (mean(x <= t) + mean(x > t)) / 2``.

    As ``skimage.filters.threshold_isodata`` (``return_all=False``), within one bin width.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> threshold_isodata(torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]]), bins=16)
        tensor(0.4688)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    c = h.counts.float()
    csuml = c.cumsum(-1)
    csum_int = (c * h.centres).cumsum(-1)
    lower = csum_int[:, :-1] / csuml[:, :-1]
    higher = (csum_int[:, -1:] - csum_int[:, :-1]) / (csuml[:, -1:] - csuml[:, :-1])
    dist = (lower + higher) / 2.0 - h.centres[:, :-1]
    width = h.centres[:, 1:2] - h.centres[:, :1]
    # first bin with 0 <= dist < width; one always exists in exact arithmetic, and if rounding
    # removes it, the first bin with dist < width is the closest fixed point.
    score = ((dist >= 0) & (dist < width)).to(torch.uint8) * 2 + (dist < width).to(torch.uint8)
    score.masked_fill_(~h.valid(score.shape[-1]), 0)
    return h.finish(h.at(score.argmax(-1)))


def threshold_triangle(x: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    """Triangle threshold per image (Zack et al.), as ``skimage.filters.threshold_triangle``.

    The line from the histogram peak to the end of its longer tail; the bin farthest below it.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        bins: histogram bins (>= 2).

    Returns:
        ``(...)``: one threshold per image (a bin centre), in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.6, 1.0]])
        >>> threshold_triangle(x, bins=4)
        tensor(0.3750)
    """
    h = Hist(x, check_int(bins, "bins", min_value=2))
    n = bins
    hist = h.counts
    k = torch.arange(n, device=hist.device)
    peak = hist.argmax(-1, keepdim=True)
    nonzero = hist > 0
    low = nonzero.to(torch.uint8).argmax(-1, keepdim=True)
    high = n - 1 - nonzero.flip(-1).to(torch.uint8).argmax(-1, keepdim=True)
    flip = (peak - low) < (high - peak)  # True when the left tail is shorter
    hist = torch.where(flip, hist.flip(-1), hist)
    low = torch.where(flip, n - high - 1, low)
    peak = torch.where(flip, n - peak - 1, peak)
    # scikit-image's float64 arithmetic, for the same rounding on near-ties
    f64 = wide_float(hist.device)
    height = hist.gather(-1, peak).to(f64)
    width = (peak - low).to(f64)
    norm = torch.sqrt(height**2 + width**2)
    length = (height / norm) * (k - low).to(f64) - (width / norm) * hist.to(f64)
    length = length.masked_fill((k < low) | (k >= peak), -_INF)
    level = length.argmax(-1, keepdim=True)
    level = torch.where(flip, n - level - 1, level).squeeze(-1)
    return h.finish(h.at(level))


def threshold_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of each image's finite pixels, as ``skimage.filters.threshold_mean`` (which is NaN-naive).

    Args:
        x: ``(..., H, W)`` images, real dtype.

    Returns:
        ``(...)``: the mean of the finite pixels of each image (NaN when there are none), in ``x``'s
        float dtype.

    Syncs: none.

    Example:
        >>> threshold_mean(torch.tensor([[1.0, 2.0], [6.0, float("nan")]]))
        tensor(3.)
    """
    xw, batch, out_dtype, _ = as_work(x, "x")
    finite = torch.isfinite(xw)
    mean = torch.where(finite, xw, 0).sum(-1) / finite.sum(-1)
    # clipped into [min, max] so that a constant image returns exactly its value
    lo = torch.where(finite, xw, _INF).amin(-1)
    hi = torch.where(finite, xw, -_INF).amax(-1)
    return torch.minimum(torch.maximum(mean, lo), hi).to(out_dtype).reshape(batch)


def threshold_li(
    x: torch.Tensor,
    *,
    tolerance: float | None = None,
    initial: float | torch.Tensor | None = None,
    bins: int = 4096,
) -> torch.Tensor:
    """Li's minimum cross-entropy threshold per image, iterated on a fine histogram.

    The fixed-point iteration of ``skimage.filters.threshold_li``,
    ``t <- (m_b - m_f) / (log m_b - log m_f)`` with ``m_b``, ``m_f`` the means of the pixels
    ``<= t`` and ``> t`` (the image minimum shifted to 0), on a ``bins``-bin histogram that keeps
    each bin's pixel sum: a bin joins the background when its mean is ``<= t``, which is exact for
    bins holding one value. The new threshold for every possible split is tabulated once, so each
    of the fixed 100 steps costs O(log bins) per image; an image stops once a step moves its
    threshold by at most ``tolerance`` (or its background mean is 0), as in scikit-image. Within
    one bin width ``(max - min) / 256`` of scikit-image (on its samples, ~1/100 of that).

    Args:
        x: ``(..., H, W)`` images, real dtype.
        tolerance: stop once a step is at most this; default half the smallest gap between the
            values of consecutive occupied bins (scikit-image: between distinct values; the same
            when bins hold one value each).
        initial: starting threshold (a number or a tensor ``x.shape[:-2]``); default the image
            mean. It is clipped into the image range (scikit-image raises instead; that check
            would need a host sync).
        bins: bins of the fine histogram (>= 2).

    Returns:
        ``(...)``: one threshold per image, in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> threshold_li(torch.tensor([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]]))
        tensor(0.3641)
    """
    if tolerance is not None:
        tolerance = check_number(tolerance, "tolerance", min=0)
    if initial is not None:
        check_real(x, "x")
        initial = check_number_or_tensor(initial, "initial", finite=True)
    if isinstance(initial, torch.Tensor):
        check_same_device(x=x, initial=initial)
        check_broadcast_to(initial, "initial", x.shape[:-2], "x.shape[:-2]")
    h = Hist(x, check_int(bins, "bins", min_value=2), sums=True)
    # values shifted so the image minimum is 0 (as scikit-image does), sums in float64
    c, s = h.counts.to(h.sums.dtype), h.sums
    occupied = c > 0
    # key[k]: bin k's mean (the previous one's for empty bins), non-decreasing, so that
    # searchsorted(key, t, right=True) is the number of bins in the background of t
    key = torch.where(occupied, s / c, -_INF).cummax(-1).values.contiguous()
    if tolerance is None:  # scikit-image's: half the smallest gap between distinct values
        tol = 0.5 * smallest_gap(s / c, occupied)[:, None]
    else:
        tol = torch.full_like(key[:, :1], float(tolerance))
    # every split q (background = bins < q): the next threshold, and whether m_b == 0
    pad = torch.nn.functional.pad
    cum_c, cum_s = pad(c.cumsum(-1), (1, 0)), pad(s.cumsum(-1), (1, 0))
    n_all, s_all = cum_c[:, -1:], cum_s[:, -1:]
    mean_b, mean_f = cum_s / cum_c, (s_all - cum_s) / (n_all - cum_c)
    t_split = (mean_b - mean_f) / (torch.log(mean_b) - torch.log(mean_f))
    stop_split = mean_b == 0  # scikit-image's `break`
    if initial is None:
        t_next = s_all / n_all
    else:
        if isinstance(initial, torch.Tensor):
            t0 = initial.detach().to(s.dtype)
        else:  # written on the device directly: no host->device copy
            t0 = torch.full((), float(initial), device=s.device, dtype=s.dtype)
        t0 = t0.expand(h.batch).reshape(-1, 1) - h.edges0[:, None].to(s.dtype)
        # inside the image range, with the top bin in the foreground: both classes non-empty
        top = torch.nextafter(key[:, -1:], torch.zeros_like(key[:, -1:]))
        t_next = torch.minimum(t0.clamp_min(0.0), top)
    t_curr = t_next - 2 * tol - 1
    for _ in range(_LI_ITERATIONS):  # fixed count; finished images are masked, not branched on
        active = (t_next - t_curr).abs() > tol
        t_curr = torch.where(active, t_next, t_curr)
        q = torch.searchsorted(key, t_curr, right=True)
        stop = stop_split.gather(-1, q)
        t_next = torch.where(active & ~stop, t_split.gather(-1, q), t_next)
        tol = torch.where(active & stop, _INF, tol)
    return h.finish(t_next.squeeze(-1).to(h.centres.dtype) + h.edges0)


def threshold_multiotsu(x: torch.Tensor, *, classes: int = 3, bins: int = 256) -> torch.Tensor:
    """Multi-Otsu thresholds per image: ``classes - 1`` increasing bin centres.

    Maximises the between-class variance like ``skimage.filters.threshold_multiotsu`` (including
    its weights: bin 0 counts as value 1). For ``classes <= 3`` every pair of bins is scored in
    scikit-image's order (the lexicographically first maximum wins); for 4 and 5 classes a dynamic
    programme finds the same maximum in ``O(classes * bins**2)`` per image (ties then go to the
    lowest thresholds counting from the top). An image with at most ``classes`` distinct binned
    values gets thresholds at its occupied bins (the last one repeated when there are fewer;
    scikit-image raises for fewer), a constant image its value ``classes - 1`` times.

    Args:
        x: ``(..., H, W)`` images, real dtype.
        classes: number of classes, 2 to 5.
        bins: histogram bins (>= classes).

    Returns:
        ``(..., classes - 1)`` thresholds, in ``x``'s float dtype.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.0, 0.1, 0.5, 0.6, 0.9, 1.0]])
        >>> threshold_multiotsu(x, classes=3, bins=8)
        tensor([0.0625, 0.5625])
    """
    check_int(classes, "classes", min_value=2, max_value=5)
    h = Hist(x, check_int(bins, "bins", min_value=classes))
    n, k = bins, classes - 1
    f64 = wide_float(h.counts.device)
    prob = (h.counts.to(f64) / h.counts.sum(-1, keepdim=True).to(f64)).float()
    value = torch.arange(n, device=prob.device, dtype=prob.dtype)
    value[0] = 1  # scikit-image's first moment starts at prob[0], not 0 * prob[0]
    zeroth, first = prob.cumsum(-1), (prob * value).cumsum(-1)
    pad = torch.nn.functional.pad
    z_prev, f_prev = pad(zeroth, (1, 0))[:, :-1], pad(first, (1, 0))[:, :-1]
    z = zeroth[:, None, :] - z_prev[:, :, None]  # (N, a, b): classes a..b
    var = torch.where(z > 0, (first[:, None, :] - f_prev[:, :, None]) ** 2 / z, 0.0)
    var[:, 0, 0] = 0.0  # scikit-image never fills this entry
    i = torch.arange(n, device=prob.device)
    top = var[:, :, n - 1]  # var[a, n-1]
    if k == 1:
        sigma = (var[:, 0, :-1] + top[:, 1:]).masked_fill(~h.valid(n - 1), -_INF)
        idx = sigma.argmax(-1, keepdim=True)
    elif k == 2:
        # sigma[a, b] = (var[0, a] + var[b+1, n-1]) + var[a+1, b], a < b <= n-2
        head = var[:, 0, :, None]
        tail = pad(top[:, 1:], (0, 1))[:, None, :]
        mid = pad(var[:, 1:, :], (0, 0, 0, 1))
        sigma = (head + tail) + mid
        ok = (i[:, None] < i[None, :]) & (i[None, :] <= n - 2)
        ok = ok & (i[None, None, :] < h.length[:, None, None] - 1)  # 8-bit images: b before the maximum
        flat = sigma.masked_fill(~ok, -_INF).flatten(1).argmax(-1)
        idx = torch.stack([flat // n, flat % n], -1)
    else:
        idx = multiotsu_dp(var, k)
    # few distinct values: thresholds at the occupied bins (scikit-image's shortcut)
    rank = (h.counts > 0).cumsum(-1)  # occupied bins up to each bin
    want = torch.arange(1, k + 1, device=prob.device).expand(rank.shape[0], k).contiguous()
    few = torch.searchsorted(rank.contiguous(), want).clamp_max(n - 1)
    idx = torch.where(rank[:, -1:] <= classes, few, idx)
    out = h.centres.gather(-1, idx)
    return h.finish(out, extra=(k,))


THRESHOLD_METHODS = {
    "otsu": threshold_otsu,
    "li": threshold_li,
    "yen": threshold_yen,
    "triangle": threshold_triangle,
    "mean": threshold_mean,
    "isodata": threshold_isodata,
}
"""Automatic single-threshold methods by name (``threshold_multiotsu`` returns several: call it directly)."""


def auto_threshold(x: torch.Tensor, *, method: str = "otsu", **kwargs) -> torch.Tensor:
    """One threshold per image with the method named ``method`` (a key of ``THRESHOLD_METHODS``).

    Args:
        x: ``(..., H, W)`` images, real dtype.
        method: ``"otsu"``, ``"li"``, ``"yen"``, ``"triangle"``, ``"mean"`` or ``"isodata"``.
        **kwargs: passed to the method (e.g. ``bins``).

    Returns:
        ``(...)``: one threshold per image; ``threshold(x, auto_threshold(x))`` is the mask.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[[0.0, 0.2], [0.8, 1.0]], [[0.0, 1.0], [2.0, 3.0]]])
        >>> auto_threshold(x, method="mean")
        tensor([0.5000, 1.5000])
    """
    check_choice(method, "method", THRESHOLD_METHODS)
    return THRESHOLD_METHODS[method](x, **kwargs)
