"""Thresholds: a mask from a value, automatic per-image thresholds, and labels from class maps.

The automatic methods follow ``skimage.filters.threshold_*`` (scikit-image 0.26) on float images:
a ``bins``-bin histogram (256 by default) spanning each image's own [min, max], thresholds that are
bin centres, the same tie-breaking (the first maximum wins) and the same intermediate dtypes. They
agree with scikit-image to within one bin width ``(max - min) / bins`` (tested on its sample images
and random ones); Li's method runs on the histogram and also lands within one bin width.

Every automatic method works on the last two dims, batched: ``(..., H, W)`` -> ``(...)``, one
histogram per image from one flat ``bincount`` (no Python loop over images, no host sync).

Conventions (shared by every method):
    * NaN and +-Inf pixels are ignored; an image with no finite pixel gives NaN.
    * A constant image returns its value (scikit-image's Otsu and Li do the same).
    * Integer images are converted to float first (float32; float64 for int32/int64), so they are
      binned like float images (scikit-image gives integer images one bin per value instead).
      ``bool`` images are rejected: they are already masks.
    * Float16/bfloat16 images are binned in float32; the result has the image's dtype.
    * Thresholds are plain values (no autograd graph).
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from maskbench._checks import (
    DTypeError,
    ShapeError,
    check_broadcast_to,
    check_choice,
    check_int,
    check_same_device,
    check_tensor,
    describe,
)

__all__ = [
    "threshold", "histogram", "threshold_otsu", "threshold_li", "threshold_yen",
    "threshold_triangle", "threshold_mean", "threshold_isodata", "threshold_multiotsu",
    "auto_threshold", "THRESHOLD_METHODS", "argmax_labels",
]

_INF = float("inf")
_LI_ITERATIONS = 100  # Li converges in < 20 steps in practice; finished images are frozen


def threshold(x: torch.Tensor, value: float | torch.Tensor, *, inclusive: bool = True) -> torch.Tensor:
    """The mask ``x >= value`` (``x > value`` when ``inclusive=False``).

    Args:
        x: any shape ``(..., H, W)``; real dtype (not bool).
        value: a number, or a tensor on ``x``'s device. A tensor of shape ``x.shape[:-2]`` (what
            the automatic methods return) is one threshold per image; any other tensor must
            broadcast to ``x`` without growing it.
        inclusive: ``>=`` (default, as ``maskbench.threshold_sweep``) or ``>``.

    Returns:
        A bool mask shaped like ``x``. NaN pixels (or a NaN threshold) give False.

    Syncs: none.

    Example:
        >>> x = torch.tensor([[0.1, 0.5], [0.9, float("nan")]])
        >>> threshold(x, 0.5)
        tensor([[False,  True],
                [ True, False]])
        >>> threshold(torch.stack([x, x + 1]), torch.tensor([0.5, 1.5]), inclusive=False)[:, 0]
        tensor([[False, False],
                [False, False]])
    """
    check_tensor(x, "x")
    _check_real(x, "x")
    if isinstance(value, torch.Tensor):
        check_same_device(x=x, value=value)
        _check_real(value, "value")
        if x.ndim >= 2 and value.ndim > 0 and tuple(value.shape) == tuple(x.shape[:-2]):
            value = value[..., None, None]  # one threshold per image
        else:
            check_broadcast_to(value, "value", x.shape, "x")
    elif isinstance(value, bool) or not isinstance(value, Real):
        raise DTypeError(f"value: expected a number or a tensor; got {describe(value)}.")
    return x >= value if inclusive else x > value


def histogram(x: torch.Tensor, *, bins: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image histograms over the last two dims, each spanning the image's own [min, max].

    Same bins as ``skimage.exposure.histogram(image, bins)`` for a float image (``numpy.histogram``
    with ``range=(min, max)``): ``bins`` equal bins, the maximum in the last one, centres halfway
    between edges. NaN and +-Inf pixels are not counted. A constant image ``v`` spans
    ``[v - 0.5, v + 0.5]`` with every pixel in bin ``bins // 2``; an image without finite pixels
    has zero counts over ``[0, 1]``. Values within a rounding error of an edge may fall in the
    neighbouring bin (numpy re-checks them against the edges; maskbench does not).

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
    h = _Hist(x, bins)
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
    h = _Hist(x, check_int(bins, "bins", min_value=2))
    c = h.counts.float()  # scikit-image casts counts to float32
    cc = c * h.centres
    w1, w2 = c.cumsum(-1), _rcumsum(c)
    m1, m2 = cc.cumsum(-1) / w1, _rcumsum(cc) / w2
    var = w1[:, :-1] * w2[:, 1:] * (m1[:, :-1] - m2[:, 1:]) ** 2
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
    h = _Hist(x, check_int(bins, "bins", min_value=2))
    pmf = h.counts.float() / h.counts.sum(-1, keepdim=True).float()
    p1, p1_sq, p2_sq = pmf.cumsum(-1), (pmf**2).cumsum(-1), _rcumsum(pmf**2)
    p = p1[:, :-1]
    crit = torch.log((p1_sq[:, :-1] * p2_sq[:, 1:]) ** -1 * (p * (1.0 - p)) ** 2)
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
    h = _Hist(x, check_int(bins, "bins", min_value=2))
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
    h = _Hist(x, check_int(bins, "bins", min_value=2))
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
    f64 = _wide_float(hist.device)
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
    xw, batch, out_dtype, _ = _as_work(x, "x")
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
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, Real) or not tolerance >= 0):
        raise ValueError(f"tolerance: expected None or a number >= 0; got {describe(tolerance)}.")
    if isinstance(initial, torch.Tensor):
        check_tensor(x, "x")
        check_same_device(x=x, initial=initial)
        _check_real(initial, "initial")
        check_broadcast_to(initial, "initial", x.shape[:-2], "x.shape[:-2]")
    elif initial is not None and (isinstance(initial, bool) or not isinstance(initial, Real)):
        raise TypeError(f"initial: expected None, a number or a tensor; got {describe(initial)}.")
    h = _Hist(x, check_int(bins, "bins", min_value=2), sums=True)
    # values shifted so the image minimum is 0 (as scikit-image does), sums in float64
    c, s = h.counts.to(h.sums.dtype), h.sums
    occupied = c > 0
    # key[k]: bin k's mean (the previous one's for empty bins), non-decreasing, so that
    # searchsorted(key, t, right=True) is the number of bins in the background of t
    key = torch.where(occupied, s / c, -_INF).cummax(-1).values.contiguous()
    if tolerance is None:  # scikit-image's: half the smallest gap between distinct values
        tol = 0.5 * _smallest_gap(s / c, occupied)[:, None]
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


def _smallest_gap(value: torch.Tensor, occupied: torch.Tensor) -> torch.Tensor:
    """Smallest difference between the values of consecutive occupied bins (inf if none)."""
    k = torch.arange(value.shape[-1], device=value.device)
    last = torch.where(occupied, k, -1).cummax(-1).values  # last occupied bin <= k
    prev = torch.nn.functional.pad(last, (1, 0), value=-1)[:, :-1]  # last occupied bin < k
    gap = value - value.gather(-1, prev.clamp_min(0))
    return torch.where(occupied & (prev >= 0), gap, _INF).amin(-1)


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
    h = _Hist(x, check_int(bins, "bins", min_value=classes))
    n, k = bins, classes - 1
    f64 = _wide_float(h.counts.device)
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
        sigma = var[:, 0, :-1] + top[:, 1:]
        idx = sigma.argmax(-1, keepdim=True)
    elif k == 2:
        # sigma[a, b] = (var[0, a] + var[b+1, n-1]) + var[a+1, b], a < b <= n-2
        head = var[:, 0, :, None]
        tail = pad(top[:, 1:], (0, 1))[:, None, :]
        mid = pad(var[:, 1:, :], (0, 0, 0, 1))
        sigma = (head + tail) + mid
        ok = (i[:, None] < i[None, :]) & (i[None, :] <= n - 2)
        flat = sigma.masked_fill(~ok, -_INF).flatten(1).argmax(-1)
        idx = torch.stack([flat // n, flat % n], -1)
    else:
        idx = _multiotsu_dp(var, k)
    # few distinct values: thresholds at the occupied bins (scikit-image's shortcut)
    occupied = (h.counts > 0).cumsum(-1)
    want = torch.arange(1, k + 1, device=prob.device).expand(occupied.shape[0], k).contiguous()
    few = torch.searchsorted(occupied.contiguous(), want).clamp_max(n - 1)
    idx = torch.where((occupied[:, -1:] <= classes), few, idx)
    out = h.centres.gather(-1, idx)
    return h.finish(out, extra=(k,))


def _multiotsu_dp(var: torch.Tensor, k: int) -> torch.Tensor:
    """Best ``k`` increasing cut indices for ``sum var[class]`` by dynamic programming."""
    n = var.shape[-1]
    i = torch.arange(n, device=var.device)
    below = i[:, None] < i[None, :]  # cut i before end j
    shifted = torch.nn.functional.pad(var[:, 1:, :], (0, 0, 0, 1))  # shifted[i, j] = var[i+1, j]
    best = var[:, 0, :]  # best[j]: classes 0..m cover bins 0..j
    choices = []
    for _ in range(k - 1):
        cand = (best[:, :, None] + shifted).masked_fill(~below, -_INF)
        best, arg = cand.max(1)
        choices.append(arg)
    last = (best[:, :-1] + var[:, 1:, n - 1]).argmax(-1)
    cuts = [last]
    for arg in reversed(choices):
        cuts.append(arg.gather(-1, cuts[-1][:, None]).squeeze(-1))
    return torch.stack(cuts[::-1], -1)


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


def argmax_labels(
    probs: torch.Tensor, *, min_confidence: float | None = None, background: int = 0, dim: int = -3
) -> torch.Tensor:
    """Class labels from a multi-class probability map: the most likely class per pixel.

    Args:
        probs: ``(..., K, H, W)`` floating probabilities (or scores) with the classes on ``dim``.
        min_confidence: pixels whose largest probability is below this get ``background``.
        background: label for unsure pixels and for pixels with a NaN probability.
        dim: the class dimension (default -3).

    Returns:
        int64 labels ``probs.shape`` without ``dim``, e.g. ``(..., H, W)``. Ties take the lowest
        class index (as ``torch.argmax``).

    Syncs: none.

    Example:
        >>> p = torch.tensor([[[0.7, 0.2]], [[0.3, 0.5]], [[0.0, 0.3]]])  # (K=3, H=1, W=2)
        >>> argmax_labels(p)
        tensor([[0, 1]])
        >>> argmax_labels(p, min_confidence=0.6, background=255)
        tensor([[  0, 255]])
    """
    check_tensor(probs, "probs")
    if not probs.is_floating_point():
        raise DTypeError(
            f"probs: expected floating probabilities (..., K, H, W); got {describe(probs)}. "
            f"An integer map is already labels; for one-hot masks use maskbench.from_one_hot."
        )
    if probs.ndim < 3:
        raise ShapeError(
            f"probs: expected (..., K, H, W) class probabilities (at least 3 dims); got "
            f"{describe(probs)}. For one foreground probability map use "
            f"maskbench.threshold(probs, 0.5)."
        )
    dim = check_int(dim, "dim", min_value=-probs.ndim, max_value=probs.ndim - 1)
    if probs.shape[dim] == 0:
        raise ShapeError(f"probs: expected at least one class on dim {dim}; got {describe(probs)}.")
    check_int(background, "background")
    if min_confidence is not None and (isinstance(min_confidence, bool) or not isinstance(min_confidence, Real)):
        raise TypeError(f"min_confidence: expected a number or None; got {describe(min_confidence)}.")
    conf, labels = probs.detach().max(dim)
    unsure = torch.isnan(conf)
    if min_confidence is not None:
        unsure = unsure | (conf < float(min_confidence))
    return torch.where(unsure, background, labels)


# ---------------------------------------------------------------------------------------------
# internals


def _check_real(x: torch.Tensor, name: str) -> None:
    if x.dtype == torch.bool or x.is_complex():
        raise DTypeError(
            f"{name}: expected a real (float or integer) image; got {describe(x)}. "
            + ("A bool tensor is already a mask." if x.dtype == torch.bool else "Take .real or .abs() first.")
        )


def _as_work(x: torch.Tensor, name: str) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype, bool]:
    """``(..., H, W)`` -> ``(N, H*W)`` in the working float dtype; batch shape; out dtype; is a copy."""
    check_tensor(x, name)
    _check_real(x, name)
    if x.ndim < 2 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ShapeError(
            f"{name}: expected (..., H, W) images with H, W >= 1; got {describe(x)}."
            + (f" For a 1-D signal use {name}[None]." if x.ndim == 1 else "")
        )
    if x.is_floating_point():
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        out = x.dtype
    else:
        work = torch.float64 if x.dtype in (torch.int32, torch.int64) else torch.float32
        out = work
    batch = tuple(x.shape[:-2])
    flat = x.detach().reshape(-1, x.shape[-2] * x.shape[-1])
    owned = flat.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()  # reshape copied
    if flat.dtype != work:
        flat, owned = flat.to(work), True
    return flat, batch, out, owned


def _wide_float(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _rcumsum(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-1).cumsum(-1).flip(-1)


def _bincount(idx: torch.Tensor, weights: torch.Tensor, length: int) -> torch.Tensor:
    """``sum(weights[idx == i])`` for every ``i < length``, sync-free."""
    if idx.device.type == "cpu":  # the fastest CPU path
        return torch.bincount(idx, None if weights.dtype == torch.int64 else weights, minlength=length)
    # CUDA's bincount reads the maximum back to the host: index_add_ does not
    return torch.zeros(length, dtype=weights.dtype, device=idx.device).index_add_(0, idx, weights)


def _fold(counts: torch.Tensor, bins: int) -> torch.Tensor:
    """The first ``bins`` slots, with slot ``bins`` (pixels equal to the maximum) in the last bin."""
    out = counts[:, :bins].clone()
    out[:, -1] += counts[:, bins]
    return out


class _Hist:
    """Flat per-image histogram: counts ``(N, bins)``, centres ``(N, bins)`` and the flags."""

    def __init__(self, x: torch.Tensor, bins: int, *, sums: bool = False) -> None:
        bins = check_int(bins, "bins", min_value=1)
        flat, self.batch, self.out_dtype, owned = _as_work(x, "x")
        n = flat.shape[0]
        # One scratch buffer `a`; every later step is in place (fresh multi-MB buffers cost page
        # faults, which dominate on CPU). Ignored pixels become +inf for the minimum...
        if owned:
            a = flat.nan_to_num_(nan=_INF, posinf=_INF, neginf=_INF)
        else:
            a = flat.nan_to_num(nan=_INF, posinf=_INF, neginf=_INF)
        lo = a.amin(-1)
        hi = a.nan_to_num_(posinf=-_INF, neginf=-_INF).amax(-1)  # ...and -inf for the maximum
        self.empty = lo > hi  # no finite pixel
        self.const = lo == hi
        self.value = lo
        # numpy's range: [v - 0.5, v + 0.5] for a constant image, [0, 1] for an empty one
        lo_e = torch.where(self.const, lo - 0.5, torch.where(self.empty, 0.0, lo))
        hi_e = torch.where(self.const, hi + 0.5, torch.where(self.empty, 1.0, hi))
        step = (hi_e - lo_e) / bins
        # bin = trunc((x - lo) / step) (numpy's formula for power-of-two bins); a constant image
        # gets (x - v) / inf = 0 here and its bin, bins // 2, from the offset below
        a.sub_(torch.where(self.const, lo, lo_e)[:, None])
        if sums:  # per-bin sums of x - min in float64, for Li's class means (ignored pixels: 0)
            weights = a.to(_wide_float(a.device)).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0).view(-1)
        a.div_(torch.where(self.const, _INF, step)[:, None])
        # ignored pixels (-inf/NaN) -> slot bins + 1; the maximum (exactly `bins`) is folded below
        a.nan_to_num_(nan=bins + 1, posinf=bins + 1, neginf=bins + 1)
        idx = a.view(torch.int64 if a.dtype == torch.float64 else torch.int32)
        idx.copy_(a)  # truncating cast in place (same element size)
        slots = bins + 2 + bins // 2  # per image: the bins, the maximum, the ignored pixels
        base = torch.arange(n, device=a.device, dtype=idx.dtype) * slots
        idx.add_((base + self.const.to(idx.dtype) * (bins // 2))[:, None])
        idx = idx.view(-1)
        ones = torch.ones((), dtype=torch.int64, device=a.device).expand(idx.shape[0])
        self.counts = _fold(_bincount(idx, ones, n * slots).view(n, slots), bins)
        if sums:
            self.sums = _fold(_bincount(idx, weights, n * slots).view(n, slots), bins)
        self.step = step
        k = torch.arange(bins + 1, device=a.device, dtype=a.dtype)
        edges = k * step[:, None] + lo_e[:, None]  # numpy.linspace's arithmetic
        edges[:, -1] = hi_e
        self.centres = (edges[:, :-1] + edges[:, 1:]) / 2
        self.edges0 = lo_e

    def at(self, idx: torch.Tensor) -> torch.Tensor:
        """The centre of bin ``idx`` (``(N,)``) of each image."""
        return self.centres.gather(-1, idx.reshape(-1, 1)).squeeze(-1)

    def finish(self, t: torch.Tensor, extra: tuple[int, ...] = ()) -> torch.Tensor:
        """Apply the constant/empty conventions and restore the batch shape."""
        cond = (lambda m: m[:, None]) if extra else (lambda m: m)
        t = torch.where(cond(self.const), cond(self.value).to(t.dtype), t)
        t = torch.where(cond(self.empty), math.nan, t)
        return t.to(self.out_dtype).reshape(self.batch + extra)
