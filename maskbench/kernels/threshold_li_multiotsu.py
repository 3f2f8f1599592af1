"""Li's iterative threshold and multi-Otsu: the two histogram methods that search more than one pass.

Split from :mod:`maskbench.kernels.threshold` (same conventions: ``(..., H, W)`` batches, NaN and
+-Inf ignored, constant images return their value, scikit-image's binning). Li is also reachable as
``auto_threshold(x, method="li")``; ``threshold_multiotsu`` returns several thresholds per image.
"""

from __future__ import annotations

import torch

from maskbench._checks import (
    check_broadcast_to,
    check_int,
    check_number,
    check_number_or_tensor,
    check_real,
    check_same_device,
)
from maskbench.kernels._histogram import _INF, Hist, multiotsu_dp, smallest_gap, wide_float

__all__ = ["threshold_li", "threshold_multiotsu"]

_LI_ITERATIONS = 100  # scikit-image's samples need <= 22 steps, random images ~40; then frozen


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
